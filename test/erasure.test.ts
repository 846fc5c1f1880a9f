// An operator honours an erasure request: afterwards nothing of the shopper is left in Postgres or
// KV, recommendations stop being personal, and an order message still on the queue cannot bring
// the shopper back.
import { env } from "cloudflare:workers";
import { and, eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { shopperOrders } from "../schema/tables";
import { recordShopperOrder } from "../workers/queues/shopper-orders";
import { buildRecommendations } from "../recommendations/build";
import { erasedKey, userKey } from "../recommendations/store";
import { connect } from "../workers/db";
import { erasureDigest, pseudonymise } from "../workers/privacy";
import { adminHeaders, call, confirm, storefront } from "./client";
import { database, eventually } from "./db";
import { build, ordered, recommend, sandboxRegion, sell } from "./recs";

/** Every row of every table in the database, as text, that mentions `needle`. */
async function rowsMentioning(needle: string): Promise<string[]> {
  const { db, close } = database();
  try {
    const tables = await db.execute<{ name: string }>(
      sql`SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'`,
    );
    const found: string[] = [];
    for (const { name } of tables.rows) {
      const rows = await db.execute<{ row: string }>(sql`SELECT t::text AS row FROM ${sql.raw(name)} t WHERE t::text LIKE ${`%${needle}%`}`);
      found.push(...rows.rows.map((r) => `${name}: ${r.row}`));
    }
    return found;
  } finally {
    await close();
  }
}

/** Every KV key, and every value, that mentions `needle`. */
async function kvMentioning(needle: string): Promise<string[]> {
  const found: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.RECOMMENDATIONS.list(cursor ? { cursor } : {});
    for (const { name } of page.keys) {
      const value = (await env.RECOMMENDATIONS.get(name)) ?? "";
      if (name.includes(needle) || value.includes(needle)) found.push(name);
    }
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return found;
}

function erase(region: string, userId: string) {
  return call("POST", `/v1/admin/${region}/erasures`, { headers: adminHeaders(), body: { userId } });
}

describe("erasing a shopper", () => {
  it("leaves nothing of the shopper in Postgres or KV, in any live version of the lists", async () => {
    const region = sandboxRegion("erase");
    const user = "margaret.hamilton@example.com";
    const shopper = await pseudonymise(env, region, user);
    await sell(region, [{ sku: "SERUM" }, { sku: "CREAM", brand: "Brand B" }]);
    await ordered(region, [{ skus: ["SERUM", "CREAM"], times: 3 }]);
    // A real order through the edge, with consent, confirmed.
    const made = await call("POST", `/v1/${region}/reservations`, {
      headers: storefront({ "idempotency-key": crypto.randomUUID() }),
      body: { lines: [{ sku: "SERUM", qty: 1 }], shopper: { id: user, consent: true } },
    });
    expect(made.status).toBe(201);
    expect((await confirm(region, made.body.id, made.body.token)).status).toBe(200);
    const { db, close } = database();
    try {
      await eventually(async () => {
        const linked = await db.execute(sql`SELECT 1 FROM shopper_orders o JOIN reservation_ledger l USING (region, reservation_id) WHERE o.shopper = ${shopper} AND l.confirmed_at IS NOT NULL`);
        return linked.rows.length ? true : undefined;
      }, "the confirmed order and its shopper in Postgres");
    } finally {
      await close();
    }
    await build(region);
    await build(region); // two live versions now: the current one and the previous one
    expect(await kvMentioning(shopper)).toHaveLength(2);
    expect((await recommend(region, { user, consent: "granted" })).body.personalised).toBe(true);

    const res = await erase(region, user);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ region, erased: { orders: 1, lists: 2 } });

    expect(await rowsMentioning(shopper)).toEqual([]);
    expect(await rowsMentioning(user)).toEqual([]);
    expect(await kvMentioning(shopper)).toEqual([]);
    expect(await kvMentioning(user)).toEqual([]);
    // Other isolates learn of it from the region's erasure feed, which names the shopper by digest only.
    expect(await env.RECOMMENDATIONS.get(erasedKey(region, await erasureDigest(shopper)))).toBe(res.body.at);
    expect((await recommend(region, { user, consent: "granted" })).body.personalised).toBe(false);
    // The sale itself stays: stock and the ledger hold no user.
    expect(await rowsMentioning(made.body.id)).not.toEqual([]);
    // Erasing again is harmless.
    expect((await erase(region, user)).body.erased).toEqual({ orders: 0, lists: 0 });
  });

  it("deletes the new list of a shopper erased while a build was writing, and announces the erasure again", async () => {
    const region = sandboxRegion("erase");
    const user = "grace.hopper@example.com";
    await sell(region, [{ sku: "SERUM" }, { sku: "CREAM", brand: "Brand B" }]);
    await ordered(region, [{ skus: ["SERUM", "CREAM"], times: 3 }, { skus: ["SERUM"], user }]);
    const shopper = await pseudonymise(env, region, user);
    // One connection: the erasure's delete runs before the build looks at the shoppers again.
    const { db, close } = connect({ ...env, PG_POOL_MAX: "1" });
    try {
      let erasing: Promise<unknown> | undefined;
      const summary = await buildRecommendations(db, env.RECOMMENDATIONS, region, (p) => {
        if (p.phase === "cleaning" && p.done === 0) {
          erasing = db.delete(shopperOrders).where(and(eq(shopperOrders.region, region), eq(shopperOrders.shopper, shopper))).then(() => undefined);
        }
      });
      await erasing;
      expect(summary.users).toBe(0);
      expect(await env.RECOMMENDATIONS.get(userKey(region, summary.version, shopper))).toBeNull();
      // Isolates that read the list between the switch and its deletion learn of it from the feed.
      expect(await env.RECOMMENDATIONS.get(erasedKey(region, await erasureDigest(shopper)))).not.toBeNull();
    } finally {
      await close();
    }
  });

  it("drops an order message that was already on the queue when the shopper was erased", async () => {
    const region = sandboxRegion("erase");
    const shopper = await pseudonymise(env, region, "late@example.com");
    const sentBefore = Date.now() - 1_000;
    expect((await erase(region, "late@example.com")).status).toBe(200);
    const { db, close } = database();
    try {
      await recordShopperOrder(db, { region, reservationId: "late-1", shopper, consent: true, at: sentBefore });
      expect(await db.select().from(shopperOrders).where(sql`region = ${region}`)).toEqual([]);
      // A new order after the erasure is a new story, and is kept.
      await recordShopperOrder(db, { region, reservationId: "new-1", shopper, consent: true, at: Date.now() + 1_000 });
      expect(await db.select().from(shopperOrders).where(sql`region = ${region}`)).toHaveLength(1);
    } finally {
      await close();
    }
  });

  it("forgets earlier orders when the shopper orders again without consent", async () => {
    const region = sandboxRegion("erase");
    await sell(region, [{ sku: "KIT" }]);
    await ordered(region, [{ skus: ["KIT"], user: "withdrawn@example.com" }]);
    const shopper = await pseudonymise(env, region, "withdrawn@example.com");
    const { db, close } = database();
    try {
      await recordShopperOrder(db, { region, reservationId: "r-2", shopper, consent: false, at: Date.now() });
      expect(await db.select().from(shopperOrders).where(sql`region = ${region}`)).toEqual([]);
    } finally {
      await close();
    }
  });

  it("refuses a bad user id with a 4xx and erases nothing", async () => {
    for (const body of [{ userId: "x".repeat(201) }, { userId: "" }, {}, { userId: "a", extra: 1 }]) {
      const res = await call("POST", "/v1/admin/eu/erasures", { headers: adminHeaders(), body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe("invalid_request");
    }
    expect((await call("POST", "/v1/admin/eu/erasures", { body: { userId: "someone" } })).status).toBe(401);
  });

  it("answers the retired URL form with 410 and a pointer to the body form, erasing nothing", async () => {
    const region = sandboxRegion("erase");
    await sell(region, [{ sku: "KIT" }]);
    await ordered(region, [{ skus: ["KIT"], user: "kept@example.com" }]);
    const res = await call("DELETE", `/v1/admin/${region}/users/kept%40example.com`, { headers: adminHeaders() });
    expect(res.status).toBe(410);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.body).toMatchObject({ code: "moved_to_body", location: `/v1/admin/${region}/erasures` });
    expect(JSON.stringify(res.body)).not.toContain("kept");
    const { db, close } = database();
    try {
      expect(await db.select().from(shopperOrders).where(sql`region = ${region}`)).toHaveLength(1);
    } finally {
      await close();
    }
  });
});
