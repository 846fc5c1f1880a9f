// Compares each SKU-region object with its Postgres projection, a page of SKU-regions at a time. An
// object ahead of Postgres by events younger than the grace period is "lagging" (they are on the
// queue); anything else that differs is "drift" and needs an operator. When the versions agree, the
// reservation ledger is checked too: each reservation's row must be what the object's own event log
// makes of it (status, units, last event), so a row edited in Postgres is found.
import { and, asc, eq, gt, inArray } from "drizzle-orm";
import { inventoryName, type InventoryObject } from "../durable-objects/inventory";
import { inventoryLevels, reservationLedger, skuRegionLevels, streamPositions } from "../schema/tables";
import { ledgerEffects, type Db } from "./projection";
import { ledgerPrunedBefore, UNSOLD_ENDED } from "./snapshot";

export interface SkuRegionCheck {
  sku: string;
  status: "ok" | "lagging" | "drift";
  objectVersion: number;
  projectedVersion: number;
  differences: string[];
}

export interface ReconcileReport {
  region: string;
  checked: number;
  ok: number;
  lagging: SkuRegionCheck[];
  drift: SkuRegionCheck[];
  at: string;
  /** The last SKU of this page when more may follow (pass it as `after`), else null. */
  nextAfter: string | null;
}

export const DEFAULT_PAGE = 200;
const FIELDS = ["onHand", "held", "confirmed", "safetyStock", "available"] as const;
const EVENTS_PAGE = 1_000;
const PARALLEL = 6;

type Inventory = DurableObjectNamespace<InventoryObject>;

export async function reconcileRegion(
  db: Db,
  inventory: Inventory,
  region: string,
  graceMs = 60_000,
  page: { after?: string; limit?: number } = {},
): Promise<ReconcileReport> {
  const limit = page.limit ?? DEFAULT_PAGE;
  // Every SKU-region whose events reached Postgres has a stream position (even before it has levels).
  const positions = await db
    .select()
    .from(streamPositions)
    .where(and(eq(streamPositions.region, region), page.after ? gt(streamPositions.sku, page.after) : undefined))
    .orderBy(asc(streamPositions.sku))
    .limit(limit);
  const skus = positions.map((p) => p.sku);
  const levels = skus.length ? await db.select().from(skuRegionLevels).where(and(eq(skuRegionLevels.region, region), inArray(skuRegionLevels.sku, skus))) : [];
  const warehouses = skus.length ? await db.select().from(inventoryLevels).where(and(eq(inventoryLevels.region, region), inArray(inventoryLevels.sku, skus))) : [];
  const EMPTY = { onHand: 0, held: 0, confirmed: 0, safetyStock: 0, available: 0 };
  const projected = positions.map((p) => levels.find((l) => l.sku === p.sku) ?? { sku: p.sku, version: p.appliedSeq, ...EMPTY });

  const prunedBefore = await ledgerPrunedBefore(db, region);
  const checks: SkuRegionCheck[] = [];
  const queue = [...projected];
  const worker = async () => {
    for (let row = queue.shift(); row; row = queue.shift()) {
      const stub = inventory.get(inventory.idFromName(inventoryName(region, row.sku)));
      const recorded = await stub.recordedState(row.version);
      const check: SkuRegionCheck = { sku: row.sku, status: "ok", objectVersion: recorded.version, projectedVersion: row.version, differences: [] };
      if (recorded.version > row.version) {
        const oldestUnprojected = recorded.firstUnprojectedAt ?? 0;
        check.status = Date.now() - oldestUnprojected < graceMs ? "lagging" : "drift";
        check.differences.push(`Postgres is at version ${row.version}, the object at ${recorded.version}`);
      } else if (recorded.version < row.version) {
        check.status = "drift";
        check.differences.push(`Postgres is ahead: version ${row.version}, the object at ${recorded.version}`);
      } else {
        for (const field of FIELDS) {
          if (recorded.totals[field] !== row[field]) check.differences.push(`${field}: object ${recorded.totals[field]}, Postgres ${row[field]}`);
        }
        const projectedWarehouses = warehouses.filter((w) => w.sku === row.sku);
        for (const w of recorded.warehouses) {
          const p = projectedWarehouses.find((x) => x.warehouse === w.warehouse);
          if (p?.onHand !== w.onHand) check.differences.push(`warehouse ${w.warehouse}: object ${w.onHand}, Postgres ${p?.onHand ?? "missing"}`);
        }
        if (row.version > 0) check.differences.push(...(await ledgerDifferences(db, stub, region, row.sku, prunedBefore)));
        if (check.differences.length) check.status = "drift";
      }
      checks.push(check);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, projected.length) }, worker));
  checks.sort((a, b) => a.sku.localeCompare(b.sku));
  return {
    region,
    checked: checks.length,
    ok: checks.filter((c) => c.status === "ok").length,
    lagging: checks.filter((c) => c.status === "lagging"),
    drift: checks.filter((c) => c.status === "drift"),
    at: new Date().toISOString(),
    nextAfter: positions.length === limit ? positions.at(-1)!.sku : null,
  };
}

