import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { AvailabilityQuery, AvailabilityResponse, LIMITS, REGION_PATTERN, RegionParams } from "../../schema/contracts";
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

/**
 * What storefronts send, `?skus=A,B,C` alone with nothing to decode and 1 to 100 valid SKUs: those
 * SKUs, each once, in request order. Undefined for anything else, which the route parses in full.
 * One pass over the characters, checking what SKU_PATTERN checks (1-64 of letters, digits, '.',
 * '_' or '-', starting with a letter or digit): this runs on every read, and a regular expression
 * per SKU, or one over the list, cost a read more than building its answer (`npm run bench:profile`).
 * The test file holds the two to the same answers.
 */
export function plainSkus(url: string): string[] | undefined {
  const q = url.indexOf("?");
  if (q === -1 || !url.startsWith("skus=", q + 1)) return undefined;
  const skus: string[] = [];
  let start = q + 6;
  for (let i = start; ; i++) {
    const c = i < url.length ? url.charCodeAt(i) : COMMA;
    if (c === COMMA) {
      if (i === start || i - start > 64 || skus.length === LIMITS.maxSkusPerRead) return undefined;
      skus.push(url.slice(start, i));
      if (i >= url.length) break;
      start = i + 1;
    } else if (!(isLetterOrDigit(c) || (i > start && (c === 0x2e || c === 0x5f || c === 0x2d)))) {
      return undefined;
    }
  }
  return skus.length <= 32 ? withoutRepeats(skus) : [...new Set(skus)];
}

const COMMA = 0x2c;
const isLetterOrDigit = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** The list without its repeats, first ones kept: for a few SKUs, cheaper than a Set. */
function withoutRepeats(skus: string[]): string[] {
  for (let i = 1; i < skus.length; i++) {
    for (let j = 0; j < i; j++) if (skus[j] === skus[i]) return [...new Set(skus)];
  }
  return skus;
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
