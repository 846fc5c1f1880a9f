// Holds expire on their own: they stop counting at expiry even before the alarm runs, the alarm
// records the expiry once, and deadlines survive the object being evicted or reset.
import { abortAllDurableObjects, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { inventoryName, OUTBOX_SAFETY_MS, type InventoryObject } from "../durable-objects/inventory";
import { coordinatorName, type ReservationObject, type ReservationRecord } from "../durable-objects/reservation";
import { availability, confirm, events, release, reserve, setStock, stockState, uniqueSku } from "./client";

const inventory = (region: string, sku: string) => env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName(region, sku)));
const coordinatorOf = (id: string) => env.RESERVATIONS.get(env.RESERVATIONS.idFromName(coordinatorName("eu", id)));

/** Moves a hold's deadline into the past inside the object, as if time had passed. */
async function backdateHold(sku: string, holdId: string) {
  await runInDurableObject(inventory("eu", sku), (_: InventoryObject, state) => {
    state.storage.sql.exec("UPDATE holds SET expires_at = ? WHERE id = ?", Date.now() - 1, holdId);
  });
}

async function backdateReservation(id: string) {
  await runInDurableObject(coordinatorOf(id), (_: ReservationObject, state) => {
    const row = state.storage.sql.exec<{ record: string }>("SELECT record FROM reservations WHERE id = ?", id).one();
    const r = JSON.parse(row.record) as ReservationRecord;
    state.storage.sql.exec("UPDATE reservations SET record = ? WHERE id = ?", JSON.stringify({ ...r, expiresAt: Date.now() - 1 }), id);
  });
}

async function heldSku(onHand: number, qty: number) {
  const sku = uniqueSku("CREAM");
  await setStock("eu", sku, { warehouse: "eu-ams", onHand });
  const res = await reserve("eu", [{ sku, qty }]);
  expect(res.status).toBe(201);
  return { sku, id: res.body.id as string, reservationId: res.body.id as string, token: res.body.token as string };
}

