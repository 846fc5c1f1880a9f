// Operators and a warehouse's circuit breaker: read where it stands, or close it by hand once the
// warehouse is known to be back (instead of waiting out the pause and a probe).
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { Region, RegionParams } from "../../schema/contracts";
import { WAREHOUSE_ID } from "../../warehouses/contracts";
import { adminToken, knownRegion } from "../auth";
import type { AppEnv, Env } from "../env";
import { Problem } from "../problems";
import { validationHook } from "../validation";
import { warehousesOf } from "../warehouse-config";
import { AdminHeaders, iso } from "./common";
import { ADMIN_PROBLEMS, adminAccess, problems } from "./contract";
import { info } from "../../observability/log";

const CircuitParams = z.object({
  region: Region,
  warehouseId: z
    .string()
    .regex(WAREHOUSE_ID, "a warehouse id is 1-64 letters, digits, '.', '_' or '-'")
    .openapi({ param: { name: "warehouseId", in: "path" }, example: "eu-ams" }),
});

export const CircuitState = z
  .object({
    region: z.string(),
    warehouse: z.string(),
    state: z.enum(["closed", "open", "half-open"]),
    failures: z.number().int(),
    openUntil: z.string().nullable().openapi({ description: "While open: when the next probe may go" }),
    probeUntil: z.string().nullable().openapi({ description: "While a probe is out: when its lease ends and another may probe" }),
  })
  .openapi("WarehouseCircuit");

const circuitProblems = problems(...ADMIN_PROBLEMS, "unknown_warehouse");

const getCircuit = createRoute({
  method: "get",
  path: "/v1/admin/{region}/warehouses/{warehouseId}/circuit",
  operationId: "getWarehouseCircuit",
  tags: ["operations"],
  summary: "Where a warehouse's circuit breaker stands",
  security: adminAccess,
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: CircuitParams, headers: AdminHeaders },
  responses: { 200: { description: "The circuit", content: { "application/json": { schema: CircuitState } } }, ...circuitProblems },
});

const resetCircuit = createRoute({
  method: "post",
  path: "/v1/admin/{region}/warehouses/{warehouseId}/circuit/reset",
  operationId: "resetWarehouseCircuit",
  tags: ["operations"],
  summary: "Close a warehouse's circuit breaker now",
  description:
    "Forgets the failures, the pause and any probe in flight, so the next dispatches go straight to the warehouse. " +
    "Idempotent: resetting a closed circuit changes nothing and answers the same.",
  security: adminAccess,
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: CircuitParams, headers: AdminHeaders },
  responses: { 200: { description: "The circuit, now closed", content: { "application/json": { schema: CircuitState } } }, ...circuitProblems },
});

const listCircuits = createRoute({
  method: "get",
  path: "/v1/admin/{region}/warehouses/circuits",
  operationId: "listWarehouseCircuits",
  tags: ["operations"],
  summary: "Where the circuit breaker of every warehouse configured for the region stands",
  security: adminAccess,
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: RegionParams, headers: AdminHeaders },
  responses: {
    200: { description: "One circuit per configured warehouse", content: { "application/json": { schema: z.object({ region: z.string(), circuits: z.array(CircuitState) }) } } },
    ...problems(...ADMIN_PROBLEMS),
  },
});

function circuitOf(env: Env, region: string, warehouseId: string) {
  if (!warehousesOf(env, region).includes(warehouseId)) {
    throw new Problem("unknown_warehouse", `Warehouse '${warehouseId}' is not configured for region ${region} (WAREHOUSES); nothing was changed`);
  }
  // The same name the dispatch consumer uses.
  return env.WAREHOUSE_CIRCUITS.get(env.WAREHOUSE_CIRCUITS.idFromName(`${region}:${warehouseId}`));
}

function body(region: string, warehouse: string, s: { state: "closed" | "open" | "half-open"; failures: number; openUntil: number | null; probeUntil: number | null }) {
  return {
    region,
    warehouse,
    state: s.state,
    failures: s.failures,
    openUntil: s.openUntil === null ? null : iso(s.openUntil),
    probeUntil: s.probeUntil === null ? null : iso(s.probeUntil),
  };
}

export const warehouseCircuits = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(listCircuits, async (c) => {
    const { region } = c.req.valid("param");
    const ids = warehousesOf(c.env, region);
    const circuits = await Promise.all(ids.map(async (id) => body(region, id, await circuitOf(c.env, region, id).status())));
    return c.json({ region, circuits }, 200);
  })
  .openapi(getCircuit, async (c) => {
    const { region, warehouseId } = c.req.valid("param");
    return c.json(body(region, warehouseId, await circuitOf(c.env, region, warehouseId).status()), 200);
  })
  .openapi(resetCircuit, async (c) => {
    const { region, warehouseId } = c.req.valid("param");
    const circuit = circuitOf(c.env, region, warehouseId);
    const before = await circuit.status();
    const after = await circuit.reset();
    if (before.state !== "closed" || before.failures > 0) info("circuit_reset", { region, warehouse: warehouseId, was: before.state, failures: before.failures, trace: c.get("trace").traceId });
    return c.json(body(region, warehouseId, after), 200);
  });
