// An operator follows one cart: the storefront's traceparent comes back on the answer, and the same
// trace id is in the Worker's JSON log lines, in the Postgres rows of its events and its ledger
// line, and in what the warehouse received (JSON header or SOAP header block); a warehouse calling
// back with that trace continues it. Broken traceparents start a new trace and are never refused.
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { afterEach, describe, expect, inject, it, vi } from "vitest";
import { inventoryName } from "../durable-objects/inventory";
import { logLine } from "../observability/log";
import { REPAIR_CRON, repairEveryRegion } from "../workers/scheduled";
import { parseTraceparent } from "../observability/trace";
import { requestLogged, SLOW_REQUEST_MS } from "../workers/observe";
import { DispatchMessage, InventoryEventMessage } from "../schema/messages";
import { inventoryEvents, reservationLedger } from "../schema/tables";
import { signWebhook } from "../warehouses/signing";
import { adminHeaders, call, setStock, storefront, uniqueSku, warehouseSecret } from "./client";
import { database, eventually } from "./db";

const hex = (bytes: number) => [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
const newTrace = () => {
  const traceId = hex(16);
  return { traceId, traceparent: `00-${traceId}-${hex(8)}-01` };
};

/** Every line the Worker writes to the console while `fn` runs (`fn` may watch them come in). */
async function captureLogs(fn: (lines: string[]) => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  for (const level of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      lines.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
    });
  }
  await fn(lines);
  return lines;
}

type Delivery = { reservationId: string; traceparent?: string; traceFrom?: string };
async function deliveriesAt(warehouseId: string): Promise<Delivery[]> {
  return (await (await fetch(`${inject("warehouseUrls")[warehouseId]}/deliveries`)).json()) as Delivery[];
}

/** The trace ids Postgres has for a SKU-region's events, by event type, once `types` are all there. */
async function eventTraces(region: string, sku: string, types: string[]): Promise<Record<string, string | null>> {
  const { db, close } = database();
  try {
    return await eventually(async () => {
      const rows = await db.select().from(inventoryEvents).where(and(eq(inventoryEvents.region, region), eq(inventoryEvents.sku, sku)));
      const byType = Object.fromEntries(rows.map((r) => [r.type, r.traceId]));
      return types.every((t) => t in byType) ? byType : undefined;
    }, `${types.join(", ")} of ${region}:${sku} in Postgres`);
  } finally {
    await close();
  }
}

async function ledgerTrace(region: string, reservationId: string): Promise<string | null> {
  const { db, close } = database();
  try {
    return await eventually(async () => {
      const [row] = await db.select().from(reservationLedger).where(and(eq(reservationLedger.region, region), eq(reservationLedger.reservationId, reservationId)));
      return row ? row.traceId : undefined;
    }, "the ledger line");
  } finally {
    await close();
  }
}

/** A SKU stocked at `warehouse` (the fullest), reserved and confirmed under one storefront trace. */
async function tracedSale(region: string, warehouse: string, traceparent: string, extra: Record<string, unknown> = {}) {
  const sku = uniqueSku("TRACE");
  expect((await setStock(region, sku, { warehouse, onHand: 10 })).status).toBe(200);
  const made = await call("POST", `/v1/${region}/reservations`, {
    headers: storefront({ "idempotency-key": crypto.randomUUID(), traceparent }),
    body: { lines: [{ sku, qty: 2 }], ...extra },
  });
  expect(made.status).toBe(201);
  const confirmed = await call("POST", `/v1/${region}/reservations/${made.body.id}/confirm`, {
    headers: storefront({ "x-reservation-token": made.body.token, "idempotency-key": crypto.randomUUID(), traceparent }),
  });
  expect(confirmed.status).toBe(200);
  return { sku, id: made.body.id as string, answer: made };
}

afterEach(() => vi.restoreAllMocks());

