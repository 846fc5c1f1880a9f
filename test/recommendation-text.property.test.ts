// The route sends recommendations as text joined from pieces kept per card (recommendations/serve.ts,
// recommendText) instead of serialising the answer object. As a property: for any catalogue, lists,
// request and availability, the text is byte for byte JSON.stringify of the object answer, names
// with quotes, backslashes and non-Latin letters, missing prices and unknown availability included;
// and a card's pieces, once kept, do not leak from one market or language into another. A score is
// written as String() writes it.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { recommend, recommendText, type RecommendationRequest, scoreText } from "../recommendations/serve";
import { ask, listsOf, REGION, SKUS, sourcesOf, world, type World } from "./recs-world";

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

  it("writes a score as String() does", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999_999_999_999_999 }), fc.double({ noNaN: false }), (millionths, any) => {
        // Scores as blend.ts makes them (rounded to 6 decimals), and any other number.
        const score = Math.round((millionths / 1e6) * 1e6) / 1e6;
        expect(scoreText(score)).toBe(String(score));
        expect(scoreText(any)).toBe(String(any));
      }),
      { numRuns: 20_000 },
    );
    for (const score of [0, -0, 1e-6, 0.1, 0.5, 1, 2.000001, 0.833333, 999_999_999.999999, 1e9, -1e-6]) expect(scoreText(score)).toBe(String(score));
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
