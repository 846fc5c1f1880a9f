// Every stock event reaches Postgres exactly once, in order per SKU-region, through the queue.
import { createExecutionContext, createMessageBatch, getQueueResult, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { and, asc, eq } from "drizzle-orm";
import { afterAll, describe, expect, it, vi } from "vitest";
import { inventoryName, type InventoryObject, type Totals } from "../durable-objects/inventory";
import { inventoryEvents, inventoryLevels, reservationLedger, skuRegionLevels, streamPositions } from "../schema/tables";
import worker from "../workers/index";
import { retryDelaySeconds } from "../workers/queues/inventory-events";
import { call, adminHeaders, confirm, release, reserve, setStock, uniqueSku } from "./client";
import { database, eventually } from "./db";

const { db, close } = database();
afterAll(() => close());

const eventsOf = (region: string, sku: string) =>
  db.select().from(inventoryEvents).where(and(eq(inventoryEvents.region, region), eq(inventoryEvents.sku, sku))).orderBy(asc(inventoryEvents.seq));
const levelsOf = async (region: string, sku: string) =>
  (await db.select().from(skuRegionLevels).where(and(eq(skuRegionLevels.region, region), eq(skuRegionLevels.sku, sku))))[0];
const positionOf = async (region: string, sku: string) =>
  (await db.select().from(streamPositions).where(and(eq(streamPositions.region, region), eq(streamPositions.sku, sku))))[0]?.appliedSeq ?? 0;

/** Waits until Postgres has applied the SKU-region up to `version`. */
const projectedTo = (region: string, sku: string, version: number) =>
  eventually(async () => ((await positionOf(region, sku)) >= version ? true : undefined), `${region}:${sku} projected to v${version}`);

// A hand-made stream for driving the consumer directly: stock 10, hold 3, confirm it.
function streamMessages(sku: string) {
  const after = (t: Partial<Totals>): Totals => ({ onHand: 10, held: 0, confirmed: 0, safetyStock: 0, available: 10, ...t });
  const bodies = [
    { seq: 1, type: "stock_set", payload: { warehouse: "eu-ams", onHand: 10, safetyStock: 0, after: after({}) } },
    { seq: 2, type: "hold_placed", payload: { holdId: "r1", qty: 3, expiresAt: Date.now() + 60_000, after: after({ held: 3, available: 7 }) } },
    { seq: 3, type: "hold_confirmed", payload: { holdId: "r1", qty: 3, after: after({ confirmed: 3, available: 7 }) } },
  ];
  return bodies.map((b) => ({
    id: `${sku}-${b.seq}-${crypto.randomUUID()}`,
    timestamp: new Date(),
    attempts: 1,
    body: { region: "eu", sku, at: Date.now(), ...b },
  }));
}

async function deliver(messages: ReturnType<typeof streamMessages>, bindings = env) {
  const batch = createMessageBatch("inventory-events", messages);
  const ctx = createExecutionContext();
  await worker.queue(batch, bindings, ctx);
  return getQueueResult(batch, ctx);
}

describe("from the object to Postgres", () => {
  it("lands a reservation and its confirmation as events, a ledger row and levels", async () => {
    const sku = uniqueSku("SOR");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 8, safetyStock: 1 });
    const held = await reserve("eu", [{ sku, qty: 2 }]);
    await confirm("eu", held.body.id, held.body.token);
    await projectedTo("eu", sku, 3);

    expect((await eventsOf("eu", sku)).map((e) => [e.seq, e.type])).toEqual([
      [1, "stock_set"],
      [2, "hold_placed"],
      [3, "hold_confirmed"],
    ]);
    const [ledger] = await db.select().from(reservationLedger).where(eq(reservationLedger.sku, sku));
    expect(ledger).toMatchObject({ region: "eu", reservationId: held.body.id, qty: 2, status: "confirmed", lastSeq: 3 });
    expect(ledger!.confirmedAt).toBeInstanceOf(Date);
    expect(await levelsOf("eu", sku)).toMatchObject({ onHand: 8, held: 0, confirmed: 2, safetyStock: 1, available: 5, version: 3 });
    const warehouses = await db.select().from(inventoryLevels).where(eq(inventoryLevels.sku, sku));
    expect(warehouses.map((w) => [w.warehouse, w.onHand])).toEqual([["eu-ams", 8]]);
  });

  it("records a release in the ledger", async () => {
    const sku = uniqueSku("SOR");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 8 });
    const held = await reserve("eu", [{ sku, qty: 2 }]);
    await release("eu", held.body.id, held.body.token);
    await projectedTo("eu", sku, 3);
    const [ledger] = await db.select().from(reservationLedger).where(eq(reservationLedger.sku, sku));
    expect(ledger).toMatchObject({ status: "released", qty: 2 });
    expect(ledger!.endedAt).toBeInstanceOf(Date);
  });

  it("still delivers an event whose object died between commit and send", async () => {
    const sku = uniqueSku("CRASH");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 4 });
    await projectedTo("eu", sku, 1);
    const stub = env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName("eu", sku)));
    await runInDurableObject(stub, async (obj: InventoryObject, state) => {
      // A send that never finishes stands in for the process dying right after the commit.
      (obj as unknown as { outbox: { sending: Promise<void> } }).outbox.sending = new Promise(() => {});
      await obj.setStock({ sku, region: "eu", warehouse: "eu-ams", onHand: 9 });
      // One event past the outbox's position, still to send.
      expect(state.storage.sql.exec("SELECT version - sent_seq AS n FROM sku_region").one().n).toBe(1);
      expect(await state.storage.getAlarm()).not.toBeNull(); // the retry is scheduled before any send
    });
    await runInDurableObject(stub, (_obj, state) => {
      try {
        state.abort("simulated crash after commit");
      } catch {
        /* the abort surfaces here */
      }
    }).catch(() => undefined);
    await runDurableObjectAlarm(env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName("eu", sku))));
    await projectedTo("eu", sku, 2);
    expect(await levelsOf("eu", sku)).toMatchObject({ onHand: 9, version: 2 });
  });
});

