// A shopper browsing: what the edge recommends next to a product or a cart, what it leaves out
// (unavailable, not sold here, already in the cart, one brand too many), and what consent changes.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { RecommendationsResponse } from "../schema/contracts";
import { reserve } from "./client";
import { build, ordered, recommend, sandboxRegion, sell, skus } from "./recs";

describe("bought together", () => {
  it("recommends what is bought with the product viewed, with its reason, best first", async () => {
    const region = sandboxRegion("recs");
    await sell(region, [{ sku: "SERUM" }, { sku: "CREAM", brand: "Brand B" }, { sku: "TONER", brand: "Brand C" }, { sku: "MASK", brand: "Brand D" }]);
    await ordered(region, [
      { skus: ["SERUM", "CREAM"], times: 4 },
      { skus: ["SERUM", "TONER"], times: 1 },
      { skus: ["MASK"], times: 2 },
    ]);
    await build(region);
    const res = await recommend(region, { context: ["SERUM"] });
    expect(res.status).toBe(200);
    expect(() => RecommendationsResponse.parse(res.body)).not.toThrow();
    expect(res.body.items.slice(0, 2)).toMatchObject([
      { sku: "CREAM", reason: "bought_together", because: "SERUM", brand: "Brand B", category: "lipstick", status: "in_stock" },
      { sku: "TONER", reason: "bought_together", because: "SERUM" },
    ]);
    expect(skus(res)).not.toContain("SERUM");
    expect(res.body.personalised).toBe(false);
  });

  it("normalises co-purchase so a best-seller does not crowd out a true companion", async () => {
    const region = sandboxRegion("recs");
    await sell(region, [{ sku: "LINER" }, { sku: "BESTSELLER", brand: "Brand B" }, { sku: "SHARPENER", brand: "Brand C" }, { sku: "OTHER", brand: "Brand D" }]);
    await ordered(region, [
      { skus: ["LINER", "SHARPENER"], times: 3 },
      { skus: ["LINER", "BESTSELLER"], times: 4 },
      { skus: ["BESTSELLER", "OTHER"], times: 30 },
      { skus: ["BESTSELLER"], times: 30 },
    ]);
    await build(region);
    expect(skus(await recommend(region, { context: ["LINER"], limit: 2 }))).toEqual(["SHARPENER", "BESTSELLER"]);
  });
});

describe("what is left out", () => {
  it("drops SKUs that cannot be bought right now, and shows them again once restocked", async () => {
    const region = sandboxRegion("recs");
    await sell(region, [{ sku: "BRUSH" }, { sku: "POWDER", brand: "Brand B", onHand: 1 }, { sku: "SPONGE", brand: "Brand C" }]);
    await ordered(region, [{ skus: ["BRUSH", "POWDER"], times: 3 }, { skus: ["BRUSH", "SPONGE"] }]);
    await build(region);
    expect(skus(await recommend(region, { context: ["BRUSH"] }))[0]).toBe("POWDER");
    expect((await reserve(region, [{ sku: "POWDER", qty: 1 }])).status).toBe(201);
    const soldOut = await recommend(region, { context: ["BRUSH"] });
    expect(skus(soldOut)).not.toContain("POWDER");
    expect(skus(soldOut)[0]).toBe("SPONGE");
  });

  it("never recommends what the region does not sell, even when its orders say it goes well", async () => {
    const region = sandboxRegion("recs");
    await sell(region, [{ sku: "GLOSS" }, { sku: "BALM", brand: "Brand B" }]);
    // PENCIL sold elsewhere (or was delisted): it is in the order history, not in this catalog.
    await ordered(region, [{ skus: ["GLOSS", "PENCIL"], times: 5 }, { skus: ["GLOSS", "BALM"] }]);
    await build(region);
    const res = await recommend(region, { context: ["GLOSS"] });
    expect(skus(res)).toEqual(["BALM"]);
    // And a SKU sold in another region is not sold here.
    expect(skus(await recommend("eu", { context: ["GLOSS"] }))).not.toContain("BALM");
  });

  it("leaves out everything already in the cart", async () => {
    const region = sandboxRegion("recs");
    await sell(region, [{ sku: "A1" }, { sku: "B1", brand: "Brand B" }, { sku: "C1", brand: "Brand C" }]);
    await ordered(region, [{ skus: ["A1", "B1", "C1"], times: 3 }]);
    await build(region);
    const res = await recommend(region, { context: ["A1", "B1"] });
    expect(res.body.items).toMatchObject([{ sku: "C1", reason: "bought_together" }]);
  });

  it("caps items per brand for variety, filling with the next brand", async () => {
    const region = sandboxRegion("recs");
    const same = ["P1", "P2", "P3", "P4"];
    await sell(region, [{ sku: "BASE", brand: "Brand Z" }, ...same.map((sku) => ({ sku, brand: "Brand P" })), { sku: "Q1", brand: "Brand Q" }]);
    await ordered(region, [...same.map((sku) => ({ skus: ["BASE", sku], times: 3 })), { skus: ["BASE", "Q1"] }]);
    await build(region);
    const res = await recommend(region, { context: ["BASE"], limit: 3 });
    const brands = res.body.items.map((i: any) => i.brand);
    expect(brands.filter((b: string) => b === "Brand P")).toHaveLength(2);
    expect(skus(res)).toContain("Q1");
    expect(res.body.items).toHaveLength(3);
  });
});

