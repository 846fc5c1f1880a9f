// Recommendation lists in the isolate's memory (recommendations/list-cache.ts): a version's lists are
// read from KV once, the pointer and shoppers' lists again after their TTL, and memory stays bounded.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type ErasureFeed, ListCache, POINTER_TTL_MS, SHOPPER_TTL_MS } from "../recommendations/list-cache";
import { erasedKey, erasedLately, itemKey, pointerKey, userKey, versionPrefix } from "../recommendations/store";
import { erasureDigest } from "../workers/privacy";
import { build, ordered, recommend, sandboxRegion, sell } from "./recs";

/** The real KV namespace, counting the bulk reads made of it. */
function countingKv() {
  const source = {
    reads: [] as string[][],
    get: (keys: string[], type: "text") => {
      source.reads.push(keys);
      return env.RECOMMENDATIONS.get(keys, type);
    },
  };
  return source;
}

/** The region's erasure feed in the real KV namespace, as the route reads it, counting the looks (or failing each). */
function feedOf(options: { failing?: boolean } = {}) {
  const feed = {
    looks: 0,
    erased: async (region: string) => {
      feed.looks++;
      if (options.failing) throw new Error("KV list unavailable");
      return erasedLately(env.RECOMMENDATIONS, region);
    },
    digest: erasureDigest,
  } satisfies ErasureFeed & { looks: number };
  return feed;
}

/** A request's execution context whose waitUntil work the test can wait for. */
function requestContext() {
  const pending: Promise<unknown>[] = [];
  return { waitUntil: (p: Promise<unknown>) => void pending.push(p), settled: () => Promise.all(pending) };
}

/** An isolate's cache with the erasure feed, reading its misses from the counting `kv`. */
function isolateWithFeed(kv: ReturnType<typeof countingKv>, feed = feedOf()) {
  const cache = new ListCache(kv);
  cache.feed = feed;
  /** One request from a consenting shopper of `region`: the look at the feed if due (waited for), then the lists. */
  const ask = async (region: string, keys: string[]) => {
    const ctx = requestContext();
    cache.lookIfDue(region, ctx);
    await ctx.settled();
    return cache.json(keys);
  };
  return { cache, feed, ask };
}

const LIST = JSON.stringify([{ sku: "SERUM", score: 3 }]);

