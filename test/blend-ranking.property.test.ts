// The route ranks a context once per version and merges each shopper's list into that ranking
// (recommendations/blend.ts: rankWithoutShopper, withShopper). As a property: for any lists, the
// merged ranking equals ranking from scratch with every source offered in turn, scores, reasons,
// `because` and order alike, and merging one shopper's list leaves the shared ranking as it was.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Candidate, rankCandidates, rankWithoutShopper, SOURCE_WEIGHT, withShopper } from "../recommendations/blend";
import { type Scored, together } from "../recommendations/co-purchase";
import type { RecommendationReason } from "../schema/contracts";

const WEIGHTS: Record<RecommendationReason, number> = { bought_together: 1, for_you: 0.8, popular_in_category: 0.15 };

/** The ranking as first written: one map, every source offered in turn, sorted once (the oracle). */
function fromScratch(
  s: {
    popular: readonly Scored[];
    popularByCategory: Record<string, readonly Scored[]>;
    forUser: readonly Scored[] | null;
    boughtTogether: ReadonlyMap<string, readonly Scored[]>;
    context: readonly string[];
  },
  weights: Readonly<Record<RecommendationReason, number>> = WEIGHTS,
): Candidate[] {
  const inContext = new Set(s.context);
  const best = new Map<string, Candidate>();
  const baskets = new Map<string, number>();
  for (const list of [s.popular, ...Object.values(s.popularByCategory)]) for (const p of list) baskets.set(p.sku, p.score);
  const bestSeller = Math.max(0, ...baskets.values());
  const offer = (reason: RecommendationReason, list: readonly (Scored & { because?: string })[], top = list[0]?.score ?? 0) => {
    if (top <= 0) return;
    for (const item of list) {
      if (inContext.has(item.sku)) continue;
      const score = (item.score / top) * weights[reason];
      const seen = best.get(item.sku);
      if (!seen) best.set(item.sku, { sku: item.sku, reason, ...(item.because && { because: item.because }), score });
      else {
        const total = seen.score + score;
        if (score > seen.score) best.set(item.sku, { sku: item.sku, reason, ...(item.because && { because: item.because }), score: total });
        else seen.score = total;
      }
    }
  };
  offer("bought_together", together(s.boughtTogether, s.context.map((sku) => ({ sku }))));
  if (s.forUser) offer("for_you", s.forUser);
  const categories = Object.values(s.popularByCategory);
  if (categories.length) for (const list of categories) offer("popular_in_category", list, bestSeller);
  else offer("popular_in_category", s.popular, bestSeller);
  const ranked = [...best.values()];
  for (const c of ranked) c.score = Math.round(c.score * 1e6) / 1e6;
  return ranked.sort((a, b) => b.score - a.score || (baskets.get(b.sku) ?? 0) - (baskets.get(a.sku) ?? 0) || (a.sku < b.sku ? -1 : 1));
}

const SKUS = Array.from({ length: 14 }, (_, i) => `S${String(i).padStart(2, "0")}`);
const sku = fc.constantFrom(...SKUS);
// Few distinct scores, so that ties (and their tie-breaks) are common.
const score = fc.oneof(fc.constantFrom(0, 1, 2, 3, 5, 8), fc.double({ min: 0, max: 10, noNaN: true }));
const list = (max: number) =>
  fc.uniqueArray(fc.record({ sku, score }), { selector: (x) => x.sku, maxLength: max }).map((l) => l.sort((a, b) => b.score - a.score));
// A shopper's list as built names each SKU once; one that names a SKU twice still gets both steps.
const shopperList = fc.oneof(
  list(8),
  fc.array(fc.record({ sku, score }), { maxLength: 8 }).map((l) => l.sort((a, b) => b.score - a.score)),
);
// Every list counts an item's baskets alike, as the build writes them: one count per SKU.
const baskets = fc.dictionary(sku, fc.integer({ min: 1, max: 6 }), { minKeys: 1 });

const sources = fc
  .record({
    counts: baskets,
    context: fc.uniqueArray(sku, { maxLength: 3 }),
    together: fc.dictionary(sku, list(8)),
    categories: fc.integer({ min: 0, max: 3 }),
    shoppers: fc.array(fc.option(shopperList, { nil: null }), { minLength: 1, maxLength: 4 }),
    upTo: fc.integer({ min: 1, max: 16 }),
  })
  .map(({ counts, context, together: boughtTogether, categories, shoppers, upTo }) => {
    const popular = Object.entries(counts)
      .map(([s, n]) => ({ sku: s, score: n }))
      .sort((a, b) => b.score - a.score || (a.sku < b.sku ? -1 : 1));
    const popularByCategory: Record<string, Scored[]> = {};
    for (let c = 0; c < categories; c++) popularByCategory[`c${c}`] = popular.filter((_, i) => i % categories === c).slice(0, 4);
    return { popular, popularByCategory, boughtTogether: new Map(Object.entries(boughtTogether)), context, shoppers, upTo };
  });

describe("ranking once per context, merging each shopper's list", () => {
  it("equals ranking from scratch for every shopper, and leaves the shared ranking untouched", () => {
    fc.assert(
      fc.property(sources, ({ shoppers, upTo, ...s }) => {
        const ranking = rankWithoutShopper({ ...s, forUser: null }, WEIGHTS);
        const before = structuredClone(ranking.ranked);
        for (const forUser of shoppers) {
          const merged = forUser ? withShopper(ranking, forUser, Infinity, WEIGHTS) : ranking.ranked;
          expect(merged).toEqual(fromScratch({ ...s, forUser }));
          // What pick() can reach of it: the same first candidates, however few are asked for.
          if (forUser) expect(withShopper(ranking, forUser, upTo, WEIGHTS)).toEqual(fromScratch({ ...s, forUser }).slice(0, upTo));
          expect(rankCandidates({ ...s, forUser }, WEIGHTS)).toEqual(fromScratch({ ...s, forUser }));
        }
        expect(ranking.ranked).toEqual(before);
        expect(ranking.ranked).toEqual(fromScratch({ ...s, forUser: null }));
        // With the shipped weights a list is prepared once and kept (per list, not per context):
        // the second merge of the same list, and a merge into another context's ranking, read it.
        const shipped = rankWithoutShopper({ ...s, forUser: null });
        const other = rankWithoutShopper({ ...s, context: [], forUser: null });
        for (const forUser of shoppers) {
          if (!forUser) continue;
          for (let i = 0; i < 2; i++) expect(withShopper(shipped, forUser)).toEqual(fromScratch({ ...s, forUser }, SOURCE_WEIGHT));
          expect(withShopper(other, forUser, upTo)).toEqual(fromScratch({ ...s, context: [], forUser }, SOURCE_WEIGHT).slice(0, upTo));
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