interface LedgerRow {
  status: string;
  /** null: the reservation's first event was compacted into the archive, so its qty is not replayed. */
  qty: number | null;
  lastSeq: number;
  /** When its last event happened (ms). */
  lastAt: number;
}

/**
 * The ledger rows of one SKU-region as the object's event log makes them, replayed with the same
 * ledgerEffects the consumer applies, against the rows Postgres has. One line per reservation that differs.
 * Events compacted out of the object (1..archivedThrough, see log-compaction.ts) are not replayed:
 * rows whose last change is among them are not checked, and a row whose first event is among them
 * is checked on its status and last event only.
 */
async function ledgerDifferences(db: Db, stub: DurableObjectStub<InventoryObject>, region: string, sku: string, prunedBefore: number): Promise<string[]> {
  const expected = new Map<string, LedgerRow>();
  let archivedThrough = 0;
  for (let after = 0; ; ) {
    const page = await stub.eventLog(after, EVENTS_PAGE);
    archivedThrough = page.archivedThrough;
    const events = page.events;
    for (const e of events) {
      for (const effect of ledgerEffects({ type: e.type, occurredAt: new Date(e.at), payload: e.payload })) {
        const row = expected.get(effect.reservationId);
        if (effect.kind === "insert") {
          if (!row) expected.set(effect.reservationId, { status: effect.status, qty: effect.qty, lastSeq: e.seq, lastAt: e.at });
        } else if (row) {
          row.status = effect.status;
          row.lastSeq = e.seq;
          row.lastAt = e.at;
        } else if (archivedThrough > 0) {
          expected.set(effect.reservationId, { status: effect.status, qty: null, lastSeq: e.seq, lastAt: e.at });
        }
      }
    }
    if (events.length < EVENTS_PAGE) break;
    after = events.at(-1)!.seq;
  }
  const rows = await db
    .select({ reservationId: reservationLedger.reservationId, status: reservationLedger.status, qty: reservationLedger.qty, lastSeq: reservationLedger.lastSeq })
    .from(reservationLedger)
    // Rows whose last change is in the archive, not the object, are not checked (nor read).
    .where(and(eq(reservationLedger.region, region), eq(reservationLedger.sku, sku), gt(reservationLedger.lastSeq, archivedThrough)));
  const differences: string[] = [];
  for (const row of rows) {
    const want = expected.get(row.reservationId);
    if (!want) {
      differences.push(`reservation ${row.reservationId}: in the Postgres ledger, unknown to the object's events`);
      continue;
    }
    expected.delete(row.reservationId);
    for (const field of ["status", "qty", "lastSeq"] as const) {
      if (want[field] !== null && want[field] !== row[field]) differences.push(`reservation ${row.reservationId}: ${field} ${row[field]} in the Postgres ledger, ${want[field]} by the object's events`);
    }
  }
  for (const [id, want] of expected) {
    // A hold that ended unsold before the ledger's retention cutoff was pruned, not lost.
    if ((UNSOLD_ENDED as readonly string[]).includes(want.status) && want.lastAt < prunedBefore) continue;
    differences.push(`reservation ${id}: missing from the Postgres ledger`);
  }
  return differences;
}
