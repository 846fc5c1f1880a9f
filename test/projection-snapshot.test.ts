// Postgres over time (issue 12): a projection snapshot, events pruned behind it, and a rebuild that
// starts from the snapshot and replays only the tail, ending where the live projection is. Runs in
// a test-only region (logsa), since pruning and rebuilding touch the shared test database.
import { env } from "cloudflare:workers";
import { and, asc, eq, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { inventoryName } from "../durable-objects/inventory";
import { inventoryEvents, projectionTables, streamPositions } from "../schema/tables";
import { rebuildProjections } from "../system-of-record/rebuild";
import { pruneEvents, takeSnapshot } from "../system-of-record/snapshot";
import { uniqueSku } from "./client";
import { database, eventually } from "./db";

const { db, close } = database();
afterAll(() => close());
const REGION = "logsa";

const stub = (sku: string) => env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName(REGION, sku)));
const positionOf = async (sku: string) =>
  (await db.select().from(streamPositions).where(and(eq(streamPositions.region, REGION), eq(streamPositions.sku, sku))))[0]?.appliedSeq ?? 0;

/** `n` holds placed and released on `sku`, then waits until Postgres has all of them. */
async function traffic(sku: string, n: number) {
  for (let i = 0; i < n; i++) {
    const held = await stub(sku).reserve(sku, REGION, { digest: `${sku}-${crypto.randomUUID()}`, requestHash: "h", qty: 1, ttlSeconds: 600 });
    if (!held.ok) throw new Error(JSON.stringify(held));
    await stub(sku).releaseReservation(held.reservation.id, held.token);
  }
  const { version } = await stub(sku).snapshot(sku, REGION);
  await eventually(async () => ((await positionOf(sku)) >= version ? true : undefined), `${sku} projected to v${version}`);
  return version;
}

async function projectionOf() {
  const t = projectionTables();
  const dump = async (table: (typeof t)[keyof typeof t]) =>
    (await db.select().from(table).where(eq(table.region, REGION)).orderBy(asc(table.sku)))
      .map((r) => JSON.stringify({ ...r, updatedAt: table === t.streamPositions ? undefined : (r as { updatedAt?: Date }).updatedAt }))
      .sort();
  return { positions: await dump(t.streamPositions), ledger: await dump(t.reservationLedger), warehouses: await dump(t.warehouseLevels), levels: await dump(t.skuRegionLevels) };
}

const eventsIn = async () => (await db.execute(sql`SELECT count(*)::int AS n FROM inventory_events WHERE region = ${REGION}`)).rows[0] as { n: number };

describe("projection snapshots", () => {
  it("let a rebuild replay only the events after the snapshot, after older ones were pruned, and end at the live projection", async () => {
    const skus = [uniqueSku("SNAP"), uniqueSku("SNAP")];
    for (const sku of skus) await stub(sku).setStock({ sku, region: REGION, warehouse: "w1", onHand: 10 });
    for (const sku of skus) await traffic(sku, 10);
    const snapshot = await takeSnapshot(db);
    expect(snapshot.streams).toBeGreaterThanOrEqual(2);

    // Later traffic on one SKU only: the tail.
    const before = await positionOf(skus[0]!);
    const last = await traffic(skus[0]!, 3);
    const tail = last - before;
    expect(tail).toBe(6);

    const pruned = await pruneEvents(db, { keepMs: 0, region: REGION });
    expect(pruned.deleted).toBeGreaterThanOrEqual(2 * 21);
    const left = await db.select().from(inventoryEvents).where(eq(inventoryEvents.region, REGION)).orderBy(asc(inventoryEvents.seq));
    expect(left.map((e) => e.seq)).toEqual(Array.from({ length: tail }, (_, i) => before + 1 + i));

    const live = await projectionOf();
    // A rebuild from the first event is refused now: the history before the snapshot was pruned.
    await expect(rebuildProjections(db, () => {}, { from: "scratch" })).rejects.toThrow(/pruned/);
    const rebuilt = await rebuildProjections(db);
    expect(rebuilt.from).toBe("snapshot");
    expect(await projectionOf()).toEqual(live);
    expect((await eventsIn()).n).toBe(tail);
  });
});
