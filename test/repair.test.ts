// The system of record repairs itself: the cron reconciles every SKU-region Postgres knows, a page
// at a time, resends what Postgres never got, raises what a resend cannot fix as `attention` on the
// object, checks the reservation ledger against the object's events, and dead letters are never
// dropped. Sandbox regions (repaira...) keep other test files' rows out of the regions repaired here.
import { createExecutionContext, createMessageBatch, createScheduledController, getQueueResult, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { inventoryName, type InventoryObject } from "../durable-objects/inventory";
import { deadLetters, reservationLedger, skuRegionLevels, streamPositions } from "../schema/tables";
import { reconcileRegion } from "../system-of-record/reconcile";
import { repairRegion } from "../system-of-record/repair";
import worker from "../workers/index";
import { RECIRCULATE_AFTER_ATTEMPTS } from "../workers/queues/dead-letters";
import { REPAIR_CRON } from "../workers/scheduled";
import { adminHeaders, call, confirm, events, reserve, uniqueSku } from "./client";
import { database, eventually } from "./db";

const { db, close } = database();
afterAll(() => close());

const stub = (region: string, sku: string) => env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName(region, sku)));

async function projectedTo(region: string, sku: string, version: number) {
  await eventually(async () => {
    const [p] = await db.select().from(streamPositions).where(and(eq(streamPositions.region, region), eq(streamPositions.sku, sku)));
    return p && p.appliedSeq >= version ? true : undefined;
  }, `${region}:${sku} projected to v${version}`);
}

/** A SKU-region whose first event was committed but its message lost for good; the second one arrives. */
async function lostFirstEvent(region: string) {
  const sku = uniqueSku("LOST");
  const object = stub(region, sku);
  await runInDurableObject(object, async (obj: InventoryObject, state) => {
    (obj as unknown as { outbox: { sending: Promise<void> } }).outbox.sending = new Promise(() => {}); // nothing leaves
    await obj.setStock({ sku, region, warehouse: "w1", onHand: 7 });
    state.storage.sql.exec("UPDATE sku_region SET sent_seq = version"); // ...and the message is lost
  });
  await runInDurableObject(object, (_obj, state) => {
    try {
      state.abort("restart");
    } catch {
      /* surfaces here */
    }
  }).catch(() => undefined);
  await stub(region, sku).setStock({ sku, region, warehouse: "w2", onHand: 3 });
  // Event 2 is in Postgres, waiting behind the gap: the position exists and stays at 0.
  await eventually(async () => ((await db.select().from(streamPositions).where(eq(streamPositions.sku, sku))).length ? true : undefined), "event 2 stored");
  return sku;
}

async function runCron(bindings: Partial<typeof env>) {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: REPAIR_CRON, scheduledTime: Date.now() }), { ...env, ...bindings }, ctx);
  await waitOnExecutionContext(ctx);
}

const attentionOf = async (region: string, sku: string) => (await call("GET", `/v1/admin/${region}/stock/${sku}`, { headers: adminHeaders() })).body.attention as any[];

