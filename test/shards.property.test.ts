// Property: a SKU-region split into K = 3 objects (the main object and two stock shards), under
// random concurrent holds (routed as the coordinator routes them), confirms, releases, reverts,
// expiries, stock counts, rebalancing and alarms in any order:
// - the main object's log replays to its recorded totals, and no hold or grant ever took more than
//   onHand - safetyStock - (held + confirmed + granted);
// - each shard's log replays to its recorded totals, and held + transferring never exceeded quota,
//   so every unit held or sold anywhere is covered by the main object's books;
// - once settled, the main object's grants equal the shards' quotas, shard by shard;
// - at the end nothing is refused while units are free anywhere: a line for every free unit holds.
// Units lent to a shard are commitments, like holds: a warehouse count that drops below them makes
// the main object take idle units back right after (not atomically), as it keeps existing holds.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { InventoryObject, StoredEvent } from "../durable-objects/inventory";
import { applyShardCount, confirmAt, holdLine, mainStub, releaseAt, revertAt, shardStub } from "../durable-objects/shard-routing";
import type { ShardEvent, StockShard } from "../durable-objects/stock-shard";

const K = 3;
type Command =
  | { kind: "hold"; hold: number; qty: number }
  | { kind: "confirm" | "release" | "revert" | "expire"; hold: number }
  | { kind: "setStock"; warehouse: "w1" | "w2"; onHand: number; safetyStock: number }
  | { kind: "rebalance"; shard: number }
  | { kind: "alarm"; shard: number };

const holdIndex = fc.integer({ min: 0, max: 9 });
const shardIndex = fc.integer({ min: 0, max: K - 1 });
const command: fc.Arbitrary<Command> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant("hold" as const), hold: holdIndex, qty: fc.integer({ min: 1, max: 4 }) }), weight: 5 },
  { arbitrary: fc.record({ kind: fc.constant("confirm" as const), hold: holdIndex }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("release" as const), hold: holdIndex }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("revert" as const), hold: holdIndex }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("expire" as const), hold: holdIndex }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant("setStock" as const),
      warehouse: fc.constantFrom("w1" as const, "w2" as const),
      onHand: fc.integer({ min: 0, max: 12 }),
      safetyStock: fc.integer({ min: 0, max: 3 }),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant("rebalance" as const), shard: fc.integer({ min: 1, max: K - 1 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("alarm" as const), shard: shardIndex }), weight: 1 },
);

function replayMain(log: StoredEvent[]) {
  const warehouses = new Map<string, number>();
  const holds = new Map<string, { qty: number; status: string }>();
  let safetyStock = 0;
  let granted = 0;
  let shards = 1;
  const grants = new Map<number, number>();
  const move = (id: string, from: string, to: string) => {
    expect(holds.get(id)?.status, `hold ${id} must be ${from} before it becomes ${to}`).toBe(from);
    holds.get(id)!.status = to;
  };
  for (const [i, e] of log.entries()) {
    expect(e.seq, "the sequence is gap-free").toBe(i + 1);
    const p = e.payload as Record<string, any>;
    switch (e.type) {
      case "stock_set":
        warehouses.set(p.warehouse, p.onHand);
        safetyStock = p.safetyStock;
        break;
      case "shards_set":
        shards = p.shards;
        break;
      case "quota_granted":
      case "quota_returned": {
        const qty = e.type === "quota_granted" ? p.qty : -p.qty;
        granted += qty;
        grants.set(p.shard, (grants.get(p.shard) ?? 0) + qty);
        break;
      }
      case "hold_placed":
        expect(holds.has(p.holdId), "a hold id is placed once").toBe(false);
        holds.set(p.holdId, { qty: p.qty, status: "held" });
        break;
      case "hold_confirmed":
        if (p.shard !== undefined) {
          expect(holds.has(p.holdId), "a shard's sale arrives once").toBe(false);
          holds.set(p.holdId, { qty: p.qty, status: "confirmed" });
          granted -= p.qty;
          grants.set(p.shard, grants.get(p.shard)! - p.qty);
        } else move(p.holdId, "held", "confirmed");
        break;
      case "hold_released":
      case "hold_expired":
        move(p.holdId, "held", e.type);
        break;
      case "confirmation_reverted":
      case "sale_released":
        move(p.holdId, "confirmed", e.type);
        break;
    }
    const sum = (status: string) => [...holds.values()].filter((h) => h.status === status).reduce((n, h) => n + h.qty, 0);
    const onHand = [...warehouses.values()].reduce((a, b) => a + b, 0);
    const held = sum("held");
    const confirmed = sum("confirmed");
    expect(granted, `granted stays >= 0 at event ${e.seq}`).toBeGreaterThanOrEqual(0);
    if (e.type === "hold_placed" || e.type === "quota_granted") {
      expect(held + confirmed + granted, `oversold at event ${e.seq} (${e.type})`).toBeLessThanOrEqual(onHand - safetyStock);
    }
    const totals = {
      onHand, held, confirmed, safetyStock,
      available: Math.max(0, onHand - held - confirmed - granted - safetyStock),
      ...((shards > 1 || granted > 0) && { granted }),
    };
    expect(p.after, `main's recorded totals at event ${e.seq} (${e.type})`).toEqual(totals);
  }
  return { grants };
}

