// Compares each SKU-region object with its Postgres projection. An object ahead of Postgres by
// events younger than the grace period is "lagging" (they are on the queue); anything else that
// differs is "drift" and needs an operator.
import { eq } from "drizzle-orm";
import { inventoryName, type InventoryObject } from "../durable-objects/inventory";
import { inventoryLevels, skuRegionLevels, streamPositions } from "../schema/tables";
import type { Db } from "./projection";

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
}

const FIELDS = ["onHand", "held", "confirmed", "safetyStock", "available"] as const;

export async function reconcileRegion(
  db: Db,
  inventory: DurableObjectNamespace<InventoryObject>,
  region: string,
  graceMs = 60_000,
): Promise<ReconcileReport> {
  const levels = await db.select().from(skuRegionLevels).where(eq(skuRegionLevels.region, region));
  // A SKU-region whose first event never arrived has a stream position but no levels yet.
  const positions = await db.select().from(streamPositions).where(eq(streamPositions.region, region));
  const EMPTY = { onHand: 0, held: 0, confirmed: 0, safetyStock: 0, available: 0 };
  const projected = [
    ...levels,
    ...positions
      .filter((p) => !levels.some((l) => l.sku === p.sku))
      .map((p) => ({ sku: p.sku, version: p.appliedSeq, ...EMPTY })),
  ];
  const warehouses = await db.select().from(inventoryLevels).where(eq(inventoryLevels.region, region));
  const checks: SkuRegionCheck[] = [];
  const queue = [...projected];
  const worker = async () => {
    for (let row = queue.shift(); row; row = queue.shift()) {
      const stub = inventory.get(inventory.idFromName(inventoryName(region, row.sku)));
      const recorded = await stub.recordedState(row.version);
      const check: SkuRegionCheck = {
        sku: row.sku,
        status: "ok",
        objectVersion: recorded.version,
        projectedVersion: row.version,
        differences: [],
      };
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
        if (check.differences.length) check.status = "drift";
      }
      checks.push(check);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  checks.sort((a, b) => a.sku.localeCompare(b.sku));
  return {
    region,
    checked: checks.length,
    ok: checks.filter((c) => c.status === "ok").length,
    lagging: checks.filter((c) => c.status === "lagging"),
    drift: checks.filter((c) => c.status === "drift"),
    at: new Date().toISOString(),
  };
}

