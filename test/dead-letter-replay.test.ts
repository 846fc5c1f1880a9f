// An operator's story with kept dead letters: once the cause is fixed, a lost inventory event is
// replayed and the projection stuck behind its gap moves on; a dead dispatch is sent to its
// warehouse again through the dispatch queue, unless its sale no longer stands. Each letter is
// acted on once. Also the region-wide views the operator console reads: attention rows and every
// warehouse circuit, and the console page itself. Sandbox regions opsa..opsp keep the projection
// rows made here out of the regions other files reconcile.
import { createExecutionContext, createMessageBatch, getQueueResult, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { afterAll, describe, expect, inject, it } from "vitest";
import { inventoryName, type InventoryObject } from "../durable-objects/inventory";
import { shopperOrders, streamPositions, skuRegionLevels } from "../schema/tables";
import worker from "../workers/index";
import { adminHeaders, call, confirm, events, reserve, uniqueSku } from "./client";
import { database, eventually } from "./db";

const { db, close } = database();
afterAll(() => close());

const stock = (region: string, sku: string) => env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName(region, sku)));

async function deliver(queue: string, id: string, body: unknown, attempts = 1) {
  const batch = createMessageBatch(queue, [{ id, timestamp: new Date(), attempts, body }]);
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

const letters = async (region: string) => (await call("GET", `/v1/admin/${region}/dead-letters?limit=500`, { headers: adminHeaders() })).body.deadLetters as any[];
const letterOf = async (region: string, messageId: string) => (await letters(region)).find((d) => d.messageId === messageId);
const replay = (region: string, id: number | string) => call("POST", `/v1/admin/${region}/dead-letters/${id}/replay`, { headers: adminHeaders() });
const redispatch = (region: string, id: number | string) => call("POST", `/v1/admin/${region}/dead-letters/${id}/redispatch`, { headers: adminHeaders() });

async function position(region: string, sku: string) {
  const [p] = await db.select().from(streamPositions).where(and(eq(streamPositions.region, region), eq(streamPositions.sku, sku)));
  return p?.appliedSeq;
}

const totals = (onHand: number) => ({ onHand, held: 0, confirmed: 0, safetyStock: 0, available: onHand });

/** Event 1 of a SKU-region dead-lettered, event 2 stored by the consumer and waiting behind the gap. */
async function gapLeftByADeadLetter(region: string) {
  const sku = uniqueSku("GAP");
  const at = Date.now();
  const first = { region, sku, seq: 1, type: "stock_set", at, payload: { warehouse: "w1", onHand: 7, after: totals(7) } };
  const second = { region, sku, seq: 2, type: "stock_set", at: at + 1, payload: { warehouse: "w1", onHand: 9, after: totals(9) } };
  expect((await deliver("inventory-events", `ev2-${sku}`, second)).explicitAcks).toHaveLength(1);
  const messageId = `ev1-${sku}`;
  expect((await deliver("inventory-events-dlq", messageId, first, 11)).explicitAcks).toEqual([messageId]);
  expect(await position(region, sku)).toBe(0);
  return { sku, letter: await letterOf(region, messageId) };
}

describe("replaying a dead-lettered inventory event", () => {
  it("stores and projects it, so the projection waiting behind its gap catches up, and marks the letter replayed", async () => {
    const { sku, letter } = await gapLeftByADeadLetter("opsa");
    expect(letter).toMatchObject({ queue: "inventory-events-dlq", replayedAt: null });
    const res = await replay("opsa", letter.id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: letter.id, kind: "inventory_event", outcome: `event 1 of opsa:${sku} stored; the projection is at 2` });
    expect(await position("opsa", sku)).toBe(2);
    const [levels] = await db.select().from(skuRegionLevels).where(and(eq(skuRegionLevels.region, "opsa"), eq(skuRegionLevels.sku, sku)));
    expect(levels).toMatchObject({ onHand: 9, version: 2 });
    expect((await letterOf("opsa", letter.messageId)).replayedAt).toBe(res.body.replayedAt);
  });

  it("is done once: a second replay answers 409 already_replayed and changes nothing", async () => {
    const { sku, letter } = await gapLeftByADeadLetter("opsb");
    const first = await replay("opsb", letter.id);
    expect(first.status).toBe(200);
    const again = await replay("opsb", letter.id);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: "already_replayed" });
    expect(again.body.detail).toContain(first.body.replayedAt);
    expect((await letterOf("opsb", letter.messageId)).replayedAt).toBe(first.body.replayedAt);
    expect(await position("opsb", sku)).toBe(2);
  });

  it("two replays at once: one replays, the other answers 409", async () => {
    const { sku, letter } = await gapLeftByADeadLetter("opsc");
    const answers = await Promise.all([replay("opsc", letter.id), replay("opsc", letter.id)]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    expect(await position("opsc", sku)).toBe(2);
  });

  it("records a dead-lettered shopper order (with consent) for the recommendation build", async () => {
    const reservationId = "d".repeat(64);
    const order = { region: "opsg", reservationId, shopper: "e".repeat(64), consent: true, at: Date.now() };
    const messageId = `so-${crypto.randomUUID()}`;
    await deliver("inventory-events-dlq", messageId, order, 11); // shopper-orders dead-letters there too
    const letter = await letterOf("opsg", messageId);
    expect(await db.select().from(shopperOrders).where(eq(shopperOrders.region, "opsg"))).toEqual([]);
    const res = await replay("opsg", letter.id);
    expect(res.body).toMatchObject({ id: letter.id, kind: "shopper_order", outcome: `shopper order of reservation ${reservationId} recorded` });
    expect(await db.select({ reservationId: shopperOrders.reservationId, shopper: shopperOrders.shopper }).from(shopperOrders).where(eq(shopperOrders.region, "opsg"))).toEqual([
      { reservationId, shopper: order.shopper },
    ]);
  });

  it("answers 404 for an unknown id or another region's letter, 409 for a dispatch letter, 400 for a bad id; nothing changes", async () => {
    const { sku, letter } = await gapLeftByADeadLetter("opsd");
    expect((await replay("opsd", 2_000_000_000)).body).toMatchObject({ status: 404, code: "dead_letter_not_found" });
    expect((await replay("opse", letter.id)).body).toMatchObject({ status: 404, code: "dead_letter_not_found" });
    expect((await replay("opsd", "seventeen")).body).toMatchObject({ status: 400, code: "invalid_request" });
    expect((await redispatch("opsd", letter.id)).body).toMatchObject({ status: 409, code: "not_replayable" });
    const dispatchId = `dd-${crypto.randomUUID()}`;
    await deliver("warehouse-dispatch-dlq", dispatchId, { region: "opsd", sku, seq: 1, reservationId: "c".repeat(64), qty: 1, warehouse: "w1", confirmedAt: Date.now() }, 31);
    const dispatchLetter = await letterOf("opsd", dispatchId);
    const refused = await replay("opsd", dispatchLetter.id);
    expect(refused.body).toMatchObject({ status: 409, code: "not_replayable" });
    expect(refused.body.detail).toContain(`/dead-letters/${dispatchLetter.id}/redispatch`);
    expect((await letterOf("opsd", letter.messageId)).replayedAt).toBeNull();
    expect((await letterOf("opsd", dispatchId)).replayedAt).toBeNull();
    expect(await position("opsd", sku)).toBe(0);
  });
});

