// Findings of the protection review (issue 11) that are about trust at the edge: each request below
// was accepted, misread or answered 500 before, and is now refused or answered clearly, changing
// nothing it should not.
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../workers/index";
import { checkedFetch } from "./contract";
import { adminHeaders, call, events, fromWarehouse, STOREFRONT_KEY, reserve, setStock, stockState, storefront, uniqueSku } from "./client";

async function stocked(onHand = 10) {
  const sku = uniqueSku("SEC");
  expect((await setStock("eu", sku, { warehouse: "eu-ams", onHand })).status).toBe(200);
  return sku;
}

describe("idempotency keys", () => {
  it("keeps an operator's keys apart from warehouses' event ids, so a warehouse event is never taken for a duplicate", async () => {
    const sku = await stocked(10);
    const eventId = `evt_${crypto.randomUUID()}`;
    // An operator happens to use a key shaped like the name a warehouse event is remembered under.
    const admin = await setStock("eu", sku, { warehouse: "eu-ams", onHand: 12 }, { "idempotency-key": `warehouse:eu-ams:${eventId}` });
    expect(admin.status).toBe(200);
    const counted = await fromWarehouse("eu-ams", { type: "stock.received", sku, qty: 3 }, eventId);
    expect(counted.status).toBe(200);
    expect(counted.body.status).toBe("applied");
    expect((await stockState("eu", sku)).body.onHand).toBe(15);
  });

  it("refuses two Idempotency-Key headers (joined as 'a, b') with 400 and holds nothing", async () => {
    const sku = await stocked(10);
    const res = await call("POST", "/v1/eu/reservations", {
      headers: storefront({ "idempotency-key": "first-key, second-key" }),
      body: { lines: [{ sku, qty: 1 }] },
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "invalid_request" });
    expect(res.body.detail).toContain("one Idempotency-Key");
    expect((await stockState("eu", sku)).body.held).toBe(0);
  });
});

describe("bodies and headers", () => {
  it("refuses a JSON body declared in another charset (415) and holds nothing", async () => {
    const sku = await stocked(10);
    const res = await call("POST", "/v1/eu/reservations", {
      headers: storefront({ "idempotency-key": crypto.randomUUID(), "content-type": "application/json; charset=utf-16" }),
      body: { lines: [{ sku, qty: 1 }] },
    });
    expect(res.status).toBe(415);
    expect(res.body).toMatchObject({ code: "unsupported_media_type" });
    expect((await stockState("eu", sku)).body.held).toBe(0);
    // UTF-8, spelled either way, is fine.
    const ok = await call("POST", "/v1/eu/reservations", {
      headers: storefront({ "idempotency-key": crypto.randomUUID(), "content-type": "application/json; charset=UTF-8" }),
      body: { lines: [{ sku, qty: 1 }] },
    });
    expect(ok.status).toBe(201);
  });

  it("refuses a webhook-id longer than 255 characters (400) and remembers nothing of it", async () => {
    const sku = await stocked(10);
    const before = (await events("eu", sku)).body.events.length;
    const res = await fromWarehouse("eu-ams", { type: "stock.received", sku, qty: 1 }, `evt_${"x".repeat(30_000)}`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "invalid_request" });
    expect((await events("eu", sku)).body.events.length).toBe(before);
  });

  it("accepts the bearer scheme in any case, as RFC 7235 says", async () => {
    const sku = await stocked(10);
    const res = await call("GET", `/v1/admin/eu/stock/${sku}`, { headers: { authorization: adminHeaders().authorization.replace("Bearer", "bearer") } });
    expect(res.status).toBe(200);
    const wrong = await call("GET", `/v1/admin/eu/stock/${sku}`, { headers: { authorization: "bearer not-the-token" } });
    expect(wrong.status).toBe(401);
  });
});

describe("missing settings", () => {
  const fetchWith = (overrides: Partial<typeof env>, path: string, init: RequestInit) =>
    checkedFetch(new Request(`http://edge.test${path}`, init), (request) =>
      worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, { ...env, ...overrides }, createExecutionContext()));

  it("answers 503 setting_missing naming USER_ID_SECRET when a shopper's reservation needs it, and holds nothing", async () => {
    const sku = await stocked(10);
    const res = await fetchWith({ USER_ID_SECRET: "" }, "/v1/eu/reservations", {
      method: "POST",
      headers: { ...storefront({ "idempotency-key": crypto.randomUUID() }), "content-type": "application/json" },
      body: JSON.stringify({ lines: [{ sku, qty: 1 }], shopper: { id: "user-1", consent: true } }),
    });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: "setting_missing", setting: "USER_ID_SECRET" });
    expect((await stockState("eu", sku)).body.held).toBe(0);
  });

  it("answers 503 setting_missing naming DATABASE_URL for a route that needs Postgres", async () => {
    const res = await fetchWith({ DATABASE_URL: "" }, "/v1/admin/eu/dead-letters", { headers: adminHeaders() });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: "setting_missing", setting: "DATABASE_URL" });
  });
});

