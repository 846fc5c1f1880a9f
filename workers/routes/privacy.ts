// The right to erasure: everything personal about a shopper in a region, gone from Postgres and KV.
import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { and, eq, isNull } from "drizzle-orm";
import { ErasureBody, ErasureReport, RegionParams, UserParams } from "../../schema/contracts";
import { recommendationBuilds, shopperErasures, shopperOrders } from "../../schema/tables";
import { forgetShopper } from "../../recommendations/list-cache";
import { announceErasure, userKey } from "../../recommendations/store";
import { adminToken, jsonBody, knownRegion } from "../auth";
import { connect } from "../db";
import type { AppEnv } from "../env";
import { erasureDigest, pseudonymise } from "../privacy";
import { Problem } from "../problems";
import { validationHook } from "../validation";
import { databaseUnavailable } from "./catalog";
import { AdminHeaders, iso } from "./common";
import { ADMIN_PROBLEMS, adminAccess, problems } from "./contract";

const eraseShopper = createRoute({
  method: "post",
  path: "/v1/admin/{region}/erasures",
  operationId: "eraseShopper",
  tags: ["admin"],
  security: adminAccess,
  summary: "Erase a shopper's personal data in the region: order links in Postgres and lists in KV",
  description:
    "The shopper id goes in the body, never in the URL. Idempotent. Order messages still on the queue from before the " +
    "erasure are dropped when they arrive; reservations and stock events stay (they hold no user id).",
  middleware: [adminToken(), knownRegion(), jsonBody()] as const,
  request: { params: RegionParams, headers: AdminHeaders, body: { content: { "application/json": { schema: ErasureBody } }, required: true } },
  responses: {
    200: { description: "What was erased", content: { "application/json": { schema: ErasureReport } } },
    ...problems(...ADMIN_PROBLEMS, "database_unavailable", "setting_missing"),
  },
});

const retiredErasure = createRoute({
  method: "delete",
  path: "/v1/admin/{region}/users/{userId}",
  tags: ["admin"],
  operationId: "eraseShopperByUrl",
  deprecated: true,
  security: adminAccess,
  summary: "Retired: put the shopper id in the URL. Answers 410 pointing to POST /v1/admin/{region}/erasures",
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: UserParams, headers: AdminHeaders },
  responses: { ...problems(...ADMIN_PROBLEMS, "moved_to_body") },
});

export const privacy = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(retiredErasure, (c) => {
    const { region } = c.req.valid("param");
    const moved = `/v1/admin/${region}/erasures`;
    throw new Problem("moved_to_body", `POST ${moved} with {"userId": "..."}; nothing was erased`, { location: moved });
  })
  .openapi(eraseShopper, async (c) => {
    const { region } = c.req.valid("param");
    const { userId } = c.req.valid("json");
    const shopper = await pseudonymise(c.env, region, userId);
    const digest = await erasureDigest(shopper);
    const now = Date.now();
    const { db, close } = connect(c.env);
    try {
      const { orders, versions } = await db.transaction(async (tx) => {
        // First the tombstone, so the queue consumer drops anything older from now on.
        await tx
          .insert(shopperErasures)
          .values({ region, shopperDigest: digest, erasedAt: new Date(now) })
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
      // This isolate forgets the shopper now; the others at their next look at the region's feed
      // (within SHOPPER_TTL_MS, plus KV's own delay), which names the shopper by digest only.
      forgetShopper(region, shopper);
      await announceErasure(kv, region, digest, iso(now));
      return c.json({ region, erased: { orders, lists: existing }, at: iso(now) }, 200);
    } catch (err) {
      throw databaseUnavailable(err);
    } finally {
      c.executionCtx.waitUntil(close());
    }
  });
