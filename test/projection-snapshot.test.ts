// Postgres over time (issue 12): a projection snapshot, events pruned behind it, and a rebuild that
// starts from the snapshot and replays only the tail, ending where the live projection is. Runs in
// a test-only region (logsa), since pruning and rebuilding touch the shared test database.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { and, asc, eq, sql } from "drizzle-orm";
import { afterAll, describe, expect, it, vi } from "vitest";
import { inventoryName } from "../durable-objects/inventory";
import { inventoryEvents, projectionTables, reservationLedger, streamPositions } from "../schema/tables";
import { rebuildProjections } from "../system-of-record/rebuild";
import { applyPending, type LoggedEvent } from "../system-of-record/projection";
import { ensureEventPartitions, eventPartitions, pruneEvents, pruneLedger, snapshotTakenAt, takeSnapshot } from "../system-of-record/snapshot";
import worker from "../workers/index";
import { MAINTENANCE_CRON } from "../workers/scheduled";
import { adminHeaders, call, uniqueSku } from "./client";
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

describe("inventory_events by month", () => {
  // Events of a test-only stream dated early 2025, long before any month partition the migration
  // made: they land in the default partition until the maintenance makes their months.
  const OLD = "logsc";
  const sku = uniqueSku("PART");
  const at = (month: number, day: number) => new Date(Date.UTC(2025, month, day));
  const event = (seq: number, when: Date): LoggedEvent => ({
    region: OLD, sku, seq, type: "stock_set", occurredAt: when,
    payload: { warehouse: "w1", onHand: seq, after: { onHand: seq, held: 0, confirmed: 0, safetyStock: 0, available: seq } },
  });
  const record = async (events: LoggedEvent[]) => {
    await db.transaction(async (tx) => {
      await tx.insert(inventoryEvents).values(events);
      await applyPending(tx, projectionTables(), OLD, sku);
    });
  };
  const seqsIn = async (table: string) =>
    (await db.execute(sql`SELECT seq FROM ${sql.raw(table)} WHERE region = ${OLD} AND sku = ${sku} ORDER BY seq`)).rows.map((r) => (r as { seq: number }).seq);

  it("get their own month, and a month the snapshot wholly covers is dropped whole", async () => {
    await record([event(1, at(0, 5)), event(2, at(0, 20)), event(3, at(1, 3))]);
    expect(await seqsIn("inventory_events_default")).toEqual([1, 2, 3]);

    const created = await ensureEventPartitions(db);
    expect(created).toEqual(expect.arrayContaining(["inventory_events_2025_01", "inventory_events_2025_02"]));
    expect(await seqsIn("inventory_events_default")).toEqual([]);
    expect(await seqsIn("inventory_events_2025_01")).toEqual([1, 2]);
    expect(await seqsIn("inventory_events_2025_02")).toEqual([3]);
    // Run again, nothing to do; and the months ahead of now exist.
    expect(await ensureEventPartitions(db)).toEqual([]);
    const ahead = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 2, 1));
    expect((await eventPartitions(db)).some((p) => p.from.getTime() === ahead.getTime())).toBe(true);

    await takeSnapshot(db);
    // An event after the snapshot in February: that month is not wholly covered, so it stays (its
    // covered row goes row by row); January is, and goes whole.
    await record([event(4, at(1, 10))]);
    const pruned = await pruneEvents(db, { keepMs: 30 * 86_400_000 });
    expect(pruned.droppedPartitions).toContain("inventory_events_2025_01");
    expect(pruned.droppedPartitions).not.toContain("inventory_events_2025_02");
    expect((await eventPartitions(db)).map((p) => p.name)).not.toContain("inventory_events_2025_01");
    expect(await seqsIn("inventory_events")).toEqual([4]);
    // Nothing of this month or the months ahead was touched.
    expect((await eventPartitions(db)).some((p) => p.from.getTime() === ahead.getTime())).toBe(true);
  });

  it("are kept by the nightly cron: partitions ahead, a snapshot, the prune", async () => {
    const before = (await snapshotTakenAt(db))?.getTime() ?? 0;
    const logged = vi.spyOn(console, "log");
    const failed = vi.spyOn(console, "error");
    const ctx = createExecutionContext();
    await worker.scheduled!(createScheduledController({ cron: MAINTENANCE_CRON, scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    const lines = [...logged.mock.calls, ...failed.mock.calls].map((args) => String(args[0]));
    logged.mockRestore();
    failed.mockRestore();
    // The run got to its end (the vacuum after the prune included), and said so in one line.
    expect(lines.filter((l) => l.includes('"maintenance_failed"'))).toEqual([]);
    expect(lines.filter((l) => l.includes('"event":"maintenance"'))).toHaveLength(1);
    expect((await snapshotTakenAt(db))!.getTime()).toBeGreaterThan(before);
    const thisMonth = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1));
    expect((await eventPartitions(db)).some((p) => p.from.getTime() === thisMonth.getTime())).toBe(true);
  });
});