/** A new region whose shoppers `pseudonyms` each have a list in KV, with the clock stopped at `start`. */
async function shoppersWithLists<P extends string[]>(...pseudonyms: P) {
  vi.useFakeTimers({ toFake: ["Date"] });
  const start = Date.parse("2026-12-01T10:00:00Z");
  vi.setSystemTime(start);
  const region = sandboxRegion("rcache");
  const keys = pseudonyms.map((p) => userKey(region, "v1", p)) as { [K in keyof P]: string };
  for (const key of keys) await env.RECOMMENDATIONS.put(key, LIST);
  return { start, region, keys };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("recommendation lists in the isolate's memory", () => {
  it("serves a version's lists from memory: removing them from KV after a read changes no answer", async () => {
    const region = sandboxRegion("rcache");
    await sell(region, [{ sku: "CREAM" }, { sku: "SERUM", brand: "Brand B" }, { sku: "TONER", brand: "Brand C" }]);
    await ordered(region, [{ skus: ["CREAM", "SERUM"], times: 3 }, { skus: ["CREAM", "TONER"] }]);
    const { version } = await build(region);
    const first = await recommend(region, { context: ["CREAM"], limit: 2 });
    expect(first.body.items.map((i: { sku: string }) => i.sku)).toEqual(["SERUM", "TONER"]);
    // Everything but the pointer leaves KV: an answer read from KV would now list nothing.
    const keys = (await env.RECOMMENDATIONS.list({ prefix: versionPrefix(region, version) })).keys;
    await Promise.all(keys.map((k) => env.RECOMMENDATIONS.delete(k.name)));
    const again = await recommend(region, { context: ["CREAM"], limit: 2 });
    expect(again.body).toEqual(first.body);
  });

  it("switches readers to a new build at once when the build ran through this isolate", async () => {
    const region = sandboxRegion("rcache");
    await sell(region, [{ sku: "CLEANSER" }, { sku: "MASK", brand: "Brand B" }]);
    await ordered(region, [{ skus: ["CLEANSER", "MASK"] }]);
    const first = await build(region);
    expect((await recommend(region, { context: ["CLEANSER"] })).body.listsVersion).toBe(first.version);
    const second = await build(region);
    expect((await recommend(region, { context: ["CLEANSER"] })).body.listsVersion).toBe(second.version);
  });

  it("reads each key once per version, absent keys included", async () => {
    const kv = countingKv();
    const cache = new ListCache(kv);
    const keys = [itemKey("rcache-unit", "v1", "A"), itemKey("rcache-unit", "v1", "B")];
    await env.RECOMMENDATIONS.put(keys[0]!, JSON.stringify({ card: { name: "A", brand: "x", category: "y" }, together: [] }));
    const first = await cache.json(keys);
    const second = await cache.json(keys);
    expect(second).toEqual(first);
    expect(first.get(keys[1]!)).toBeNull();
    expect(kv.reads).toEqual([keys]);
  });

  it("reads the pointer again after its TTL, a shopper's list after theirs, and the rest never", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-12-01T10:00:00Z"));
    const kv = countingKv();
    const cache = new ListCache(kv);
    const pointer = pointerKey("rcache-unit");
    const shopper = userKey("rcache-unit", "v1", "p1");
    const item = itemKey("rcache-unit", "v1", "A");
    await cache.json([pointer, shopper, item]);
    vi.setSystemTime(Date.now() + POINTER_TTL_MS + 1);
    await cache.json([pointer, shopper, item]);
    vi.setSystemTime(Date.now() + SHOPPER_TTL_MS);
    await cache.json([pointer, shopper, item]);
    expect(kv.reads).toEqual([[pointer, shopper, item], [pointer], [pointer, shopper]]);
  });

  it("forgets a region's pointer after a build and a shopper's lists after an erasure", async () => {
    const kv = countingKv();
    const cache = new ListCache(kv);
    const pointer = pointerKey("rcache-unit");
    const lists = [userKey("rcache-unit", "v1", "p1"), userKey("rcache-unit", "v2", "p1"), userKey("rcache-unit", "v2", "p2")];
    await cache.json([pointer, ...lists]);
    cache.forgetPointer("rcache-unit");
    cache.forgetShopper("rcache-unit", "p1");
    await cache.json([pointer, ...lists]);
    expect(kv.reads).toEqual([[pointer, ...lists], [pointer, lists[0], lists[1]]]);
  });

  it("keeps a shopper's list past its TTL while the region's erasure feed names nobody, looking at it every 15 to 30 s", async () => {
    const { start, region, keys: [key] } = await shoppersWithLists("p-kept");
    const kv = countingKv();
    const isolate = isolateWithFeed(kv);
    for (let s = 0; s <= 180; s += 5) {
      vi.setSystemTime(start + s * 1000);
      expect((await isolate.ask(region, [key])).get(key)).toEqual(JSON.parse(LIST));
    }
    expect(kv.reads).toEqual([[key]]);
    // 3 minutes of requests 5 s apart: at least a look every SHOPPER_TTL_MS, at most one every SHOPPER_TTL_MS / 2.
    expect(isolate.feed.looks).toBeGreaterThanOrEqual(180_000 / SHOPPER_TTL_MS);
    expect(isolate.feed.looks).toBeLessThanOrEqual(180_000 / (SHOPPER_TTL_MS / 2) + 1);
  });

  it("forgets a shopper erased through another isolate at its next look at the feed, and reads their list again", async () => {
    const { start, region, keys: [erased, other] } = await shoppersWithLists("p-erased", "p-other");
    const kv = countingKv();
    const isolate = isolateWithFeed(kv);
    await isolate.ask(region, [erased, other]);
    vi.setSystemTime(start + 2 * SHOPPER_TTL_MS);
    await isolate.ask(region, [erased, other]);
    expect(kv.reads).toHaveLength(1);
    // Erased elsewhere, as POST /v1/admin/{region}/erasures does it: the lists deleted, the digest announced.
    await env.RECOMMENDATIONS.delete(erased);
    await env.RECOMMENDATIONS.put(erasedKey(region, await erasureDigest("p-erased")), new Date().toISOString());
    // Until its next look this isolate still serves the list it holds...
    vi.setSystemTime(start + 2 * SHOPPER_TTL_MS + 1_000);
    expect((await isolate.cache.json([erased])).get(erased)).toEqual(JSON.parse(LIST));
    // ...and at it (at most SHOPPER_TTL_MS / 2 later) it forgets that shopper, and only them.
    vi.setSystemTime(start + 2 * SHOPPER_TTL_MS + SHOPPER_TTL_MS / 2 + 1);
    const after = await isolate.ask(region, [erased, other]);
    expect(after.get(erased)).toBeNull();
    expect(after.get(other)).toEqual(JSON.parse(LIST));
    expect(kv.reads).toEqual([[erased, other], [erased]]);
  });

  it("does not keep a list read before an erasure fresh by a look that went over the held lists before it arrived", async () => {
    const { start, region, keys: [key] } = await shoppersWithLists("p-slow");
    // A slow read: it began before the erasure and ends after this isolate's look at the feed.
    const kv = countingKv();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = {
      get: async (keys: string[], type: "text") => {
        const first = kv.reads.length === 0;
        const read = await kv.get(keys, type);
        if (first) await gate;
        return read;
      },
    };
    const cache = new ListCache(slow);
    cache.feed = feedOf();
    const reading = cache.json([key]);
    await env.RECOMMENDATIONS.put(erasedKey(region, await erasureDigest("p-slow")), new Date(start).toISOString());
    vi.setSystemTime(start + 1_000);
    const ctx = requestContext();
    cache.lookIfDue(region, ctx);
    await ctx.settled();
    await env.RECOMMENDATIONS.delete(key);
    release();
    expect((await reading).get(key)).toEqual(JSON.parse(LIST));
    // Past the list's own TTL, the look (which began later) does not vouch for it: it is read again.
    vi.setSystemTime(start + SHOPPER_TTL_MS + 500);
    expect((await cache.json([key])).get(key)).toBeNull();
  });

  it("reads each shopper's list again after SHOPPER_TTL_MS when the feed cannot be read", async () => {
    const { start, region, keys: [key] } = await shoppersWithLists("p-unsure");
    const kv = countingKv();
    const isolate = isolateWithFeed(kv, feedOf({ failing: true }));
    await isolate.ask(region, [key]);
    vi.setSystemTime(start + SHOPPER_TTL_MS - 1);
    await isolate.ask(region, [key]);
    vi.setSystemTime(start + SHOPPER_TTL_MS + 1);
    await isolate.ask(region, [key]);
    expect(kv.reads).toEqual([[key], [key]]);
    expect(isolate.feed.looks).toBeGreaterThanOrEqual(2);
  });

  it("keeps to its memory budget, dropping the oldest lists first", async () => {
    const kv = countingKv();
    const keys = ["A", "B", "C"].map((sku) => itemKey("rcache-unit", "v1", sku));
    for (const key of keys) await env.RECOMMENDATIONS.put(key, "x".repeat(1000).replace(/^x|x$/g, '"'));
    const cache = new ListCache(kv, 2_500);
    for (const key of keys) await cache.json([key]);
    await cache.json(keys);
    expect(kv.reads.at(-1)).toEqual([keys[0]]);
  });
});
