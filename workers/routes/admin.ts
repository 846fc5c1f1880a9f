import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { EventsPage, EventsQuery, ResendBody, SetShardsBody, SetStockBody, ShardsConfig, StockParams, StockSnapshot, StockState } from "../../schema/contracts";
import type { Snapshot, StoredEvent } from "../../durable-objects/inventory";
import { applyShardCount, shardStub } from "../../durable-objects/shard-routing";
import { adminToken, jsonBody, knownRegion } from "../auth";
import type { AppEnv, Env } from "../env";
import { Problem } from "../problems";
import { forgetSnapshots } from "../snapshot-cache";
import { warehousesOf } from "../warehouse-config";
import { validationHook } from "../validation";
import { AdminHeaders, IdempotencyHeader, inventoryStub, iso, requestHash, stockStatus } from "./common";
import { ADMIN_PROBLEMS, adminAccess, JSON_BODY_PROBLEMS, problems } from "./contract";

const setStock = createRoute({
  method: "put",
  path: "/v1/admin/{region}/stock/{sku}",
  operationId: "setWarehouseStock",
  tags: ["admin"],
  security: adminAccess,
  summary: "Set one warehouse's on-hand count (and optionally the safety stock) for a SKU-region",
  middleware: [adminToken(), knownRegion(), jsonBody()] as const,
  request: {
    params: StockParams,
    headers: AdminHeaders.extend({ "idempotency-key": IdempotencyHeader.optional() }),
    body: { content: { "application/json": { schema: SetStockBody } }, required: true },
  },
  responses: {
    200: { description: "The new snapshot", content: { "application/json": { schema: StockSnapshot } } },
    ...problems(...ADMIN_PROBLEMS, ...JSON_BODY_PROBLEMS, "unknown_warehouse", "version_conflict", "idempotency_key_reused", "try_again"),
  },
});

const getStock = createRoute({
  method: "get",
  path: "/v1/admin/{region}/stock/{sku}",
  operationId: "getStock",
  tags: ["admin"],
  security: adminAccess,
  summary: "Full state of a SKU-region, per warehouse",
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: StockParams, headers: AdminHeaders },
  responses: {
    200: { description: "The state", content: { "application/json": { schema: StockState } } },
    ...problems(...ADMIN_PROBLEMS, "try_again"),
  },
});

const getEvents = createRoute({
  method: "get",
  path: "/v1/admin/{region}/stock/{sku}/events",
  operationId: "listStockEvents",
  tags: ["admin"],
  security: adminAccess,
  summary: "The SKU-region's event log, oldest first; page with ?after=<last seq>",
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: StockParams, query: EventsQuery, headers: AdminHeaders },
  responses: {
    200: { description: "A page of events", content: { "application/json": { schema: EventsPage } } },
    ...problems(...ADMIN_PROBLEMS, "try_again"),
  },
});

const resendEvents = createRoute({
  method: "post",
  path: "/v1/admin/{region}/stock/{sku}/resend",
  operationId: "resendStockEvents",
  tags: ["admin"],
  security: adminAccess,
  summary: "Send a SKU-region's events to the system of record again (repairs lost messages; duplicates are skipped)",
  middleware: [adminToken(), knownRegion(), jsonBody()] as const,
  request: {
    params: StockParams,
    headers: AdminHeaders,
    body: { content: { "application/json": { schema: ResendBody } }, required: true },
  },
  responses: {
    202: {
      description: "Queued for sending",
      content: { "application/json": { schema: z.object({ sku: z.string(), region: z.string(), queued: z.number().int() }) } },
    },
    ...problems(...ADMIN_PROBLEMS, ...JSON_BODY_PROBLEMS, "try_again"),
  },
});

const setShards = createRoute({
  method: "put",
  path: "/v1/admin/{region}/stock/{sku}/shards",
  operationId: "setStockShards",
  tags: ["admin"],
  security: adminAccess,
  summary: "Split a hot SKU-region's stock across `count` objects (escrow shards), or join them back",
  description:
    "The main object keeps the warehouse stock and lends quota to shards 1..count-1, which sell from it. " +
    "Lowering count takes shards out of service: their idle units return at once, units in open holds when those end. Repeating the request is safe.",
  middleware: [adminToken(), knownRegion(), jsonBody()] as const,
  request: {
    params: StockParams,
    headers: AdminHeaders,
    body: { content: { "application/json": { schema: SetShardsBody } }, required: true },
  },
  responses: {
    200: { description: "The shard count now in force", content: { "application/json": { schema: ShardsConfig } } },
    ...problems(...ADMIN_PROBLEMS, ...JSON_BODY_PROBLEMS, "try_again"),
  },
});

