import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { ArchiveChunk, ArchiveChunkParams, ArchiveListing, CompactBody, CompactionResult, DropRules, DropRulesConfig, EventsPage, EventsQuery, ResendBody, SetShardsBody, SetStockBody, ShardsConfig, StockParams, StockSnapshot, StockState } from "../../schema/contracts";
import type { Snapshot, StoredEvent } from "../../durable-objects/inventory";
import { applyShardCount, shardStub } from "../../durable-objects/shard-routing";
import { hasRules } from "../../durable-objects/drop-rules";
import { chunkKey, readChunk, type LogAggregate } from "../../durable-objects/log-compaction";
import { adminToken, jsonBody, knownRegion } from "../auth";
import type { AppEnv, Env } from "../env";
import { MissingSetting, Problem } from "../problems";
import { forgetSnapshots } from "../snapshot-cache";
import { warehousesOf } from "../warehouse-config";
import { formatTraceparent } from "../../observability/trace";
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

const getArchive = createRoute({
  method: "get",
  path: "/v1/admin/{region}/stock/{sku}/archive",
  operationId: "getEventArchive",
  tags: ["admin"],
  security: adminAccess,
  summary: "The archived part of a SKU-region's event log: its chunks in sequence order, and the aggregate where the object's log continues",
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: StockParams, headers: AdminHeaders },
  responses: {
    200: { description: "The archive's chunks", content: { "application/json": { schema: ArchiveListing } } },
    ...problems(...ADMIN_PROBLEMS, "try_again"),
  },
});

const getArchiveChunk = createRoute({
  method: "get",
  path: "/v1/admin/{region}/stock/{sku}/archive/{from}",
  operationId: "getEventArchiveChunk",
  tags: ["admin"],
  security: adminAccess,
  summary: "One archived chunk's events, checked against its checksum",
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: ArchiveChunkParams, headers: AdminHeaders },
  responses: {
    200: { description: "The chunk", content: { "application/json": { schema: ArchiveChunk } } },
    ...problems(...ADMIN_PROBLEMS, "not_found", "archive_corrupt", "try_again"),
  },
});

const compactLog = createRoute({
  method: "post",
  path: "/v1/admin/{region}/stock/{sku}/compact",
  operationId: "compactStockEvents",
  tags: ["admin"],
  security: adminAccess,
  summary: "Archive and drop old events of a SKU-region now (its alarm does this by itself after EVENT_RETENTION_DAYS)",
  middleware: [adminToken(), knownRegion(), jsonBody()] as const,
  request: {
    params: StockParams,
    headers: AdminHeaders,
    body: { content: { "application/json": { schema: CompactBody } }, required: true },
  },
  responses: {
    200: { description: "What was archived", content: { "application/json": { schema: CompactionResult } } },
    ...problems(...ADMIN_PROBLEMS, ...JSON_BODY_PROBLEMS, "try_again"),
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
    ...problems(...ADMIN_PROBLEMS, ...JSON_BODY_PROBLEMS, "drop_rules_active", "try_again"),
  },
});

