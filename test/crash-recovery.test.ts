// A cart spans several objects. When one of them fails half-way, nothing stays held beyond the
// reservation's own clean-up, and a retry with the same Idempotency-Key finishes the same reservation.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { inventoryName, type InventoryObject } from "../durable-objects/inventory";
import { coordinatorName } from "../durable-objects/reservation";
import { availability, call, events, reservationIdFor, reserve, setStock, stockState, storefront, uniqueSku } from "./client";

const inventory = (region: string, sku: string) => env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName(region, sku)));

async function coordinatorFor(key: string) {
  const id = await reservationIdFor("eu", key);
  return { id, stub: env.RESERVATIONS.get(env.RESERVATIONS.idFromName(coordinatorName("eu", id))) };
}

/** Makes a SKU-region object fail every call for its SKU, as a broken object would. */
async function breakObject(sku: string) {
  await inventory("eu", sku).setStock({ sku: "SOMETHING-ELSE", region: "eu", warehouse: "eu-ams", onHand: 5 });
}

async function repairObject(sku: string) {
  await runInDurableObject(inventory("eu", sku), (obj: InventoryObject, state) => {
    state.storage.sql.exec("UPDATE sku_region SET sku = ?", sku);
    (obj as unknown as { ledger: { identity: { sku: string; region: string } } }).ledger.identity = { sku, region: "eu" };
  });
}

async function halfMadeCart() {
  const good = uniqueSku("CART");
  const broken = uniqueSku("CART");
  await setStock("eu", good, { warehouse: "eu-ams", onHand: 5 });
  await breakObject(broken);
  const key = crypto.randomUUID();
  const lines = [{ sku: good, qty: 2 }, { sku: broken, qty: 1 }];
  const res = await reserve("eu", lines, { key });
  return { good, broken, key, lines, res };
}

describe("a cart that fails half-way", () => {
  it("answers 503 try_again with Retry-After while the other line is briefly held", async () => {
    const { good, res } = await halfMadeCart();
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(res.body.code).toBe("try_again");
    expect((await stockState("eu", good)).body.held).toBe(2);
  });

  it("finishes the same reservation on retry with the same key, holding each line once", async () => {
    const { good, broken, key, lines } = await halfMadeCart();
    await repairObject(broken);
    const retry = await reserve("eu", lines, { key });
    expect(retry.status).toBe(201);
    expect((await stockState("eu", good)).body.held).toBe(2);
    expect((await stockState("eu", broken)).body.held).toBe(1);
    expect((await events("eu", good)).body.events.filter((e: any) => e.type === "hold_placed")).toHaveLength(1);
    const again = await reserve("eu", lines, { key });
    expect(again.body).toEqual(retry.body);
  });

  it("gives the held line back from the reservation's alarm when nobody retries", async () => {
    const { good, key } = await halfMadeCart();
    const { id, stub } = await coordinatorFor(key);
    const rowOf = () =>
      runInDurableObject(stub, (_obj, state) => state.storage.sql.exec("SELECT state, due_at FROM reservations WHERE id = ?", id).toArray());
    const [pending] = await rowOf();
    expect(pending).toMatchObject({ state: "pending" });
    expect(pending!.due_at).toBeGreaterThan(Date.now()); // compensation is scheduled, ~30 s out
    // Let the 30 seconds pass, then the alarm runs.
    await runInDurableObject(stub, (_obj, state) => state.storage.sql.exec("UPDATE reservations SET due_at = ? WHERE id = ?", Date.now() - 1, id));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await stockState("eu", good)).body).toMatchObject({ held: 0, available: 5 });
    expect((await events("eu", good)).body.events.map((e: any) => e.type)).toEqual(["stock_set", "hold_placed", "hold_released"]);
    // The cart and its key are kept, with nothing left for the alarm to do.
    expect(await rowOf()).toEqual([{ state: "abandoned", due_at: null }]);
  });

  it("refuses a hold that arrives after its reservation already gave up", async () => {
    const sku = uniqueSku("LATE");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 5 });
    const stub = inventory("eu", sku);
    expect(await stub.release("late-hold")).toMatchObject({ ok: true });
    expect(await stub.hold(sku, "eu", "late-hold", 1, Date.now() + 60_000)).toEqual({ ok: false, code: "hold_released" });
    expect((await stockState("eu", sku)).body).toMatchObject({ held: 0, version: 1 });
  });

  it("keeps a hold that was committed just before its object was reset", async () => {
    const sku = uniqueSku("ABORT");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 5 });
    const stub = inventory("eu", sku);
    await stub.hold(sku, "eu", "before-crash", 2, Date.now() + 60_000);
    await runInDurableObject(stub, (_obj, state) => {
      try {
        state.abort("simulated crash");
      } catch {
        /* abort throws in the caller */
      }
    }).catch(() => undefined);
    const fresh = inventory("eu", sku);
    expect(await fresh.snapshot(sku, "eu")).toMatchObject({ held: 2, available: 3, version: 2 });
    // The publish of the hold died with the object; the restarted object publishes when woken (here by the snapshot call).
    expect((await availability("eu", [sku])).body.items[0].available).toBe(3);
  });
});