describe("storefront keys", () => {
  const readWith = (keys: string, key: string) =>
    checkedFetch(new Request("http://edge.test/v1/eu/availability?skus=NOPE-1", { headers: { "x-api-key": key } }), (request) =>
      worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, { ...env, STOREFRONT_KEYS: keys }, createExecutionContext()));

  it("a key this isolate accepted before is refused once the setting no longer lists it", async () => {
    // The isolate remembers keys it matched (to skip the digest); the memory is per setting.
    expect((await readWith("rotating-old,rotating-other", "rotating-old")).status).toBe(200);
    expect((await readWith("rotating-old,rotating-other", "rotating-old")).status).toBe(200);
    const refused = await readWith("rotating-new,rotating-other", "rotating-old");
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ code: "unauthorized" });
    expect((await readWith("rotating-new,rotating-other", "rotating-new")).status).toBe(200);
  });

  it("keeps each key's own scope, first request or later (idempotency keys stay per storefront)", async () => {
    const sku = await stocked(10);
    const key = crypto.randomUUID();
    const asFirst = { "x-api-key": STOREFRONT_KEY, "idempotency-key": key };
    const asSecond = { ...asFirst, "x-api-key": "second-storefront-key" };
    const body = { lines: [{ sku, qty: 1 }] };
    const made = [];
    for (const headers of [asFirst, asSecond, asFirst, asSecond]) made.push(await call("POST", "/v1/eu/reservations", { headers, body }));
    expect(made.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    // The same Idempotency-Key from two storefronts is two reservations; each storefront's repeat is its own.
    expect(made[0]!.body.id).not.toBe(made[1]!.body.id);
    expect(made[2]!.body.id).toBe(made[0]!.body.id);
    expect(made[3]!.body.id).toBe(made[1]!.body.id);
    expect((await stockState("eu", sku)).body.held).toBe(2);
  });
});

describe("a reservation belongs to the storefront that made it", () => {
  const asOther = (extra: Record<string, string>) => ({ "x-api-key": "second-storefront-key", ...extra });

  for (const kind of ["single line", "cart"] as const) {
    it(`answers 404 to another storefront key, even with the token, and changes nothing (${kind})`, async () => {
      const sku = await stocked(10);
      const other = await stocked(10);
      const lines = kind === "cart" ? [{ sku, qty: 1 }, { sku: other, qty: 1 }] : [{ sku, qty: 1 }];
      const made = await reserve("eu", lines);
      expect(made.status).toBe(201);
      const { id, token } = made.body;
      const read = await call("GET", `/v1/eu/reservations/${id}`, { headers: asOther({ "x-reservation-token": token }) });
      const released = await call("POST", `/v1/eu/reservations/${id}/release`, { headers: asOther({ "x-reservation-token": token }) });
      const confirmed = await call("POST", `/v1/eu/reservations/${id}/confirm`, { headers: asOther({ "x-reservation-token": token, "idempotency-key": crypto.randomUUID() }) });
      for (const res of [read, released, confirmed]) {
        expect(res.status).toBe(404);
        expect(res.body.code).toBe("reservation_not_found");
      }
      expect((await stockState("eu", sku)).body).toMatchObject({ held: 1, confirmed: 0 });
      // Its own storefront still can.
      expect((await call("GET", `/v1/eu/reservations/${id}`, { headers: storefront({ "x-reservation-token": token }) })).status).toBe(200);
    });
  }
});

describe("stock counts only for the region's own warehouses", () => {
  it("refuses a count for a warehouse that is not configured, or belongs to another region (404), and changes nothing", async () => {
    const sku = await stocked(10);
    const ghost = await setStock("eu", sku, { warehouse: "eu-ghost", onHand: 50 });
    expect(ghost.status).toBe(404);
    expect(ghost.body).toMatchObject({ code: "unknown_warehouse" });
    const elsewhere = await setStock("eu", sku, { warehouse: "us-nj", onHand: 50 });
    expect(elsewhere.status).toBe(404);
    expect((await stockState("eu", sku)).body).toMatchObject({ onHand: 10, version: 1, warehouses: [expect.objectContaining({ warehouse: "eu-ams" })] });
  });
});
