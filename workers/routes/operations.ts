// Operator routes over the system of record: reconciliation against the objects, and what landed
// in the dead-letter queue.
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { desc, eq, or, isNull } from "drizzle-orm";
import { DeadLettersPage, DeadLettersQuery, ReconcileQuery, ReconcileReport, RegionParams } from "../../schema/contracts";
import { deadLetters } from "../../schema/tables";
import { reconcileRegion } from "../../system-of-record/reconcile";
import { readCosts } from "../../durable-objects/cost-meter";
import { adminToken, knownRegion } from "../auth";
import { connect } from "../db";
import type { AppEnv } from "../env";
import { Problem } from "../problems";
import { validationHook } from "../validation";
import { AdminHeaders } from "./common";
import { ADMIN_PROBLEMS, adminAccess, problems } from "./contract";
import { warn } from "../../observability/log";

function unavailable(err: unknown): Problem {
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
