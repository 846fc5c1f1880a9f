// Recommendation lists in the isolate's memory (recommendations/list-cache.ts): a version's lists are
// read from KV once, the pointer and shoppers' lists again after their TTL, and memory stays bounded.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ListCache, POINTER_TTL_MS, SHOPPER_TTL_MS } from "../recommendations/list-cache";
import { itemKey, pointerKey, userKey, versionPrefix } from "../recommendations/store";
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
