// Every bad request gets a 4xx problem body with a stable code, and changes nothing.
import { beforeAll, describe, expect, it } from "vitest";
import { adminHeaders, call, events, setStock, stockState, storefront, uniqueSku } from "./client";

let sku: string;
let before: { version: number; held: number };

beforeAll(async () => {
  sku = uniqueSku("BAD");
  await setStock("eu", sku, { warehouse: "eu-ams", onHand: 20 });
  const state = await stockState("eu", sku);
  before = { version: state.body.version, held: state.body.held };
});

const reserveWith = (body: unknown) => {
  const headers = storefront({ "idempotency-key": crypto.randomUUID(), "content-type": "application/json" });
  return call("POST", "/v1/eu/reservations", typeof body === "string" ? { headers, raw: body } : { headers, body });
};

const line = (qty: unknown, s?: string) => ({ lines: [{ sku: s ?? sku, qty }] });

const cases: [string, () => Promise<{ status: number; body: any }>, number, string][] = [
  ["malformed JSON", () => reserveWith('{"lines": [{"sku": '), 400, "malformed_json"],
  ["an empty body", () => reserveWith(""), 400, "malformed_json"],
  ["a JSON array instead of an object", () => reserveWith([]), 400, "invalid_request"],
  ["no lines", () => reserveWith({ lines: [] }), 400, "invalid_request"],
  ["missing lines", () => reserveWith({ ttlSeconds: 30 }), 400, "invalid_request"],
  ["an unknown field", () => reserveWith({ ...line(1), coupon: "FREE" }), 400, "invalid_request"],
  ["an unknown field in a line", () => reserveWith({ lines: [{ sku: "A", qty: 1, price: 0 }] }), 400, "invalid_request"],
  ["zero quantity", () => reserveWith(line(0)), 400, "invalid_request"],
  ["negative quantity", () => reserveWith(line(-3)), 400, "invalid_request"],
  ["fractional quantity", () => reserveWith(line(1.5)), 400, "invalid_request"],
  ["absurd quantity", () => reserveWith(line(1e12)), 400, "invalid_request"],
  ["quantity as a string", () => reserveWith(line("2")), 400, "invalid_request"],
  ["NaN-like quantity", () => reserveWith('{"lines":[{"sku":"A","qty":NaN}]}'), 400, "malformed_json"],
  ["too many lines", () => reserveWith({ lines: Array.from({ length: 51 }, (_, i) => ({ sku: `S${i}`, qty: 1 })) }), 400, "invalid_request"],
  ["the same SKU twice", () => reserveWith({ lines: [{ sku, qty: 1 }, { sku, qty: 1 }] }), 400, "invalid_request"],
  ["a SKU with bad characters", () => reserveWith(line(1, "../etc/passwd")), 400, "invalid_request"],
  ["a too-short TTL", () => reserveWith({ ...line(1), ttlSeconds: 1 }), 400, "invalid_request"],
  ["a too-long TTL", () => reserveWith({ ...line(1), ttlSeconds: 86_400 }), 400, "invalid_request"],
  ["no Idempotency-Key", () => call("POST", "/v1/eu/reservations", { headers: storefront(), body: line(1) }), 400, "idempotency_key_required"],
  ["a form body", () => call("POST", "/v1/eu/reservations", { headers: storefront({ "idempotency-key": "x", "content-type": "application/x-www-form-urlencoded" }), raw: "sku=A&qty=1" }), 415, "unsupported_media_type"],
  ["a huge body", () => reserveWith(JSON.stringify({ lines: [{ sku: "A", qty: 1 }], pad: "x".repeat(70_000) })), 413, "payload_too_large"],
  ["an unknown region", () => call("POST", "/v1/mars/reservations", { headers: storefront({ "idempotency-key": "k" }), body: line(1) }), 404, "unknown_region"],
  ["no storefront key", () => call("POST", "/v1/eu/reservations", { headers: { "idempotency-key": "k" }, body: line(1) }), 401, "unauthorized"],
  ["a wrong storefront key", () => call("POST", "/v1/eu/reservations", { headers: { "x-api-key": "guess", "idempotency-key": "k" }, body: line(1) }), 401, "unauthorized"],
  ["availability without skus", () => call("GET", "/v1/eu/availability", { headers: storefront() }), 400, "invalid_request"],
  ["availability with an empty SKU", () => call("GET", "/v1/eu/availability?skus=A,,B", { headers: storefront() }), 400, "invalid_request"],
  ["availability with skus given twice", () => call("GET", "/v1/eu/availability?skus=A&skus=B", { headers: storefront() }), 400, "invalid_request"],
  ["availability of a SKU with a space inside", () => call("GET", "/v1/eu/availability?skus=A,B%20C", { headers: storefront() }), 400, "invalid_request"],
  ["availability of a 65-character SKU", () => call("GET", `/v1/eu/availability?skus=${"S".repeat(65)}`, { headers: storefront() }), 400, "invalid_request"],
  ["availability of 101 SKUs", () => call("GET", `/v1/eu/availability?skus=${Array.from({ length: 101 }, (_, i) => `S${i}`).join(",")}`, { headers: storefront() }), 400, "invalid_request"],
  ["a malformed reservation id", () => call("GET", "/v1/eu/reservations/xyz", { headers: storefront({ "x-reservation-token": "t" }) }), 400, "invalid_request"],
  ["confirm without a token", () => call("POST", `/v1/eu/reservations/${"b".repeat(64)}/confirm`, { headers: storefront({ "idempotency-key": "k" }) }), 400, "invalid_request"],
  ["admin without a token", () => call("PUT", `/v1/admin/eu/stock/${sku}`, { body: { warehouse: "eu-ams", onHand: 1 } }), 401, "unauthorized"],
  ["admin with the storefront key", () => call("PUT", `/v1/admin/eu/stock/${sku}`, { headers: { authorization: "Bearer test-storefront-key" }, body: { warehouse: "eu-ams", onHand: 1 } }), 401, "unauthorized"],
  ["negative on-hand", () => setStock("eu", sku, { warehouse: "eu-ams", onHand: -1 }), 400, "invalid_request"],
  ["fractional on-hand", () => setStock("eu", sku, { warehouse: "eu-ams", onHand: 2.5 }), 400, "invalid_request"],
  ["stock without a warehouse", () => setStock("eu", sku, { onHand: 3 }), 400, "invalid_request"],
  ["stock with an unknown field", () => setStock("eu", sku, { warehouse: "eu-ams", onHand: 3, price: 9 }), 400, "invalid_request"],
  ["stock in an unknown region", () => setStock("mars", sku, { warehouse: "eu-ams", onHand: 3 }), 404, "unknown_region"],
  ["events with a negative cursor", () => call("GET", `/v1/admin/eu/stock/${sku}/events?after=-1`, { headers: adminHeaders() }), 400, "invalid_request"],
  ["events with a huge page", () => call("GET", `/v1/admin/eu/stock/${sku}/events?limit=100000`, { headers: adminHeaders() }), 400, "invalid_request"],
  ["an unknown route", () => call("GET", "/v2/eu/things", { headers: storefront() }), 404, "not_found"],
];

describe("bad input", () => {
  it.each(cases)("%s -> %i %s, nothing changed", async (_name, send, status, code) => {
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.body).toMatchObject({ status, code });
    expect(typeof res.body.title).toBe("string");
    const after = await stockState("eu", sku);
    expect({ version: after.body.version, held: after.body.held }).toEqual(before);
  });

  it("left the event log with only the stock it was given", async () => {
    const log = await events("eu", sku);
    expect(log.body.events.map((e: any) => e.type)).toEqual(["stock_set"]);
  });
});
