// The automatic repair, run by the cron trigger (and by `npm start` at start-up and on the same
// schedule): reconcile every SKU-region Postgres knows, a page at a time; a projection behind its
// object for longer than the grace period is repaired by resending the missing events (the consumer
// skips what it already has); any other difference is drift, which no resend can fix, so it is
// raised as `attention` on the object, where operators see it (GET /v1/admin/{region}/stock/{sku}).
import { inventoryName, type InventoryObject } from "../durable-objects/inventory";
import type { Db } from "./projection";
import { reconcileRegion } from "./reconcile";

export interface RepairSummary {
  region: string;
  checked: number;
  ok: number;
  lagging: number;
  /** SKU-regions whose missing events were sent again. */
  resent: string[];
  /** SKU-regions that drifted, with what differs. */
  drift: { sku: string; differences: string[] }[];
  /** Attention entries newly raised (a drift already raised is not raised twice). */
  raised: number;
  pages: number;
  ms: number;
}

const RESERVATION = /^reservation (\S+): /;

export async function repairRegion(
  db: Db,
  inventory: DurableObjectNamespace<InventoryObject>,
  region: string,
  options: { graceMs?: number; pageSize?: number } = {},
): Promise<RepairSummary> {
  const started = Date.now();
  const summary: RepairSummary = { region, checked: 0, ok: 0, lagging: 0, resent: [], drift: [], raised: 0, pages: 0, ms: 0 };
  let after: string | undefined;
  do {
    const report = await reconcileRegion(db, inventory, region, options.graceMs ?? 60_000, { after, limit: options.pageSize ?? 200 });
    summary.pages += 1;
    summary.checked += report.checked;
    summary.ok += report.ok;
    summary.lagging += report.lagging.length;
    for (const check of report.drift) {
      const stub = inventory.get(inventory.idFromName(inventoryName(region, check.sku)));
      if (check.objectVersion > check.projectedVersion) {
        await stub.resend(check.projectedVersion);
        summary.resent.push(check.sku);
        continue;
      }
      summary.drift.push({ sku: check.sku, differences: check.differences });
      for (const difference of check.differences) {
        const holdId = RESERVATION.exec(difference)?.[1] ?? "";
        if (await stub.raiseAttention(`reconcile_drift: ${difference}`.slice(0, 500), holdId)) summary.raised += 1;
      }
    }
    after = report.nextAfter ?? undefined;
  } while (after);
  summary.ms = Date.now() - started;
  return summary;
}