describe("re-dispatching a dead-lettered dispatch", () => {
  /** How many times eu-ams was sent this sale (it keeps one delivery per delivery id, counting repeats). */
  async function deliveriesOf(reservationId: string): Promise<number> {
    const res = await fetch(`${inject("warehouseUrls")["eu-ams"]}/deliveries`);
    return ((await res.json()) as any[]).find((d) => JSON.stringify(d).includes(reservationId))?.attempts ?? 0;
  }

  /** A confirmed eu sale whose dispatch went to the dead-letter queue (after its first delivery settled). */
  async function deadDispatch() {
    const region = "eu";
    const sku = uniqueSku("REDISPATCH");
    await stock(region, sku).setStock({ sku, region, warehouse: "eu-ams", onHand: 5 });
    const held = await reserve(region, [{ sku, qty: 2 }]);
    await confirm(region, held.body.id, held.body.token);
    const id = held.body.id as string;
    await eventually(async () => ((await stock(region, sku).sale(id))?.allocation ? true : undefined), "the first dispatch settled");
    await eventually(async () => ((await deliveriesOf(id)) === 1 ? true : undefined), "the first delivery at eu-ams");
    // As if every attempt had failed instead: the sale is back to not dispatched, and the letter arrives.
    await runInDurableObject(stock(region, sku), (_: InventoryObject, s) => s.storage.sql.exec("UPDATE holds SET allocation = NULL WHERE id = ?", id));
    const confirmed = (await events(region, sku)).body.events.find((e: any) => e.type === "hold_confirmed");
    const messageId = `dd-${crypto.randomUUID()}`;
    const message = { region, sku, seq: confirmed.seq, reservationId: id, qty: 2, warehouse: "eu-ams", confirmedAt: Date.now() };
    await deliver("warehouse-dispatch-dlq", messageId, message, 31);
    expect(await stock(region, sku).sale(id)).toMatchObject({ status: "confirmed", allocation: "dispatch_failed" });
    return { region, sku, id, letter: await letterOf(region, messageId) };
  }

  it("sends the sale to its warehouse again through the dispatch queue, once", async () => {
    const { region, sku, id, letter } = await deadDispatch();
    const res = await redispatch(region, letter.id);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ id: letter.id, kind: "warehouse_dispatch", outcome: `delivery dlv_${region}_${sku}_${letter.body.message.seq} queued for eu-ams` });
    await eventually(async () => ((await stock(region, sku).sale(id))?.allocation === "dispatched" ? true : undefined), "dispatched again");
    expect(await deliveriesOf(id)).toBe(2);
    const types = (await events(region, sku)).body.events.map((e: any) => e.type);
    expect(types.slice(types.indexOf("dispatch_failed"))).toEqual(["dispatch_failed", "dispatched"]);
    const again = await redispatch(region, letter.id);
    expect(again.body).toMatchObject({ status: 409, code: "already_replayed" });
  });

  it("refuses a sale that was rolled back since (409 sale_not_standing): nothing ships, the letter stays", async () => {
    const { region, sku, id, letter } = await deadDispatch();
    // Nobody allocated it in time: the deadline gives the units back.
    await runInDurableObject(stock(region, sku), (_: InventoryObject, s) => s.storage.sql.exec("UPDATE holds SET allocation_due_at = ? WHERE id = ?", Date.now() - 1, id));
    await runDurableObjectAlarm(stock(region, sku));
    expect(await stock(region, sku).sale(id)).toMatchObject({ status: "released", stands: false });
    const res = await redispatch(region, letter.id);
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: "sale_not_standing" });
    expect(res.body.detail).toContain("released");
    expect((await letterOf(region, letter.messageId)).replayedAt).toBeNull();
    await new Promise((r) => setTimeout(r, 1_500)); // a queued dispatch would have been delivered by now
    expect(await deliveriesOf(id)).toBe(1);
    const types = (await events(region, sku)).body.events.map((e: any) => e.type);
    expect(types.slice(types.indexOf("dispatch_failed"))).toEqual(["dispatch_failed", "allocation_timed_out", "sale_released"]);
  });
});

