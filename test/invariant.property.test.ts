// Property: whatever order concurrent holds, confirms, releases, reverts, expiries, stock counts and alarms
// reach one SKU-region object in, replaying its event log shows no oversell at any event, the
// recorded totals match the replay after every event, every refusal was true when made, and the
// final state equals the replay.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { inventoryName, type InventoryObject, type StoredEvent, type Totals } from "../durable-objects/inventory";

type Command =
  | { kind: "hold"; hold: number; qty: number }
  | { kind: "confirm"; hold: number }
  | { kind: "release"; hold: number }
  | { kind: "revert"; hold: number }
  | { kind: "expire"; hold: number }
  | { kind: "setStock"; warehouse: "w1" | "w2"; onHand: number; safetyStock: number }
  | { kind: "alarm" };

const HOLD_IDS = 8;
const holdIndex = fc.integer({ min: 0, max: HOLD_IDS - 1 });
const command: fc.Arbitrary<Command> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant("hold" as const), hold: holdIndex, qty: fc.integer({ min: 1, max: 4 }) }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant("confirm" as const), hold: holdIndex }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("release" as const), hold: holdIndex }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("revert" as const), hold: holdIndex }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("expire" as const), hold: holdIndex }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant("setStock" as const),
      warehouse: fc.constantFrom("w1" as const, "w2" as const),
      onHand: fc.integer({ min: 0, max: 10 }),
      safetyStock: fc.integer({ min: 0, max: 3 }),
    }),
    weight: 2,
  },
  { arbitrary: fc.constant({ kind: "alarm" as const }), weight: 1 },
);

interface Refusal {
  qty: number;
  version: number;
}

function replay(log: StoredEvent[]) {
  const warehouses = new Map<string, number>();
  let safetyStock = 0;
  const holds = new Map<string, { qty: number; status: string }>();
  const availableAt = new Map<number, number>([[0, 0]]);
  let totals: Totals = { onHand: 0, held: 0, confirmed: 0, safetyStock: 0, available: 0 };
  const move = (id: string, from: string, to: string) => {
    const h = holds.get(id);
    expect(h?.status, `hold ${id} must be ${from} before it becomes ${to}`).toBe(from);
    h!.status = to;
  };
  for (const [i, e] of log.entries()) {
    expect(e.seq, "the sequence is gap-free").toBe(i + 1);
    const p = e.payload as Record<string, any>;
    switch (e.type) {
      case "stock_set":
        warehouses.set(p.warehouse, p.onHand);
        safetyStock = p.safetyStock;
        break;
      case "hold_placed":
        expect(holds.has(p.holdId), "a hold id is placed once").toBe(false);
        holds.set(p.holdId, { qty: p.qty, status: "held" });
        break;
      case "hold_confirmed":
        move(p.holdId, "held", "confirmed");
        break;
      case "hold_released":
        move(p.holdId, "held", "released");
        break;
      case "hold_expired":
        move(p.holdId, "held", "expired");
        break;
      case "confirmation_reverted":
        move(p.holdId, "confirmed", "reverted");
        break;
    }
    const sum = (status: string) => [...holds.values()].filter((h) => h.status === status).reduce((n, h) => n + h.qty, 0);
    const onHand = [...warehouses.values()].reduce((a, b) => a + b, 0);
    const held = sum("held");
    const confirmed = sum("confirmed");
    totals = { onHand, held, confirmed, safetyStock, available: Math.max(0, onHand - held - confirmed - safetyStock) };
    if (e.type === "hold_placed") {
      expect(held + confirmed, `oversold at event ${e.seq}`).toBeLessThanOrEqual(onHand - safetyStock);
    }
    expect(p.after, `recorded totals at event ${e.seq}`).toEqual(totals);
    availableAt.set(e.seq, totals.available);
  }
  return { totals, availableAt, version: log.length };
}

let run = 0;

describe("one SKU-region under random concurrent interleavings", () => {
  it("never oversells, keeps its books straight, and its state equals the replay of its log", async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(command, { minLength: 5, maxLength: 30 }), async (s, commands) => {
        const sku = `PROP-${Date.now().toString(36)}-${run++}`;
        const stub = env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName("eu", sku)));
        await stub.setStock({ sku, region: "eu", warehouse: "w1", onHand: 6 });
        const farFuture = Date.now() + 3_600_000;
        const refusals: Refusal[] = [];

        const execute = async (c: Command): Promise<void> => {
          const id = `hold-${"hold" in c ? c.hold : 0}`;
          switch (c.kind) {
            case "hold": {
              const r = await stub.hold(sku, "eu", id, c.qty, farFuture);
              if (!r.ok && r.code === "insufficient_stock") refusals.push({ qty: c.qty, version: r.version });
              return;
            }
            case "confirm":
              await stub.confirm(id);
              return;
            case "release":
              await stub.release(id);
              return;
            case "revert":
              await stub.revertConfirmation(id);
              return;
            case "expire":
              await runInDurableObject(stub, (_: InventoryObject, state) => {
                state.storage.sql.exec("UPDATE holds SET expires_at = ? WHERE id = ? AND status = 'held'", Date.now() - 1, id);
              });
              return;
            case "setStock":
              await stub.setStock({ sku, region: "eu", warehouse: c.warehouse, onHand: c.onHand, safetyStock: c.safetyStock });
              return;
            case "alarm":
              await runInDurableObject(stub, (obj: InventoryObject) => obj.alarm());
              return;
          }
        };

        // The scheduler decides the order in which the commands start; they then run concurrently.
        const running = commands.map((c) => s.schedule(Promise.resolve(c.kind)).then(() => execute(c)));
        await s.waitAll();
        await Promise.all(running);
        await runInDurableObject(stub, (obj: InventoryObject) => obj.alarm()); // materialise due expiries

        const log = await stub.events(0, 10_000);
        const { totals, availableAt, version } = replay(log);
        for (const r of refusals) {
          expect(availableAt.get(r.version)!, "a refusal is justified by the state it saw").toBeLessThan(r.qty);
        }
        const snapshot = await stub.snapshot(sku, "eu");
        expect({ ...snapshot, sku: undefined, region: undefined }).toEqual({ ...totals, version, sku: undefined, region: undefined });
      }),
      { numRuns: 60 },
    );
  });
});
