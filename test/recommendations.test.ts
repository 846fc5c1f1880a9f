// A shopper browsing: what the edge recommends next to a product or a cart, what it leaves out
// (unavailable, not sold here, already in the cart, one brand too many), and what consent changes.
import { checkedFetch } from "./contract";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../workers/index";
import { RecommendationsResponse } from "../schema/contracts";
import { call, confirm, release, reserve, storefront, adminHeaders, readModelSettled } from "./client";
import { answerMemo } from "../workers/routes/recommendations";
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
      // Bought with LINER as often as SHARPENER is: only its popularity sets it apart. (With 4 to
      // 3 the best-seller comes first since popular items weigh 0.15, as recs:eval chose.)
      { skus: ["LINER", "SHARPENER"], times: 3 },
      { skus: ["LINER", "BESTSELLER"], times: 3 },
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
    const held = await reserve(region, [{ sku: "POWDER", qty: 1 }]);
    expect(held.status).toBe(201);
    const soldOut = await recommend(region, { context: ["BRUSH"] });
    expect(skus(soldOut)).not.toContain("POWDER");
    expect(skus(soldOut)[0]).toBe("SPONGE");
    // Asked again while this isolate's pages are fresh, the same answer comes from its memo
    // (routes/recommendations.ts)...
    const served = answerMemo.hits;
    const again = await call("GET", `/v1/${region}/recommendations?context=BRUSH`, { headers: storefront() });
    expect(again.body).toEqual(soldOut.body);
    expect(answerMemo.hits).toBe(served + 1);
    // The on-call engineer sees it in the region's metrics.
    const metrics = await call("GET", `/v1/admin/${region}/metrics?minutes=5`, { headers: adminHeaders() });
    // A kept answer to a context the lists cover counts as a cache hit, as the first answer did.
    expect(metrics.body.recommendations).toMatchObject({ requests: 3, cacheHits: 3, fromMemo: 1 });
    // A consenting shopper with no list of their own gets that answer too, from the memo once the
    // isolate holds the list's absence.
    const stranger = storefront({ "shopper-id": "never-bought-here", "personalization-consent": "granted" });
    expect((await call("GET", `/v1/${region}/recommendations?context=BRUSH`, { headers: stranger })).body).toEqual(soldOut.body);
    expect((await call("GET", `/v1/${region}/recommendations?context=BRUSH`, { headers: stranger })).body).toEqual(soldOut.body);
    expect(answerMemo.hits).toBe(served + 2);
    // ...until a unit it looked up changes: released, POWDER is back first.
    const { id, token } = held.body as { id: string; token: string };
    expect((await release(region, id, token)).status).toBe(200);
    expect(skus(await recommend(region, { context: ["BRUSH"] }))[0]).toBe("POWDER");
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
    ["an unknown market", "market=XX"],
    ["a market that is not a country code", "market=france"],
    ["limit twice", "limit=5&limit=6"],
    ["a limit that is not a number", "limit=ten"],
    ["a fractional limit", "limit=1.5"],
    ["an empty context SKU", "context=A,,B"],
  ])("refuses %s with 400 invalid_request", async (_, query) => {
    const { call, storefront } = await import("./client");
    const res = await call("GET", `/v1/eu/recommendations?${query}`, { headers: storefront() });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("invalid_request");
  });

  it.each([
    ["a shopper id over 200 characters", { "shopper-id": "x".repeat(201), "personalization-consent": "granted" }, "header.shopper-id"],
    ["an empty shopper id", { "shopper-id": "", "personalization-consent": "granted" }, "header.shopper-id"],
    ["an Accept-Language over 500 characters", { "accept-language": "fr,".repeat(200) }, "header.accept-language"],
  ])("refuses %s with 400 invalid_request naming the header", async (_, headers, path) => {
    const { call, storefront } = await import("./client");
    const res = await call("GET", "/v1/eu/recommendations?context=A", { headers: storefront(headers) });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "invalid_request", errors: [expect.objectContaining({ path })] });
  });

  it("answers an empty list, not an error, before the region's first build", async () => {
    const region = sandboxRegion("recs");
    const res = await recommend(region, { context: ["ANY"] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ region, personalised: false, listsVersion: null, market: null, availability: "checked", items: [] });
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

describe("cold start", () => {
  it("ranks the region's best-sellers by how many baskets hold them, across categories, not alphabetically", async () => {
    const region = sandboxRegion("recs");
    await sell(region, [
      { sku: "AA-RARE", category: "lipstick" },
      { sku: "ZZ-BEST", category: "sunscreen", brand: "Brand B" },
      { sku: "MM-MID", category: "serum", brand: "Brand C" },
    ]);
    await ordered(region, [{ skus: ["ZZ-BEST"], times: 5 }, { skus: ["MM-MID"], times: 3 }, { skus: ["AA-RARE"] }]);
    await build(region);
    const res = await recommend(region, {});
    expect(skus(res)).toEqual(["ZZ-BEST", "MM-MID", "AA-RARE"]);
    const scores = res.body.items.map((i: any) => i.score);
    // 5, 3 and 1 baskets on one scale: never the same constant for every category's top item.
    expect(scores[0] / scores[2]).toBeCloseTo(5, 6);
    expect(scores[1] / scores[2]).toBeCloseTo(3, 6);
  });
});

describe("degraded", () => {
  /** The worker with every stock object unreachable: failing at once, or never answering. */
  async function withBrokenStock(region: string, mode: "fails" | "hangs") {
    const broken = new Proxy({}, { get: () => () => (mode === "fails" ? Promise.reject(new Error("object unreachable")) : new Promise(() => {})) });
    const brokenEnv = {
      ...env,
      // No fresh or stale copy of a read-model page may hide the failure.
      AVAILABILITY_MAX_AGE_SECONDS: "0",
      AVAILABILITY_STALE_LIMIT_SECONDS: "0",
      INVENTORY: { idFromName: (n: string) => env.INVENTORY.idFromName(n), get: () => broken },
      AVAILABILITY_PAGES: { idFromName: (n: string) => env.AVAILABILITY_PAGES.idFromName(n), get: () => broken },
    };
    const ctx = createExecutionContext();
    const started = Date.now();
    const res = await checkedFetch(new Request(`http://edge.test/v1/${region}/recommendations?context=BRUSH`, { headers: storefront() }), (r) => worker.fetch(r as never, brokenEnv as never, ctx));
    await waitOnExecutionContext(ctx);
    return { status: res.status, body: (await res.json()) as any, ms: Date.now() - started };
  }

  it("answers unfiltered lists marked availability unknown when the snapshot read fails or is slow", async () => {
    const region = sandboxRegion("recs");
    await sell(region, [{ sku: "BRUSH" }, { sku: "POWDER", brand: "Brand B", onHand: 0 }, { sku: "SPONGE", brand: "Brand C" }]);
    await ordered(region, [{ skus: ["BRUSH", "POWDER"], times: 3 }, { skus: ["BRUSH", "SPONGE"] }]);
    await build(region);
    // With stock readable, POWDER (none on hand) is left out.
    const healthy = await recommend(region, { context: ["BRUSH"] });
    expect(healthy.body).toMatchObject({ availability: "checked", items: [{ sku: "SPONGE", status: "in_stock" }] });
    for (const mode of ["fails", "hangs"] as const) {
      const res = await withBrokenStock(region, mode);
      expect(res.status, mode).toBe(200);
      expect(res.body.availability).toBe("unknown");
      expect(res.body.items.map((i: any) => [i.sku, i.status])).toEqual([
        ["POWDER", "unknown"],
        ["SPONGE", "unknown"],
      ]);
      if (mode === "hangs") expect(res.ms).toBeLessThan(5_000);
    }
  });
});

describe("missing secret", () => {
  it("answers a clear 503 naming USER_ID_SECRET when a consenting shopper comes and it is not set", async () => {
    const region = sandboxRegion("recs");
    await sell(region, [{ sku: "OIL" }]);
    await ordered(region, [{ skus: ["OIL"], times: 2 }]);
    await build(region);
    await readModelSettled(); // as recommend() does: the popular list is filtered by the read model
    const noSecret = { ...env, USER_ID_SECRET: undefined };
    const ask = async (headers: Record<string, string>) => {
      const ctx = createExecutionContext();
      const res = await checkedFetch(new Request(`http://edge.test/v1/${region}/recommendations`, { headers: storefront(headers) }), (r) => worker.fetch(r as never, noSecret as never, ctx));
      await waitOnExecutionContext(ctx);
      return { status: res.status, type: res.headers.get("content-type"), body: (await res.json()) as any };
    };
    const personal = await ask({ "shopper-id": "ada", "personalization-consent": "granted" });
    expect(personal).toMatchObject({ status: 503, type: "application/problem+json", body: { code: "setting_missing", setting: "USER_ID_SECRET" } });
    // Without consent the secret is not needed: the shopper still gets the popular list.
    expect(await ask({ "shopper-id": "ada" })).toMatchObject({ status: 200, body: { items: [{ sku: "OIL" }] } });
  });
});

describe("the shopper's id stays out of URLs and logs", () => {
  afterEach(() => vi.restoreAllMocks());

  it("refuses ?user= with 400 pointing to the Shopper-Id header, without echoing the id", async () => {
    const res = await call("GET", "/v1/eu/recommendations?user=grace%40example.com", { headers: storefront() });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "shopper_id_in_url", header: "shopper-id" });
    expect(JSON.stringify(res.body)).not.toContain("grace");
  });

  it("never writes the raw id to the worker's log, through orders, recommendations, erasure and the retired forms", async () => {
    const region = sandboxRegion("recs");
    const id = `hopper-${crypto.randomUUID()}@example.com`;
    const lines: string[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      const original = console[level].bind(console);
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        lines.push(args.map((a) => (a instanceof Error ? `${a.message} ${a.stack}` : typeof a === "string" ? a : JSON.stringify(a))).join(" "));
        original(...args);
      });
    }
    await sell(region, [{ sku: "MIST" }, { sku: "TONIC", brand: "Brand B" }, { sku: "SERUM", brand: "Brand C" }]);
    await ordered(region, [{ skus: ["MIST", "SERUM"], times: 2 }]); // so the shopper's list has something new
    const made = await call("POST", `/v1/${region}/reservations`, {
      headers: storefront({ "idempotency-key": crypto.randomUUID() }),
      body: { lines: [{ sku: "MIST", qty: 1 }, { sku: "TONIC", qty: 1 }], shopper: { id, consent: true } },
    });
    expect(made.status).toBe(201);
    expect((await confirm(region, made.body.id, made.body.token)).status).toBe(200);
    const { database, eventually } = await import("./db");
    const { reservationLedger, shopperOrders } = await import("../schema/tables");
    const { and, eq, isNotNull } = await import("drizzle-orm");
    const { db, close } = database();
    try {
      // The order link and the confirmed lines reach Postgres through their queues.
      await eventually(async () => ((await db.select().from(shopperOrders).where(eq(shopperOrders.region, region))).length ? true : undefined), "the order link");
      await eventually(
        async () =>
          (await db.select().from(reservationLedger).where(and(eq(reservationLedger.reservationId, made.body.id), isNotNull(reservationLedger.confirmedAt)))).length === 2
            ? true
            : undefined,
        "the confirmed lines",
      );
    } finally {
      await close();
    }
    await build(region);
    expect((await recommend(region, { user: id, consent: "granted" })).body.personalised).toBe(true);
    expect((await call("GET", `/v1/${region}/recommendations?user=${encodeURIComponent(id)}`, { headers: storefront() })).status).toBe(400);
    expect((await call("DELETE", `/v1/admin/${region}/users/${encodeURIComponent(id)}`, { headers: adminHeaders() })).status).toBe(410);
    const erased = await call("POST", `/v1/admin/${region}/erasures`, { headers: adminHeaders(), body: { userId: id } });
    expect(erased.body.erased.orders).toBe(1);
    console.info("log capture works");
    expect(lines.at(-1)).toBe("log capture works");
    expect(lines.filter((l) => l.includes(id) || l.includes(encodeURIComponent(id)))).toEqual([]);
  });
});