function replayShard(index: number, log: ShardEvent[]) {
  let quota = 0, held = 0, transferring = 0;
  for (const [i, e] of log.entries()) {
    expect(e.seq, "the shard's sequence is gap-free").toBe(i + 1);
    const qty = Number(e.payload.qty ?? 0);
    switch (e.type) {
      case "quota_received": quota += qty; break;
      case "quota_returned": quota -= qty; break;
      case "hold_placed": held += qty; break;
      case "hold_released":
      case "hold_expired": held -= qty; break;
      case "hold_transferring": held -= qty; transferring += qty; break;
      case "hold_transferred": transferring -= qty; quota -= qty; break;
    }
    expect(held + transferring, `shard ${index} sold beyond its quota at event ${e.seq}`).toBeLessThanOrEqual(quota);
    expect(e.payload.after, `shard ${index}'s recorded totals at event ${e.seq} (${e.type})`).toEqual({
      quota, held, transferring, available: quota - held - transferring,
    });
  }
  return { quota, held, transferring };
}

let run = 0;

describe("a SKU-region split into stock shards, under random concurrent interleavings", () => {
  it("never sells a unit its books do not cover, balances its escrow, and refuses nothing while units are free", async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(command, { minLength: 5, maxLength: 30 }), async (s, commands) => {
        const sku = `SHARDPROP-${Date.now().toString(36)}-${run++}`;
        const main = mainStub(env, "eu", sku);
        const shard = (i: number) => shardStub(env, "eu", sku, i);
        await main.setStock({ sku, region: "eu", warehouse: "w1", onHand: 9 });
        await applyShardCount(env, "eu", sku, K);
        const farFuture = Date.now() + 3_600_000;
        const placed = new Map<string, number>();

        const execute = async (c: Command): Promise<void> => {
          const id = `hold-${"hold" in c ? c.hold : 0}`;
          const at = placed.get(id) ?? 0;
          switch (c.kind) {
            case "hold": {
              const p = await holdLine(env, "eu", sku, id, c.qty, farFuture, K);
              if ("error" in p) throw p.error;
              if (p.result.ok) placed.set(id, p.shard);
              return;
            }
            case "confirm":
              await confirmAt(env, "eu", sku, at, id);
              return;
            case "release":
              await releaseAt(env, "eu", sku, at, id);
              return;
            case "revert":
              await revertAt(env, "eu", sku, id);
              return;
            case "expire": {
              const stub = at === 0 ? main : shard(at);
              await runInDurableObject(stub, (_: unknown, state) => {
                state.storage.sql.exec("UPDATE holds SET expires_at = ? WHERE id = ? AND status = 'held'", Date.now() - 1, id);
              });
              return;
            }
            case "setStock":
              await main.setStock({ sku, region: "eu", warehouse: c.warehouse, onHand: c.onHand, safetyStock: c.safetyStock });
              return;
            case "rebalance":
              await shard(c.shard).returnIdle();
              return;
            case "alarm":
              if (c.shard === 0) await runInDurableObject(main, (obj: InventoryObject) => obj.alarm());
              else await runInDurableObject(shard(c.shard), (obj: StockShard) => obj.alarm());
              return;
          }
        };

        const running = commands.map((c) => s.schedule(Promise.resolve(c.kind)).then(() => execute(c)));
        await s.waitAll();
        await Promise.all(running);

        // Settle: alarms record due expiries and finish anything half-done. When the stock fell below
        // what is lent, the main object asks the shards for their idle units in the background;
        // the test does the same in the foreground so it can look at the books afterwards.
        await runInDurableObject(main, (obj: InventoryObject) => obj.alarm());
        const t = await main.snapshot(sku, "eu");
        if (t.onHand - t.safetyStock - t.held - t.confirmed < (t.granted ?? 0)) {
          for (let i = 1; i < K; i++) await shard(i).returnIdle();
        }
        for (let i = 1; i < K; i++) await runInDurableObject(shard(i), (obj: StockShard) => obj.alarm());

        const checkBooks = async () => {
          const { grants } = replayMain(await main.events(0, 10_000));
          const states = [];
          for (let i = 1; i < K; i++) {
            const replayed = replayShard(i, await shard(i).events(0, 10_000));
            const state = await shard(i).state();
            expect(state, `shard ${i} equals the replay of its log`).toMatchObject(replayed);
            expect(state.pendingTransfers).toBe(0);
            expect(state.transferring).toBe(0);
            expect(grants.get(i) ?? 0, `main's grant to shard ${i} equals its quota`).toBe(state.quota);
            states.push(state);
          }
          const recorded = await main.quotaGrants();
          expect(recorded.granted).toBe(states.reduce((n, st) => n + st.quota, 0));
          return { snapshot: await main.snapshot(sku, "eu"), states };
        };

        const { snapshot, states } = await checkBooks();
        // No refusal while units are free: one line for all the free units, wherever they are.
        const free = snapshot.available + states.reduce((n, st) => n + st.available, 0);
        if (free > 0) {
          const all = await holdLine(env, "eu", sku, "final-line", free, farFuture, K);
          expect("result" in all && all.result.ok, `a line of ${free} free units is held`).toBe(true);
        }
        const more = await holdLine(env, "eu", sku, "one-more", 1, farFuture, K);
        expect("result" in more && !more.result.ok && more.result.code).toBe("insufficient_stock");
        for (let i = 1; i < K; i++) await shard(i).returnIdle();
        await checkBooks();
      }),
      { numRuns: 40 },
    );
  });
});
