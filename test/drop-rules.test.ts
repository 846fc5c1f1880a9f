// Drop rules (issue 11): per-shopper limits and the longest hold, set by an operator per
// SKU-region and enforced by its object in the transaction that places each hold, so a shopper
// racing carts in parallel cannot beat them. Every refusal holds nothing.
import { describe, expect, it } from "vitest";
import { adminHeaders, call, confirm, release, setStock, stockState, storefront, uniqueSku } from "./client";

async function stocked(onHand = 20) {
  const sku = uniqueSku("DROP");
  expect((await setStock("eu", sku, { warehouse: "eu-ams", onHand })).status).toBe(200);
  return sku;
}

const setRules = (sku: string, rules: unknown) =>
  call("PUT", `/v1/admin/eu/stock/${sku}/drop-rules`, { headers: adminHeaders(), body: rules });

function reserveAs(shopper: string | null, lines: { sku: string; qty: number }[], extra: Record<string, unknown> = {}) {
  return call("POST", "/v1/eu/reservations", {
    headers: storefront({ "idempotency-key": crypto.randomUUID() }),
    body: { lines, ...(shopper !== null && { shopper: { id: shopper, consent: false } }), ...extra },
  });
}

describe("drop rules", () => {
  it("are set by an operator, shown in the stock state, and bad values are refused changing nothing", async () => {
    const sku = await stocked();
    const set = await setRules(sku, { maxUnitsPerShopper: 2, maxHoldTtlSeconds: 300 });
    expect(set.status).toBe(200);
    expect(set.body.dropRules).toEqual({ maxUnitsPerShopper: 2, maxHoldsPerShopper: null, maxHoldTtlSeconds: 300 });
    for (const bad of [{ maxUnitsPerShopper: 0 }, { maxHoldsPerShopper: 1.5 }, { maxHoldTtlSeconds: 99999 }, { maxUnits: 2 }]) {
      const res = await setRules(sku, bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
    }
    const state = await stockState("eu", sku);
    expect(state.body.dropRules).toEqual({ maxUnitsPerShopper: 2, maxHoldsPerShopper: null, maxHoldTtlSeconds: 300 });
    // An empty body lifts every rule.
    expect((await setRules(sku, {})).body.dropRules).toEqual({ maxUnitsPerShopper: null, maxHoldsPerShopper: null, maxHoldTtlSeconds: null });
  });

  it("hold one shopper to maxUnitsPerShopper across parallel carts and single lines, and leave other shoppers alone", async () => {
    const sku = await stocked(20);
    const other = await stocked(20);
    expect((await setRules(sku, { maxUnitsPerShopper: 2 })).status).toBe(200);
    // 12 attempts at once, each with a fresh key: single lines and two-line carts with another SKU.
    const attempts = await Promise.all(
      Array.from({ length: 12 }, (_, i) => reserveAs("bot-1", i % 2 ? [{ sku, qty: 1 }] : [{ sku, qty: 1 }, { sku: other, qty: 1 }])),
    );
    const held = attempts.filter((r) => r.status === 201);
    const refused = attempts.filter((r) => r.status === 409);
    expect(held.length + refused.length, JSON.stringify(attempts.map((a) => a.body))).toBe(12);
    expect(held.length).toBe(2);
    for (const r of refused) expect(r.body).toMatchObject({ code: "shopper_limit", sku, rule: "max_units_per_shopper", limit: 2 });
    const state = (await stockState("eu", sku)).body;
    expect(state.held).toBe(2);
    // A refused cart gave back its other line: the unlimited SKU holds only the held carts' lines.
    const cartsHeld = held.filter((r) => r.body.lines.length === 2).length;
    expect((await stockState("eu", other)).body.held).toBe(cartsHeld);
    // Another shopper is not affected.
    expect((await reserveAs("shopper-2", [{ sku, qty: 2 }])).status).toBe(201);
  });

  it("count bought units too, and give room back when a hold is released", async () => {
    const sku = await stocked(20);
    expect((await setRules(sku, { maxUnitsPerShopper: 3 })).status).toBe(200);
    const first = await reserveAs("fan-1", [{ sku, qty: 2 }]);
    expect(first.status).toBe(201);
    expect((await confirm("eu", first.body.id, first.body.token)).status).toBe(200);
    const second = await reserveAs("fan-1", [{ sku, qty: 1 }]);
    expect(second.status).toBe(201);
    const over = await reserveAs("fan-1", [{ sku, qty: 1 }]);
    expect(over.status).toBe(409);
    expect(over.body).toMatchObject({ code: "shopper_limit", current: 3, limit: 3 });
    expect((await release("eu", second.body.id, second.body.token)).status).toBe(200);
    expect((await reserveAs("fan-1", [{ sku, qty: 1 }])).status).toBe(201);
    const state = (await stockState("eu", sku)).body;
    expect(state.confirmed + state.held).toBe(3);
  });

  it("limit open holds per shopper (maxHoldsPerShopper), and a retry with the same key is not a second hold", async () => {
    const sku = await stocked(20);
    expect((await setRules(sku, { maxHoldsPerShopper: 1 })).status).toBe(200);
    const key = crypto.randomUUID();
    const body = { lines: [{ sku, qty: 1 }], shopper: { id: "fan-2", consent: false } };
    const first = await call("POST", "/v1/eu/reservations", { headers: storefront({ "idempotency-key": key }), body });
    const retry = await call("POST", "/v1/eu/reservations", { headers: storefront({ "idempotency-key": key }), body });
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.body.id).toBe(first.body.id);
    const second = await reserveAs("fan-2", [{ sku, qty: 1 }]);
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ code: "shopper_limit", rule: "max_holds_per_shopper", limit: 1, current: 1 });
    expect((await stockState("eu", sku)).body.held).toBe(1);
  });

  it("refuse a reservation without a shopper id for a SKU limited per shopper (422), alone or in a cart, holding nothing", async () => {
    const sku = await stocked(20);
    const other = await stocked(20);
    expect((await setRules(sku, { maxUnitsPerShopper: 2 })).status).toBe(200);
    for (const lines of [[{ sku, qty: 1 }], [{ sku: other, qty: 1 }, { sku, qty: 1 }]]) {
      const res = await reserveAs(null, lines);
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ code: "shopper_required", sku });
    }
    expect((await stockState("eu", sku)).body.held).toBe(0);
    expect((await stockState("eu", other)).body.held).toBe(0);
  });

  it("shorten holds to maxHoldTtlSeconds, for single lines and carts, and say so in expiresAt", async () => {
    const sku = await stocked(20);
    const other = await stocked(20);
    expect((await setRules(sku, { maxHoldTtlSeconds: 60 })).status).toBe(200);
    for (const lines of [[{ sku, qty: 1 }], [{ sku, qty: 1 }, { sku: other, qty: 1 }]]) {
      const before = Date.now();
      const res = await reserveAs(null, lines, { ttlSeconds: 3600 });
      expect(res.status).toBe(201);
      const lasts = Date.parse(res.body.expiresAt) - before;
      expect(lasts).toBeGreaterThan(55_000);
      expect(lasts).toBeLessThanOrEqual(61_000);
    }
  });

  it("and stock shards exclude each other: neither can be added while the other is in force", async () => {
    const sku = await stocked(20);
    expect((await setRules(sku, { maxUnitsPerShopper: 2 })).status).toBe(200);
    const split = await call("PUT", `/v1/admin/eu/stock/${sku}/shards`, { headers: adminHeaders(), body: { count: 4 } });
    expect(split.status).toBe(409);
    expect(split.body.code).toBe("drop_rules_active");
    expect((await stockState("eu", sku)).body.shards).toBeUndefined();

    const sharded = await stocked(20);
    expect((await call("PUT", `/v1/admin/eu/stock/${sharded}/shards`, { headers: adminHeaders(), body: { count: 2 } })).status).toBe(200);
    const rules = await setRules(sharded, { maxUnitsPerShopper: 2 });
    expect(rules.status).toBe(409);
    expect(rules.body.code).toBe("sharded");
    expect((await stockState("eu", sharded)).body.dropRules.maxUnitsPerShopper).toBeNull();
  });
});
