// The dispatch consumer on its own: retries with backoff, a circuit breaker per warehouse, and the
// dead-letter queue that records what could not be delivered.
import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { inventoryName } from "../durable-objects/inventory";
import { FAILURES_TO_OPEN } from "../durable-objects/warehouse-circuit";
import worker from "../workers/index";
import { adminHeaders, call, confirm, events, reserve, uniqueSku } from "./client";
import { eventually } from "./db";

/**
 * The real queue also delivers every confirmed sale in the background. Wait for that delivery to
 * settle, then put the sale back to "not dispatched yet", so the message handed to the consumer
 * here meets the state it would meet first.
 */
async function undispatched(region: string, sku: string, id: string) {
  const stub = env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName(region, sku)));
  await eventually(async () => ((await stub.sale(id))?.allocation ? true : undefined), "background dispatch settled");
  await runInDurableObject(stub, (_obj, state) => state.storage.sql.exec("UPDATE holds SET allocation = NULL WHERE id = ?", id));
}

/** A confirmed sale whose dispatch message we hand to the consumer ourselves. */
async function confirmedSale(region: string, warehouse: string) {
  const sku = uniqueSku("DISPATCH");
  // Straight to the object: the admin route accepts configured warehouses only, and one test
  // stocks a warehouse that only its own bindings add.
  await env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName(region, sku))).setStock({ sku, region, warehouse, onHand: 10 });
  const held = await reserve(region, [{ sku, qty: 1 }]);
  await confirm(region, held.body.id, held.body.token);
  const confirmed = (await events(region, sku)).body.events.find((e: any) => e.type === "hold_confirmed");
  return { sku, id: held.body.id as string, message: { region, sku, seq: confirmed.seq, reservationId: held.body.id, qty: 1, warehouse, confirmedAt: Date.now() } };
}

async function deliver(queue: string, bodies: unknown[], bindings: typeof env) {
  const batch = createMessageBatch(
    queue,
    bodies.map((body, i) => ({ id: `m-${i}-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, bindings, ctx);
  return { batch, result: await getQueueResult(batch, ctx) };
}

describe("dispatching through the consumer", () => {
  it("opens the circuit of a dead warehouse while another warehouse's sales still go out", async () => {
    const region = "us";
    const dead = "us-dead";
    const warehouses = JSON.parse(env.WAREHOUSES) as { id: string; region: string; adapter: string; url: string }[];
    const bindings = {
      ...env,
      WAREHOUSES: JSON.stringify([...warehouses, { id: dead, region, adapter: "json", url: "http://127.0.0.1:1/dispatch", timeoutMs: 500 }]),
      WAREHOUSE_SECRETS: JSON.stringify({ ...JSON.parse(env.WAREHOUSE_SECRETS), [dead]: `whsec_${btoa("dead-warehouse-secret")}` }),
    };
    const circuit = env.WAREHOUSE_CIRCUITS.get(env.WAREHOUSE_CIRCUITS.idFromName(`${region}:${dead}`));
    for (let i = 0; i < FAILURES_TO_OPEN; i++) {
      const sale = await confirmedSale(region, dead);
      const { result } = await deliver("warehouse-dispatch", [sale.message], bindings);
      expect(result.retryMessages).toHaveLength(1);
    }
    expect(await circuit.status()).toMatchObject({ state: "open", failures: FAILURES_TO_OPEN });
    const parked = await confirmedSale(region, dead);
    const healthy = await confirmedSale(region, "us-nj");
    const { result } = await deliver("warehouse-dispatch", [parked.message, healthy.message], bindings);
    expect(result.retryMessages).toHaveLength(1); // the dead warehouse's sale waits for the circuit
    expect(result.explicitAcks).toHaveLength(1); // the healthy one was delivered
    const stub = env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName(region, healthy.sku)));
    expect(await stub.sale(healthy.id)).toMatchObject({ allocation: expect.stringMatching(/dispatched|allocated/) });
  });

  it("records a refused dispatch in the sale's events without retrying it", async () => {
    const sale = await confirmedSale("eu", "eu-ams");
    await undispatched("eu", sale.sku, sale.id);
    const bindings = { ...env, WAREHOUSE_SECRETS: JSON.stringify({ ...JSON.parse(env.WAREHOUSE_SECRETS), "eu-ams": `whsec_${btoa("not-what-the-warehouse-has")}` }) };
    const { result } = await deliver("warehouse-dispatch", [sale.message], bindings);
    expect(result.explicitAcks).toHaveLength(1); // the warehouse said 401: retrying cannot help
    const failed = (await events("eu", sale.sku)).body.events.find((e: any) => e.type === "dispatch_failed");
    expect(failed.payload.reason).toContain("refused");
  });

  it("appends dispatch_failed and keeps a dead letter when the retries run out", async () => {
    const sale = await confirmedSale("apac", "apac-sg");
    await undispatched("apac", sale.sku, sale.id);
    const { batch, result } = await deliver("warehouse-dispatch-dlq", [sale.message], env);
    expect(result.explicitAcks).toEqual([batch.messages[0]!.id]);
    const failed = (await events("apac", sale.sku)).body.events.find((e: any) => e.type === "dispatch_failed");
    expect(failed.payload.reason).toMatch(/gave up after \d+ attempts/);
    const letters = await call("GET", "/v1/admin/apac/dead-letters", { headers: adminHeaders() });
    expect(letters.body.deadLetters.find((d: any) => d.messageId === batch.messages[0]!.id)).toMatchObject({ body: { reason: "dispatch retries exhausted" } });
  });
});