function snapshotBody(s: Snapshot, env: Env) {
  return {
    sku: s.sku,
    region: s.region,
    onHand: s.onHand,
    held: s.held,
    confirmed: s.confirmed,
    safetyStock: s.safetyStock,
    available: s.available,
    status: stockStatus(s.available, env),
    version: s.version,
    ...(s.shards !== undefined && { shards: s.shards }),
    ...(s.granted !== undefined && { granted: s.granted }),
  };
}

export const admin = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(setStock, async (c) => {
    const { region, sku } = c.req.valid("param");
    const body = c.req.valid("json");
    const key = c.req.valid("header")["idempotency-key"];
    // A count for a warehouse this region does not have would put sales on a ghost warehouse.
    const configured = warehousesOf(c.env, region);
    if (!configured.includes(body.warehouse)) {
      throw new Problem("unknown_warehouse", `Warehouse '${body.warehouse}' is not configured for region ${region} (WAREHOUSES); configured: ${configured.join(", ") || "none"}; nothing was changed`);
    }
    const result = await inventoryStub(c.env, region, sku).setStock({
      sku,
      region,
      ...body,
      ...(key !== undefined && { idempotencyKey: key, requestHash: await requestHash({ region, sku, body }) }),
    });
    forgetSnapshots(region, [sku], c.executionCtx);
    if (!result.ok) {
      if (result.code === "version_conflict") {
        throw new Problem("version_conflict", `Read the stock again: the current version is ${result.currentVersion}`, {
          currentVersion: result.currentVersion,
        });
      }
      throw new Problem(result.code);
    }
    return c.json(snapshotBody(result.snapshot, c.env), 200);
  })
  .openapi(getStock, async (c) => {
    const { region, sku } = c.req.valid("param");
    const stub = inventoryStub(c.env, region, sku);
    const s = await stub.state(sku, region);
    let shardStates;
    if (s.shards !== undefined) {
      const { grants } = await stub.quotaGrants();
      const highest = Math.max(s.shards, ...grants.map((g) => g.shard + 1));
      const states = await Promise.all(Array.from({ length: highest - 1 }, (_, i) => shardStub(c.env, region, sku, i + 1).state()));
      shardStates = states.map((st, i) => ({
        shard: i + 1, quota: st.quota, held: st.held, transferring: st.transferring, available: st.available, retired: st.retired,
      }));
    }
    return c.json(
      {
        ...snapshotBody(s, c.env),
        warehouses: s.warehouses.map((w) => ({ warehouse: w.warehouse, onHand: w.onHand, updatedAt: iso(w.updatedAt) })),
        activeHolds: s.activeHolds,
        nextDeadline: s.nextDeadline === null ? null : iso(s.nextDeadline),
        attention: s.attention.map((a) => ({ holdId: a.holdId, reason: a.reason, seq: a.seq, at: iso(a.at) })),
        ...(shardStates && { shardStates }),
      },
      200,
    );
  })
  .openapi(setShards, async (c) => {
    const { region, sku } = c.req.valid("param");
    const { count } = c.req.valid("json");
    const result = await applyShardCount(c.env, region, sku, count);
    return c.json({ sku, region, ...result }, 200);
  })
  .openapi(resendEvents, async (c) => {
    const { region, sku } = c.req.valid("param");
    const { after } = c.req.valid("json");
    const { queued } = await inventoryStub(c.env, region, sku).resend(after);
    return c.json({ sku, region, queued }, 202);
  })
  .openapi(getEvents, async (c) => {
    const { region, sku } = c.req.valid("param");
    const { after, limit } = c.req.valid("query");
    const events: StoredEvent[] = await inventoryStub(c.env, region, sku).events(after, limit);
    const last = events.at(-1);
    return c.json(
      {
        sku,
        region,
        events: events.map((e) => ({ seq: e.seq, type: e.type, at: iso(e.at), payload: e.payload as Record<string, unknown> })),
        nextAfter: events.length === limit && last ? last.seq : null,
      },
      200,
    );
  });