describe("hold expiry", () => {
  it("sets the object's alarm to the hold's deadline once its events are on the queue", async () => {
    const { sku } = await heldSku(5, 2);
    const holdExpiry = (await events("eu", sku)).body.events[1].payload.expiresAt;
    const alarmNow = () => runInDurableObject(inventory("eu", sku), (_: InventoryObject, s) => s.storage.getAlarm());
    // First the outbox safety net (a few seconds out), which the alarm replaces with the expiry.
    expect(await alarmNow()).toBeLessThanOrEqual(Date.now() + OUTBOX_SAFETY_MS);
    expect(await runDurableObjectAlarm(inventory("eu", sku))).toBe(true);
    expect(await alarmNow()).toBe(holdExpiry);
    expect(Date.parse((await stockState("eu", sku)).body.nextDeadline)).toBe(holdExpiry);
  });

  it("stops counting an expired hold at read time, before any alarm has run; the alarm tells the read model", async () => {
    const { sku, id } = await heldSku(5, 2);
    await backdateHold(sku, id);
    expect((await stockState("eu", sku)).body.available).toBe(5);
    expect((await events("eu", sku)).body.events.map((e: any) => e.type)).toEqual(["stock_set", "hold_placed"]);
    expect(await runDurableObjectAlarm(inventory("eu", sku))).toBe(true);
    expect((await availability("eu", [sku])).body.items[0].available).toBe(5);
  });

  it("records hold_expired from the alarm, once, however often the alarm fires", async () => {
    const { sku, id } = await heldSku(5, 2);
    await backdateHold(sku, id);
    expect(await runDurableObjectAlarm(inventory("eu", sku))).toBe(true);
    await runInDurableObject(inventory("eu", sku), (obj: InventoryObject) => obj.alarm());
    const log = (await events("eu", sku)).body.events;
    expect(log.map((e: any) => e.type)).toEqual(["stock_set", "hold_placed", "hold_expired"]);
    expect(log[2].payload).toMatchObject({ holdId: id, qty: 2, after: { held: 0, available: 5 } });
    expect((await stockState("eu", sku)).body).toMatchObject({ held: 0, activeHolds: 0 });
  });

  it("records the expiry before a later hold uses the freed units, so the log never shows an oversell", async () => {
    const { sku, id } = await heldSku(2, 2);
    await backdateHold(sku, id);
    expect((await reserve("eu", [{ sku, qty: 2 }])).status).toBe(201);
    expect((await events("eu", sku)).body.events.map((e: any) => e.type)).toEqual([
      "stock_set", "hold_placed", "hold_expired", "hold_placed",
    ]);
  });

  it("answers a confirm after expiry with 410 hold_expired and sells nothing", async () => {
    const { sku, id, reservationId, token } = await heldSku(5, 2);
    await backdateHold(sku, id);
    const res = await confirm("eu", reservationId, token);
    expect(res.status).toBe(410);
    expect(res.body).toMatchObject({ code: "hold_expired", reservation: { status: "expired" } });
    expect((await stockState("eu", sku)).body.confirmed).toBe(0);
    expect((await release("eu", reservationId, token)).body.status).toBe("expired");
  });

  it("answers a cart's confirm after its expiry with 410 and sells nothing", async () => {
    const a = uniqueSku("CREAM");
    const b = uniqueSku("CREAM");
    await setStock("eu", a, { warehouse: "eu-ams", onHand: 5 });
    await setStock("eu", b, { warehouse: "eu-ams", onHand: 5 });
    const held = await reserve("eu", [{ sku: a, qty: 1 }, { sku: b, qty: 2 }]);
    await backdateReservation(held.body.id);
    const res = await confirm("eu", held.body.id, held.body.token);
    expect(res.status).toBe(410);
    expect(res.body).toMatchObject({ code: "hold_expired", reservation: { status: "expired" } });
    expect((await stockState("eu", a)).body.confirmed).toBe(0);
    expect((await stockState("eu", b)).body.confirmed).toBe(0);
  });

  it("reverts the lines that did confirm when another line's hold is already gone", async () => {
    const a = uniqueSku("CREAM");
    const b = uniqueSku("CREAM");
    await setStock("eu", a, { warehouse: "eu-ams", onHand: 5 });
    await setStock("eu", b, { warehouse: "eu-ams", onHand: 5 });
    const held = await reserve("eu", [{ sku: a, qty: 1 }, { sku: b, qty: 1 }]);
    await backdateHold(b, held.body.id);
    const res = await confirm("eu", held.body.id, held.body.token);
    expect(res.status).toBe(410);
    expect((await stockState("eu", a)).body).toMatchObject({ confirmed: 0, held: 0, available: 5 });
    expect((await stockState("eu", b)).body).toMatchObject({ confirmed: 0, held: 0, available: 5 });
    // Prepared, never confirmed: nothing of line a ever left for a warehouse.
    expect((await events("eu", a)).body.events.map((e: any) => e.type)).toEqual([
      "stock_set", "hold_placed", "hold_prepared", "confirmation_reverted",
    ]);
  });
});

describe("restarts", () => {
  it("keeps holds, totals and the pending deadline across eviction", async () => {
    const { sku, id } = await heldSku(5, 2);
    await runDurableObjectAlarm(inventory("eu", sku)); // the outbox safety net; the expiry remains
    const before = await stockState("eu", sku);
    await evictDurableObject(inventory("eu", sku));
    const after = await stockState("eu", sku);
    expect(after.body).toEqual(before.body);
    const alarm = await runInDurableObject(inventory("eu", sku), (_: InventoryObject, s) => s.storage.getAlarm());
    expect(alarm).toBe(Date.parse(before.body.nextDeadline));
    await backdateHold(sku, id);
    expect(await runDurableObjectAlarm(inventory("eu", sku))).toBe(true);
    expect((await stockState("eu", sku)).body.held).toBe(0);
  });

  it("loses nothing committed when every object is reset mid-flow, and the reservation still confirms", async () => {
    const { sku, reservationId, token } = await heldSku(5, 2);
    await abortAllDurableObjects();
    expect((await stockState("eu", sku)).body).toMatchObject({ held: 2, available: 3 });
    expect((await confirm("eu", reservationId, token)).status).toBe(200);
    expect((await stockState("eu", sku)).body).toMatchObject({ held: 0, confirmed: 2 });
  });
});
