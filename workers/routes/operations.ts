// Operator routes over the system of record: reconciliation against the objects, what landed in
// the dead-letter queue, and the sales the objects flagged for a person (attention).
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { and, asc, desc, eq, gt, or, isNull } from "drizzle-orm";
import { AttentionPage, AttentionQuery, DeadLettersPage, DeadLettersQuery, ReconcileQuery, ReconcileReport, RegionParams } from "../../schema/contracts";
import { deadLetters, streamPositions } from "../../schema/tables";
import { reconcileRegion } from "../../system-of-record/reconcile";
import { readCosts } from "../../durable-objects/cost-meter";
import { adminToken, knownRegion } from "../auth";
import { connect } from "../db";
import type { AppEnv } from "../env";
import { Problem } from "../problems";
import { validationHook } from "../validation";
import { AdminHeaders, inventoryStub, iso } from "./common";
import { ADMIN_PROBLEMS, adminAccess, problems } from "./contract";
import { warn } from "../../observability/log";

export function unavailable(err: unknown): Problem {
  warn("postgres_unavailable", { error: err });
  return new Problem("database_unavailable", "Check DATABASE_URL and that Postgres is up");
}

const reconcile = createRoute({
  method: "get",
  path: "/v1/admin/{region}/reconcile",
  operationId: "reconcileRegion",
  tags: ["operations"],
  security: adminAccess,
  summary: "Compare a page of SKU-region objects with their Postgres projection, reservation ledger included",
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: RegionParams, query: ReconcileQuery, headers: AdminHeaders },
  responses: {
    200: { description: "Per SKU-region: ok, lagging or drift", content: { "application/json": { schema: ReconcileReport } } },
    ...problems(...ADMIN_PROBLEMS, "database_unavailable", "setting_missing"),
  },
});

const listDeadLetters = createRoute({
  method: "get",
  path: "/v1/admin/{region}/dead-letters",
  operationId: "listDeadLetters",
  tags: ["operations"],
  security: adminAccess,
  summary: "Messages that exhausted their retries, newest first",
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: RegionParams, query: DeadLettersQuery, headers: AdminHeaders },
  responses: {
    200: { description: "Dead letters", content: { "application/json": { schema: DeadLettersPage } } },
    ...problems(...ADMIN_PROBLEMS, "database_unavailable", "setting_missing"),
  },
});

const objectCosts = createRoute({
  method: "get",
  path: "/v1/admin/{region}/costs",
  operationId: "getObjectCosts",
  tags: ["operations"],
  security: adminAccess,
  summary: "What the objects of this isolate cost so far: RPC calls by method, commits, rows written",
  description:
    "Counters since the isolate started. Locally every object shares one isolate, so they cover the whole run " +
    "(the benchmark reads them before and after each scenario); in production they cover one isolate only.",
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: RegionParams, headers: AdminHeaders },
  responses: {
    200: {
      description: "Counters",
      content: {
        "application/json": {
          schema: z.object({ calls: z.record(z.string(), z.number().int()), commits: z.number().int(), rowsWritten: z.number().int() }),
        },
      },
    },
    ...problems(...ADMIN_PROBLEMS),
  },
});

const listAttention = createRoute({
  method: "get",
  path: "/v1/admin/{region}/attention",
  operationId: "listAttention",
  tags: ["operations"],
  security: adminAccess,
  summary: "What the region's objects flagged for a person (sales allocated after they were given back, reconcile drift), a page of SKU-regions at a time",
  description: "Asks each SKU-region Postgres knows (in SKU order, like reconcile) for its attention rows; page on with `after` = `nextAfter`.",
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: RegionParams, query: AttentionQuery, headers: AdminHeaders },
  responses: {
    200: { description: "Attention rows, by SKU", content: { "application/json": { schema: AttentionPage } } },
    ...problems(...ADMIN_PROBLEMS, "database_unavailable", "setting_missing", "try_again"),
  },
});

/** Object calls at once while listing attention: as many as reconcile makes. */
const ATTENTION_PARALLEL = 6;

export const operations = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(reconcile, async (c) => {
    const { region } = c.req.valid("param");
    const { graceSeconds, after, limit } = c.req.valid("query");
    const { db, close } = connect(c.env);
    try {
      const report = await reconcileRegion(db, c.env.INVENTORY, region, graceSeconds * 1000, { after, limit });
      return c.json(report, 200);
    } catch (err) {
      throw unavailable(err);
    } finally {
      c.executionCtx.waitUntil(close());
    }
  })
  .openapi(objectCosts, (c) => c.json(readCosts(), 200))
  .openapi(listAttention, async (c) => {
    const { region } = c.req.valid("param");
    const { after, limit } = c.req.valid("query");
    const { db, close } = connect(c.env);
    let skus: string[];
    try {
      const rows = await db
        .select({ sku: streamPositions.sku })
        .from(streamPositions)
        .where(and(eq(streamPositions.region, region), after ? gt(streamPositions.sku, after) : undefined))
        .orderBy(asc(streamPositions.sku))
        .limit(limit);
      skus = rows.map((r) => r.sku);
    } catch (err) {
      throw unavailable(err);
    } finally {
      c.executionCtx.waitUntil(close());
    }
    const found: { sku: string; holdId: string; reason: string; seq: number; at: string }[] = [];
    const pending = [...skus];
    const worker = async () => {
      for (let sku = pending.shift(); sku; sku = pending.shift()) {
        const state = await inventoryStub(c.env, region, sku).state(sku, region);
        for (const a of state.attention) found.push({ sku, holdId: a.holdId, reason: a.reason, seq: a.seq, at: iso(a.at) });
      }
    };
    await Promise.all(Array.from({ length: Math.min(ATTENTION_PARALLEL, skus.length) }, worker));
    found.sort((a, b) => a.sku.localeCompare(b.sku) || a.seq - b.seq);
    return c.json({ region, checked: skus.length, attention: found, nextAfter: skus.length === limit ? skus.at(-1)! : null }, 200);
  })
  .openapi(listDeadLetters, async (c) => {
    const { region } = c.req.valid("param");
    const { limit } = c.req.valid("query");
    const { db, close } = connect(c.env);
    try {
      const rows = await db
        .select()
        .from(deadLetters)
        .where(or(eq(deadLetters.region, region), isNull(deadLetters.region)))
        .orderBy(desc(deadLetters.id))
        .limit(limit);
      return c.json(
        {
          region,
          deadLetters: rows.map((r) => ({
            id: r.id,
            queue: r.queue,
            messageId: r.messageId,
            attempts: r.attempts,
            receivedAt: r.receivedAt.toISOString(),
            replayedAt: r.replayedAt?.toISOString() ?? null,
            body: r.body,
          })),
        },
        200,
      );
    } catch (err) {
      throw unavailable(err);
    } finally {
      c.executionCtx.waitUntil(close());
    }
  });