describe("the repair cron", () => {
  it("resends the events Postgres never got, and the projection catches up by itself", async () => {
    const sku = await lostFirstEvent("repaira");
    await runCron({ REGIONS: "repaira", RECONCILE_GRACE_SECONDS: "0" });
    await projectedTo("repaira", sku, 2);
    const [levels] = await db.select().from(skuRegionLevels).where(eq(skuRegionLevels.sku, sku));
    expect(levels).toMatchObject({ onHand: 10, version: 2 });
    expect(await attentionOf("repaira", sku)).toEqual([]); // lag is repaired, not raised
  });

  it("leaves events younger than the grace period to the queue", async () => {
    const sku = await lostFirstEvent("repairb");
    await runCron({ REGIONS: "repairb", RECONCILE_GRACE_SECONDS: "3600" });
    await new Promise((r) => setTimeout(r, 1_500));
    const [p] = await db.select().from(streamPositions).where(eq(streamPositions.sku, sku));
    expect(p!.appliedSeq).toBe(0);
  });

  it("raises drift a resend cannot fix as attention on the object, once", async () => {
    const region = "repairc";
    const sku = uniqueSku("DRIFT");
    await stub(region, sku).setStock({ sku, region, warehouse: "w1", onHand: 25 });
    await projectedTo(region, sku, 1);
    await db.update(skuRegionLevels).set({ onHand: 999 }).where(eq(skuRegionLevels.sku, sku));
    await runCron({ REGIONS: region, RECONCILE_GRACE_SECONDS: "0" });
    await runCron({ REGIONS: region, RECONCILE_GRACE_SECONDS: "0" });
    expect(await attentionOf(region, sku)).toEqual([{ holdId: "", reason: "reconcile_drift: onHand: object 25, Postgres 999", seq: 1, at: expect.any(String) }]);
    expect((await stub(region, sku).state(sku, region)).version).toBe(1); // no event: the object did not change
  });

  it("goes through every page", async () => {
    const region = "repaird";
    const skus = [uniqueSku("PAGE"), uniqueSku("PAGE"), uniqueSku("PAGE")].sort();
    for (const sku of skus) await stub(region, sku).setStock({ sku, region, warehouse: "w1", onHand: 1 });
    for (const sku of skus) await projectedTo(region, sku, 1);
    const first = await call("GET", `/v1/admin/${region}/reconcile?limit=2`, { headers: adminHeaders() });
    expect(first.body).toMatchObject({ checked: 2, ok: 2, nextAfter: skus[1] });
    const second = await call("GET", `/v1/admin/${region}/reconcile?limit=2&after=${skus[1]}`, { headers: adminHeaders() });
    expect(second.body).toMatchObject({ checked: 1, ok: 1, nextAfter: null });
    const summary = await repairRegion(db, env.INVENTORY, region, { graceMs: 0, pageSize: 1 });
    expect(summary).toMatchObject({ checked: 3, ok: 3, pages: 4, resent: [], drift: [] });
    const bad = await call("GET", `/v1/admin/${region}/reconcile?limit=0&after=${encodeURIComponent("no spaces")}`, { headers: adminHeaders() });
    expect([bad.status, bad.body.code]).toEqual([400, "invalid_request"]);
  });
});

describe("the reservation ledger", () => {
  it("a shipped sale edited to dispatch_failed in Postgres is reported as drift and raised on the sale", async () => {
    const region = "repairg";
    const sku = uniqueSku("LEDGER");
    const object = stub(region, sku);
    await object.setStock({ sku, region, warehouse: "w1", onHand: 5 });
    const held = await reserve(region, [{ sku, qty: 2 }]);
    await confirm(region, held.body.id, held.body.token);
    const holdId = (await events(region, sku)).body.events.find((e: any) => e.type === "hold_confirmed").payload.holdId as string;
    // w1 is no configured warehouse, so the dispatch consumer records dispatch_failed; the warehouse
    // then allocates and ships anyway (straight to the object: the route takes configured warehouses only).
    await eventually(async () => ((await object.sale(holdId))?.allocation === "dispatch_failed" ? true : undefined), "dispatch settled");
    await object.warehouseEvent(sku, region, "w1", "evt-alloc", { type: "allocation.confirmed", sku, reservationId: holdId });
    await object.warehouseEvent(sku, region, "w1", "evt-ship", { type: "shipment.shipped", sku, reservationId: holdId });
    const version = (await object.state(sku, region)).version;
    await projectedTo(region, sku, version);
    const [row] = await db.select().from(reservationLedger).where(eq(reservationLedger.reservationId, holdId));
    expect(row!.status).toBe("shipped");
    expect((await reconcileRegion(db, env.INVENTORY, region, 0)).ok).toBe(1);

    const difference = `reservation ${holdId}: status dispatch_failed in the Postgres ledger, shipped by the object's events`;
    // Other test files share this database, and a whole rebuild (rebuild-reconcile, projection-snapshot)
    // replays every projection from the events, which puts the row back as shipped. So the edit is
    // made again until a report and a cron run see it (they must, within 15 s).
    const edit = () => db.update(reservationLedger).set({ status: "dispatch_failed" }).where(eq(reservationLedger.reservationId, holdId));
    const report = await eventually(async () => {
      await edit();
      const seen = await call("GET", `/v1/admin/${region}/reconcile?graceSeconds=0`, { headers: adminHeaders() });
      return seen.body.drift.length ? seen : undefined;
    }, "reconcile to report the edited row");
    expect(report.body.drift).toEqual([{ sku, status: "drift", objectVersion: version, projectedVersion: version, differences: [difference] }]);
    const raised = await eventually(async () => {
      await edit();
      await runCron({ REGIONS: region, RECONCILE_GRACE_SECONDS: "0" });
      const rows = await attentionOf(region, sku);
      return rows.some((r: { reason?: string }) => r.reason === `reconcile_drift: ${difference}`) ? rows : undefined;
    }, "the cron to raise the drift on the sale");
    expect(raised).toContainEqual(expect.objectContaining({ holdId, reason: `reconcile_drift: ${difference}` }));
  });

  it("a ledger row Postgres lost is reported missing", async () => {
    const region = "repaire";
    const sku = uniqueSku("LEDGER");
    await stub(region, sku).setStock({ sku, region, warehouse: "w1", onHand: 5 });
    const id = "a".repeat(64);
    await stub(region, sku).hold(sku, region, id, 1, Date.now() + 600_000);
    await projectedTo(region, sku, 2);
    await db.delete(reservationLedger).where(eq(reservationLedger.sku, sku));
    const report = await reconcileRegion(db, env.INVENTORY, region, 0);
    expect(report.drift.find((d) => d.sku === sku)?.differences).toEqual([`reservation ${id}: missing from the Postgres ledger`]);
  });
});