describe("one trace from the storefront to the warehouse", () => {
  it("a reservation with a traceparent: same trace id in the answer, the JSON logs, Postgres and the JSON warehouse's dispatch", async () => {
    const { traceId, traceparent } = newTrace();
    let sale!: Awaited<ReturnType<typeof tracedSale>>;
    const lines = await captureLogs(async () => {
      sale = await tracedSale("eu", "eu-ams", traceparent);
    });
    // The answer continues the trace in a span of its own.
    const answered = parseTraceparent(sale.answer.headers.get("traceparent"));
    expect(answered?.traceId).toBe(traceId);
    expect(answered?.spanId).not.toBe(traceparent.split("-")[2]);
    // The Worker's log: JSON lines of this trace for the reservation's outcomes (a quick 2xx answer
    // gets no request line of its own: requestLogged).
    const traced = lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)).filter((l) => l.trace === traceId);
    expect(traced).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ event: "reservation", level: "info", outcome: "created", reservation: sale.id, region: "eu", durationMs: expect.any(Number) }),
        expect.objectContaining({ event: "reservation", outcome: "confirmed", reservation: sale.id }),
      ]),
    );
    for (const line of traced) expect(Date.parse(line.time)).toBeGreaterThan(0);
    // Postgres: the events the trace caused, and the ledger line; the stock write had its own trace.
    const traces = await eventTraces("eu", sale.sku, ["stock_set", "hold_placed", "hold_confirmed"]);
    expect(traces).toMatchObject({ hold_placed: traceId, hold_confirmed: traceId });
    expect(traces.stock_set).toMatch(/^[0-9a-f]{32}$/);
    expect(traces.stock_set).not.toBe(traceId);
    expect(await ledgerTrace("eu", sale.id)).toBe(traceId);
    // The warehouse got the same trace in its traceparent header.
    const delivery = await eventually(async () => (await deliveriesAt("eu-ams")).find((d) => d.reservationId === sale.id), "the delivery at eu-ams");
    expect(parseTraceparent(delivery.traceparent)?.traceId).toBe(traceId);
    expect(delivery.traceFrom).toBe("http-header");
    // And the dispatched event the consumer recorded keeps it too.
    expect((await eventTraces("eu", sale.sku, ["dispatched"])).dispatched).toBe(traceId);
  });

  it("a SOAP warehouse gets the trace in a Traceparent header block", async () => {
    const { traceId, traceparent } = newTrace();
    const sale = await tracedSale("us", "us-rno", traceparent);
    const delivery = await eventually(async () => (await deliveriesAt("us-rno")).find((d) => d.reservationId === sale.id), "the delivery at us-rno");
    expect(parseTraceparent(delivery.traceparent)?.traceId).toBe(traceId);
    expect(delivery.traceFrom).toBe("soap-header");
  });

  it("a cart (through its coordinator) carries the trace to every line's events and ledger line", async () => {
    const { traceId, traceparent } = newTrace();
    const [a, b] = [uniqueSku("TRACE"), uniqueSku("TRACE")];
    for (const sku of [a, b]) expect((await setStock("eu", sku, { warehouse: "eu-ams", onHand: 5 })).status).toBe(200);
    const made = await call("POST", "/v1/eu/reservations", {
      headers: storefront({ "idempotency-key": crypto.randomUUID(), traceparent }),
      body: { lines: [{ sku: a, qty: 1 }, { sku: b, qty: 1 }] },
    });
    expect(made.status).toBe(201);
    const confirmed = await call("POST", `/v1/eu/reservations/${made.body.id}/confirm`, {
      headers: storefront({ "x-reservation-token": made.body.token, "idempotency-key": crypto.randomUUID(), traceparent }),
    });
    expect(confirmed.status).toBe(200);
    for (const sku of [a, b]) {
      expect(await eventTraces("eu", sku, ["hold_placed", "hold_prepared", "hold_confirmed"])).toMatchObject({
        hold_placed: traceId, hold_prepared: traceId, hold_confirmed: traceId,
      });
    }
    expect(await ledgerTrace("eu", made.body.id)).toBe(traceId);
  });

  it("the shopper's id never reaches the log, while the trace id does", async () => {
    const { traceId, traceparent } = newTrace();
    const shopperId = `shopper-${crypto.randomUUID()}@example.com`;
    const lines = await captureLogs(async (seen) => {
      const sale = await tracedSale("eu", "eu-ams", traceparent, { shopper: { id: shopperId, consent: true } });
      // The shopper-orders message carries the trace to its consumer, which logs the order without the shopper.
      await eventually(async () => (seen.some((l) => l.includes('"shopper_order_recorded"') && l.includes(sale.id) && l.includes(traceId)) ? true : undefined), "the consumer's line");
    });
    expect(lines.some((l) => l.includes(traceId))).toBe(true);
    expect(lines.filter((l) => l.includes(shopperId) || l.includes(encodeURIComponent(shopperId)))).toEqual([]);
  });
});

