// The typed storefront client (client/index.ts) against the real worker, with faults put between
// them: an answer lost after the worker acted, 503s and 429s with Retry-After, and answers that
// must never be retried.
import { describe, expect, it } from "vitest";
import { StorefrontClient, type ClientOptions } from "../client/index";
import { fetchWorker, setStock, stockState, STOREFRONT_KEY, uniqueSku } from "./client";

type Fault = (req: Request, forward: () => Promise<Response>) => Promise<Response>;

/** A client whose requests pass through `faults` (one per attempt, then straight through). */
function clientWith(faults: Fault[], extra: Partial<ClientOptions> = {}) {
  const seen: { method: string; key: string | null }[] = [];
  const waits: number[] = [];
  const address = `2001:db8:c11e::${crypto.randomUUID().slice(0, 4)}`;
  const client = new StorefrontClient({
    baseUrl: "http://edge.test",
    apiKey: STOREFRONT_KEY,
    region: "eu",
    headers: { "cf-connecting-ip": address },
    sleep: async (ms) => void waits.push(ms),
    fetch: async (url, init) => {
      const req = new Request(url, init);
      seen.push({ method: req.method, key: req.headers.get("idempotency-key") });
      const forward = () => fetchWorker(req.clone());
      const fault = faults.shift();
      return fault ? fault(req, forward) : forward();
    },
    ...extra,
  });
  return { client, seen, waits };
}

const problem = (status: number, code: string, retryAfter?: string) =>
  new Response(JSON.stringify({ type: "about:blank", title: code, status, code }), {
    status, headers: { "content-type": "application/problem+json", ...(retryAfter && { "retry-after": retryAfter }) },
  });

async function stocked(onHand: number) {
  const sku = uniqueSku("CLI");
  expect((await setStock("eu", sku, { warehouse: "eu-ams", onHand })).status).toBe(200);
  return sku;
}

describe("storefront client", () => {
  it("retries a reservation whose answer was lost with the same Idempotency-Key, and holds once", async () => {
    const sku = await stocked(5);
    const lost: Fault = async (_req, forward) => {
      await forward(); // the worker holds the units; the answer never reaches the shopper
      return problem(503, "try_again", "1");
    };
    const { client, seen, waits } = clientWith([lost, async () => { throw new TypeError("connection reset"); }]);
    const res = await client.reserve({ lines: [{ sku, qty: 2 }] });
    expect(res.ok).toBe(true);
    expect(res.attempts).toBe(3);
    expect(new Set(seen.map((s) => s.key)).size).toBe(1);
    expect(waits[0]).toBeGreaterThanOrEqual(1000); // Retry-After: 1
    expect((await stockState("eu", sku)).body.held).toBe(2);
  });

  it("waits Retry-After on 429, then goes on", async () => {
    const sku = await stocked(5);
    const { client, waits } = clientWith([async () => problem(429, "rate_limited", "2")]);
    const res = await client.reserve({ lines: [{ sku, qty: 1 }] });
    expect(res.ok).toBe(true);
    expect(waits).toEqual([2000]);
  });

  it("never retries 409 or 422, and returns the problem as the API gave it", async () => {
    const sku = await stocked(1);
    const { client, seen } = clientWith([]);
    const short = await client.reserve({ lines: [{ sku, qty: 3 }] });
    expect(short).toMatchObject({ ok: false, attempts: 1, problem: { status: 409, code: "insufficient_stock" } });
    const key = crypto.randomUUID();
    expect((await client.reserve({ lines: [{ sku, qty: 1 }] }, key)).ok).toBe(true);
    const reused = await client.reserve({ lines: [{ sku, qty: 1 }], ttlSeconds: 60 }, key);
    expect(reused).toMatchObject({ ok: false, attempts: 1, problem: { status: 422, code: "idempotency_key_reused" } });
    expect(seen).toHaveLength(3);
  });

  it("gives up after maxAttempts, and does not sleep through a wait longer than maxWaitSeconds", async () => {
    const sku = await stocked(5);
    const busy: Fault = async () => problem(503, "try_again", "1");
    const tries = clientWith([busy, busy, busy, busy], { maxAttempts: 3 });
    const res = await tries.client.reserve({ lines: [{ sku, qty: 1 }] });
    expect(res).toMatchObject({ ok: false, attempts: 3, problem: { status: 503, code: "try_again" } });
    expect(tries.waits).toHaveLength(2);

    const long = clientWith([async () => problem(429, "rate_limited", "60")], { maxWaitSeconds: 10 });
    const limited = await long.client.reserve({ lines: [{ sku, qty: 1 }] });
    expect(limited).toMatchObject({ ok: false, attempts: 1, problem: { status: 429 } });
    expect(long.waits).toEqual([]);
    expect((await stockState("eu", sku)).body.held).toBe(0);
  });

  it("confirms with one key across retries, and the sale is made once", async () => {
    const sku = await stocked(5);
    const { client, seen } = clientWith([]);
    const held = await client.reserve({ lines: [{ sku, qty: 1 }] });
    if (!held.ok) throw new Error(JSON.stringify(held.problem));
    const lostConfirm: Fault = async (_req, forward) => {
      await forward();
      return problem(503, "try_again", "1");
    };
    const again = clientWith([lostConfirm]);
    const confirmed = await again.client.confirm(held.value.id, held.value.token);
    expect(confirmed).toMatchObject({ ok: true, attempts: 2, value: { status: "confirmed" } });
    expect(new Set(again.seen.map((s) => s.key)).size).toBe(1);
    expect(seen).toHaveLength(1);
    const state = (await stockState("eu", sku)).body;
    expect(state).toMatchObject({ confirmed: 1, held: 0 });
  });
});
