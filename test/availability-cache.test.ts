// A storefront reading availability at the edge: cached snapshots no older than the bound
// (AVAILABILITY_MAX_AGE_SECONDS, 2 s here), one object call for a hot SKU, ETags, and a sell-out
// elsewhere showing within the bound. Sales through this edge show at once.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { inventoryName } from "../durable-objects/inventory";
import { availability, call, reserve, setStock, storefront, uniqueSku } from "./client";

const BOUND_MS = 2_000;

async function stocked(onHand: number) {
  const sku = uniqueSku("CACHE");
  expect((await setStock("eu", sku, { warehouse: "eu-ams", onHand })).status).toBe(200);
  return sku;
}

/** A sale that does not pass through this edge (another data centre took it): no eviction here. */
async function sellElsewhere(sku: string, qty: number) {
  const stub = env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName("eu", sku)));
  const hold = await stub.hold(sku, "eu", `elsewhere-${crypto.randomUUID()}`, qty, Date.now() + 600_000);
  expect(hold.ok).toBe(true);
}

function sources(res: { headers: Headers }) {
  const desc = /desc="([^"]*)"/.exec(res.headers.get("server-timing") ?? "")?.[1] ?? "";
  return Object.fromEntries(desc.split(" ").map((kv) => kv.split("=")).map(([k, v]) => [k, Number(v)]));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("cached availability", () => {
  it("answers a repeat read from the cache, equal to a fresh read and within the bound", async () => {
    const sku = await stocked(9);
    const fresh = await availability("eu", [sku]);
    expect(sources(fresh)).toEqual({ cache: 0, shared: 0, object: 1 });
    const cached = await availability("eu", [sku]);
    expect(sources(cached)).toEqual({ cache: 1, shared: 0, object: 0 });
    expect(cached.body.items).toEqual(fresh.body.items);
    expect(cached.body.items).toEqual([{ sku, available: 9, status: "in_stock", version: 1 }]);
    expect(Date.now() - Date.parse(cached.body.asOf)).toBeLessThanOrEqual(BOUND_MS);
    expect(cached.headers.get("cache-control")).toBe("private, max-age=2");
  });

  it("shows a sell-out made elsewhere within the bound, and never serves a snapshot older than it", async () => {
    const sku = await stocked(3);
    expect((await availability("eu", [sku])).body.items[0].status).toBe("low_stock");
    await sellElsewhere(sku, 3);
    const soldOutAt = Date.now();
    let seen: any;
    for (;;) {
      const res = await availability("eu", [sku]);
      expect(res.status).toBe(200);
      // Stale is allowed, but never older than the bound.
      expect(Date.now() - Date.parse(res.body.asOf)).toBeLessThanOrEqual(BOUND_MS + 100);
      if (res.body.items[0].status === "out_of_stock") {
        seen = res.body.items[0];
        break;
      }
      expect(Date.now() - soldOutAt).toBeLessThanOrEqual(BOUND_MS + 250);
      await sleep(100);
    }
    expect(seen).toEqual({ sku, available: 0, status: "out_of_stock", version: 2 });
    expect(Date.now() - soldOutAt).toBeLessThanOrEqual(BOUND_MS + 250);
  });

  it("shows a reservation made through this edge at once: the write forgets the cached snapshot", async () => {
    const sku = await stocked(6);
    expect((await availability("eu", [sku])).body.items[0].available).toBe(6);
    expect((await reserve("eu", [{ sku, qty: 6 }])).status).toBe(201);
    const after = await availability("eu", [sku]);
    expect(after.body.items[0]).toMatchObject({ available: 0, status: "out_of_stock" });
    expect(sources(after).object).toBe(1);
  });

  it("coalesces a burst on a hot SKU into one object call", async () => {
    const sku = await stocked(50);
    const burst = await Promise.all(Array.from({ length: 40 }, () => availability("eu", [sku])));
    const total = burst.reduce(
      (sum, res) => {
        const s = sources(res);
        return { cache: sum.cache + s.cache!, shared: sum.shared + s.shared!, object: sum.object + s.object! };
      },
      { cache: 0, shared: 0, object: 0 },
    );
    expect(total.object).toBe(1);
    expect(total.cache + total.shared).toBe(39);
    expect(new Set(burst.map((r) => JSON.stringify(r.body.items))).size).toBe(1);
  });

  it("answers 304 to a matching If-None-Match and a new ETag once the stock changes", async () => {
    const sku = await stocked(8);
    const first = await availability("eu", [sku]);
    const etag = first.headers.get("etag")!;
    expect(etag).toMatch(/^W\/"[0-9a-f]{32}"$/);
    const again = await call("GET", `/v1/eu/availability?skus=${sku}`, { headers: storefront({ "if-none-match": etag }) });
    expect(again.status).toBe(304);
    expect(again.headers.get("etag")).toBe(etag);
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 7 });
    const changed = await call("GET", `/v1/eu/availability?skus=${sku}`, { headers: storefront({ "if-none-match": etag }) });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(etag);
    expect(changed.body.items[0].available).toBe(7);
  });
});
