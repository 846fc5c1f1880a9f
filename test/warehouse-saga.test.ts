// The warehouse's story: a confirmed sale is dispatched to the warehouse that holds it, which
// allocates and ships it, or rejects it, or says nothing until the deadline compensates.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, inject, it } from "vitest";
import { inventoryName, type InventoryObject } from "../durable-objects/inventory";
import { signWebhook } from "../warehouses/signing";
import { adminHeaders, call, confirm, events, fetchWorker, reserve, setStock, stockState, uniqueSku } from "./client";
import { eventually } from "./db";

const secret = (id: string) => `whsec_${btoa(`test-secret-for-${id}-0001`)}`;
const stock = (region: string, sku: string) => env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName(region, sku)));

/** Posts a warehouse event the way a warehouse does: signed with its secret. */
async function fromWarehouse(warehouseId: string, body: unknown, opts: { id?: string; timestamp?: number; secret?: string; raw?: string } = {}) {
  const id = opts.id ?? `evt_${crypto.randomUUID()}`;
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const payload = opts.raw ?? JSON.stringify(body);
  const signature = await signWebhook(opts.secret ?? secret(warehouseId), id, timestamp, payload);
  const res = await fetchWorker(`http://edge.test/v1/warehouses/${warehouseId}/events`, {
    method: "POST",
    headers: { "content-type": "application/json", "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": signature },
    body: payload,
  });
  return { status: res.status, body: (await res.json()) as any, id };
}

/** A SKU stocked mostly at `warehouse`, with one confirmed sale of `qty`. */
async function confirmedSale(region: string, warehouse: string, other: string, qty = 2) {
  const sku = uniqueSku("SAGA");
  await setStock(region, sku, { warehouse, onHand: 10 });
  await setStock(region, sku, { warehouse: other, onHand: 3 });
  const held = await reserve(region, [{ sku, qty }]);
  expect((await confirm(region, held.body.id, held.body.token)).status).toBe(200);
  return { sku, id: held.body.id as string };
}

const types = async (region: string, sku: string) => (await events(region, sku)).body.events.map((e: any) => e.type);
const sale = (region: string, sku: string, id: string) => stock(region, sku).sale(id);

async function deliveriesAt(warehouseId: string): Promise<any[]> {
  const res = await fetch(`${inject("warehouseUrls")[warehouseId]}/deliveries`);
  return (await res.json()) as any[];
}

describe("dispatching a confirmed sale", () => {
  it("sends it to the fullest warehouse as a signed JSON webhook with a stable delivery id", async () => {
    const { sku, id } = await confirmedSale("eu", "eu-ams", "eu-war");
    const delivered = await eventually(async () => (await deliveriesAt("eu-ams")).find((d) => JSON.stringify(d).includes(id)), "delivery at eu-ams");
    expect(JSON.stringify(delivered)).toContain(sku);
    await eventually(async () => ((await sale("eu", sku, id))?.allocation === "dispatched" ? true : undefined), "dispatched");
    const log = (await events("eu", sku)).body.events;
    const dispatched = log.find((e: any) => e.type === "dispatched");
    expect(dispatched.payload).toMatchObject({ holdId: id, warehouse: "eu-ams" });
    expect(dispatched.payload.deliveryId).toMatch(new RegExp(`^dlv_eu_${sku}_\\d+$`));
  });

  it("speaks SOAP to a legacy warehouse", async () => {
    const { sku, id } = await confirmedSale("us", "us-rno", "us-nj");
    await eventually(async () => (await deliveriesAt("us-rno")).find((d) => JSON.stringify(d).includes(id)), "delivery at us-rno");
    await eventually(async () => ((await sale("us", sku, id))?.allocation === "dispatched" ? true : undefined), "dispatched");
  });
});