describe("the consumer", () => {
  it("changes nothing when a batch is delivered twice, or a message twice in one batch", async () => {
    const sku = uniqueSku("DUP");
    const messages = streamMessages(sku);
    const first = await deliver([...messages, messages[1]!]);
    expect(first.explicitAcks).toHaveLength(4);
    const second = await deliver(messages);
    expect(second.explicitAcks).toHaveLength(3);
    expect((await eventsOf("eu", sku)).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(await db.select().from(reservationLedger).where(eq(reservationLedger.sku, sku))).toHaveLength(1);
    expect(await levelsOf("eu", sku)).toMatchObject({ held: 0, confirmed: 3, available: 7, version: 3 });
  });

  it("closes its Postgres pool without a warning for each connection it closes", async () => {
    // The consumer closes a pool per batch; its connections going down then is no news. Before,
    // every batch logged "postgres_pool_error: Network connection lost" warnings (a few a second).
    const warned = vi.spyOn(console, "warn");
    try {
      // Four streams, so the consumer works them on several connections at once.
      for (let i = 0; i < 3; i++) await deliver([1, 2, 3, 4].flatMap((n) => streamMessages(uniqueSku(`POOL${n}`))));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const poolWarnings = warned.mock.calls.map((args) => String(args[0])).filter((line) => line.includes("postgres_pool_error"));
      expect(poolWarnings).toEqual([]);
    } finally {
      warned.mockRestore();
    }
  });

  it("applies out-of-order events in sequence, never over a gap", async () => {
    const sku = uniqueSku("ORDER");
    const [one, two, three] = streamMessages(sku);
    await deliver([three!, two!]);
    expect((await eventsOf("eu", sku)).map((e) => e.seq)).toEqual([2, 3]);
    expect(await positionOf("eu", sku)).toBe(0);
    expect(await levelsOf("eu", sku)).toBeUndefined();
    expect(await db.select().from(reservationLedger).where(eq(reservationLedger.sku, sku))).toHaveLength(0);
    await deliver([one!]);
    expect(await positionOf("eu", sku)).toBe(3);
    expect(await levelsOf("eu", sku)).toMatchObject({ confirmed: 3, version: 3 });
    const [ledger] = await db.select().from(reservationLedger).where(eq(reservationLedger.sku, sku));
    expect(ledger).toMatchObject({ status: "confirmed", lastSeq: 3 });
  });

  it("retries with backoff while Postgres is unreachable, then lands everything once", async () => {
    const sku = uniqueSku("DOWN");
    const messages = streamMessages(sku);
    const down = { ...env, DATABASE_URL: "postgres://postgres@127.0.0.1:1/nowhere" };
    const failed = await deliver(messages, down);
    expect(failed.explicitAcks).toHaveLength(0);
    expect(failed.retryMessages).toHaveLength(3);
    expect(await eventsOf("eu", sku)).toHaveLength(0);
    const later = await deliver(messages.map((m) => ({ ...m, attempts: 2 })));
    expect(later.explicitAcks).toHaveLength(3);
    expect((await eventsOf("eu", sku)).map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it("backs off exponentially with jitter, capped at five minutes", () => {
    for (let attempts = 1; attempts <= 12; attempts++) {
      const base = Math.min(300, 2 ** Math.min(attempts, 9));
      for (let i = 0; i < 20; i++) {
        const delay = retryDelaySeconds(attempts);
        expect(delay).toBeGreaterThanOrEqual(Math.max(1, Math.floor(base / 2)));
        expect(delay).toBeLessThanOrEqual(base);
      }
    }
  });

  it("parks a malformed message as a dead letter that operators can list", async () => {
    const id = `bad-${crypto.randomUUID()}`;
    const batch = createMessageBatch("inventory-events", [{ id, timestamp: new Date(), attempts: 1, body: { region: "eu", nonsense: true } }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual([id]);
    const listed = await call("GET", "/v1/admin/eu/dead-letters", { headers: adminHeaders() });
    expect(listed.status).toBe(200);
    expect(listed.body.deadLetters.find((d: any) => d.messageId === id)).toMatchObject({ queue: "inventory-events", body: { reason: "malformed message" } });
  });

  it("records what the dead-letter queue receives", async () => {
    const id = `dlq-${crypto.randomUUID()}`;
    const batch = createMessageBatch("inventory-events-dlq", [{ id, timestamp: new Date(), attempts: 11, body: { region: "us", sku: "X", seq: 1 } }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual([id]);
    const listed = await call("GET", "/v1/admin/us/dead-letters", { headers: adminHeaders() });
    expect(listed.body.deadLetters.find((d: any) => d.messageId === id)).toMatchObject({ attempts: 11, body: { reason: "retries exhausted" } });
  });
});
