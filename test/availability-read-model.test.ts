// A storefront reading availability from the read model: whole pages of a region's snapshots,
// published by the SKU objects after their commits and kept by the edge for at most the bound
// (AVAILABILITY_MAX_AGE_SECONDS, 2 s here) counting the publish lag. Reads never call SKU objects.
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { pageName, pageOf } from "../durable-objects/availability-page";
import { PUBLISH_LAG_MS, PUBLISH_WINDOW_MS } from "../durable-objects/availability-publisher";
import { readCosts } from "../durable-objects/cost-meter";
import { inventoryName } from "../durable-objects/inventory";
import { forgetAllPages } from "../workers/snapshot-cache";
import { availabilityNow as availability, call, setStock, storefront, uniqueSku } from "./client";

const BOUND_MS = 2_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Long enough for a write's coalesced publish to reach its page. */
const published = () => sleep(PUBLISH_WINDOW_MS + 150);

async function stocked(onHand: number, region = "eu") {
  const sku = uniqueSku("READ");
  expect((await setStock(region, sku, { warehouse: `${region === "us" ? "us-nj" : "eu-ams"}`, onHand })).status).toBe(200);
  return sku;
}

/** A sale that does not pass through this edge (another data centre took it). */
async function sellElsewhere(sku: string, qty: number) {
  const stub = env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName("eu", sku)));
  expect((await stub.hold(sku, "eu", `elsewhere-${crypto.randomUUID()}`, qty, Date.now() + 600_000)).ok).toBe(true);
}

function pagesFrom(res: { headers: Headers }) {
  const desc = /desc="([^"]*)"/.exec(res.headers.get("server-timing") ?? "")?.[1] ?? "";
  return Object.fromEntries(desc.split(" ").map((kv) => kv.split("=")).map(([k, v]) => [k, Number(v)]));
}

/** Object calls made meanwhile, by "Class.method". */
/**
 * The object calls `work` makes. The isolate's metrics hand-over (RegionMetrics.add, at most once a
 * second whatever the traffic, observability/metrics.ts) is not a call of the read, and may fall
 * in any window: left out.
 */
async function callsDuring(work: () => Promise<unknown>) {
  const before = readCosts().calls;
  await work();
  const after = readCosts().calls;
  return Object.fromEntries(
    Object.entries(after)
      .filter(([k]) => !k.startsWith("RegionMetrics."))
      .map(([k, v]) => [k, v - (before[k] ?? 0)])
      .filter(([, v]) => (v as number) > 0),
  );
}

beforeEach(() => forgetAllPages()); // every test starts as a cold isolate