describe("the allocation saga", () => {
  it("ends in shipped: allocated, then shipped takes the units off the shelf", async () => {
    const { sku, id } = await confirmedSale("eu", "eu-ams", "eu-war");
    expect((await fromWarehouse("eu-ams", { type: "allocation.confirmed", sku, reservationId: id })).body).toMatchObject({ status: "applied" });
    expect(await sale("eu", sku, id)).toMatchObject({ status: "confirmed", allocation: "allocated", allocation_due_at: null });
    const shipped = await fromWarehouse("eu-ams", { type: "shipment.shipped", sku, reservationId: id, trackingId: "TRK-1" });
    expect(shipped.status).toBe(200);
    const state = (await stockState("eu", sku)).body;
    expect(state).toMatchObject({ onHand: 11, confirmed: 0, held: 0, available: 11 });
    expect(state.warehouses.find((w: any) => w.warehouse === "eu-ams").onHand).toBe(8);
    expect(await types("eu", sku)).toEqual(expect.arrayContaining(["hold_confirmed", "allocation_confirmed", "shipped"]));
  });

  it("compensates a rejection: the units go back on sale, and the original events stay", async () => {
    const { sku, id } = await confirmedSale("eu", "eu-ams", "eu-war");
    const before = await types("eu", sku);
    await fromWarehouse("eu-ams", { type: "allocation.rejected", sku, reservationId: id, reason: "damaged in picking" });
    expect((await stockState("eu", sku)).body).toMatchObject({ confirmed: 0, available: 13 });
    const after = await types("eu", sku);
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after).toEqual(expect.arrayContaining(["allocation_rejected", "sale_released"]));
    expect(await sale("eu", sku, id)).toMatchObject({ status: "released", allocation: "rejected" });
  });

  it("times out a sale nobody allocated, and takes the units back when the late answer finds them", async () => {
    const { sku, id } = await confirmedSale("apac", "apac-sg", "apac-syd");
    await runInDurableObject(stock("apac", sku), (_: InventoryObject, s) => s.storage.sql.exec("UPDATE holds SET allocation_due_at = ? WHERE id = ?", Date.now() - 1, id));
    await runDurableObjectAlarm(stock("apac", sku));
    expect(await types("apac", sku)).toEqual(expect.arrayContaining(["allocation_timed_out", "sale_released"]));
    expect((await stockState("apac", sku)).body).toMatchObject({ confirmed: 0, available: 13 });
    const late = await fromWarehouse("apac-sg", { type: "allocation.confirmed", sku, reservationId: id });
    expect(late.body).toMatchObject({ status: "applied", detail: "late allocation: units taken back" });
    expect((await stockState("apac", sku)).body).toMatchObject({ confirmed: 2, available: 11 });
  });

  it("asks an operator to reconcile a late allocation whose units were sold meanwhile", async () => {
    const sku = uniqueSku("SAGA");
    await setStock("apac", sku, { warehouse: "apac-sg", onHand: 2 });
    const first = await reserve("apac", [{ sku, qty: 2 }]);
    await confirm("apac", first.body.id, first.body.token);
    await runInDurableObject(stock("apac", sku), (_: InventoryObject, s) => s.storage.sql.exec("UPDATE holds SET allocation_due_at = ? WHERE id = ?", Date.now() - 1, first.body.id));
    await runDurableObjectAlarm(stock("apac", sku));
    expect((await reserve("apac", [{ sku, qty: 2 }])).status).toBe(201); // someone else bought them
    const late = await fromWarehouse("apac-sg", { type: "allocation.confirmed", sku, reservationId: first.body.id });
    expect(late.body.detail).toBe("late allocation: reconciliation required");
    const state = (await stockState("apac", sku)).body;
    expect(state).toMatchObject({ held: 2, confirmed: 0, available: 0 });
    expect(state.attention).toEqual([expect.objectContaining({ holdId: first.body.id, reason: "late_allocation_units_resold" })]);
  });

  it("ships a sale whose allocation message is still on its way (out of order)", async () => {
    const { sku, id } = await confirmedSale("eu", "eu-ams", "eu-war");
    await fromWarehouse("eu-ams", { type: "shipment.shipped", sku, reservationId: id });
    const late = await fromWarehouse("eu-ams", { type: "allocation.confirmed", sku, reservationId: id });
    expect(late.body.status).toBe("ignored");
    expect(await sale("eu", sku, id)).toMatchObject({ status: "shipped" });
  });

  it("refuses allocation news about a sale from a warehouse that does not ship it", async () => {
    const { sku, id } = await confirmedSale("eu", "eu-ams", "eu-war");
    const res = await fromWarehouse("eu-war", { type: "allocation.confirmed", sku, reservationId: id });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("wrong_warehouse");
  });
});

