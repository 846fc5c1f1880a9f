import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { AvailabilityQuery, AvailabilityResponse, LIMITS, REGION_PATTERN, RegionParams, SKU_PATTERN } from "../../schema/contracts";
import { knownRegion, storefrontKey } from "../auth";
import { availabilityAnswer } from "../availability-answer";
import type { AppEnv, Env } from "../env";
import { availabilityOf, maxAgeMs, type PageSource, type WaitUntil } from "../snapshot-cache";
import { checkedAs, queryObject } from "../validation";
import { iso, StorefrontHeaders } from "./common";
import { problems, STOREFRONT_PROBLEMS, storefrontAccess } from "./contract";

const AVAILABILITY_HEADERS = {
  ETag: { description: "Send it back as If-None-Match", required: true, schema: { type: "string", example: 'W/"4f0c9a4b2d1e8f7a6b5c4d3e2f1a0b9c"' } },
  "Cache-Control": { description: "How long the answer may be reused", required: true, schema: { type: "string", example: "private, max-age=2" } },
} as const;

const getAvailability = createRoute({
  method: "get",
  path: "/v1/{region}/availability",
  operationId: "getAvailability",
  tags: ["storefront"],
  security: storefrontAccess,
  summary: "Can these SKUs be bought right now? (read model, at most AVAILABILITY_MAX_AGE_SECONDS stale)",
  description:
    "Answers from the region's availability read model, at most AVAILABILITY_MAX_AGE_SECONDS (default 2 s) behind the " +
    "stock objects; a reservation always asks the stock object itself. When the read model does not answer in time, " +
    "the last known snapshots come back with `stale: true` and `ageSeconds`, up to AVAILABILITY_STALE_LIMIT_SECONDS " +
    "(default 300); after that, 503 stock_unavailable with Retry-After. Send the ETag back as If-None-Match to get 304.",
  request: {
    params: RegionParams,
    query: AvailabilityQuery,
    headers: StorefrontHeaders.extend({ "if-none-match": z.string().optional() }),
  },
  responses: {
    200: {
      description: "One item per requested SKU, in request order",
      headers: AVAILABILITY_HEADERS,
      content: { "application/json": { schema: AvailabilityResponse } },
    },
    304: { description: "Unchanged since the ETag sent in If-None-Match", headers: AVAILABILITY_HEADERS },
    ...problems(...STOREFRONT_PROBLEMS, "try_again", "stock_unavailable"),
  },
});

// Declared in the document as above, but served without the generic validators: the storefront's
// most frequent call checks its query with one pass over the SKUs, and only a query that fails that
// pass goes through zod (AvailabilityQuery), which then answers exactly as the validators would.
export const availability = new OpenAPIHono<AppEnv>();
availability.openAPIRegistry.registerPath(getAvailability);
availability.get("/v1/:region/availability", storefrontKey(), knownRegion(), async (c) =>
  availabilityResponse(c.env, c.executionCtx, c.get("region"), await requestedSkus(c), c.req.header("if-none-match")),
);

/** The answer to a checked request: what GET /v1/{region}/availability sends, through the router or not. */
export async function availabilityResponse(env: Env, ctx: WaitUntil, region: string, skus: string[], ifNoneMatch: string | undefined | null): Promise<Response> {
  const read = await availabilityOf(env, ctx, region, skus);
  const answer = availabilityAnswer(
    env, region, skus, read.items, iso(read.asOf),
    read.stale ? { ageSeconds: Math.round((Date.now() - read.asOf) / 100) / 10 } : undefined,
  );
  const etag = answer.etag;
  const cacheControl = read.stale ? "no-store" : `private, max-age=${Math.floor(maxAgeMs(env) / 1000)}`;
  const timing = serverTiming(read.sources);
  // Answers made here rather than through c.body(): Hono would build a Headers object and copy it
  // into the Response's own, on the storefront's most frequent call.
  if (ifNoneMatch?.split(/\s*,\s*/).includes(etag)) {
    return new Response(null, { status: 304, headers: { etag, "cache-control": cacheControl, "server-timing": timing } });
  }
  return new Response(answer.body, {
    status: 200,
    headers: { etag, "cache-control": cacheControl, "server-timing": timing, "content-type": "application/json" },
  });
}

const ONE_SKU = SKU_PATTERN.source.slice(1, -1); // SKU_PATTERN without its anchors
const PLAIN_SKU_LIST = new RegExp(`^${ONE_SKU}(?:,${ONE_SKU}){0,${LIMITS.maxSkusPerRead - 1}}$`);

/**
 * What storefronts send, `?skus=A,B,C` alone with nothing to decode and 1 to 100 valid SKUs: those
 * SKUs, each once, in request order. Undefined for anything else, which the route parses in full.
 */
export function plainSkus(url: string): string[] | undefined {
  const q = url.indexOf("?");
  if (q === -1 || !url.startsWith("skus=", q + 1)) return undefined;
  const list = url.slice(q + 6);
  // One test of the whole list, not one per SKU: SKUs and commas only (so nothing to decode, no
  // space to trim, no other parameter), at most LIMITS.maxSkusPerRead of them.
  if (!PLAIN_SKU_LIST.test(list)) return undefined;
  const skus = list.split(",");
  const distinct = new Set(skus);
  return distinct.size === skus.length ? skus : [...distinct];
}

/** The SKUs asked for, each once, in request order: 1 to 100 valid SKUs, or 400 invalid_request. */
async function requestedSkus(c: Context<AppEnv>): Promise<string[]> {
  const plain = REGION_PATTERN.test(c.get("region")) ? plainSkus(c.req.url) : undefined;
  if (plain) return plain;
  // The rare path: zod decides, with the messages the generic validators would give.
  const { skus } = await checkedAs(AvailabilityQuery, "query", queryObject(c.req.queries()));
  await checkedAs(RegionParams, "param", c.req.param());
  return [...new Set(skus)];
}

/** How many read-model pages came from this isolate, the data centre's cache, the page object, or a stale copy. */
function serverTiming(sources: Record<PageSource, number>): string {
  return `pages;desc="memory=${sources.memory} cache=${sources.cache} page=${sources.page} stale=${sources.stale}"`;
}