describe("localized", () => {
  async function localizedRegion() {
    const region = sandboxRegion("recs");
    await sell(region, [
      { sku: "BASE-1" },
      {
        sku: "CREAM-1",
        brand: "Brand B",
        names: { fr: "Crème nuage", de: "Wolkencreme" },
        prices: { FR: { amount: 3200, currency: "EUR" }, GB: { amount: 2800, currency: "GBP" }, US: { amount: 3500, currency: "USD" } },
      },
    ]);
    await ordered(region, [{ skus: ["BASE-1", "CREAM-1"], times: 2 }]);
    await build(region);
    return region;
  }

  it("answers in the shopper's language, then the market's, with the market's price", async () => {
    const region = await localizedRegion();
    const item = async (q: { market?: string; language?: string }) => {
      const res = await recommend(region, { context: ["BASE-1"], ...q });
      expect(res.status).toBe(200);
      expect(res.headers.get("vary")).toContain("accept-language");
      return { market: res.body.market, ...res.body.items[0] };
    };
    expect(await item({ market: "FR", language: "de-AT, en;q=0.5" })).toMatchObject({
      market: "FR",
      name: "Wolkencreme",
      locale: "de",
      price: { amount: 3200, currency: "EUR" },
    });
    // A language the catalogue lacks, or none: the market's language.
    expect(await item({ market: "FR", language: "es" })).toMatchObject({ name: "Crème nuage", locale: "fr" });
    expect(await item({ market: "FR" })).toMatchObject({ name: "Crème nuage", locale: "fr" });
    // q=0 means "not this one".
    expect(await item({ market: "FR", language: "de;q=0, en" })).toMatchObject({ name: "Product CREAM-1", locale: "en" });
    expect(await item({ market: "GB" })).toMatchObject({ name: "Product CREAM-1", locale: "en", price: { amount: 2800, currency: "GBP" } });
    // A market without a price for the SKU: no price rather than another market's.
    expect(await item({ market: "JP" })).toMatchObject({ price: null });
    // No market and none by default for this region: base name, no price.
    expect(await item({})).toMatchObject({ market: null, name: "Product CREAM-1", price: null });

    // Bad translations or prices are refused with a 4xx and change nothing.
    const base = { name: "Product CREAM-1", brand: "Brand B", category: "lipstick" };
    for (const bad of [
      { names: { FR: "Crème" } },
      { prices: { FR: { amount: 31.99, currency: "EUR" } } },
      { prices: { FR: { amount: 3199, currency: "euro" } } },
      { prices: { france: { amount: 3199, currency: "EUR" } } },
    ]) {
      const res = await call("PUT", `/v1/admin/${region}/catalog/CREAM-1`, { headers: adminHeaders(), body: { ...base, ...bad } });
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.body.code).toBe("invalid_request");
    }
    await build(region);
    expect(await item({ market: "FR" })).toMatchObject({ name: "Crème nuage", price: { amount: 3200, currency: "EUR" } });
  });
});