describe("warehouse callbacks continue the trace", () => {
  it("a JSON callback with a traceparent header: its event row in Postgres has that trace id", async () => {
    const { traceId, traceparent } = newTrace();
    const sale = await tracedSale("eu", "eu-ams", newTrace().traceparent);
    const body = JSON.stringify({ type: "allocation.confirmed", sku: sale.sku, reservationId: sale.id });
    const id = `evt_${crypto.randomUUID()}`;
    const timestamp = Math.floor(Date.now() / 1000);
    const res = await call("POST", "/v1/warehouses/eu-ams/events", {
      headers: {
        "content-type": "application/json", traceparent, "webhook-id": id, "webhook-timestamp": String(timestamp),
        "webhook-signature": await signWebhook(warehouseSecret("eu-ams"), id, timestamp, body),
      },
      raw: body,
    });
    expect(res.status).toBe(200);
    expect(parseTraceparent(res.headers.get("traceparent"))?.traceId).toBe(traceId);
    expect((await eventTraces("eu", sale.sku, ["allocation_confirmed"])).allocation_confirmed).toBe(traceId);
  });

  it("a SOAP callback with a Traceparent header block, even marked mustUnderstand, continues that trace", async () => {
    const { traceId, traceparent } = newTrace();
    const sale = await tracedSale("us", "us-rno", newTrace().traceparent);
    const envelope =
      `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">` +
      `<soap:Header><t:Traceparent xmlns:t="urn:edge-inventory:warehouse" soap:mustUnderstand="1">${traceparent}</t:Traceparent></soap:Header>` +
      `<soap:Body><AllocationConfirmed xmlns="urn:edge-inventory:warehouse"><Sku>${sale.sku}</Sku><ReservationId>${sale.id}</ReservationId></AllocationConfirmed></soap:Body></soap:Envelope>`;
    const id = `evt_${crypto.randomUUID()}`;
    const timestamp = Math.floor(Date.now() / 1000);
    const res = await call("POST", "/v1/warehouses/us-rno/soap", {
      headers: {
        "content-type": "text/xml; charset=utf-8", soapaction: '"urn:edge-inventory:warehouse#AllocationConfirmed"',
        "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": await signWebhook(warehouseSecret("us-rno"), id, timestamp, envelope),
      },
      raw: envelope,
    });
    expect(res.status).toBe(200);
    expect(res.body).toContain("AllocationConfirmedResponse");
    expect(parseTraceparent(res.headers.get("traceparent"))?.traceId).toBe(traceId);
    expect((await eventTraces("us", sale.sku, ["allocation_confirmed"])).allocation_confirmed).toBe(traceId);
  });
});