const setDropRules = createRoute({
  method: "put",
  path: "/v1/admin/{region}/stock/{sku}/drop-rules",
  operationId: "setDropRules",
  tags: ["admin"],
  security: adminAccess,
  summary: "Set a SKU-region's drop rules: units and open holds per shopper, longest hold",
  description:
    "The SKU-region's object checks them in the transaction that places each hold, so parallel carts of one shopper cannot beat them. " +
    "A field left out or null means no such rule; holds placed before stay as they are. A SKU-region with rules is sold by one object (no stock shards).",
  middleware: [adminToken(), knownRegion(), jsonBody()] as const,
  request: {
    params: StockParams,
    headers: AdminHeaders,
    body: { content: { "application/json": { schema: DropRules } }, required: true },
  },
  responses: {
    200: { description: "The rules now in force", content: { "application/json": { schema: DropRulesConfig } } },
    ...problems(...ADMIN_PROBLEMS, ...JSON_BODY_PROBLEMS, "sharded", "try_again"),
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
      trace: formatTraceparent(c.get("trace")),
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
        dropRules: s.dropRules,
        storage: s.storage,
        nextDeadline: s.nextDeadline === null ? null : iso(s.nextDeadline),
        attention: s.attention.map((a) => ({ holdId: a.holdId, reason: a.reason, seq: a.seq, at: iso(a.at) })),
        ...(shardStates && { shardStates }),
      },
      200,
    );
  })
  .openapi(setDropRules, async (c) => {
    const { region, sku } = c.req.valid("param");
    const rules = c.req.valid("json");
    const result = await inventoryStub(c.env, region, sku).setDropRules(sku, region, rules);
    if (!result.ok) {
      throw new Problem("sharded", `${region}:${sku} sells from ${result.shards} objects, and drop rules count per object; join them first with PUT /v1/admin/${region}/stock/${sku}/shards {"count": 1}. Nothing was changed`);
    }
    return c.json({ sku, region, dropRules: result.rules, version: result.version }, 200);
  })
  .openapi(setShards, async (c) => {
    const { region, sku } = c.req.valid("param");
    const { count } = c.req.valid("json");
    if (count > 1) {
      const { dropRules } = await inventoryStub(c.env, region, sku).state(sku, region);
      if (hasRules(dropRules)) {
        throw new Problem("drop_rules_active", `${region}:${sku} has drop rules, which its one object enforces; remove them (PUT .../drop-rules {}) before splitting it. Nothing was changed`);
      }
    }
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
    const page = await inventoryStub(c.env, region, sku).eventLog(after, limit);
    const events: StoredEvent[] = page.events;
    const last = events.at(-1);
    return c.json(
      {
        sku,
        region,
        events: events.map(eventBody),
        nextAfter: events.length === limit && last ? last.seq : null,
        archivedThrough: page.archivedThrough,
      },
      200,
    );
  })
  .openapi(getArchive, async (c) => {
    const { region, sku } = c.req.valid("param");
    const bucket = archiveOf(c.env);
    const page = await inventoryStub(c.env, region, sku).eventLog(0, 1);
    const prefix = `events/${region}/${sku}/`;
    const chunks = [];
    let cursor: string | undefined;
    do {
      const listed = await bucket.list({ prefix, cursor, include: ["customMetadata"] });
      for (const o of listed.objects) {
        const m = o.customMetadata ?? {};
        chunks.push({ key: o.key, from: Number(m.from), to: Number(m.to), count: Number(m.count), sha256: m.sha256 ?? "", bytes: o.size, uploaded: o.uploaded.toISOString() });
      }
      cursor = listed.truncated ? listed.cursor : undefined;
    } while (cursor);
    return c.json({ sku, region, archivedThrough: page.archivedThrough, snapshot: page.snapshot && aggregateBody(page.snapshot), chunks }, 200);
  })
  .openapi(getArchiveChunk, async (c) => {
    const { region, sku, from } = c.req.valid("param");
    const bucket = archiveOf(c.env);
    const listed = await bucket.list({ prefix: chunkKey(region, sku, from, 0).replace(/-0+\.ndjson$/, "-"), limit: 1 });
    const key = listed.objects[0]?.key;
    if (!key) throw new Problem("not_found", `No archived chunk of ${region}:${sku} starts at ${from}; GET .../archive lists them`);
    const chunk = await readChunk(bucket, key);
    if (!chunk.ok) throw new Problem("archive_corrupt", `${chunk.reason}; the object's snapshot and Postgres still have what it held`);
    return c.json({ sku, region, key, from, to: chunk.events.at(-1)!.seq, sha256: chunk.sha256, events: chunk.events.map(eventBody) }, 200);
  })
  .openapi(compactLog, async (c) => {
    const { region, sku } = c.req.valid("param");
    const { retentionSeconds } = c.req.valid("json");
    const result = await inventoryStub(c.env, region, sku).compact(retentionSeconds === undefined ? undefined : retentionSeconds * 1000);
    return c.json({ sku, region, ...result }, 200);
  });

function eventBody(e: StoredEvent) {
  return { seq: e.seq, type: e.type, at: iso(e.at), payload: e.payload as Record<string, unknown> };
}

function aggregateBody(a: LogAggregate) {
  return { seq: a.seq, at: iso(a.at), totals: a.totals as Record<string, number> | null, warehouses: a.warehouses };
}

function archiveOf(env: Env): R2Bucket {
  if (!env.ARCHIVE) throw new MissingSetting("ARCHIVE", "bind an R2 bucket as ARCHIVE in wrangler.toml ([[r2_buckets]])");
  return env.ARCHIVE;
}
