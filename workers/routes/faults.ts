// A simulated regional outage for the benchmark and local experiments (durable-objects/
// fault-injection.ts). Answers 404 unless FAULT_INJECTION is "on", which no wrangler.toml env sets.
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { RegionParams } from "../../schema/contracts";
import { endOutage, outageIn, startOutage } from "../../durable-objects/fault-injection";
import { adminToken, knownRegion } from "../auth";
import type { AppEnv } from "../env";
import { Problem } from "../problems";
import { validationHook } from "../validation";
import { AdminHeaders } from "./common";
import { ADMIN_PROBLEMS, adminAccess, JSON_BODY_PROBLEMS, problems } from "./contract";

const OutageBody = z.object({
  mode: z.enum(["throw", "hang", "none"]).openapi({ description: "throw: calls fail at once; hang: calls wait until the outage ends; none: end it" }),
  scope: z.enum(["region", "read-model"]).default("region").openapi({ description: "every object of the region, or only its read-model pages" }),
});

const setOutage = createRoute({
  method: "put",
  path: "/v1/admin/{region}/outage",
  operationId: "simulateOutage",
  tags: ["operations"],
  security: adminAccess,
  summary: "Local only: simulate an outage of the region's objects (404 unless FAULT_INJECTION=on)",
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: RegionParams, headers: AdminHeaders, body: { content: { "application/json": { schema: OutageBody } }, required: true } },
  responses: {
    200: { description: "The outage now in force", content: { "application/json": { schema: z.object({ region: z.string(), mode: z.string() }) } } },
    ...problems(...ADMIN_PROBLEMS, ...JSON_BODY_PROBLEMS, "not_found"),
  },
});

export const faults = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(setOutage, async (c) => {
  if (c.env.FAULT_INJECTION !== "on") throw new Problem("not_found", "See /docs for the routes");
  const { region } = c.req.valid("param");
  const { mode, scope } = c.req.valid("json");
  if (mode === "none") endOutage(region);
  else startOutage(region, mode, scope);
  return c.json({ region, mode: outageIn(region) ?? "none" }, 200);
});
