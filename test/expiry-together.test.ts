// Two holds lapse before the object notices: each hold_expired event records the totals right after
// it, so a replay of the log matches event by event (the property test found this intermittently).
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { inventoryName, type InventoryObject } from "../durable-objects/inventory";
import { uniqueSku } from "./client";

it("records the totals after each of two holds that expire in the same pass", async () => {
  const sku = uniqueSku("LAPSE");
  const stub = env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName("eu", sku)));
  await stub.setStock({ sku, region: "eu", warehouse: "w1", onHand: 6 });
  await stub.hold(sku, "eu", "h1", 1, Date.now() + 3_600_000);
  await stub.hold(sku, "eu", "h2", 2, Date.now() + 3_600_000);
  await runInDurableObject(stub, (_: InventoryObject, state) => {
    state.storage.sql.exec("UPDATE holds SET expires_at = ? WHERE status = 'held'", Date.now() - 1);
  });
  await runInDurableObject(stub, (obj: InventoryObject) => obj.alarm());
  const events = await stub.events(0, 100);
  expect(events.map((e) => [e.type, e.payload.holdId ?? null, (e.payload.after as { held: number }).held])).toEqual([
    ["stock_set", null, 0],
    ["hold_placed", "h1", 1],
    ["hold_placed", "h2", 3],
    ["hold_expired", "h1", 2],
    ["hold_expired", "h2", 0],
  ]);
});
