// One recommendation answer, from the lists (through recommendations/list-cache.ts) and an
// availability check: what GET /v1/{region}/recommendations sends, with the HTTP around it left to
// the caller (workers/routes/recommendations.ts; the bench's Node peers serve the same answer from
// Redis or Postgres with this very function, so the bench compares runtimes and stores only).
import type { z } from "@hono/zod-openapi";
import type { RecommendationsResponse } from "../schema/contracts";
import { cardPageSize, pick, type Ranking, rankWithoutShopper, withShopper } from "./blend";
import { acceptedLanguages, localName, MARKETS } from "./markets";
import { type Lists, READ_BOUNDS, readCards, readLists } from "./store";

/** The most SKUs one request asks availability for (looked up a read-model page at a time). */
export const maxAvailabilityChecks = (limit: number) => 2 * limit + 10;

export interface RecommendationRequest {
  region: string;
  context: readonly string[];
  limit: number;
  /** A known market (the caller checked it), or null for a region without markets. */
  market: string | null;
  /** The shopper's pseudonym: only with consent. */
  shopper?: string;
  acceptLanguage?: string;
}

export interface RecommendationSources {
  lists: Lists;
  /** Units available per SKU asked for, or null when availability cannot be had in time. */
  available: (skus: string[]) => Promise<ReadonlyMap<string, number> | null>;
  /** How many SKUs' availability one request may ask for in all. */
  maxChecks: number;
  status: (available: number) => "in_stock" | "low_stock" | "out_of_stock";
  /** Told whether the precomputed lists had everything asked for (the shopper's list, each context SKU). */
  cacheHit?: (hit: boolean) => void;
}

export async function recommend(request: RecommendationRequest, sources: RecommendationSources): Promise<z.infer<typeof RecommendationsResponse>> {
  const { region, limit, market, shopper } = request;
  const context = [...new Set(request.context)];
  const lists = await readLists(sources.lists, region, { shopper, context });
  const version = lists.version;
  const view = lists.view;
  // Without a shopper's list the ranking depends on the version and the context alone: worked out
  // once per isolate and version for each context (product pages repeat) and kept in the version's
  // view; a shopper's list is merged into it (blend.ts, withShopper), which is the same ranking as
  // from scratch for a fraction of the work.
  const rankKey = `ranked:${context.join(",")}`;
  let ranking = view?.derived.get(rankKey)?.value as Ranking | undefined;
  if (!ranking) {
    ranking = rankWithoutShopper({ ...lists, context, popularIndex: view?.popularIndex });
    view?.keepDerived(rankKey, ranking, ranking.ranked.length + 1);
  }
  // pick() never walks further than its card pages reach.
  const ranked = lists.forUser ? withShopper(ranking, lists.forUser, READ_BOUNDS.cardPages * cardPageSize(limit)) : ranking.ranked;
  sources.cacheHit?.(version !== null && (!shopper || lists.forUser !== null) && context.every((sku) => lists.boughtTogether.has(sku)));
  const units = new Map<string, number>();
  const picked = await pick(ranked, limit, {
    cardPages: READ_BOUNDS.cardPages,
    cards: async (skus) => {
      await readCards(sources.lists, view!, skus, lists.cards);
      return lists.cards;
    },
    maxChecks: sources.maxChecks,
    available: async (skus) => {
      const read = await sources.available(skus);
      if (!read) return null;
      const buyable = new Set<string>();
      for (const sku of skus) {
        const n = read.get(sku) ?? 0;
        units.set(sku, n);
        if (n > 0) buyable.add(sku);
      }
      return buyable;
    },
  });
  const accepted = acceptedLanguages(request.acceptLanguage);
  const language = market ? MARKETS[market]?.language : undefined;
  return {
    region,
    personalised: Boolean(lists.forUser?.length),
    listsVersion: version,
    market,
    availability: picked.availability,
    items: picked.chosen.map((c) => {
      const { name, locale } = localName(c.card, accepted, language);
      const { brand, category } = c.card;
      const price = (market && c.card.prices?.[market]) || null;
      const status = c.buyable === null ? ("unknown" as const) : sources.status(units.get(c.sku) ?? 0);
      // Two literals rather than a spread: this runs for every item of every answer.
      return c.because === undefined
        ? { sku: c.sku, reason: c.reason, score: c.score, name, locale, brand, category, price, status }
        : { sku: c.sku, reason: c.reason, because: c.because, score: c.score, name, locale, brand, category, price, status };
    }),
  };
}
