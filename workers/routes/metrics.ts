// Operators (and the /ops console) read a region's metrics: requests, reservation outcomes and
// latency, recommendations, dispatches per warehouse, queue lag, outbox age, reconcile drift.
import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { MetricsQuery, RegionMetricsReport, RegionParams } from "../../schema/contracts";
import { flush } from "../../observability/metrics";
import { adminToken, knownRegion } from "../auth";
import type { AppEnv } from "../env";
import { validationHook } from "../validation";
import { AdminHeaders } from "./common";
import { ADMIN_PROBLEMS, adminAccess, problems } from "./contract";

const getMetrics = createRoute({
  method: "get",
  path: "/v1/admin/{region}/metrics",
  operationId: "getRegionMetrics",
  tags: ["operations"],
  security: adminAccess,
  summary: "The region's metrics over the last minutes, in total and minute by minute",
  description:
    "Every isolate hands its counts to the region's metrics object at most once a second, so the latest second may be missing. " +
    "Latency percentiles are bucket bounds. In production the same data points also go to Workers Analytics Engine.",
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: RegionParams, query: MetricsQuery, headers: AdminHeaders },
  responses: {
    200: { description: "The metrics", content: { "application/json": { schema: RegionMetricsReport } } },
    ...problems(...ADMIN_PROBLEMS),
  },
});

export const metrics = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(getMetrics, async (c) => {
  const { region } = c.req.valid("param");
  const { minutes } = c.req.valid("query");
  // This isolate's own counts first, so an operator sees the request that just happened.
  await flush(c.env, region);
  const report = await c.env.REGION_METRICS.get(c.env.REGION_METRICS.idFromName(region)).report(region, minutes);
  return c.json(report, 200);
});
