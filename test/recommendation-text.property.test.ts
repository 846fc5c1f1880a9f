// The route sends recommendations as text joined from pieces kept per card (recommendations/serve.ts,
// recommendText) instead of serialising the answer object. As a property: for any catalogue, lists,
// request and availability, the text is byte for byte JSON.stringify of the object answer, names
// with quotes, backslashes and non-Latin letters, missing prices and unknown availability included;
// and a card's pieces, once kept, do not leak from one market or language into another.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Scored } from "../recommendations/co-purchase";
import { maxAvailabilityChecks, recommend, recommendText, type RecommendationRequest, type RecommendationSources } from "../recommendations/serve";
import { type Card, categoryKey, itemKey, type Lists, pointerKey, popularKey, userKey } from "../recommendations/store";

const REGION = "eu";
const VERSION = "vtext";
const SKUS = Array.from({ length: 12 }, (_, i) => `T${String(i).padStart(2, "0")}`);
const CATEGORIES = ["lips", "eyes", "skin"];

const text = fc.oneof(fc.constantFrom('say "hi"', "back\\slash", "crème", "口紅", "tab\there", "emoji 💄"), fc.string({ maxLength: 12 }));
const card: fc.Arbitrary<Card> = fc.record(
  {
    name: text,
    brand: fc.constantFrom("A", "B", 'C "q"'),
    category: fc.constantFrom(...CATEGORIES),
    names: fc.dictionary(fc.constantFrom("fr", "de", "ja"), text),
    prices: fc.dictionary(fc.constantFrom("FR", "GB"), fc.record({ amount: fc.integer({ min: 0, max: 99_999 }), currency: fc.constantFrom("EUR", "GBP") })),
  },
  { requiredKeys: ["name", "brand", "category"] },
);
const scored = (max: number) =>
  fc.uniqueArray(fc.record({ sku: fc.constantFrom(...SKUS), score: fc.integer({ min: 1, max: 50 }) }), { selector: (x) => x.sku, maxLength: max }).map((l) => l.sort((a, b) => b.score - a.score));

interface World {
  cards: (Card | undefined)[];
  together: Scored[][];
  popular: Scored[];
  forUser: Scored[];
  units: number[];
}
const world: fc.Arbitrary<World> = fc.record({
  cards: fc.tuple(...SKUS.map(() => fc.option(card, { nil: undefined }))),
  together: fc.tuple(...SKUS.map(() => scored(6))),
  popular: scored(12),
  forUser: scored(6),
  units: fc.tuple(...SKUS.map(() => fc.integer({ min: 0, max: 8 }))),
});
const ask = fc.record({
  context: fc.uniqueArray(fc.constantFrom(...SKUS), { maxLength: 3 }),
  limit: fc.integer({ min: 1, max: 12 }),
  market: fc.constantFrom("FR", "GB", null),
  acceptLanguage: fc.option(fc.constantFrom("fr-CH, fr;q=0.9", "ja", "de;q=0.5, en", "xx"), { nil: undefined }),
  shopper: fc.boolean(),
  availabilityKnown: fc.boolean(),
});

function listsOf(w: World): Lists {
  const store = new Map<string, unknown>([[pointerKey(REGION), { version: VERSION, builtAt: "2026-12-01T00:00:00Z" }]]);
  store.set(popularKey(REGION, VERSION), w.popular);
  SKUS.forEach((sku, i) => {
    const c = w.cards[i];
    if (c) store.set(itemKey(REGION, VERSION, sku), { card: c, together: w.together[i]!.filter((t) => t.sku !== sku) });
  });
  for (const category of CATEGORIES) {
    const inCategory: Scored[] = w.popular.filter((p) => w.cards[SKUS.indexOf(p.sku)]?.category === category);
    store.set(categoryKey(REGION, VERSION, category), inCategory);
  }
  store.set(userKey(REGION, VERSION, "shopper"), w.forUser);
  // Parsed anew on every read, as KV text would be: the two answers share no objects but the view's.
  return { json: async (keys) => new Map(keys.map((k) => [k, store.has(k) ? structuredClone(store.get(k)) : null])) };
}

function sourcesOf(w: World, lists: Lists, known: boolean, limit: number): RecommendationSources {
  return {
    lists,
    available: async (skus) => (known ? new Map(skus.map((s) => [s, { available: w.units[SKUS.indexOf(s)]! }])) : null),
    maxChecks: maxAvailabilityChecks(limit),
    status: (n) => (n === 0 ? "out_of_stock" : n <= 3 ? "low_stock" : "in_stock"),
  };
}

describe("recommendations as text", () => {
  it("is JSON.stringify of the object answer, for any lists, request and availability", async () => {
    await fc.assert(
      fc.asyncProperty(world, fc.array(ask, { minLength: 1, maxLength: 4 }), async (w, asks) => {
        const lists = listsOf(w);
        // Several requests on one version: the later ones use pieces the earlier ones kept.
        for (const a of asks) {
          const request: RecommendationRequest = { region: REGION, context: a.context, limit: a.limit, market: a.market, acceptLanguage: a.acceptLanguage, ...(a.shopper && { shopper: "shopper" }) };
          const sources = sourcesOf(w, lists, a.availabilityKnown, a.limit);
          const body = await recommendText(request, sources);
          expect(body).toBe(JSON.stringify(await recommend(request, sources)));
          JSON.parse(body);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("keeps a card's name and price apart per market and language", async () => {
    const w: World = {
      cards: SKUS.map((_, i) => ({ name: `name ${i}`, brand: `b${i % 4}`, category: "lips", names: { fr: `nom ${i}` }, prices: { FR: { amount: 100 + i, currency: "EUR" }, GB: { amount: 90 + i, currency: "GBP" } } })),
      together: SKUS.map(() => []),
      popular: SKUS.map((sku, i) => ({ sku, score: 50 - i })),
      forUser: [],
      units: SKUS.map(() => 5),
    };
    const lists = listsOf(w);
    const first = (market: string, acceptLanguage?: string) =>
      recommendText({ region: REGION, context: [], limit: 1, market, acceptLanguage }, sourcesOf(w, lists, true, 1)).then((t) => JSON.parse(t).items[0]);
    expect(await first("FR")).toMatchObject({ sku: "T00", name: "nom 0", locale: "fr", price: { amount: 100, currency: "EUR" } });
    expect(await first("GB")).toMatchObject({ sku: "T00", name: "name 0", locale: "en", price: { amount: 90, currency: "GBP" } });
    expect(await first("GB", "fr")).toMatchObject({ sku: "T00", name: "nom 0", locale: "fr", price: { amount: 90, currency: "GBP" } });
    expect(await first("FR")).toMatchObject({ name: "nom 0", price: { currency: "EUR" } });
  });
});
