// The storefront's hottest call served from isolate memory: each page copy the edge holds keeps, per
// SKU, its piece of the answer (JSON and ETag lanes), worked out once and reused by every read
// until that SKU's state changes. These tests hold that layer to the staleness bound and to the
// answers the route gave before it existed.
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { pageName, pageOf } from "../durable-objects/availability-page";
import { PUBLISH_WINDOW_MS } from "../durable-objects/availability-publisher";
import { inventoryName } from "../durable-objects/inventory";
import { piecesBuilt } from "../workers/availability-answer";
import { forgetAllPages } from "../workers/snapshot-cache";
import { availabilityNow as availability, call, fetchWorker, setStock, storefront, uniqueSku } from "./client";

const BOUND_MS = 2_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `n` fresh SKU names that all land on the same read-model page. */
function onePage(n: number, prefix: string): string[] {
  const first = uniqueSku(prefix);
  const skus = [first];
  while (skus.length < n) {
    const sku = uniqueSku(prefix);
    if (pageOf(sku) === pageOf(first)) skus.push(sku);
  }
  return skus;
}

beforeEach(() => forgetAllPages()); // every test starts as a cold isolate

describe("availability answers from isolate memory", () => {
  it("works out a SKU's piece once: a repeat read builds none, and a change rebuilds only the SKU that changed", async () => {
    const [changing, steady] = onePage(2, "MEM");
    for (const sku of [changing, steady]) expect((await setStock("eu", sku!, { warehouse: "eu-ams", onHand: 20 })).status).toBe(200);
    await sleep(PUBLISH_WINDOW_MS + 150);
    const before = piecesBuilt();
    const first = await availability("eu", [changing!, steady!]);
    expect(first.body.items.map((i: any) => i.available)).toEqual([20, 20]);
    expect(piecesBuilt() - before).toBe(2);
    const again = await availability("eu", [changing!, steady!]);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get("etag")).toBe(first.headers.get("etag"));
    expect(piecesBuilt() - before).toBe(2);

    // A sale that does not pass through this edge: only the page's refresh tells it.
    const stub = env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName("eu", changing!)));
    expect((await stub.hold(changing!, "eu", `elsewhere-${crypto.randomUUID()}`, 3, Date.now() + 600_000)).ok).toBe(true);
    let seen: any;
    for (let i = 0; i < 60 && seen?.body.items[0].available !== 17; i++) {
      await sleep(50);
      seen = await availability("eu", [changing!, steady!]);
    }
    expect(seen.body.items).toEqual([
      { sku: changing, available: 17, status: "in_stock", version: 2 },
      { sku: steady, available: 20, status: "in_stock", version: 1 },
    ]);
    expect(seen.headers.get("etag")).not.toBe(first.headers.get("etag"));
    expect(piecesBuilt() - before).toBe(3);
  });

  it("never answers older than the bound while the page keeps changing, and never goes back", async () => {
    // A fake writer: publishes straight to the page, a new state every 120 ms, and notes when.
    const [sku] = onePage(1, "MEMB");
    const page = env.AVAILABILITY_PAGES.get(env.AVAILABILITY_PAGES.idFromName(pageName("eu", pageOf(sku!))));
    const publishedAt: number[] = [];
    const publish = async (version: number) => {
      publishedAt[version] = Date.now();
      expect(await page.publish([{ sku: sku!, part: 0, available: 100 + version, version, shards: 1, at: Date.now() }])).toEqual({ applied: 1 });
    };
    await publish(1);
    let stopped = false;
    const writer = (async () => {
      for (let v = 2; !stopped; v++) {
        await sleep(120);
        await publish(v);
      }
    })();
    const answers: { version: number; available: number; asOf: number; at: number }[] = [];
    const until = Date.now() + 4_000;
    while (Date.now() < until) {
      const res = await availability("eu", [sku!]);
      expect(res.status).toBe(200);
      const item = res.body.items[0];
      answers.push({ version: item.version, available: item.available, asOf: Date.parse(res.body.asOf), at: Date.now() });
      await sleep(20);
    }
    stopped = true;
    await writer;

    expect(new Set(answers.map((a) => a.version)).size).toBeGreaterThan(3); // the answers did follow the changes
    let last = 0;
    for (const a of answers) {
      expect(a.available).toBe(100 + a.version); // the piece belongs to the state it shows
      expect(a.version).toBeGreaterThanOrEqual(last);
      last = a.version;
      expect(a.at - a.asOf).toBeLessThanOrEqual(BOUND_MS);
      const next = publishedAt[a.version + 1];
      if (next !== undefined && next < a.at) {
        // Superseded before it was answered: by no more than the bound, and asOf does not claim otherwise.
        expect(a.at - next).toBeLessThanOrEqual(BOUND_MS);
        expect(a.asOf).toBeLessThanOrEqual(next);
      }
    }
  });

  it("answers each SKU once, in request order, with the spaces around names dropped", async () => {
    const [a, b] = [uniqueSku("MEMQ"), uniqueSku("MEMQ")];
    const res = await fetchWorker(`http://edge.test/v1/eu/availability?skus=${b},%20${a}%20,${b}`, { headers: storefront() });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    const text = await res.text();
    const body = JSON.parse(text);
    expect(body.items).toEqual([
      { sku: b, available: 0, status: "out_of_stock", version: 0 },
      { sku: a, available: 0, status: "out_of_stock", version: 0 },
    ]);
    expect(text).toBe(JSON.stringify(body)); // the bytes JSON.stringify gives, as c.json sent them
    // The same without anything to decode (the one-pass path), and with the commas encoded.
    for (const query of [`skus=${b},${a},${b}`, `skus=${b}%2C${a}%2C${b}`, `skus=${b},${a}&other=1`]) {
      const again = await fetchWorker(`http://edge.test/v1/eu/availability?${query}`, { headers: storefront() });
      expect((await again.json<{ items: { sku: string }[] }>()).items.map((i) => i.sku), query).toEqual([b, a]);
    }
  });

  it("names the bad SKU in a 400 as the generic validators do", async () => {
    const res = await call("GET", "/v1/eu/availability?skus=GOOD-1,bad%20one", { headers: storefront() });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "invalid_request", errors: [{ path: "query.skus.1" }] });
  });
});
