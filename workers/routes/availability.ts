import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { AvailabilityQuery, AvailabilityResponse, RegionParams } from "../../schema/contracts";
import { digest, hex, knownRegion, storefrontKey } from "../auth";
import type { AppEnv } from "../env";
import { maxAgeMs, readSnapshot, type SnapshotSource } from "../snapshot-cache";
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
  summary: "Can these SKUs be bought right now? (cached snapshots, at most AVAILABILITY_MAX_AGE_SECONDS stale)",
  description:
    "Answers from snapshots cached per SKU-region for at most AVAILABILITY_MAX_AGE_SECONDS (default 2 s); a reservation " +
    "always asks the stock object itself. Send the ETag back as If-None-Match to get 304 when nothing changed.",
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
    ...problems(...STOREFRONT_PROBLEMS, "try_again"),
  },
});

export const availability = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(getAvailability, async (c) => {
  const { region } = c.req.valid("param");
  const skus = [...new Set(c.req.valid("query").skus)];
  const reads = await Promise.all(skus.map((sku) => readSnapshot(c.env, c.executionCtx, region, sku)));
  const items = reads.map(({ snapshot: s }) => ({
    sku: s.sku,
    available: s.available,
    status: stockStatus(s.available, c.env),
    version: s.version,
  }));
  // Versions change with every stock event; available also changes when a hold lapses unrecorded.
  const etag = `W/"${hex(await digest(items.map((i) => `${i.sku}:${i.version}:${i.available}`).join("|"))).slice(0, 32)}"`;
  c.header("etag", etag);
  c.header("cache-control", `private, max-age=${Math.floor(maxAgeMs(c.env) / 1000)}`);
  c.header("server-timing", serverTiming(reads.map((r) => r.source)));
  if (c.req.valid("header")["if-none-match"]?.split(/\s*,\s*/).includes(etag)) return c.body(null, 304);
  const asOf = Math.min(...reads.map((r) => r.snapshot.asOf));
  return c.json({ region, items, asOf: iso(asOf) }, 200);
});

/** How many snapshots came from a cache (this isolate's or the data centre's), another request's call, or the object itself. */
function serverTiming(sources: SnapshotSource[]): string {
  const count = (s: SnapshotSource) => sources.filter((x) => x === s).length;
  return `snapshot;desc="cache=${count("cache") + count("memory")} shared=${count("shared")} object=${count("object")}"`;
}
