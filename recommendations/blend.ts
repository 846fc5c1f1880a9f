// Blending at request time: the context's bought-together lists (the product viewed, the cart), the
// shopper's own list (only with consent) and popular items, into one ranked list. Nothing the
// region does not sell, nothing already in the context; at most a few items per brand; and the
// caller's availability check drops what cannot be bought right now.
import type { RecommendationReason } from "../schema/contracts";
import { type Scored, together } from "./co-purchase";
import type { CatalogSnapshot, PopularLists } from "./store";

export interface Candidate {
  sku: string;
  reason: RecommendationReason;
  because?: string;
  score: number;
}

/**
 * How much each source counts once its scores are scaled to 0..1. Popular items: 0.1 ranked best
 * of 0, 0.1, 0.2, 0.3 on the tuning split of the groceries training file (within noise of each
 * other); small enough that a true companion keeps its place ahead of a best-seller.
 */
export const SOURCE_WEIGHT: Record<RecommendationReason, number> = {
  bought_together: 1,
  for_you: 0.8,
  popular_in_category: 0.1,
};

/** Variety: at most this many items of one brand in a list of `limit`. */
export const maxPerBrand = (limit: number) => Math.max(2, Math.ceil(limit / 3));

export interface BlendSources {
  catalog: CatalogSnapshot;
  popular: PopularLists;
  /** The shopper's own list; null without consent (or without history). */
  forUser: Scored[] | null;
  boughtTogether: ReadonlyMap<string, Scored[]>;
  context: readonly string[];
}

/** Every candidate the region sells that is not in the context, best first, with its main reason. */
export function rankCandidates(s: BlendSources): Candidate[] {
  const inContext = new Set(s.context);
  const best = new Map<string, Candidate>();
  const offer = (reason: RecommendationReason, list: readonly (Scored & { because?: string })[]) => {
    const top = list[0]?.score ?? 0;
    if (top <= 0) return;
    for (const item of list) {
      if (inContext.has(item.sku) || !s.catalog[item.sku]) continue;
      const score = (item.score / top) * SOURCE_WEIGHT[reason];
      const seen = best.get(item.sku);
      if (!seen) best.set(item.sku, { sku: item.sku, reason, ...(item.because && { because: item.because }), score });
      else {
        // A SKU several sources agree on ranks higher; its reason is the strongest source's.
        const total = seen.score + score;
        if (score > seen.score) best.set(item.sku, { sku: item.sku, reason, ...(item.because && { because: item.because }), score: total });
        else seen.score = total;
      }
    }
  };
  offer("bought_together", together(s.boughtTogether, s.context.map((sku) => ({ sku }))));
  if (s.forUser) offer("for_you", s.forUser);
  for (const category of popularCategories(s)) offer("popular_in_category", s.popular[category] ?? []);
  return [...best.values()]
    .map((c) => ({ ...c, score: Math.round(c.score * 1e4) / 1e4 }))
    .sort((a, b) => b.score - a.score || (a.sku < b.sku ? -1 : 1));
}

/** The categories of the context and of the shopper's top items; every category when there are none. */
function popularCategories(s: BlendSources): string[] {
  const categories = new Set<string>();
  for (const sku of [...s.context, ...(s.forUser ?? []).slice(0, 5).map((x) => x.sku)]) {
    const entry = s.catalog[sku];
    if (entry) categories.add(entry[2]);
  }
  return categories.size ? [...categories] : Object.keys(s.popular);
}

/**
 * Walks the ranking, skipping brands already at their cap and SKUs `available` turns down, until
 * `limit` items are chosen. Availability is asked a few candidates ahead at a time, so the long
 * tail of the ranking costs nothing.
 */
export async function pick(
  ranked: readonly Candidate[],
  catalog: CatalogSnapshot,
  limit: number,
  available: (skus: string[]) => Promise<Set<string>>,
): Promise<Candidate[]> {
  const cap = maxPerBrand(limit);
  const brandOf = (c: Candidate) => catalog[c.sku]![1];
  const perBrand = new Map<string, number>();
  const capped = (c: Candidate) => (perBrand.get(brandOf(c)) ?? 0) >= cap;
  const buyable = new Map<string, boolean>();
  const chosen: Candidate[] = [];
  for (let i = 0; i < ranked.length && chosen.length < limit; i++) {
    const c = ranked[i]!;
    if (capped(c)) continue;
    if (!buyable.has(c.sku)) {
      const ahead: string[] = [];
      for (let j = i; j < ranked.length && ahead.length < limit - chosen.length + 2; j++) {
        if (!capped(ranked[j]!) && !buyable.has(ranked[j]!.sku)) ahead.push(ranked[j]!.sku);
      }
      const ok = await available(ahead);
      for (const sku of ahead) buyable.set(sku, ok.has(sku));
    }
    if (!buyable.get(c.sku)) continue;
    perBrand.set(brandOf(c), (perBrand.get(brandOf(c)) ?? 0) + 1);
    chosen.push(c);
  }
  return chosen;
}