describe("a traceparent that breaks the W3C rules", () => {
  const valid = `00-${"4bf92f3577b34da6a3ce929d0e0e4736"}-00f067aa0ba902b7-01`;
  const broken = [
    valid.toUpperCase(), // uppercase hex
    `00-${"0".repeat(32)}-00f067aa0ba902b7-01`, // all-zero trace id
    `00-4bf92f3577b34da6a3ce929d0e0e4736-${"0".repeat(16)}-01`, // all-zero parent id
    `ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`, // version ff
    `${valid}-extra`, // version 00 with more fields
    `${valid},${valid}`, // two headers joined
    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", // short trace id
    "not a trace",
  ];

  it("is ignored: the request is answered as usual under a new trace", async () => {
    for (const traceparent of broken) {
      const res = await call("GET", "/v1/eu/availability?skus=A", { headers: storefront({ traceparent }) });
      expect(res.status, traceparent).toBe(200);
      const answered = parseTraceparent(res.headers.get("traceparent"));
      expect(answered, traceparent).not.toBeNull();
      expect(answered!.traceId, traceparent).not.toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    }
  });

  it("is read as the spec says: a later version may add fields, its flags keep only the sampled bit", () => {
    expect(parseTraceparent(valid)).toEqual({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", flags: "01" });
    expect(parseTraceparent(`cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what-comes-later`)?.flags).toBe("01");
    for (const value of broken) expect(parseTraceparent(value), value).toBeNull();
  });

  it("without one, every answer (errors too) starts a trace of its own", async () => {
    const a = await call("GET", "/v1/eu/availability?skus=A", { headers: storefront() });
    const b = await call("GET", "/v2/nowhere");
    const ids = [a, b].map((r) => parseTraceparent(r.headers.get("traceparent"))?.traceId);
    expect(ids[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(ids[1]).toMatch(/^[0-9a-f]{32}$/);
    expect(ids[0]).not.toBe(ids[1]);
  });
});

describe("queue messages", () => {
  const event = { region: "eu", sku: "A", seq: 1, type: "stock_set", at: 1, payload: {} };
  const dispatch = { region: "eu", sku: "A", seq: 2, reservationId: "r", qty: 1, warehouse: "eu-ams", confirmedAt: 1 };

  it("sent before tracing (no trace field) are still accepted, and a broken trace field is dropped, not refused", () => {
    expect(InventoryEventMessage.safeParse(event).success).toBe(true);
    expect(DispatchMessage.safeParse(dispatch).success).toBe(true);
    expect(InventoryEventMessage.parse({ ...event, trace: 42 }).trace).toBeUndefined();
    expect(DispatchMessage.parse({ ...dispatch, trace: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" }).trace).toMatch(/^00-/);
  });
});

describe("the logger", () => {
  it("writes one JSON line with the trace id, and drops or masks what could identify a person", () => {
    const line = JSON.parse(
      logLine("warn", "something", {
        region: "eu", sku: "A", reservation: "r1", trace: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", durationMs: 3,
        shopper: "ada@example.com", userId: "u1", token: "t0k3n", error: new Error("no such user ada@example.com (Bearer abc.def)"),
      }),
    );
    expect(line).toEqual({
      time: expect.any(String), level: "warn", event: "something", region: "eu", sku: "A", reservation: "r1",
      trace: "4bf92f3577b34da6a3ce929d0e0e4736", durationMs: 3, error: "Error: no such user [email] ([secret])",
    });
  });

  it("never dumps an object: a driver's error event holding its client and connection string logs its message only", () => {
    const event = { message: "Network connection lost.", client: { config: { connectionString: "postgres://app:s3cret@db.example/neondb" } } };
    const line = JSON.parse(logLine("warn", "postgres_pool_error", { error: event, detail: { password: "s3cret" } }));
    expect(line.error).toBe("Network connection lost.");
    expect(JSON.stringify(line)).not.toContain("s3cret");
  });
});

describe("GET /v1/admin/{region}/metrics", () => {
  const region = "tracea";
  const stock = (sku: string) => env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName(region, sku)));

  it("counts a reservation and a refusal (out of stock), with request totals and a minute series", async () => {
    const sku = uniqueSku("METRIC");
    await stock(sku).setStock({ sku, region, warehouse: "w1", onHand: 3 });
    const reserve = (qty: number) =>
      call("POST", `/v1/${region}/reservations`, { headers: storefront({ "idempotency-key": crypto.randomUUID() }), body: { lines: [{ sku, qty }] } });
    expect((await reserve(2)).status).toBe(201);
    expect((await reserve(2)).status).toBe(409);
    const res = await call("GET", `/v1/admin/${region}/metrics?minutes=5`, { headers: adminHeaders() });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ region, minutes: 5, reservations: { outcomes: { created: 1, out_of_stock: 1 } } });
    expect(res.body.requests.total).toBeGreaterThanOrEqual(2);
    expect(res.body.requests.status4xx).toBeGreaterThanOrEqual(1);
    expect(res.body.reservations.latencyMs.p99).toBeGreaterThanOrEqual(res.body.reservations.latencyMs.p50);
    expect(res.body.series).toHaveLength(5);
    expect(res.body.series.reduce((n: number, m: { reservations: number }) => n + m.reservations, 0)).toBe(2);
    expect(Date.parse(res.body.to) - Date.parse(res.body.from)).toBeLessThanOrEqual(5 * 60_000);
    // The default window is 15 minutes.
    expect((await call("GET", `/v1/admin/${region}/metrics`, { headers: adminHeaders() })).body.minutes).toBe(15);
  });

  it("counts an expiry once, when Postgres stores it, with queue lag and outbox age; the expiry keeps the reservation's trace", async () => {
    const sku = uniqueSku("METRIC");
    await stock(sku).setStock({ sku, region, warehouse: "w1", onHand: 3 });
    const { traceId, traceparent } = newTrace();
    const made = await call("POST", `/v1/${region}/reservations`, {
      headers: storefront({ "idempotency-key": crypto.randomUUID(), traceparent }),
      body: { lines: [{ sku, qty: 1 }], ttlSeconds: 2 },
    });
    expect(made.status).toBe(201);
    await new Promise((r) => setTimeout(r, 2_100));
    expect(await runDurableObjectAlarm(stock(sku))).toBe(true); // records the expiry
    expect(await eventTraces(region, sku, ["hold_expired"])).toMatchObject({ hold_expired: traceId });
    const report = await eventually(async () => {
      const res = await call("GET", `/v1/admin/${region}/metrics?minutes=2`, { headers: adminHeaders() });
      return res.body.reservations.outcomes.expired ? res.body : undefined;
    }, "the expiry in the metrics");
    expect(report.reservations.outcomes.expired).toBe(1);
    expect(report.queueLagMs).toBeGreaterThanOrEqual(0);
    expect(report.outboxAgeMs).toBeGreaterThanOrEqual(0);
  });

  it("shows the drift the repair cron found (null before any run)", async () => {
    const fresh = "traceb";
    const read = async () => (await call("GET", `/v1/admin/${fresh}/metrics?minutes=1`, { headers: adminHeaders() })).body;
    expect((await read()).reconcileDrift).toBeNull();
    const waiting: Promise<unknown>[] = [];
    // The cron's own run, for this region alone (nothing of it in Postgres yet: nothing drifts).
    await repairEveryRegion(Object.create(env, { REGIONS: { value: fresh } }), REPAIR_CRON, (p) => waiting.push(p));
    expect((await read()).reconcileDrift).toBe(0);
  });

  it("answers a bad window with a 400 problem that says the range", async () => {
    for (const minutes of ["0", "1441", "abc", "1.5"]) {
      const res = await call("GET", `/v1/admin/${region}/metrics?minutes=${minutes}`, { headers: adminHeaders() });
      expect(res.status, minutes).toBe(400);
      expect(res.body).toMatchObject({ code: "invalid_request" });
      expect(res.body.errors[0].path).toBe("query.minutes");
    }
  });

  it("needs the admin token", async () => {
    expect((await call("GET", `/v1/admin/${region}/metrics`)).status).toBe(401);
  });
});

describe("request log lines", () => {
  it("are written for 5xx and slow answers, and for every answer with REQUEST_LOG=all", () => {
    expect(requestLogged(201, 12, undefined)).toBe(false);
    expect(requestLogged(409, 12, undefined)).toBe(false);
    expect(requestLogged(503, 12, undefined)).toBe(true);
    expect(requestLogged(200, SLOW_REQUEST_MS, undefined)).toBe(true);
    expect(requestLogged(200, 3, "all")).toBe(true);
  });
});
