// The reservation path across objects, told as the scenarios a review found broken: a sale lost
// when a retried cart met a freshly split SKU, a rolled-back line that still reached its
// warehouse, an abandoned cart that forgot its key, an alarm that spun on a failing object, a
// confirm key that confirmed two carts, a compare-and-set that failed with the version just read,
// a retired shard brought back by a late answer, and a coordinator that died before it knew its
// cart. Each test fails on the code before the reservation path v2.
import { abortAllDurableObjects, createExecutionContext, createMessageBatch, getQueueResult, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, inject, it } from "vitest";
import { inventoryName, type InventoryObject } from "../durable-objects/inventory";
import { coordinatorName, type ReservationObject } from "../durable-objects/reservation";
import { mainStub, preferredShard, shardStub } from "../durable-objects/shard-routing";
import type { StockShard } from "../durable-objects/stock-shard";
import { reservationLedger } from "../schema/tables";
import worker from "../workers/index";
import {
  adminHeaders, call, confirm, events, fromWarehouse, reservationIdFor, reserve, setStock, stockState, uniqueSku,
} from "./client";
import { database, eventually } from "./db";

const { db, close } = database();
afterAll(() => close());

const main = (sku: string, region = "eu") => mainStub(env, region, sku);
const coordinatorOf = (id: string) => env.RESERVATIONS.get(env.RESERVATIONS.idFromName(coordinatorName("eu", id)));
const setShards = (sku: string, count: number) => call("PUT", `/v1/admin/eu/stock/${sku}/shards`, { headers: adminHeaders(), body: { count } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Makes a SKU-region object fail every call for its SKU, as a broken object would. */
async function breakObject(sku: string) {
  await main(sku).setStock({ sku: "SOMETHING-ELSE", region: "eu", warehouse: "eu-ams", onHand: 5 });
}

async function repairObject(sku: string) {
  await runInDurableObject(main(sku), (obj: InventoryObject, state) => {
    state.storage.sql.exec("UPDATE sku_region SET sku = ?", sku);
    (obj as unknown as { ledger: { identity: { sku: string; region: string } } }).ledger.identity = { sku, region: "eu" };
  });
}

async function stocked(onHand: number, prefix = "PATH") {
  const sku = uniqueSku(prefix);
  expect((await setStock("eu", sku, { warehouse: "eu-ams", onHand })).status).toBe(200);
  return sku;
}

/** Moves a hold's deadline into the past inside its object, as if time had passed. */
async function lapseHold(sku: string, holdId: string) {
  await runInDurableObject(main(sku), (_: InventoryObject, state) => {
    state.storage.sql.exec("UPDATE holds SET expires_at = ? WHERE id = ?", Date.now() - 1, holdId);
  });
}

const coordinatorRow = (id: string) =>
  runInDurableObject(coordinatorOf(id), (_: ReservationObject, state) =>
    state.storage.sql.exec<{ state: string; due_at: number | null; record: string }>("SELECT state, due_at, record FROM reservations WHERE id = ?", id).toArray(),
  );

/** Lets the coordinator's alarm find cart `id` due now, and runs the alarm. */
async function runCoordinatorAlarmFor(id: string) {
  await runInDurableObject(coordinatorOf(id), (_: ReservationObject, state) => {
    state.storage.sql.exec("UPDATE reservations SET due_at = ? WHERE id = ?", Date.now() - 1, id);
  });
  return runDurableObjectAlarm(coordinatorOf(id));
}


async function deliveriesAt(warehouseId: string): Promise<any[]> {
  return (await (await fetch(`${inject("warehouseUrls")[warehouseId]}/deliveries`)).json()) as any[];
}

describe("a line never lives in two objects", () => {
  it("keeps a retried cart's line where it was first held after its SKU is split, and the confirm is one sale everywhere", async () => {
    const hot = await stocked(10, "HOT");
    const other = uniqueSku("OTHER");
    await breakObject(other);
    // A key whose cart would prefer shard 1 once the hot SKU is split in two.
    let key = "";
    for (let n = 0; ; n++) {
      key = `split-retry-${crypto.randomUUID()}`;
      if (preferredShard(await reservationIdFor("eu", key), 2) === 1) break;
    }
    const lines = [{ sku: hot, qty: 2 }, { sku: other, qty: 1 }];
    expect((await reserve("eu", lines, { key })).status).toBe(503);
    expect((await stockState("eu", hot)).body.held).toBe(2);

    expect((await setShards(hot, 2)).status).toBe(200);
    await repairObject(other);
    const retry = await reserve("eu", lines, { key });
    expect(retry.status).toBe(201);
    const id = retry.body.id as string;
    const confirmedCart = await confirm("eu", id, retry.body.token);
    expect(confirmedCart.status, JSON.stringify(confirmedCart.body)).toBe(200);

    // One sale, in the main object, dispatched once, in Postgres once.
    expect(await main(hot).sale(id)).toMatchObject({ qty: 2, status: "confirmed", stands: true });
    const confirmed = (await events("eu", hot)).body.events.filter((e: any) => e.type === "hold_confirmed" && e.payload.holdId === id);
    expect(confirmed).toHaveLength(1);
    const ledger = await eventually(async () => {
      const rows = await db.select().from(reservationLedger).where(eq(reservationLedger.sku, hot));
      return rows.length && rows[0]!.confirmedAt ? rows : undefined;
    }, "the sale in Postgres");
    expect(ledger, JSON.stringify(ledger)).toHaveLength(1);
    expect(ledger[0]).toMatchObject({ reservationId: id, qty: 2 });
    await eventually(async () => ((await main(hot).sale(id))?.allocation === "dispatched" ? true : undefined), "dispatched");
    const deliveries = (await deliveriesAt("eu-ams")).filter((d) => d.reservationId === id && d.sku === hot);
    expect(deliveries, JSON.stringify(deliveries)).toHaveLength(1);
    // The loan to the shard is exactly its quota.
    const grants = await main(hot).quotaGrants();
    const s1 = await shardStub(env, "eu", hot, 1).state();
    expect(grants.grants.find((g) => g.shard === 1)?.granted ?? 0).toBe(s1.quota);
    expect(s1).toMatchObject({ held: 0, transferring: 0 });
  });

  it("refuses a shard's hand-over of an id the main object ended for another reason, instead of acknowledging it", async () => {
    const sku = await stocked(10, "DUP");
    expect((await setShards(sku, 2)).status).toBe(200);
    const expiresAt = Date.now() + 60_000;
    expect(await main(sku).hold(sku, "eu", "dup-line", 1, expiresAt)).toMatchObject({ ok: true });
    expect(await main(sku).release("dup-line")).toMatchObject({ ok: true });
    const shard = shardStub(env, "eu", sku, 1);
    const quota = (await shard.state()).quota;
    expect(await shard.hold(sku, "eu", 1, "dup-line", 1, expiresAt)).toMatchObject({ ok: true });

    const handedOver = await shard.confirm("dup-line");
    expect(handedOver).toEqual({ ok: false, code: "hold_released" });
    // Not a sale anywhere; the shard's unit is back in its quota, and the log says why.
    expect((await events("eu", sku)).body.events.some((e: any) => e.type === "hold_confirmed")).toBe(false);
    expect(await shard.state()).toMatchObject({ quota, held: 0, transferring: 0, available: quota });
    expect((await shard.events(0, 50)).map((e) => e.type)).toContain("hold_conflict");
  });
});

describe("nothing leaves for a warehouse until the whole cart is a sale", () => {
  it("never dispatches a line whose cart was rolled back, and flags a warehouse that allocates it anyway", async () => {
    const a = await stocked(1);
    const b = await stocked(5);
    const cart = await reserve("eu", [{ sku: a, qty: 1 }, { sku: b, qty: 1 }]);
    expect(cart.status).toBe(201);
    await lapseHold(b, cart.body.id);
    expect((await confirm("eu", cart.body.id, cart.body.token)).status).toBe(410);
    expect((await stockState("eu", a)).body).toMatchObject({ held: 0, confirmed: 0, available: 1 });
    const log = (await events("eu", a)).body.events.map((e: any) => e.type);
    expect(log).toEqual(["stock_set", "hold_placed", "hold_prepared", "confirmation_reverted"]);

    // The unit is sold to someone else, whose sale does go out.
    const next = await reserve("eu", [{ sku: a, qty: 1 }]);
    expect(next.status, JSON.stringify(next.body)).toBe(201);
    const sold = await confirm("eu", next.body.id, next.body.token);
    expect(sold.status, JSON.stringify(sold.body)).toBe(200);
    await eventually(async () => ((await deliveriesAt("eu-ams")).some((d) => JSON.stringify(d).includes(next.body.id)) ? true : undefined), "the real sale's delivery");
    expect((await deliveriesAt("eu-ams")).some((d) => JSON.stringify(d).includes(cart.body.id))).toBe(false);

    // A warehouse that allocates the rolled-back line is not ignored: an operator must look.
    const late = await fromWarehouse("eu-ams", { type: "allocation.confirmed", sku: a, reservationId: cart.body.id });
    expect(late.status).toBe(200);
    expect(late.body).toMatchObject({ status: "applied", detail: "not a sale: reconciliation required" });
    expect((await stockState("eu", a)).body.attention).toEqual([expect.objectContaining({ holdId: cart.body.id, reason: "allocated_not_a_sale" })]);
  });

  it("re-checks the sale before each dispatch attempt and stops once it no longer stands", async () => {
    const sku = await stocked(10, "GONE");
    const held = await reserve("eu", [{ sku, qty: 1 }]);
    expect((await confirm("eu", held.body.id, held.body.token)).status).toBe(200);
    const id = held.body.id as string;
    await eventually(async () => ((await main(sku).sale(id))?.allocation ? true : undefined), "the first dispatch");
    // How often the warehouse was called about this sale (a repeated delivery counts its attempts).
    const calls = async () => (await deliveriesAt("eu-ams")).filter((d) => d.reservationId === id).reduce((n, d) => n + d.attempts, 0);
    const delivered = await calls();
    expect(delivered).toBe(1);
    // Nobody allocated it in time: the deadline gives the units back.
    await runInDurableObject(main(sku), (_: InventoryObject, state) => state.storage.sql.exec("UPDATE holds SET allocation_due_at = ? WHERE id = ?", Date.now() - 1, id));
    await runDurableObjectAlarm(main(sku));
    expect(await main(sku).sale(id)).toMatchObject({ status: "released", allocation: "timed_out" });

    // A retry of the dispatch (still on the queue) meets a sale that is gone: acked, not sent.
    const confirmedSeq = (await events("eu", sku)).body.events.find((e: any) => e.type === "hold_confirmed").seq;
    const message = { region: "eu", sku, seq: confirmedSeq, reservationId: id, qty: 1, warehouse: "eu-ams", confirmedAt: Date.now() };
    const batch = createMessageBatch("warehouse-dispatch", [{ id: `m-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 3, body: message }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toHaveLength(0);
    expect(await calls()).toBe(delivered);
  });
});

describe("durable intent", () => {
  it("keeps an abandoned cart's key: the same body is told it was given up, another body is refused", async () => {
    const good = await stocked(5);
    const broken = uniqueSku("BROKEN");
    await breakObject(broken);
    const key = crypto.randomUUID();
    const lines = [{ sku: good, qty: 2 }, { sku: broken, qty: 1 }];
    expect((await reserve("eu", lines, { key })).status).toBe(503);
    const id = await reservationIdFor("eu", key);
    await repairObject(broken); // the alarm can give every line back
    await runCoordinatorAlarmFor(id);
    expect((await stockState("eu", good)).body).toMatchObject({ held: 0, available: 5 });

    const same = await reserve("eu", lines, { key });
    expect(same.status).toBe(409);
    expect(same.body.code).toBe("reservation_abandoned");
    expect(same.body.detail).toContain("new Idempotency-Key");
    const other = await reserve("eu", [{ sku: good, qty: 1 }, { sku: broken, qty: 1 }], { key });
    expect(other.status).toBe(422);
    expect((await stockState("eu", good)).body).toMatchObject({ held: 0, available: 5 });
  });

  it("backs off with jitter when a stock object keeps failing, instead of re-arming at once", async () => {
    const good = await stocked(5);
    const broken = uniqueSku("BROKEN");
    await breakObject(broken);
    const key = crypto.randomUUID();
    expect((await reserve("eu", [{ sku: good, qty: 1 }, { sku: broken, qty: 1 }], { key })).status).toBe(503);
    // Worse: now every call to that object fails, releases included.
    await runInDurableObject(main(broken), (_: InventoryObject, state) => state.storage.sql.exec("DROP TABLE holds"));
    const id = await reservationIdFor("eu", key);
    const waits: number[] = [];
    for (let round = 0; round < 3; round++) {
      await runCoordinatorAlarmFor(id);
      const [row] = await coordinatorRow(id);
      expect(row!.state).toBe("pending"); // still giving back: the broken object refuses
      waits.push(row!.due_at! - Date.now());
    }
    // 1 s, 2 s, 4 s doubling, each with 50-100 % jitter.
    expect(waits[0]).toBeGreaterThan(1_000 - 200);
    expect(waits[1]).toBeGreaterThan(2_000 - 200);
    expect(waits[2]).toBeGreaterThan(4_000 - 200);
    expect(waits[2]).toBeLessThanOrEqual(8_000);
    expect((await stockState("eu", good)).body.held).toBe(0); // the healthy line was given back at once
  });

  it("stores a cart before placing its holds, so a coordinator that dies mid-create still gives them back", async () => {
    const a = await stocked(5);
    const b = await stocked(5);
    const key = crypto.randomUUID();
    const id = await reservationIdFor("eu", key);
    // b's object is busy for a while, so the create is caught between its two holds.
    const busy = runInDurableObject(main(b), (_: InventoryObject, state) => state.blockConcurrencyWhile(() => sleep(600))).catch(() => undefined);
    await sleep(30);
    const creating = reserve("eu", [{ sku: a, qty: 2 }, { sku: b, qty: 1 }], { key }).catch(() => undefined);
    await eventually(async () => ((await stockState("eu", a)).body.held === 2 ? true : undefined), "a held", 2_000);
    const [row] = await coordinatorRow(id);
    expect(row).toMatchObject({ state: "pending" });
    expect(row!.due_at).toBeGreaterThan(Date.now());

    await abortAllDurableObjects(); // the coordinator (and everything else) dies mid-create
    await Promise.all([busy, creating]);
    await runCoordinatorAlarmFor(id);
    expect((await stockState("eu", a)).body).toMatchObject({ held: 0, available: 5 });
    expect((await stockState("eu", b)).body).toMatchObject({ held: 0, available: 5 });
  });
});

describe("idempotency and compare-and-set", () => {
  it("refuses a confirm key already used for another reservation (422) and confirms nothing with it", async () => {
    const sku = await stocked(5);
    const first = await reserve("eu", [{ sku, qty: 1 }]);
    const second = await reserve("eu", [{ sku, qty: 1 }]);
    const key = crypto.randomUUID();
    expect((await confirm("eu", first.body.id, first.body.token, key)).status).toBe(200);
    const reused = await confirm("eu", second.body.id, second.body.token, key);
    expect(reused.status).toBe(422);
    expect(reused.body.code).toBe("idempotency_key_reused");
    expect((await stockState("eu", sku)).body).toMatchObject({ held: 1, confirmed: 1 });
    expect((await confirm("eu", first.body.id, first.body.token, key)).status).toBe(200); // a true retry still replays
  });

  it("accepts expectedVersion equal to the version just read, although a hold lapsed unrecorded since", async () => {
    const sku = await stocked(5);
    const held = await reserve("eu", [{ sku, qty: 2 }]);
    await lapseHold(sku, held.body.id);
    const read = (await stockState("eu", sku)).body;
    expect(read).toMatchObject({ held: 0, version: 2 });
    const put = await setStock("eu", sku, { warehouse: "eu-ams", onHand: 8, expectedVersion: read.version });
    expect(put.status).toBe(200);
    expect((await events("eu", sku)).body.events.map((e: any) => e.type)).toEqual(["stock_set", "hold_placed", "hold_expired", "stock_set"]);
  });
});

describe("stock shards", () => {
  it("does not bring a retired shard back into service with a late refill answer", async () => {
    const sku = await stocked(20, "RETIRE");
    expect((await setShards(sku, 2)).status).toBe(200);
    const shard = shardStub(env, "eu", sku, 1);
    // A refill was asked for while the shard was in service; it is retired before the answer lands.
    await runInDurableObject(shard, (_: StockShard, state) => {
      state.storage.sql.exec("INSERT INTO transfers (id, kind, qty, status, created_at) VALUES (?, 'grant', 1, 'pending', ?)", `late-${crypto.randomUUID()}`, Date.now());
      state.storage.sql.exec("UPDATE shard SET retired = 1");
      return state.storage.setAlarm(Date.now() + 60_000);
    });
    // The alarm sends the pending grant again; the main object, still at K = 2, answers "in service".
    expect(await runDurableObjectAlarm(shard)).toBe(true);
    expect((await shard.events(0, 100)).map((e) => e.type)).toContain("quota_received");
    expect((await shard.state()).retired).toBe(true);
  });
});
