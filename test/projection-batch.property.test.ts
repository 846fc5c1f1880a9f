// The consumer applies a gap-free run of a SKU-region's events in a fixed number of statements
// (system-of-record/projection.ts, applyRun). Property: for any sequence of events, including
// lifecycles no object would write (a change before its reservation's insert, repeated inserts,
// shard sales, traced and untraced events), applying the whole log at once, or in pieces as they
// happen to arrive, ends in exactly the tables that applying it one event at a time makes.
import { asc, eq, sql } from "drizzle-orm";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inventoryEvents, projectionTables } from "../schema/tables";
import { applyPending, type LoggedEvent } from "../system-of-record/projection";
import { database } from "./db";

const { db, close } = database();
const REGION = "logsb";
const ONE_BY_ONE = projectionTables("_pbt_one");
const BATCHED = projectionTables("_pbt_batch");
const TABLES = ["stream_positions", "reservation_ledger", "inventory_levels", "sku_region_levels"];

beforeAll(async () => {
  for (const suffix of ["_pbt_one", "_pbt_batch"]) {
    for (const name of TABLES) await db.execute(sql.raw(`CREATE TABLE IF NOT EXISTS ${name}${suffix} (LIKE ${name} INCLUDING ALL)`));
  }
});
afterAll(async () => {
  for (const suffix of ["_pbt_one", "_pbt_batch"]) for (const name of TABLES) await db.execute(sql.raw(`DROP TABLE IF EXISTS ${name}${suffix}`));
  await close();
});

type Kind = "hold_placed" | "hold_prepared" | "hold_confirmed" | "hold_released" | "hold_expired" | "confirmation_reverted"
  | "dispatched" | "dispatch_failed" | "allocation_confirmed" | "sale_released" | "shipped" | "stock_set" | "stock_counted";

const step = fc.record({
  kind: fc.constantFrom<Kind>("hold_placed", "hold_prepared", "hold_confirmed", "hold_released", "hold_expired", "confirmation_reverted",
    "dispatched", "dispatch_failed", "allocation_confirmed", "sale_released", "shipped", "stock_set", "stock_counted"),
  hold: fc.constantFrom("r1", "r2", "r3"),
  shard: fc.option(fc.constantFrom(0, 1), { nil: undefined }),
  warehouse: fc.constantFrom("w1", "w2"),
  n: fc.nat(50),
  totals: fc.boolean(),
  trace: fc.option(fc.constantFrom("0af7651916cd43dd8448eb211c80319c", "4bf92f3577b34da6a3ce929d0e0e4736"), { nil: undefined }),
});

type Step = { kind: Kind; hold: string; shard?: number; warehouse: string; n: number; totals: boolean; trace?: string };

function eventsOf(sku: string, steps: Step[]): LoggedEvent[] {
  const start = Date.UTC(2026, 10, 1);
  return steps.map((s, i) => {
    const payload: Record<string, unknown> = { holdId: s.hold, qty: 1 + (s.n % 3), expiresAt: start + 600_000 + i };
    if (s.shard !== undefined) payload.shard = s.shard;
    if (s.kind === "sale_released") payload.cause = s.n % 2 ? "allocation_rejected" : "allocation_timed_out";
    if (s.kind === "shipped" || s.kind === "stock_set" || s.kind === "stock_counted") Object.assign(payload, { warehouse: s.warehouse, onHand: s.n });
    if (s.totals) payload.after = { onHand: s.n + 10, held: s.n % 7, confirmed: s.n % 5, safetyStock: 1, available: s.n, granted: 3 };
    return { region: REGION, sku, seq: i + 1, type: s.kind, occurredAt: new Date(start + i * 1000), payload, traceId: s.trace ?? null };
  });
}

async function dump(t: ReturnType<typeof projectionTables>, sku: string) {
  const rows = async (table: (typeof t)[keyof typeof t]) =>
    (await db.select().from(table).where(eq(table.sku, sku)).orderBy(asc(table.sku)))
      .map((r) => JSON.stringify({ ...r, sku: undefined, updatedAt: table === t.streamPositions ? undefined : (r as { updatedAt?: Date }).updatedAt }))
      .sort();
  return { positions: await rows(t.streamPositions), ledger: await rows(t.reservationLedger), warehouses: await rows(t.warehouseLevels), levels: await rows(t.skuRegionLevels) };
}

describe("applying a run of events in one go", () => {
  it("ends in the same tables as one event at a time, however the events arrive", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), fc.array(fc.nat(), { maxLength: 4 }), async (steps, cuts) => {
        const id = `${crypto.randomUUID().slice(0, 8)}-${run++}`;
        // One at a time: each event stored and applied before the next arrives.
        const single = eventsOf(`PBT-ONE-${id}`, steps);
        for (const e of single) {
          await db.transaction(async (tx) => {
            await tx.insert(inventoryEvents).values(e).onConflictDoNothing();
            await applyPending(tx, ONE_BY_ONE, REGION, e.sku);
          });
        }
        // Batched: the same log arrives in a few pieces, last piece first (each waits for the gap
        // before it), and every delivery applies what it can in one go.
        const batched = eventsOf(`PBT-BATCH-${id}`, steps);
        const bounds = [...new Set(cuts.map((c) => c % batched.length))].filter((b) => b > 0).sort((a, b) => a - b);
        const edges = [0, ...bounds, batched.length];
        const pieces = edges.slice(1).map((to, i) => batched.slice(edges[i], to));
        for (const piece of pieces.reverse()) {
          await db.transaction(async (tx) => {
            await tx.insert(inventoryEvents).values(piece).onConflictDoNothing();
            await applyPending(tx, BATCHED, REGION, piece[0]!.sku);
          });
        }
        expect(await dump(BATCHED, batched[0]!.sku)).toEqual(await dump(ONE_BY_ONE, single[0]!.sku));
      }),
      { numRuns: 30 },
    );
  });
});