describe("what the operator console reads", () => {
  it("lists the attention rows of a region's SKU-regions", async () => {
    const { sku } = await gapLeftByADeadLetter("opsf");
    await stock("opsf", sku).raiseAttention("reconcile_drift: a test difference", "r-1");
    const res = await call("GET", "/v1/admin/opsf/attention", { headers: adminHeaders() });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ region: "opsf", checked: 1, nextAfter: null });
    expect(res.body.attention).toEqual([{ sku, holdId: "r-1", reason: "reconcile_drift: a test difference", seq: 0, at: expect.any(String) }]);
  });

  it("lists every configured warehouse's circuit of a region", async () => {
    const res = await call("GET", "/v1/admin/eu/warehouses/circuits", { headers: adminHeaders() });
    expect(res.status).toBe(200);
    expect(res.body.circuits.map((c: any) => c.warehouse).sort()).toEqual(["eu-ams", "eu-war"]);
  });

  it("serves the console page and its module from this Worker, with no other origin", async () => {
    const page = await call("GET", "/ops");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(String(page.body)).toContain('<script type="module" src="/ops/console.js">');
    expect(String(page.body)).toContain("default-src 'self'");
    const script = await exports.default.fetch("http://edge.test/ops/console.js");
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toContain("javascript");
    expect(await script.text()).toContain("sessionStorage");
  });
});
