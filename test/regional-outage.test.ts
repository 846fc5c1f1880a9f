// A storefront through failing stock objects: the read model's pages or a whole region's objects
// throw or hang (durable-objects/fault-injection.ts stands in for the outage, inside the real
// objects). Reads keep answering from the last copy, marked stale with its age, up to the stale
// limit, then 503; writes fail fast with 503 and Retry-After; other regions do not notice; after
// recovery nothing committed is lost and the read model catches up.
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { endOutage, outageIn, startOutage } from "../durable-objects/fault-injection";
import { pageName, pageOf } from "../durable-objects/availability-page";
import { PUBLISH_WINDOW_MS } from "../durable-objects/availability-publisher";
import { availabilityOf, forgetAllPages } from "../workers/snapshot-cache";
import { adminHeaders, availabilityNow as availability, call, confirm, reserve, setStock, stockState, uniqueSku } from "./client";

const FRESH_MS = 1_500; // the 2 s bound less the 500 ms publish lag
const READ_DEADLINE_MS = 1_000;
const WRITE_DEADLINE_MS = 3_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ctx = { waitUntil: (p: Promise<unknown>) => void p.catch(() => undefined) };

async function stocked(region: "eu" | "us", onHand: number) {
  const sku = uniqueSku("OUT");
  expect((await setStock(region, sku, { warehouse: region === "eu" ? "eu-ams" : "us-nj", onHand })).status).toBe(200);
  return sku;
}

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = Date.now();
  const result = await work();
  return { result, ms: Date.now() - started };
}

beforeEach(() => forgetAllPages());
afterEach(() => {
  endOutage("eu");
  endOutage("us");
});

describe("the outage switch", () => {
  it("does not exist unless FAULT_INJECTION is on (never in wrangler.toml's envs)", async () => {
    const res = await call("PUT", "/v1/admin/eu/outage", { headers: adminHeaders(), body: { mode: "throw" } });
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(outageIn("eu")).toBeNull();
  });
});

describe("reads when the read model does not answer", () => {
  it("answers from the last copy within the deadline, marked stale with its age, when the pages hang", async () => {
    const sku = await stocked("eu", 12);
    await sleep(PUBLISH_WINDOW_MS + 150);
    expect((await availability("eu", [sku])).body.items[0].available).toBe(12);
    await sleep(FRESH_MS + 100);
    startOutage("eu", "hang");
    const { result: res, ms } = await timed(() => availability("eu", [sku]));
    expect(res.status).toBe(200);
    expect(ms).toBeLessThan(READ_DEADLINE_MS + 500);
    expect(res.body).toMatchObject({ stale: true, items: [{ sku, available: 12, status: "in_stock", version: 1 }] });
    expect(res.body.ageSeconds).toBeGreaterThanOrEqual(2);
    expect(res.headers.get("cache-control")).toBe("no-store");
    // The next reads do not wait for the page again: they answer at once from the same copy.
    const { result: next, ms: nextMs } = await timed(() => availability("eu", [sku]));
    expect(next.body.stale).toBe(true);
    expect(nextMs).toBeLessThan(200);
  });

  it("answers 503 stock_unavailable with Retry-After when there is no copy, or it is past the stale limit", async () => {
    const sku = await stocked("eu", 5);
    await sleep(PUBLISH_WINDOW_MS + 150);
    await availability("eu", [sku]);
    await sleep(FRESH_MS + 100);
    startOutage("eu", "throw");
    // A copy 1.6 s old is past a stale limit of 1 s.
    const strict = { ...env, AVAILABILITY_STALE_LIMIT_SECONDS: "1" };
    await expect(availabilityOf(strict, ctx, "eu", [sku])).rejects.toMatchObject({ code: "stock_unavailable" });
    forgetAllPages(); // an isolate that never read the page (the data centre's cache is checked too)
    await caches.default.delete(`https://read-model.edge-inventory.internal/${encodeURIComponent(pageName("eu", pageOf(sku)))}`);
    const res = await availability("eu", [sku]);
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.headers.get("retry-after")).toBe("2");
    expect(res.body).toMatchObject({ status: 503, code: "stock_unavailable" });
  });
});

describe("a read-model outage: the pages fail, the stock objects work", () => {
  it("takes writes as usual, answers reads stale, and catches up with every write once the pages are back", async () => {
    const skus = await Promise.all([stocked("eu", 10), stocked("eu", 10)]);
    await sleep(PUBLISH_WINDOW_MS + 150);
    expect((await availability("eu", skus)).body.items.map((i: any) => i.available)).toEqual([10, 10]);
    startOutage("eu", "throw", "read-model");
    // The writers commit; their publishes fail and are retried.
    expect((await reserve("eu", [{ sku: skus[0]!, qty: 3 }])).status).toBe(201);
    expect((await reserve("eu", [{ sku: skus[1]!, qty: 4 }])).status).toBe(201);
    await sleep(FRESH_MS + 100);
    const stale = await availability("eu", skus);
    expect(stale.status).toBe(200);
    expect(stale.body).toMatchObject({ stale: true, items: [{ available: 10 }, { available: 10 }] });
    endOutage("eu");
    const recoveredAt = Date.now();
    for (;;) {
      const res = await availability("eu", skus);
      if (!res.body.stale && res.body.items[0].available === 7 && res.body.items[1].available === 6) break;
      // The publisher's retry (at most 2 s apart), the edge's back-off (1 s) and the bound (2 s).
      expect(Date.now() - recoveredAt).toBeLessThan(5_500);
      await sleep(100);
    }
  });
});

