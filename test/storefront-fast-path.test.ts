// The storefront's plain reads are answered without the router (workers/storefront-fast-path.ts).
// Each answer is compared with the router's answer to the same read, asked through a URL the fast
// path leaves to the router (a comma sent as %2C, or a 0 as %30): same status, body, headers and errors.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { storefrontFastPath } from "../workers/storefront-fast-path";
import { plainSkus } from "../workers/routes/availability";
import { AvailabilityQuery } from "../schema/contracts";
import { TRACEPARENT_PATTERN } from "../observability/trace";
import { fetchWorker, readModelSettled, setStock, storefront, uniqueSku } from "./client";
import { checkedFetch } from "./contract";
import { build, ordered, sandboxRegion, sell } from "./recs";

const BASE = "http://edge.test";

/** The fast path's answer; fails the test if the fast path declined the request. */
async function fast(path: string, headers: Record<string, string>): Promise<Response> {
  const ctx = createExecutionContext();
  const request = new Request(`${BASE}${path}`, { headers });
  const pending = storefrontFastPath(request, env, ctx);
  expect(pending, `the fast path declined ${path}`).toBeDefined();
  const res = await checkedFetch(request, () => pending!);
  await waitOnExecutionContext(ctx);
  return res;
}

/** The router's answer: the same read with its commas (or its zeros) encoded, which the fast path declines. */
async function routed(path: string, headers: Record<string, string>): Promise<Response> {
  const encoded = path.includes(",") ? path.replaceAll(",", "%2C") : path.replaceAll("0", "%30");
  expect(declines(encoded, { headers })).toBe(true);
  return fetchWorker(`${BASE}${encoded}`, { headers });
}

function declines(path: string, init: RequestInit = {}): boolean {
  return storefrontFastPath(new Request(`${BASE}${path}`, init), env, createExecutionContext()) === undefined;
}

const HEADERS = ["content-type", "cache-control", "etag", "vary", "retry-after"];

async function expectSameAnswer(a: Response, b: Response, ignore: (body: any) => any = (body) => body) {
  expect(a.status).toBe(b.status);
  for (const name of HEADERS) expect(a.headers.get(name), name).toBe(b.headers.get(name));
  expect(a.headers.get("traceparent")).toMatch(new RegExp(TRACEPARENT_PATTERN));
  expect(ignore(await a.json())).toEqual(ignore(await b.json()));
}