describe("the reservation ledger over time", () => {
  const REGION_L = "logsd";
  const lstub = (sku: string) => env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName(REGION_L, sku)));
  const ledgerOf = async (table: string, sku: string) =>
    (await db.execute(sql`SELECT status FROM ${sql.raw(table)} WHERE region = ${REGION_L} AND sku = ${sku} ORDER BY status`)).rows.map((r) => (r as { status: string }).status);

  /** The SKU-region's differences once Postgres has caught up with its object ([] when ok). */
  const reconciled = (sku: string) =>
    eventually(async () => {
      const res = await call("GET", `/v1/admin/${REGION_L}/reconcile`, { headers: adminHeaders() });
      if (res.body.lagging.some((c: { sku: string }) => c.sku === sku)) return undefined;
      return (res.body.drift.find((c: { sku: string }) => c.sku === sku)?.differences ?? []) as string[];
    }, `${sku} reconciled`);

  it("forgets holds that ended unsold before the cutoff, keeps every sale, and reconcile does not call them missing", async () => {
    const sku = uniqueSku("LEDGER");
    await lstub(sku).setStock({ sku, region: REGION_L, warehouse: "w1", onHand: 10 });
    for (let i = 0; i < 3; i++) {
      const held = await lstub(sku).reserve(sku, REGION_L, { digest: `${sku}-${i}`, requestHash: "h", qty: 1, ttlSeconds: 600 });
      if (!held.ok) throw new Error(JSON.stringify(held));
      await lstub(sku).releaseReservation(held.reservation.id, held.token);
    }
    const sale = await lstub(sku).reserve(sku, REGION_L, { digest: `${sku}-sale`, requestHash: "h", qty: 2, ttlSeconds: 600 });
    if (!sale.ok) throw new Error(JSON.stringify(sale));
    expect((await lstub(sku).confirmReservation(sale.reservation.id, sale.token)).ok).toBe(true);
    // "w1" is no configured warehouse: the dispatch consumer marks the sale dispatch_failed, at a
    // time of its own. Wait for that settled state (a sale all the same), not for a race against it.
    await eventually(async () => {
      const { version } = await lstub(sku).snapshot(sku, REGION_L);
      const [p] = await db.select().from(streamPositions).where(and(eq(streamPositions.region, REGION_L), eq(streamPositions.sku, sku)));
      if ((p?.appliedSeq ?? 0) < version) return undefined;
      return (await ledgerOf("reservation_ledger", sku)).includes("dispatch_failed") ? true : undefined;
    }, `${sku} projected with its sale's dispatch settled`);
    expect(await ledgerOf("reservation_ledger", sku)).toEqual(["dispatch_failed", "released", "released", "released"]);

    await takeSnapshot(db);
    expect(await pruneLedger(db, { keepMs: 0, region: REGION_L })).toBeGreaterThanOrEqual(3);
    // The sale stays, in the ledger and in the snapshot a rebuild would start from.
    expect(await ledgerOf("reservation_ledger", sku)).toEqual(["dispatch_failed"]);
    expect(await ledgerOf("reservation_ledger_snapshot", sku)).toEqual(["dispatch_failed"]);
    expect(await db.select().from(reservationLedger).where(eq(reservationLedger.reservationId, sale.reservation.id))).toHaveLength(1);

    // The object still holds those holds' events; reconcile knows they were pruned, not lost.
    expect(await reconciled(sku)).toEqual([]);
    // A sale row that goes missing still is drift.
    await db.delete(reservationLedger).where(eq(reservationLedger.reservationId, sale.reservation.id));
    expect(await reconciled(sku)).toEqual([expect.stringMatching(/missing from the Postgres ledger/)]);
  });
});
