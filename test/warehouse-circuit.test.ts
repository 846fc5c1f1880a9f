// A warehouse's circuit breaker heals by itself when its probe dies, an operator can close it by
// hand, and the dispatch consumer keeps to its connection limits.
import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { inventoryName } from "../durable-objects/inventory";
import { FAILURES_TO_OPEN, type WarehouseCircuit } from "../durable-objects/warehouse-circuit";
import { runLimited } from "../warehouses/concurrency";
import worker from "../workers/index";
import { probeLeaseMs } from "../workers/queues/warehouse-dispatch";
import { adminHeaders, call, confirm, events, reserve, uniqueSku, warehouseSecret } from "./client";

const REGION = "eu";
const TIMEOUT_MS = 500;

/** A warehouse of this file's own (so no other dispatch touches its circuit), played by the fake eu-ams. */
function withWarehouse(id: string, secret = warehouseSecret("eu-ams")) {
  const warehouses = JSON.parse(env.WAREHOUSES) as { id: string; url: string }[];
  const url = warehouses.find((w) => w.id === "eu-ams")!.url;
  return {
    ...env,
    WAREHOUSES: JSON.stringify([...warehouses, { id, region: REGION, adapter: "json", url, timeoutMs: TIMEOUT_MS }]),
    WAREHOUSE_SECRETS: JSON.stringify({ ...JSON.parse(env.WAREHOUSE_SECRETS), [id]: secret }),
  };
}

const circuitOf = (warehouse: string) => env.WAREHOUSE_CIRCUITS.get(env.WAREHOUSE_CIRCUITS.idFromName(`${REGION}:${warehouse}`));

/** Opens the circuit, then moves its pause into the past (a test cannot wait 30 s): half-open. */
async function halfOpen(warehouse: string) {
  const circuit = circuitOf(warehouse);
  for (let i = 0; i < FAILURES_TO_OPEN; i++) await circuit.record(false);
  expect((await circuit.status()).state).toBe("open");
  await runInDurableObject(circuit, (obj: WarehouseCircuit) => {
    (obj as unknown as { state: { openUntil: number } }).state.openUntil = Date.now() - 1;
  });
  expect((await circuit.status()).state).toBe("half-open");
  return circuit;
}

/** A confirmed sale of `warehouse` and the dispatch message the queue would carry for it. */
async function sale(warehouse: string) {
  const sku = uniqueSku("CIRCUIT");
  const stub = env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName(REGION, sku)));
  await stub.setStock({ sku, region: REGION, warehouse, onHand: 5 });
  const held = await reserve(REGION, [{ sku, qty: 1 }]);
  await confirm(REGION, held.body.id, held.body.token);
  const confirmed = (await events(REGION, sku)).body.events.find((e: any) => e.type === "hold_confirmed");
  return { region: REGION, sku, seq: confirmed.seq, reservationId: held.body.id, qty: 1, warehouse, confirmedAt: Date.now() };
}