describe("stock reports from warehouses", () => {
  it("applies counts in the warehouse's own order and ignores stale ones", async () => {
    const sku = uniqueSku("COUNT");
    await setStock("us", sku, { warehouse: "us-nj", onHand: 5 });
    expect((await fromWarehouse("us-nj", { type: "stock.counted", sku, onHand: 40, sequence: 7 })).body.status).toBe("applied");
    expect((await fromWarehouse("us-nj", { type: "stock.counted", sku, onHand: 3, sequence: 6 })).body.status).toBe("ignored");
    expect((await stockState("us", sku)).body.onHand).toBe(40);
  });

  it("adds receipts and takes off damage", async () => {
    const sku = uniqueSku("COUNT");
    await setStock("us", sku, { warehouse: "us-nj", onHand: 5 });
    await fromWarehouse("us-nj", { type: "stock.received", sku, qty: 10 });
    await fromWarehouse("us-nj", { type: "stock.damaged", sku, qty: 4 });
    expect((await stockState("us", sku)).body.onHand).toBe(11);
    expect(await types("us", sku)).toEqual(["stock_set", "stock_received", "stock_damaged"]);
  });
});

describe("inbound security", () => {
  const body = (sku: string) => ({ type: "stock.received", sku, qty: 1 });

  async function unchanged(sku: string, send: () => Promise<{ status: number; body: any }>, status: number, code: string) {
    const before = (await stockState("eu", sku)).body.version;
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.body.code).toBe(code);
    expect((await stockState("eu", sku)).body.version).toBe(before);
  }

  it("accepts a signature made with the standardwebhooks package", async () => {
    const sku = uniqueSku("SEC");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 1 });
    const payload = JSON.stringify(body(sku));
    const msgId = `msg_${crypto.randomUUID()}`;
    const now = new Date();
    const signature = new Webhook(secret("eu-ams")).sign(msgId, now, payload);
    const res = await fetchWorker("http://edge.test/v1/warehouses/eu-ams/events", {
      method: "POST",
      headers: { "content-type": "application/json", "webhook-id": msgId, "webhook-timestamp": String(Math.floor(now.getTime() / 1000)), "webhook-signature": signature },
      body: payload,
    });
    expect(res.status).toBe(200);
    expect((await stockState("eu", sku)).body.onHand).toBe(2);
  });

  it("refuses a wrong secret, an old timestamp, a tampered body, a missing header (401) and changes nothing", async () => {
    const sku = uniqueSku("SEC");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 1 });
    await unchanged(sku, () => fromWarehouse("eu-ams", body(sku), { secret: secret("eu-war") }), 401, "invalid_signature");
    await unchanged(sku, () => fromWarehouse("eu-ams", body(sku), { timestamp: Math.floor(Date.now() / 1000) - 301 }), 401, "invalid_signature");
    await unchanged(sku, () => fromWarehouse("eu-ams", body(sku), { timestamp: Math.floor(Date.now() / 1000) + 301 }), 401, "invalid_signature");
    await unchanged(
      sku,
      async () => {
        const ts = Math.floor(Date.now() / 1000);
        const sig = await signWebhook(secret("eu-ams"), "evt_t", ts, JSON.stringify(body(sku)));
        const res = await fetchWorker("http://edge.test/v1/warehouses/eu-ams/events", {
          method: "POST",
          headers: { "webhook-id": "evt_t", "webhook-timestamp": String(ts), "webhook-signature": sig },
          body: JSON.stringify({ ...body(sku), qty: 1000 }),
        });
        return { status: res.status, body: await res.json() };
      },
      401,
      "invalid_signature",
    );
    await unchanged(
      sku,
      async () => {
        const res = await fetchWorker("http://edge.test/v1/warehouses/eu-ams/events", { method: "POST", body: JSON.stringify(body(sku)) });
        return { status: res.status, body: await res.json() };
      },
      401,
      "invalid_signature",
    );
  });

  it("applies a replayed event id once", async () => {
    const sku = uniqueSku("SEC");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 1 });
    const first = await fromWarehouse("eu-ams", body(sku), { id: "evt_replayed" });
    const again = await fromWarehouse("eu-ams", body(sku), { id: "evt_replayed" });
    expect(first.body.status).toBe("applied");
    expect(again.body.status).toBe("duplicate");
    expect((await stockState("eu", sku)).body.onHand).toBe(2);
  });

  it("rejects malformed JSON and invalid events (400), and unknown warehouses (404), changing nothing", async () => {
    const sku = uniqueSku("SEC");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 1 });
    await unchanged(sku, () => fromWarehouse("eu-ams", null, { raw: '{"type": "stock.received", ' }), 400, "malformed_json");
    await unchanged(sku, () => fromWarehouse("eu-ams", { type: "stock.received", sku, qty: -2 }), 400, "invalid_request");
    await unchanged(sku, () => fromWarehouse("eu-ams", { type: "stock.teleported", sku }), 400, "invalid_request");
    await unchanged(sku, () => fromWarehouse("eu-ams", { ...body(sku), extra: true }), 400, "invalid_request");
    await unchanged(sku, () => fromWarehouse("nowhere", body(sku)), 404, "unknown_warehouse");
  });
});