describe("popular items", () => {
  it("falls back to what is popular in the context's category, and everywhere without context", async () => {
    const region = sandboxRegion("recs");
    await sell(region, [
      { sku: "LIP1", category: "lipstick" },
      { sku: "LIP2", category: "lipstick", brand: "Brand B" },
      { sku: "SPF1", category: "sunscreen", brand: "Brand C" },
    ]);
    await ordered(region, [{ skus: ["LIP2"], times: 3 }, { skus: ["SPF1"], times: 2 }, { skus: ["LIP1"] }]);
    await build(region);
    const viewing = await recommend(region, { context: ["LIP1"] });
    expect(viewing.body.items).toEqual([expect.objectContaining({ sku: "LIP2", reason: "popular_in_category" })]);
    const home = await recommend(region, {});
    expect(skus(home)).toEqual(["LIP2", "SPF1", "LIP1"]);
  });
});

describe("consent", () => {
  async function shopperWithHistory() {
    const region = sandboxRegion("recs");
    await sell(region, [{ sku: "OIL" }, { sku: "CLEANSER", brand: "Brand B" }, { sku: "PERFUME", brand: "Brand C", category: "fragrance" }]);
    await ordered(region, [{ skus: ["OIL", "CLEANSER"], times: 3 }, { skus: ["OIL"], user: "ada" }, { skus: ["PERFUME"], times: 5 }]);
    await build(region);
    return region;
  }

  it("personalises with Personalization-Consent: granted", async () => {
    const region = await shopperWithHistory();
    const res = await recommend(region, { user: "ada", consent: "granted" });
    expect(res.body.personalised).toBe(true);
    expect(res.body.items[0]).toMatchObject({ sku: "CLEANSER", reason: "for_you" });
  });

  it("uses only context and popular lists without consent, whatever user is sent", async () => {
    const region = await shopperWithHistory();
    for (const consent of [undefined, "denied", "yes"]) {
      const res = await recommend(region, { user: "ada", ...(consent && { consent }) });
      expect(res.body.personalised).toBe(false);
      expect(res.body.items.map((i: any) => i.reason)).not.toContain("for_you");
    }
  });

  it("keeps a shopper's pseudonym, never their id, and only when they consented", async () => {
    const region = sandboxRegion("recs");
    await sell(region, [{ sku: "MIST" }]);
    const { database, eventually } = await import("./db");
    const { shopperOrders } = await import("../schema/tables");
    const { eq } = await import("drizzle-orm");
    const withConsent = await reserve(region, [{ sku: "MIST", qty: 1 }]);
    expect(withConsent.status).toBe(201);
    const sendBody = async (consent: boolean) =>
      (await import("./client")).call("POST", `/v1/${region}/reservations`, {
        headers: (await import("./client")).storefront({ "idempotency-key": crypto.randomUUID() }),
        body: { lines: [{ sku: "MIST", qty: 1 }], shopper: { id: consent ? "grace@example.com" : "linus@example.com", consent } },
      });
    expect((await sendBody(true)).status).toBe(201);
    expect((await sendBody(false)).status).toBe(201);
    const { db, close } = database();
    try {
      const rows = await eventually(async () => {
        const r = await db.select().from(shopperOrders).where(eq(shopperOrders.region, region));
        return r.length ? r : undefined;
      }, "the shopper order to reach Postgres");
      await new Promise((r) => setTimeout(r, 500)); // the refusal's message too
      const after = await db.select().from(shopperOrders).where(eq(shopperOrders.region, region));
      expect(after).toHaveLength(1);
      expect(rows[0]!.shopper).toMatch(/^[0-9a-f]{32}$/);
      expect(JSON.stringify(after)).not.toContain("grace");
      const { pseudonymise } = await import("../workers/privacy");
      expect(rows[0]!.shopper).toBe(await pseudonymise(env, region, "grace@example.com"));
      expect(await pseudonymise(env, "eu", "grace@example.com")).not.toBe(rows[0]!.shopper);
    } finally {
      await close();
    }
  });
});

describe("bad requests", () => {
  it.each([
    ["a context SKU that is not a SKU", "context=BAD%20SKU"],
    ["more than 20 context SKUs", `context=${Array.from({ length: 21 }, (_, i) => `S${i}`).join(",")}`],
    ["limit 0", "limit=0"],
    ["limit 51", "limit=51"],
    ["a user id over 200 characters", `user=${"u".repeat(201)}`],
  ])("refuses %s with 400 invalid_request", async (_, query) => {
    const { call, storefront } = await import("./client");
    const res = await call("GET", `/v1/eu/recommendations?${query}`, { headers: storefront() });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("invalid_request");
  });

  it("answers an empty list, not an error, before the region's first build", async () => {
    const region = sandboxRegion("recs");
    const res = await recommend(region, { context: ["ANY"] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ region, personalised: false, listsVersion: null, items: [] });
  });

  it("refuses a shopper without a consent flag when reserving", async () => {
    const { call, storefront } = await import("./client");
    const res = await call("POST", "/v1/eu/reservations", {
      headers: storefront({ "idempotency-key": crypto.randomUUID() }),
      body: { lines: [{ sku: "X", qty: 1 }], shopper: { id: "someone" } },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].path).toBe("json.shopper.consent");
  });
});
