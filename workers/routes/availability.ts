import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { AvailabilityQuery, AvailabilityResponse, RegionParams } from "../../schema/contracts";
import { knownRegion, storefrontKey } from "../auth";
import type { AppEnv } from "../env";
import { availabilityOf, maxAgeMs, type PageSource } from "../snapshot-cache";
import { validationHook } from "../validation";
import { iso, stockStatus, StorefrontHeaders } from "./common";
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
  middleware: [storefrontKey(), knownRegion()] as const,
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

export const availability = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(getAvailability, async (c) => {
  const { region } = c.req.valid("param");
  const skus = [...new Set(c.req.valid("query").skus)];
  const read = await availabilityOf(c.env, c.executionCtx, region, skus);
  const items = skus.map((sku) => {
    const s = read.items.get(sku)!;
    return { sku, available: s.available, status: stockStatus(s.available, c.env), version: s.version };
  });
  // Versions change with every stock event; available also changes when a hold lapses unrecorded.
  const etag = `W/"${weakTag(items.map((i) => `${i.sku}:${i.version}:${i.available}`).join("|"))}"`;
  c.header("etag", etag);
  c.header("cache-control", read.stale ? "no-store" : `private, max-age=${Math.floor(maxAgeMs(c.env) / 1000)}`);
  c.header("server-timing", serverTiming(read.sources));
  if (c.req.valid("header")["if-none-match"]?.split(/\s*,\s*/).includes(etag)) return c.body(null, 304);
  if (!read.stale) return c.json({ region, items, asOf: iso(read.asOf) }, 200);
  const ageSeconds = Math.round((Date.now() - read.asOf) / 100) / 10;
  return c.json({ region, items, asOf: iso(read.asOf), stale: true as const, ageSeconds }, 200);
});

/**
 * A weak ETag needs to change when the answer does, not to resist forgery: four FNV-1a lanes
 * (128 bits, 32 hex digits) over the answer's SKUs, versions and units, with no async crypto call.
 */
function weakTag(text: string): string {
  const lanes = [0x811c9dc5, 0x050c5d1f, 0x1b873593, 0x2f8b3c4d];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    for (let l = 0; l < 4; l++) lanes[l] = Math.imul(lanes[l]! ^ (ch + l), 0x01000193);
  }
  return lanes.map((h) => (h >>> 0).toString(16).padStart(8, "0")).join("");
}

/** How many read-model pages came from this isolate, the data centre's cache, the page object, or a stale copy. */
function serverTiming(sources: Record<PageSource, number>): string {
  return `pages;desc="memory=${sources.memory} cache=${sources.cache} page=${sources.page} stale=${sources.stale}"`;
}