describe("the SOAP endpoint", () => {
  const envelope = (inner: string) =>
    `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>${inner}</soap:Body></soap:Envelope>`;

  async function soap(warehouseId: string, xml: string, opts: { secret?: string } = {}) {
    const id = `evt_${crypto.randomUUID()}`;
    const ts = Math.floor(Date.now() / 1000);
    const signature = await signWebhook(opts.secret ?? secret(warehouseId), id, ts, xml);
    const res = await fetchWorker(`http://edge.test/v1/warehouses/${warehouseId}/soap`, {
      method: "POST",
      headers: { "content-type": "text/xml; charset=utf-8", soapaction: '"urn:edge-inventory:warehouse#StockReceived"', "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": signature },
      body: xml,
    });
    return { status: res.status, text: await res.text(), type: res.headers.get("content-type") };
  }

  it("applies a signed legacy envelope and answers in SOAP", async () => {
    const sku = uniqueSku("SOAP");
    await setStock("eu", sku, { warehouse: "eu-war", onHand: 1 });
    const res = await soap("eu-war", envelope(`<StockReceived xmlns="urn:edge-inventory:warehouse"><Sku>${sku}</Sku><Qty>4</Qty></StockReceived>`));
    expect(res.status).toBe(200);
    expect(res.type).toContain("text/xml");
    expect(res.text).toContain("StockReceivedResponse");
    expect(res.text).toContain("applied");
    expect((await stockState("eu", sku)).body.onHand).toBe(5);
  });

  it("answers malformed XML, a bad signature and XXE with a Client Fault and HTTP 500 (WS-I BP R1126), changing nothing", async () => {
    const sku = uniqueSku("SOAP");
    await setStock("eu", sku, { warehouse: "eu-war", onHand: 1 });
    const malformed = await soap("eu-war", "<soap:Envelope><soap:Body><StockReceived>");
    expect(malformed.status).toBe(500);
    expect(malformed.text).toContain("<faultcode>soap:Client</faultcode>");
    const forged = await soap("eu-war", envelope(`<StockReceived xmlns="urn:edge-inventory:warehouse"><Sku>${sku}</Sku><Qty>4</Qty></StockReceived>`), { secret: secret("eu-ams") });
    expect(forged.status).toBe(500);
    expect(forged.text).toContain("<faultstring>invalid_signature: ");
    const xxe = await soap("eu-war", `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>${envelope(`<StockReceived xmlns="urn:edge-inventory:warehouse"><Sku>&e;</Sku><Qty>1</Qty></StockReceived>`)}`);
    expect(xxe.status).toBe(500);
    expect(xxe.text).toContain("<faultcode>soap:Client</faultcode>");
    expect((await stockState("eu", sku)).body).toMatchObject({ onHand: 1, version: 1 });
  });
});

describe("operators", () => {
  it("see the saga in the admin state and the event log", async () => {
    const { sku } = await confirmedSale("eu", "eu-ams", "eu-war");
    const state = await call("GET", `/v1/admin/eu/stock/${sku}`, { headers: adminHeaders() });
    expect(state.body.attention).toEqual([]);
    expect(state.body.nextDeadline).not.toBeNull();
  });
});
