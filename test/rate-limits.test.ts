// Rate limits (issue 11) on the Workers Rate Limiting bindings of wrangler.toml, which the tests
// run as `wrangler dev` does. The emulated limiter counts in fixed windows, so each test sends
// until the first 429 and checks it came no earlier than the limit and no later than two windows'
// worth: a limiter that does not limit fails, and a window boundary mid-test cannot.
import { describe, expect, it } from "vitest";
import { ADMIN_TOKEN, call, setStock, stockState, STOREFRONT_KEY, uniqueSku } from "./client";

const address = () => `2001:db8:feed::${crypto.randomUUID().slice(0, 4)}`;

/** Sends `send()` in rounds of `parallel` until one answers 429; returns the answers before it and the 429. */
async function untilLimited(send: () => Promise<{ status: number; body: any; headers: Headers }>, limit: number, parallel: number) {
  const before: { status: number }[] = [];
  while (before.length < 3 * limit) {
    const round = await Promise.all(Array.from({ length: parallel }, send));
    const refused = round.find((r) => r.status === 429);
    before.push(...round.filter((r) => r.status !== 429));
    if (refused) return { before, refused };
  }
  throw new Error(`no 429 after ${before.length} requests (limit ${limit})`);
}

function expectRateLimited(res: { status: number; body: any; headers: Headers }, limiter: string, seconds: number) {
  expect(res.status).toBe(429);
  expect(res.headers.get("content-type")).toContain("application/problem+json");
  expect(res.headers.get("retry-after")).toBe(String(seconds));
  expect(res.body).toMatchObject({ code: "rate_limited", limit: limiter, retryAfter: seconds });
}

describe("rate limits", () => {
  it("refuse reservation creates past 20 per 10 s from one address with 429 and Retry-After, holding nothing more", async () => {
    const sku = uniqueSku("RL");
    expect((await setStock("eu", sku, { warehouse: "eu-ams", onHand: 200 })).status).toBe(200);
    const bot = address();
    const create = () =>
      call("POST", "/v1/eu/reservations", {
        headers: { "x-api-key": STOREFRONT_KEY, "idempotency-key": crypto.randomUUID(), "cf-connecting-ip": bot },
        body: { lines: [{ sku, qty: 1 }] },
      });
    const { before, refused } = await untilLimited(create, 20, 5);
    expectRateLimited(refused, "RESERVE_LIMITER", 10);
    expect(before.length).toBeGreaterThanOrEqual(20);
    expect(before.length).toBeLessThanOrEqual(40);
    expect(before.every((r) => r.status === 201)).toBe(true);
    // Only the accepted creates hold anything; another shopper's address is not limited.
    expect((await stockState("eu", sku)).body.held).toBe(before.length);
    const other = await call("POST", "/v1/eu/reservations", {
      headers: { "x-api-key": STOREFRONT_KEY, "idempotency-key": crypto.randomUUID(), "cf-connecting-ip": address() },
      body: { lines: [{ sku, qty: 1 }] },
    });
    expect(other.status).toBe(201);
  });

  it("refuse storefront requests past 600 per 10 s from one address (reads included)", async () => {
    const reader = address();
    const read = () => call("GET", "/v1/eu/reservations/not-a-reservation", { headers: { "x-api-key": STOREFRONT_KEY, "x-reservation-token": "t", "cf-connecting-ip": reader } });
    const { before, refused } = await untilLimited(read, 600, 50);
    expectRateLimited(refused, "CLIENT_LIMITER", 10);
    expect(before.length).toBeGreaterThanOrEqual(600);
  });

  it("throttle failed admin authentication per address: after 10 failures even the right token waits, elsewhere it works", async () => {
    const guesser = address();
    const admin = (token: string, from = guesser) => call("GET", `/v1/admin/eu/stock/${uniqueSku("RL")}`, { headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": from } });
    const { before, refused } = await untilLimited(() => admin(`guess-${crypto.randomUUID()}`), 10, 1);
    expectRateLimited(refused, "AUTH_LIMITER", 60);
    expect(before.every((r) => r.status === 401)).toBe(true);
    expect(before.length).toBeGreaterThanOrEqual(10);
    // The guesser's address is not told whether a token is right until the period is over.
    expectRateLimited(await admin(ADMIN_TOKEN), "AUTH_LIMITER", 60);
    expect((await admin(ADMIN_TOKEN, address())).status).toBe(200);
  });

  it("count wrong storefront keys as failed authentication too", async () => {
    const guesser = address();
    const read = () => call("GET", "/v1/eu/availability?skus=X", { headers: { "x-api-key": `guess-${crypto.randomUUID()}`, "cf-connecting-ip": guesser } });
    const { before, refused } = await untilLimited(read, 10, 1);
    expectRateLimited(refused, "AUTH_LIMITER", 60);
    expect(before.every((r) => r.status === 401)).toBe(true);
  });
});
