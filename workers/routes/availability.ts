import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { AvailabilityQuery, AvailabilityResponse, RegionParams } from "../../schema/contracts";
import { knownRegion, storefrontKey } from "../auth";
import type { AppEnv } from "../env";
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
  const items = snapshots.map((s) => ({
    sku: s.sku,
    available: s.available,
    status: stockStatus(s.available, c.env),
    version: s.version,
  }));
  return c.json({ region, items }, 200);
});
