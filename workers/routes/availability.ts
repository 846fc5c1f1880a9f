import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { AvailabilityQuery, AvailabilityResponse, RegionParams } from "../../schema/contracts";
import { knownRegion, storefrontKey } from "../auth";
import type { AppEnv } from "../env";
import { shardStub } from "../../durable-objects/shard-routing";
import { validationHook } from "../validation";
import { inventoryStub, problemContent, stockStatus, StorefrontHeaders } from "./common";

const getAvailability = createRoute({
  method: "get",
  path: "/v1/{region}/availability",
  tags: ["storefront"],
  summary: "Can these SKUs be bought right now?",
  middleware: [storefrontKey(), knownRegion()] as const,
  request: { params: RegionParams, query: AvailabilityQuery, headers: StorefrontHeaders },
  responses: {
    200: { description: "One item per requested SKU, in request order", content: { "application/json": { schema: AvailabilityResponse } } },
    400: problemContent("Bad SKU list"),
    401: problemContent("Missing or wrong X-Api-Key"),
    404: problemContent("Unknown region"),
  },
});

export const availability = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(getAvailability, async (c) => {
  const { region } = c.req.valid("param");
  const skus = [...new Set(c.req.valid("query").skus)];
  const snapshots = await Promise.all(skus.map((sku) => inventoryStub(c.env, region, sku).snapshot(sku, region)));
  // A sharded SKU-region's units are in its main object and in the quotas of shards 1..K-1.
  const inShards = await Promise.all(
    snapshots.map(async (s) => {
      if (!s.shards || s.shards <= 1) return 0;
      const states = await Promise.all(Array.from({ length: s.shards - 1 }, (_, i) => shardStub(c.env, region, s.sku, i + 1).state()));
      return states.reduce((n, st) => n + (st.retired ? 0 : st.available), 0);
    }),
  );
  const items = snapshots.map((s, i) => {
    const available = s.available + inShards[i]!;
    return { sku: s.sku, available, status: stockStatus(available, c.env), version: s.version };
  });
  return c.json({ region, items }, 200);
});
