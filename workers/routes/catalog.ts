// What each region sells, in Postgres: the recommendation build takes brands and categories from
// here, and recommends nothing a region does not sell.
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { and, eq, sql } from "drizzle-orm";
import { CatalogBatchBody, CatalogItem, CatalogItemBody, RegionParams, StockParams } from "../../schema/contracts";
import { catalogItems } from "../../schema/tables";
import { adminToken, jsonBody, knownRegion } from "../auth";
import { connect } from "../db";
import type { AppEnv } from "../env";
import { Problem } from "../problems";
import { validationHook } from "../validation";
import { AdminHeaders } from "./common";
import { ADMIN_PROBLEMS, adminAccess, JSON_BODY_PROBLEMS, problems } from "./contract";
import { warn } from "../../observability/log";

const putItem = createRoute({
  method: "put",
  path: "/v1/admin/{region}/catalog/{sku}",
  operationId: "putCatalogItem",
  tags: ["admin"],
  security: adminAccess,
  summary: "Sell a SKU in the region (or replace its name, brand, category, translations and prices)",
  middleware: [adminToken(), knownRegion(), jsonBody()] as const,
  request: {
    params: StockParams,
    headers: AdminHeaders,
    body: { content: { "application/json": { schema: CatalogItemBody } }, required: true },
  },
  responses: {
    200: { description: "The catalog entry", content: { "application/json": { schema: CatalogItem } } },
    ...problems(...ADMIN_PROBLEMS, ...JSON_BODY_PROBLEMS, "database_unavailable", "setting_missing"),
  },
});

const putItems = createRoute({
  method: "post",
  path: "/v1/admin/{region}/catalog",
  operationId: "importCatalog",
  tags: ["admin"],
  security: adminAccess,
  summary: "Sell many SKUs in the region at once (an import; each item as with PUT .../catalog/{sku})",
  middleware: [adminToken(), knownRegion(), jsonBody()] as const,
  request: {
    params: RegionParams,
    headers: AdminHeaders,
    body: { content: { "application/json": { schema: CatalogBatchBody } }, required: true },
  },
  responses: {
    200: { description: "How many were written", content: { "application/json": { schema: z.object({ region: z.string(), written: z.number().int() }) } } },
    ...problems(...ADMIN_PROBLEMS, ...JSON_BODY_PROBLEMS, "database_unavailable", "setting_missing"),
  },
});

const deleteItem = createRoute({
  method: "delete",
  path: "/v1/admin/{region}/catalog/{sku}",
  operationId: "removeCatalogItem",
  tags: ["admin"],
  security: adminAccess,
  summary: "Stop selling a SKU in the region (recommendations drop it from the next build)",
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: StockParams, headers: AdminHeaders },
  responses: {
    200: { description: "Removed (or was not there)", content: { "application/json": { schema: z.object({ sku: z.string(), region: z.string(), removed: z.boolean() }) } } },
    ...problems(...ADMIN_PROBLEMS, "database_unavailable", "setting_missing"),
  },
});

export function databaseUnavailable(err: unknown): Problem {
  warn("postgres_unavailable", { error: err });
  return new Problem("database_unavailable", "Check DATABASE_URL and that Postgres is up");
}

export const catalog = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(putItem, async (c) => {
    const { region, sku } = c.req.valid("param");
    // A PUT replaces the entry: translations and prices it leaves out are gone.
    const item = { names: {}, prices: {}, ...c.req.valid("json") };
    const { db, close } = connect(c.env);
    try {
      await db
        .insert(catalogItems)
        .values({ region, sku, ...item })
        .onConflictDoUpdate({ target: [catalogItems.region, catalogItems.sku], set: { ...item, updatedAt: new Date() } });
    } catch (err) {
      throw databaseUnavailable(err);
    } finally {
      c.executionCtx.waitUntil(close());
    }
    return c.json({ sku, region, ...item }, 200);
  })
  .openapi(putItems, async (c) => {
    const { region } = c.req.valid("param");
    const items = [...new Map(c.req.valid("json").items.map((i) => [i.sku, i])).values()];
    const { db, close } = connect(c.env);
    try {
      await db
        .insert(catalogItems)
        .values(items.map((i) => ({ region, names: {}, prices: {}, ...i })))
        .onConflictDoUpdate({
          target: [catalogItems.region, catalogItems.sku],
          set: {
            name: sql`excluded.name`,
            brand: sql`excluded.brand`,
            category: sql`excluded.category`,
            names: sql`excluded.names`,
            prices: sql`excluded.prices`,
            updatedAt: sql`now()`,
          },
        });
    } catch (err) {
      throw databaseUnavailable(err);
    } finally {
      c.executionCtx.waitUntil(close());
    }
    return c.json({ region, written: items.length }, 200);
  })
  .openapi(deleteItem, async (c) => {
    const { region, sku } = c.req.valid("param");
    const { db, close } = connect(c.env);
    try {
      const removed = await db
        .delete(catalogItems)
        .where(and(eq(catalogItems.region, region), eq(catalogItems.sku, sku)))
        .returning({ sku: catalogItems.sku });
      return c.json({ sku, region, removed: removed.length > 0 }, 200);
    } catch (err) {
      throw databaseUnavailable(err);
    } finally {
      c.executionCtx.waitUntil(close());
    }
  });