describe("availability from the read model", () => {
  it("answers 20 SKUs with one page call per page and no SKU object call; a repeat read makes no call at all", async () => {
    const skus = await Promise.all(Array.from({ length: 20 }, (_, i) => stocked(10 + i)));
    await published();
    let first: any;
    const calls = await callsDuring(async () => (first = await availability("eu", skus)));
    expect(first.status).toBe(200);
    expect(first.body.items).toEqual(skus.map((sku, i) => ({ sku, available: 10 + i, status: "in_stock", version: 1 })));
    const pages = new Set(skus.map(pageOf)).size;
    expect(calls).toEqual({ "AvailabilityPage.read": pages });
    expect(pagesFrom(first)).toEqual({ memory: 0, cache: 0, page: pages, stale: 0 });
    let again: any;
    expect(await callsDuring(async () => (again = await availability("eu", skus)))).toEqual({});
    expect(pagesFrom(again)).toEqual({ memory: pages, cache: 0, page: 0, stale: 0 });
    expect(again.body.items).toEqual(first.body.items);
    expect(again.headers.get("cache-control")).toBe("private, max-age=2");
  });

  it("lets another isolate of the data centre take the pages from the cache, without a page call", async () => {
    const skus = await Promise.all(Array.from({ length: 5 }, (_, i) => stocked(20 + i)));
    await published();
    const first = await availability("eu", skus);
    const pages = new Set(skus.map(pageOf)).size;
    expect(pagesFrom(first).page).toBe(pages);
    await sleep(100); // the cache puts run after the answer
    forgetAllPages(true); // a second isolate: nothing in memory, the same data centre's cache
    let second: any;
    expect(await callsDuring(async () => (second = await availability("eu", skus)))).toEqual({});
    expect(pagesFrom(second)).toEqual({ memory: 0, cache: pages, page: 0, stale: 0 });
    expect(second.body.items).toEqual(first.body.items);
  });

  it("keeps the newest publish of a SKU, and writes nothing for an older one or the same state again", async () => {
    const sku = uniqueSku("PAGE");
    const page = env.AVAILABILITY_PAGES.get(env.AVAILABILITY_PAGES.idFromName(pageName("eu", pageOf(sku))));
    const part = { sku, part: 0, available: 5, version: 3, shards: 1, at: Date.now() };
    expect(await page.publish([part])).toEqual({ applied: 1 });
    const rowsBefore = readCosts().rowsWritten;
    expect(await page.publish([{ ...part, at: part.at + 1_000 }])).toEqual({ applied: 0 }); // a restarted writer, same state
    expect(await page.publish([{ ...part, version: 2, available: 9 }])).toEqual({ applied: 0 }); // late
    expect(readCosts().rowsWritten).toBe(rowsBefore);
    expect(await page.publish([{ ...part, version: 4, available: 4 }])).toEqual({ applied: 1 });
    expect((JSON.parse((await page.read()).parts) as { sku: string }[]).find((p) => p.sku === sku)).toMatchObject({ version: 4, available: 4 });
  });

  it("answers never-stocked SKUs as out of stock without calling any SKU object, first time included", async () => {
    const unknown = Array.from({ length: 100 }, () => uniqueSku("NEVER"));
    let res: any;
    const calls = await callsDuring(async () => (res = await availability("eu", unknown)));
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual(unknown.map((sku) => ({ sku, available: 0, status: "out_of_stock", version: 0 })));
    expect(Object.keys(calls).filter((k) => !k.startsWith("AvailabilityPage."))).toEqual([]);
    expect(await callsDuring(() => availability("eu", unknown))).toEqual({});
  });

  it("holds the staleness bound end to end: a sale made elsewhere shows within 2 s, publish lag included, and never goes back", async () => {
    const sku = await stocked(3);
    await published();
    expect((await availability("eu", [sku])).body.items[0]).toMatchObject({ available: 3, version: 1 });
    await sleep(900); // the page copy is now well into its life: the worst moment for a change
    await sellElsewhere(sku, 3);
    const changedAt = Date.now();
    let seen: any;
    for (;;) {
      const res = await availability("eu", [sku]);
      expect(res.status).toBe(200);
      expect(res.body.stale).toBeUndefined();
      // asOf is a promise: the answer reflects the object's state at least as of then.
      expect(Date.now() - Date.parse(res.body.asOf)).toBeLessThanOrEqual(BOUND_MS);
      if (res.body.items[0].version === 2) {
        seen = res.body.items[0];
        break;
      }
      // The old answer is at most the bound behind the object's own state, and does not claim to
      // be more recent than the sale (asOf counts the publish lag, not only the page's age).
      expect(Date.now() - changedAt).toBeLessThanOrEqual(BOUND_MS);
      expect(Date.parse(res.body.asOf)).toBeLessThanOrEqual(changedAt);
      await sleep(50);
    }
    expect(seen).toEqual({ sku, available: 0, status: "out_of_stock", version: 2 });
    for (let i = 0; i < 5; i++) expect((await availability("eu", [sku])).body.items[0].version).toBe(2);
  });

  it("sums a SKU split into stock shards over the object and its shards", async () => {
    const sku = await stocked(40);
    const split = await call("PUT", `/v1/admin/eu/stock/${sku}/shards`, { headers: { authorization: "Bearer test-admin-token" }, body: { count: 4 } });
    expect(split.status).toBe(200);
    await sleep(PUBLISH_LAG_MS + 300);
    const res = await availability("eu", [sku]);
    expect(res.body.items[0]).toMatchObject({ sku, available: 40, status: "in_stock" });
  });

  it("answers 304 to a matching If-None-Match and a new ETag once the stock changes", async () => {
    const sku = await stocked(8);
    await published();
    const first = await availability("eu", [sku]);
    const etag = first.headers.get("etag")!;
    expect(etag).toMatch(/^W\/"[0-9a-f]{32}"$/);
    const again = await call("GET", `/v1/eu/availability?skus=${sku}`, { headers: storefront({ "if-none-match": etag }) });
    expect(again.status).toBe(304);
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 7 });
    await sleep(BOUND_MS + 100);
    const changed = await call("GET", `/v1/eu/availability?skus=${sku}`, { headers: storefront({ "if-none-match": etag }) });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(etag);
    expect(changed.body.items[0].available).toBe(7);
  });
});