async function deliver(body: unknown, bindings: typeof env) {
  const batch = createMessageBatch("warehouse-dispatch", [{ id: `m-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 1, body }]);
  const ctx = createExecutionContext();
  await worker.queue(batch, bindings, ctx);
  const result = await getQueueResult(batch, ctx);
  return result.explicitAcks.length === 1 ? "sent" : result.retryMessages.length === 1 ? "parked" : "neither";
}

describe("a half-open circuit whose probe never reports", () => {
  it("lets the next dispatch probe once the dead probe's lease has run out, and closes on its success", async () => {
    const warehouse = "eu-probe-dies";
    const bindings = withWarehouse(warehouse);
    let circuit = await halfOpen(warehouse);
    // A consumer takes the probe (with the lease the consumer asks for) and dies before record();
    // the circuit's own process dies too, so only what it stored is left.
    expect(await circuit.admit(probeLeaseMs(TIMEOUT_MS))).toMatchObject({ admit: true });
    await runInDurableObject(circuit, (_obj, state) => {
      try {
        state.abort("the probe's process died");
      } catch {
        /* surfaces here */
      }
    }).catch(() => undefined);
    circuit = circuitOf(warehouse); // a stub is not used again after its object died

    const message = await sale(warehouse);
    expect(await deliver(message, bindings)).toBe("parked"); // the stored lease still runs
    await new Promise((r) => setTimeout(r, probeLeaseMs(TIMEOUT_MS) + 100));
    expect(await deliver(message, bindings)).toBe("sent"); // this dispatch was the new probe
    expect(await circuit.status()).toMatchObject({ state: "closed", failures: 0 });
  });

  it("gives the probe back at once when signing throws before anything is sent", async () => {
    const warehouse = "eu-probe-unsigned";
    const circuit = await halfOpen(warehouse);
    const message = await sale(warehouse);
    // A secret that cannot sign: the dispatch throws inside the consumer, after admission.
    expect(await deliver(message, withWarehouse(warehouse, "whsec_"))).toBe("parked");
    expect(await deliver(message, withWarehouse(warehouse))).toBe("sent");
    expect((await circuit.status()).state).toBe("closed");
  });

  it("a probe's lease is bounded even when the caller asks for more", async () => {
    const circuit = await halfOpen("eu-probe-greedy");
    await circuit.admit(24 * 3600_000);
    const { probeUntil } = await circuit.status();
    expect(probeUntil! - Date.now()).toBeLessThanOrEqual(5 * 60_000);
  });
});

describe("POST /v1/admin/{region}/warehouses/{warehouseId}/circuit/reset", () => {
  const path = (region: string, warehouse: string) => `/v1/admin/${region}/warehouses/${warehouse}/circuit/reset`;

  it("closes an open circuit, and answers the same when repeated", async () => {
    const circuit = circuitOf("eu-war");
    for (let i = 0; i < FAILURES_TO_OPEN; i++) await circuit.record(false);
    const before = await call("GET", `/v1/admin/eu/warehouses/eu-war/circuit`, { headers: adminHeaders() });
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ region: "eu", warehouse: "eu-war", state: "open", failures: FAILURES_TO_OPEN });
    expect(before.body.openUntil).toEqual(expect.any(String));

    const first = await call("POST", path("eu", "eu-war"), { headers: adminHeaders() });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ region: "eu", warehouse: "eu-war", state: "closed", failures: 0, openUntil: null, probeUntil: null });
    const again = await call("POST", path("eu", "eu-war"), { headers: adminHeaders() });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(await circuit.admit()).toEqual({ admit: true, probe: false });
  });

  it("refuses bad requests with a problem and changes nothing", async () => {
    const circuit = circuitOf("eu-ams");
    for (let i = 0; i < FAILURES_TO_OPEN; i++) await circuit.record(false);
    const cases: [string, Record<string, string>, number, string][] = [
      [path("eu", "eu-ams"), {}, 401, "unauthorized"],
      [path("eu", "eu-ams"), { authorization: "Bearer wrong" }, 401, "unauthorized"],
      [path("eu", "us-nj"), adminHeaders(), 404, "unknown_warehouse"], // another region's warehouse
      [path("eu", "nowhere"), adminHeaders(), 404, "unknown_warehouse"],
      [path("mars", "eu-ams"), adminHeaders(), 404, "unknown_region"],
      [path("eu", "bad%20id!"), adminHeaders(), 400, "invalid_request"],
    ];
    for (const [url, headers, status, code] of cases) {
      const res = await call("POST", url, { headers });
      expect([url, res.status, res.body.code]).toEqual([url, status, code]);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
    expect(await circuit.status()).toMatchObject({ state: "open", failures: FAILURES_TO_OPEN });
  });

  it("is in the OpenAPI document with its operationId, security and problems", async () => {
    const doc = (await call("GET", "/openapi.json")).body;
    const op = doc.paths["/v1/admin/{region}/warehouses/{warehouseId}/circuit/reset"].post;
    expect(op.operationId).toBe("resetWarehouseCircuit");
    expect(op.security).toEqual([{ adminToken: [] }]);
    for (const status of ["200", "400", "401", "404"]) expect(op.responses[status]).toBeDefined();
    expect(Object.keys(op.responses["404"].content)).toEqual(["application/problem+json"]);
  });
});

describe("dispatch concurrency", () => {
  it("never runs more than 6 at once, nor more than a warehouse's own limit", async () => {
    const limits: Record<string, number> = { slow: 2, fast: 6, other: 6 };
    const items = [...Array(12).fill("slow"), ...Array(10).fill("fast"), ...Array(4).fill("other")] as string[];
    let now = 0;
    let most = 0;
    const running: Record<string, number> = {};
    const most1: Record<string, number> = {};
    const started: string[] = [];
    await runLimited(items, { total: 6, keyOf: (k) => k, limitOf: (k) => limits[k]! }, async (k) => {
      now++;
      running[k] = (running[k] ?? 0) + 1;
      most = Math.max(most, now);
      most1[k] = Math.max(most1[k] ?? 0, running[k]!);
      started.push(k);
      await new Promise((r) => setTimeout(r, k === "slow" ? 20 : 5));
      now--;
      running[k]!--;
    });
    expect(started).toHaveLength(items.length);
    expect(most).toBe(6);
    expect(most1.slow).toBe(2);
    // The slow warehouse's queue does not hold the others back: they start alongside its first two.
    expect(started.slice(0, 6)).toEqual(["slow", "slow", "fast", "fast", "fast", "fast"]);
  });

  it("a limit that cannot be read ends the run with its error instead of waiting forever", async () => {
    let reads = 0;
    // Readable while the first task starts, broken when the next slot is handed out.
    const limitOf = () => {
      if (++reads > 1) throw new Error("bad WAREHOUSES");
      return 1;
    };
    const run = runLimited([1, 2], { total: 1, keyOf: () => "w", limitOf }, async () => {});
    const hung = new Promise((r) => setTimeout(() => r("still waiting after 1 s"), 1_000));
    expect(await Promise.race([run.then(() => "done", (err: Error) => err.message), hung])).toBe("bad WAREHOUSES");
  });

  it("a task that throws frees its slot", async () => {
    const done: number[] = [];
    await runLimited([1, 2, 3, 4], { total: 1, keyOf: () => "w", limitOf: () => 1 }, async (n) => {
      if (n === 2) throw new Error("boom");
      done.push(n);
    });
    expect(done).toEqual([1, 3, 4]);
  });
});
