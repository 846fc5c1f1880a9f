// A small recommendation world for property tests: a catalogue of 12 SKUs, their lists and units,
// and the requests a storefront could send about it (recommendation-text and -memo tests).
import fc from "fast-check";
import type { Scored } from "../recommendations/co-purchase";
import { maxAvailabilityChecks, type RecommendationSources } from "../recommendations/serve";
import { type Card, categoryKey, itemKey, type Lists, pointerKey, popularKey, userKey } from "../recommendations/store";

export const REGION = "eu";
export const VERSION = "vtext";
export const SKUS = Array.from({ length: 12 }, (_, i) => `T${String(i).padStart(2, "0")}`);
export const CATEGORIES = ["lips", "eyes", "skin"];

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
export const scored = (max: number) =>
  fc.uniqueArray(fc.record({ sku: fc.constantFrom(...SKUS), score: fc.integer({ min: 1, max: 50 }) }), { selector: (x) => x.sku, maxLength: max }).map((l) => l.sort((a, b) => b.score - a.score));

export interface World {
  cards: (Card | undefined)[];
  together: Scored[][];
  popular: Scored[];
  forUser: Scored[];
  units: number[];
}
export const world: fc.Arbitrary<World> = fc.record({
  cards: fc.tuple(...SKUS.map(() => fc.option(card, { nil: undefined }))),
  together: fc.tuple(...SKUS.map(() => scored(6))),
  popular: scored(12),
  forUser: scored(6),
  units: fc.tuple(...SKUS.map(() => fc.integer({ min: 0, max: 8 }))),
});
export const ask = fc.record({
  context: fc.uniqueArray(fc.constantFrom(...SKUS), { maxLength: 3 }),
  limit: fc.integer({ min: 1, max: 12 }),
  market: fc.constantFrom("FR", "GB", null),
  acceptLanguage: fc.option(fc.constantFrom("fr-CH, fr;q=0.9", "ja", "de;q=0.5, en", "xx"), { nil: undefined }),
  shopper: fc.boolean(),
  availabilityKnown: fc.boolean(),
});

/** What a build of `w` stores, by key (the shopper's pseudonym is "shopper"). */
export function storeOf(w: World, version = VERSION): Map<string, unknown> {
  const store = new Map<string, unknown>([[pointerKey(REGION), { version, builtAt: "2026-12-01T00:00:00Z" }]]);
  store.set(popularKey(REGION, version), w.popular);
  SKUS.forEach((sku, i) => {
    const c = w.cards[i];
    if (c) store.set(itemKey(REGION, version, sku), { card: c, together: w.together[i]!.filter((t) => t.sku !== sku) });
  });
  for (const category of CATEGORIES) {
    const inCategory: Scored[] = w.popular.filter((p) => w.cards[SKUS.indexOf(p.sku)]?.category === category);
    store.set(categoryKey(REGION, version, category), inCategory);
  }
  store.set(userKey(REGION, version, "shopper"), w.forUser);
  return store;
}

/** `w`'s lists, parsed anew on every read as KV text would be: two answers share no objects but the view's. */
export function listsOf(w: World): Lists {
  const store = storeOf(w);
  return { json: async (keys) => new Map(keys.map((k) => [k, store.has(k) ? structuredClone(store.get(k)) : null])) };
}

export function sourcesOf(w: World, lists: Lists, known: boolean, limit: number): RecommendationSources {
  return {
    lists,
    available: async (skus) => (known ? new Map(skus.map((s) => [s, { available: w.units[SKUS.indexOf(s)]! }])) : null),
    maxChecks: maxAvailabilityChecks(limit),
    status: (n) => (n === 0 ? "out_of_stock" : n <= 3 ? "low_stock" : "in_stock"),
  };
}