describe("a regional outage: every stock object and page of eu fails", () => {
  it("keeps eu reads answering (stale, marked), fails eu writes fast with 503, leaves us alone, and loses nothing", async () => {
    const euSkus = await Promise.all([stocked("eu", 10), stocked("eu", 10), stocked("eu", 10)]);
    const cartSkus = await Promise.all([stocked("eu", 10), stocked("eu", 10)]);
    const usSku = await stocked("us", 10);
    expect((await reserve("eu", [{ sku: euSkus[0]!, qty: 2 }])).status).toBe(201);
    const held = await reserve("eu", [{ sku: euSkus[1]!, qty: 3 }]);
    expect(held.status).toBe(201);
    await sleep(PUBLISH_WINDOW_MS + 150);
    const before = await availability("eu", euSkus);
    expect(before.body.items.map((i: any) => i.available)).toEqual([8, 7, 10]);
    const stateBefore = await Promise.all(euSkus.map(async (s) => (await stockState("eu", s)).body));
    await sleep(FRESH_MS + 100);
    // A reservation committed just before the outage: the outage swallows its publish.
    expect((await reserve("eu", [{ sku: euSkus[2]!, qty: 4 }])).status).toBe(201);

    const answers: number[] = [];
    startOutage("eu", "hang");
    // Reads in eu: every one answers, from the last copy, marked stale.
    for (let i = 0; i < 5; i++) {
      const { result: res, ms } = await timed(() => availability("eu", euSkus));
      answers.push(res.status);
      expect(res.status).toBe(200);
      expect(res.body.stale).toBe(true);
      expect(res.body.items.map((i: any) => i.available)).toEqual([8, 7, 10]);
      expect(ms).toBeLessThan(READ_DEADLINE_MS + 500);
    }
    // Writes in eu: 503 with Retry-After within the deadline, single lines and carts alike.
    const writes = await Promise.all([
      timed(() => reserve("eu", [{ sku: euSkus[0]!, qty: 1 }])),
      timed(() => reserve("eu", [{ sku: cartSkus[0]!, qty: 1 }, { sku: cartSkus[1]!, qty: 1 }])),
      timed(() => confirm("eu", held.body.id, held.body.token)),
    ]);
    for (const { result: res, ms } of writes) {
      answers.push(res.status);
      expect(res.status).toBe(503);
      expect(res.body.code).toBe("stock_unavailable");
      expect(res.headers.get("retry-after")).toBe("2");
      expect(ms).toBeLessThan(WRITE_DEADLINE_MS + 1_000);
    }
    // us does not notice: fresh reads, reservations as usual.
    const usRead = await availability("us", [usSku]);
    expect(usRead.status).toBe(200);
    expect(usRead.body.stale).toBeUndefined();
    expect((await reserve("us", [{ sku: usSku, qty: 1 }])).status).toBe(201);
    // The same outage as objects that throw: writes fail at once.
    startOutage("eu", "throw");
    const { result: thrown, ms: thrownMs } = await timed(() => reserve("eu", [{ sku: euSkus[0]!, qty: 1 }]));
    answers.push(thrown.status);
    expect(thrown.status).toBe(503);
    expect(thrownMs).toBeLessThan(500);
    // Availability during the outage (share of answers that were not 5xx): every read, no write.
    expect(answers.filter((s) => s < 500).length / answers.length).toBe(5 / 9);

    endOutage("eu");
    // Nothing committed is lost, and the writes refused during the outage left nothing.
    const stateAfter = await Promise.all(euSkus.map(async (s) => (await stockState("eu", s)).body));
    expect(stateAfter.map((s: any) => [s.held, s.confirmed])).toEqual([[2, 0], [3, 0], [4, 0]]);
    expect(stateAfter.map((s: any) => s.version)).toEqual([stateBefore[0].version, stateBefore[1].version, stateBefore[2].version + 1]);
    // The read model catches up with every object's own state, the swallowed publish included:
    // within the publisher's retry (2 s), the edge's back-off (1 s) and the bound (2 s).
    const all = [...euSkus, ...cartSkus];
    const recoveredAt = Date.now();
    for (;;) {
      const [res, own] = await Promise.all([availability("eu", all), Promise.all(all.map(async (s) => (await stockState("eu", s)).body.available))]);
      if (res.status === 200 && !res.body.stale && res.body.items.every((i: any, k: number) => i.available === own[k])) break;
      expect(Date.now() - recoveredAt).toBeLessThan(5_500);
      await sleep(100);
    }
    expect((await availability("eu", euSkus)).body.items[2].available).toBe(6);
    console.log(`outage test: read model caught up ${Date.now() - recoveredAt} ms after recovery`);
    expect((await reserve("eu", [{ sku: euSkus[2]!, qty: 1 }])).status).toBe(201);
  });
});
