// A simulated regional outage for the benchmark and local experiments (durable-objects/
// fault-injection.ts). The route answers 404 unless FAULT_INJECTION is "on", which no
// wrangler.toml env sets, and it stays out of the OpenAPI document: it is not part of the API.
import { Hono } from "hono";
import { z } from "zod";
import { endOutage, outageIn, startOutage } from "../../durable-objects/fault-injection";
import { adminToken, knownRegion } from "../auth";
import type { AppEnv } from "../env";
import { Problem } from "../problems";

const OutageBody = z.object({
  /** throw: calls fail at once; hang: calls wait until the outage ends; none: end it. */
  mode: z.enum(["throw", "hang", "none"]),
  /** Every object of the region, or only its read-model pages. */
  scope: z.enum(["region", "read-model"]).default("region"),
});

export const faults = new Hono<AppEnv>().put(
  "/v1/admin/:region/outage",
  async (c, next) => {
    if (c.env.FAULT_INJECTION !== "on") throw new Problem("not_found", "See /docs for the routes");
    await next();
  },
  adminToken(),
  knownRegion(),
  async (c) => {
    const region = c.req.param("region");
    const parsed = OutageBody.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) throw new Problem("invalid_request", 'Send {"mode": "throw" | "hang" | "none", "scope"?: "region" | "read-model"}');
    if (parsed.data.mode === "none") endOutage(region);
    else startOutage(region, parsed.data.mode, parsed.data.scope);
    return c.json({ region, mode: outageIn(region) ?? "none" }, 200);
  },
);
