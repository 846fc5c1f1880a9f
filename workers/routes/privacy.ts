// The right to erasure: everything personal about a shopper in a region, gone from Postgres and KV.
import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { and, eq, isNull } from "drizzle-orm";
import { ErasureReport, UserParams } from "../../schema/contracts";
import { recommendationBuilds, shopperErasures, shopperOrders } from "../../schema/tables";
import { userKey } from "../../recommendations/store";
import { adminToken, knownRegion } from "../auth";
import { connect } from "../db";
import type { AppEnv } from "../env";
import { erasureDigest, pseudonymise } from "../privacy";
import { validationHook } from "../validation";
import { databaseUnavailable } from "./catalog";
import { AdminHeaders, iso } from "./common";
import { ADMIN_PROBLEMS, adminAccess, problems } from "./contract";

const eraseUser = createRoute({
  method: "delete",
  path: "/v1/admin/{region}/users/{userId}",
  operationId: "eraseShopper",
  tags: ["admin"],
  security: adminAccess,
  summary: "Erase a shopper's personal data in the region: order links in Postgres and lists in KV",
  description:
    "Idempotent. Order messages still on the queue from before the erasure are dropped when they arrive; reservations " +
    "and stock events stay (they hold no user id).",
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: UserParams, headers: AdminHeaders },
  responses: {
    200: { description: "What was erased", content: { "application/json": { schema: ErasureReport } } },
    ...problems(...ADMIN_PROBLEMS, "database_unavailable", "setting_missing"),
  },
});

export const privacy = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(eraseUser, async (c) => {
  const { region, userId } = c.req.valid("param");
  const shopper = await pseudonymise(c.env, region, userId);
  const now = Date.now();
  const { db, close } = connect(c.env);
  try {
    const { orders, versions } = await db.transaction(async (tx) => {
      // First the tombstone, so the queue consumer drops anything older from now on.
      await tx
        .insert(shopperErasures)
        .values({ region, shopperDigest: await erasureDigest(shopper), erasedAt: new Date(now) })
        .onConflictDoUpdate({ target: [shopperErasures.region, shopperErasures.shopperDigest], set: { erasedAt: new Date(now) } });
      const removed = await tx
        .delete(shopperOrders)
        .where(and(eq(shopperOrders.region, region), eq(shopperOrders.shopper, shopper)))
        .returning({ id: shopperOrders.reservationId });
      // Every version that may still hold lists: the current one, the previous one, one being built.
      const live = await tx
        .select({ version: recommendationBuilds.version })
        .from(recommendationBuilds)
        .where(and(eq(recommendationBuilds.region, region), isNull(recommendationBuilds.deletedAt)));
      return { orders: removed.length, versions: live.map((v) => v.version) };
    });
    const kv = c.env.RECOMMENDATIONS;
    const keys = versions.map((v) => userKey(region, v, shopper));
    const existing = keys.length ? [...(await kv.get(keys, "text")).values()].filter((v) => v !== null).length : 0;
    await Promise.all(keys.map((k) => kv.delete(k)));
    return c.json({ region, erased: { orders, lists: existing }, at: iso(now) }, 200);
  } catch (err) {
    throw databaseUnavailable(err);
  } finally {
    c.executionCtx.waitUntil(close());
  }
});