describe("the storefront's fast path", () => {
  it("answers a plain availability read as the router does, ETag and 304 included", async () => {
    const [a, b] = [uniqueSku("FAST"), uniqueSku("FAST")];
    expect((await setStock("eu", a, { warehouse: "eu-ams", onHand: 4 })).status).toBe(200);
    await readModelSettled();
    const path = `/v1/eu/availability?skus=${a},${b},${a}`;
    const answer = await fast(path, storefront());
    const etag = answer.headers.get("etag")!;
    // asOf is the page copy's age, which a background refresh between the two reads may move.
    await expectSameAnswer(answer, await routed(path, storefront()), ({ asOf: _, ...rest }) => rest);
    const again = await fast(path, storefront({ "if-none-match": etag }));
    expect(again.status).toBe(304);
    expect((await routed(path, storefront({ "if-none-match": etag }))).status).toBe(304);
  });

  it("answers a plain recommendation read as the router does, with and without a consenting shopper", async () => {
    const region = sandboxRegion("fast");
    await sell(region, [{ sku: "LASH" }, { sku: "GLUE", brand: "Brand B" }, { sku: "TINT", brand: "Brand C" }]);
    await ordered(region, [{ skus: ["LASH", "GLUE"], times: 3 }, { skus: ["TINT"], user: "shopper-fast" }]);
    await build(region);
    await readModelSettled();
    for (const headers of [storefront(), storefront({ "shopper-id": "shopper-fast", "personalization-consent": "granted", "accept-language": "fr" })]) {
      for (const path of [`/v1/${region}/recommendations?context=LASH,TINT&limit=5`, `/v1/${region}/recommendations?limit=10`]) {
        const answer = await fast(path, headers);
        expect(answer.status).toBe(200);
        expect(((await answer.clone().json()) as { items: unknown[] }).items.length).toBeGreaterThan(0);
        await expectSameAnswer(answer, await routed(path, headers));
      }
    }
  });

  it("answers errors as the router does: unknown key, missing key, unknown market", async () => {
    const cases: [string, Record<string, string>, number][] = [
      ["/v1/eu/availability?skus=A,B", { "x-api-key": "not-a-key" }, 401],
      ["/v1/eu/availability?skus=A,B", {}, 401],
      ["/v1/eu/recommendations?context=A,B&market=ZZ", storefront(), 400],
    ];
    for (const [path, headers, status] of cases) {
      const answer = await fast(path, headers);
      expect(answer.status).toBe(status);
      expect(answer.headers.get("content-type")).toBe("application/problem+json");
      await expectSameAnswer(answer, await routed(path, headers));
    }
  });

  it("continues the caller's trace, as every route does", async () => {
    const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const answer = await fast("/v1/eu/availability?skus=TRACE-1", storefront({ traceparent: parent }));
    expect(answer.headers.get("traceparent")).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
  });

  it("leaves everything that is not plain to the router", () => {
    const key = { headers: storefront() };
    expect(declines("/v1/eu/availability?skus=A,B", key)).toBe(false);
    expect(declines("/v1/eu/recommendations?context=A&limit=3&market=FR", key)).toBe(false);
    for (const path of [
      "/v1/eu/availability?skus=A%2CB", // to decode
      "/v1/eu/availability?skus=A&skus=B", // more than the one parameter
      "/v1/eu/availability?skus=a b", // not a SKU
      "/v1/eu/availability", // nothing asked
      "/v1/eu/availability/", // another path
      "/v1/mars/availability?skus=A", // a region not served here
      "/v1/admin/availability?skus=A",
      "/v1/eu/recommendations?user=someone", // the shopper id in the URL: the router's 400
      "/v1/eu/recommendations?limit=0",
      "/v1/eu/recommendations?context=A+B",
      "/v1/eu/recommendations?&limit=3",
      "/v1/eu/reservations",
    ]) {
      expect(declines(path, key), path).toBe(true);
    }
    expect(declines("/v1/eu/availability?skus=A", { ...key, method: "HEAD" })).toBe(true);
    expect(declines("/v1/eu/availability?skus=A", { headers: storefront({ "content-length": "10" }) })).toBe(true);
    // A served region the contract would not name (REGIONS set by hand): the router's 400, not the fast path's 200.
    const odd = { ...env, REGIONS: `${env.REGIONS},EU-West` };
    expect(storefrontFastPath(new Request(`${BASE}/v1/EU-West/availability?skus=A`, key), odd, createExecutionContext())).toBeUndefined();
  });

  it("takes a SKU list as plain only when the declared schema takes it too, with the same SKUs", () => {
    const sku = (n: number) => `SKU-${n}`;
    const lists = [
      "A", "A,B,A", Array.from({ length: 100 }, (_, i) => sku(i)).join(","), Array.from({ length: 101 }, (_, i) => sku(i)).join(","),
      "x".repeat(64), "x".repeat(65), "-A", "A,-B", "A,,B", "A,", ",A", "", "A.B_C-D,9", "A;B", "A B",
      ".A", "_A", "A.", "A-,B_", "é", "A,é", "Z9,z0,09", "A,B,C,A,B", Array.from({ length: 40 }, (_, i) => sku(i % 33)).join(","),
    ];
    for (const list of lists) {
      const plain = plainSkus(`${BASE}/v1/eu/availability?skus=${list}`);
      const declared = AvailabilityQuery.safeParse({ skus: list });
      if (plain) expect(plain, list).toEqual([...new Set(declared.data!.skus)]);
      // Plain is never wider than the schema; the schema is wider only where it trims spaces.
      if (!declared.success) expect(plain, list).toBeUndefined();
      if (declared.success && !list.includes(" ")) expect(plain, list).toBeDefined();
    }
    expect(plainSkus(`${BASE}/v1/eu/availability?skus=A&skus=B`)).toBeUndefined();
    expect(plainSkus(`${BASE}/v1/eu/availability?skus=A%2CB`)).toBeUndefined();
  });
});