describe("dead letters", () => {
  it("one that cannot be recorded is sent round its queue again before the queue would drop it, and recorded later as itself", async () => {
    const id = `dl-${crypto.randomUUID()}`;
    const body = { region: "repairf", sku: "LOST-EVENT", seq: 1, type: "stock_set", at: Date.now(), payload: {} };
    const batch = createMessageBatch("inventory-events-dlq", [{ id, timestamp: new Date(), attempts: RECIRCULATE_AFTER_ATTEMPTS, body }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, { ...env, DATABASE_URL: "postgres://postgres@127.0.0.1:1/nowhere" }, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual([id]); // handed on, not left to be dropped
    const [row] = await eventually(async () => {
      const rows = await db.select().from(deadLetters).where(eq(deadLetters.messageId, id));
      return rows.length ? rows : undefined;
    }, "the letter recorded by the dead-letter consumer", 20_000);
    expect(row).toMatchObject({ queue: "inventory-events-dlq", region: "repairf", attempts: RECIRCULATE_AFTER_ATTEMPTS + 1, body: { reason: "retries exhausted", message: body } });
  });

  it("fewer attempts are simply retried", async () => {
    const batch = createMessageBatch("inventory-events-dlq", [{ id: `dl-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 1, body: { region: "repairf" } }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, { ...env, DATABASE_URL: "postgres://postgres@127.0.0.1:1/nowhere" }, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.retryMessages.map((m) => m.msgId)).toEqual([batch.messages[0]!.id]);
    expect(result.explicitAcks).toEqual([]);
  });
});

describe("dead dispatch letters", () => {
  it("are kept the same way: sent round warehouse-dispatch-dlq and recorded later as themselves", async () => {
    const id = `dd-${crypto.randomUUID()}`;
    const body = { region: "repairh", sku: "NO-SUCH-SALE", seq: 1, reservationId: "b".repeat(64), qty: 1, warehouse: "w1", confirmedAt: Date.now() };
    const batch = createMessageBatch("warehouse-dispatch-dlq", [{ id, timestamp: new Date(), attempts: RECIRCULATE_AFTER_ATTEMPTS, body }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, { ...env, DATABASE_URL: "postgres://postgres@127.0.0.1:1/nowhere" }, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual([id]);
    const [row] = await eventually(async () => {
      const rows = await db.select().from(deadLetters).where(eq(deadLetters.messageId, id));
      return rows.length ? rows : undefined;
    }, "the dispatch letter recorded", 20_000);
    expect(row).toMatchObject({ queue: "warehouse-dispatch-dlq", region: "repairh", body: { reason: "dispatch retries exhausted", message: body } });
  });
});
