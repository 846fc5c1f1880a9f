// Blending at request time: the context's bought-together lists (the product viewed, the cart), the
// shopper's own list (only with consent) and popular items, into one ranked list. Nothing the
// region does not sell (no card in the build), nothing already in the context; at most a few items
// per brand; and the caller's availability check drops what cannot be bought right now, or, when
// the check fails or is slow, lets everything through marked as unknown.
import type { RecommendationReason } from "../schema/contracts";
import { type Scored, together } from "./co-purchase";
import { SHIPPED_MODEL } from "./shipped";
import type { Card } from "./store";

export interface Candidate {
  sku: string;
  reason: RecommendationReason;
  because?: string;
  score: number;
  /**
   * This candidate's JSON up to its card (`{"sku":…,"reason":…,"score":…,`), made the first time an
   * answer shows it (recommendations/serve.ts): a kept ranking's candidates are shown again and again.
   * Present, undefined, on every candidate made here, so that setting it changes no object's shape.
   */
  head?: string;
}

/**
 * How much each source counts once its scores are scaled to 0..1. Popular items: the shipped
 * model's weight, which `npm run recs:eval` chooses by cross-validation on the training file
 * (recommendations/shipped.ts); small enough that a true companion keeps its place ahead of a best-seller.
 */
export const SOURCE_WEIGHT: Readonly<Record<RecommendationReason, number>> = {
  bought_together: 1,
  for_you: 0.8,
  popular_in_category: SHIPPED_MODEL.params.popular,
};

/** Variety: at most this many items of one brand in a list of `limit`. */
export const maxPerBrand = (limit: number) => Math.max(2, Math.ceil(limit / 3));

export interface BlendSources {
  /** The region's best-sellers by baskets (cold start, and the popularity scale of every category). */
  popular: readonly Scored[];
  /** Best-sellers of the context's categories. */
  popularByCategory: Readonly<Record<string, readonly Scored[]>>;
  /** The shopper's own list; null without consent (or without history). */
  forUser: readonly Scored[] | null;
  boughtTogether: ReadonlyMap<string, readonly Scored[]>;
  context: readonly string[];
  /** `popular` as SKU -> baskets, when the caller keeps one per version (else made here). */
  popularIndex?: ReadonlyMap<string, number>;
}

/**
 * What one candidate is made of, while a ranking is built (the ranking then keeps it by position,
 * so that a shopper's list can be offered later): its score from the bought-together lists (with
 * the context SKU it goes with) and from the popular lists, each on its 0..1 scale times its weight.
 * A source names a SKU once (the lists are per SKU, the categories disjoint); `popularMore` holds
 * any further popular step, so nothing depends on that.
 */
interface Part {
  together: number | undefined;
  because: string | undefined;
  popular: number | undefined;
  popularMore: number[] | undefined;
}

/**
 * The ranking without a shopper's list, and what it was made of. A shopper's list is offered
 * between bought-together and popular items (`withShopper`), so a ranking worked out once per
 * context serves every shopper.
 *
 * What it was made of is kept by position, in a few flat arrays rather than an object per
 * candidate: a personalised answer looks up some 30 SKUs of a ranking it has not touched lately
 * (one of thousands kept), and its cost is the memory it reaches, not the arithmetic
 * (docs/performance-log.md). A SKU's position is found through `slots`, an open-addressing table of
 * the ranking's own.
 */
export interface Ranking {
  /** Every candidate that is not in the context, best first. */
  ranked: Candidate[];
  inContext: ReadonlySet<string>;
  /** Best first: score, then the item in more baskets, then the SKU (a total order). */
  order: (a: Candidate, b: Candidate) => number;
  /** `ranked`'s scores, in its order: what a shopper's candidates are compared with, without reading each candidate. */
  scores: Float64Array;
  /** Per position: its SKU, its bought-together step (NaN: none) and the SKU it goes with, its popular step (NaN: none). */
  skus: string[];
  together: Float64Array;
  because: (string | undefined)[];
  popular: Float64Array;
  /** Further popular steps by position, when a SKU is in more than one popular list (never, as built). */
  popularMore: ReadonlyMap<number, number[]> | undefined;
  /** Position + 1 of each SKU (0: an empty slot), at `skuHash(sku) & (slots.length - 1)` or the next slots after it. */
  slots: Int32Array;
}

/** Every candidate that is not in the context, best first, with its main reason. */
export function rankCandidates(s: BlendSources, weights: Readonly<Record<RecommendationReason, number>> = SOURCE_WEIGHT): Candidate[] {
  const ranking = rankWithoutShopper(s, weights);
  return s.forUser ? withShopper(ranking, s.forUser, Infinity, weights) : ranking.ranked;
}

/** `rankCandidates` as if no shopper were known (whatever `s.forUser` holds). */
export function rankWithoutShopper(s: BlendSources, weights: Readonly<Record<RecommendationReason, number>> = SOURCE_WEIGHT): Ranking {
  const inContext = new Set(s.context);
  // Popularity is one scale for every list: baskets over the region's best-seller's baskets, so a
  // category's top item bought 3 times never ranks level with one bought 5,000 times.
  const popularIndex = s.popularIndex ?? new Map(s.popular.map((p) => [p.sku, p.score]));
  const inCategories = new Map<string, number>();
  let bestSeller = 0;
  for (const p of s.popular) bestSeller = Math.max(bestSeller, p.score);
  const categories = Object.values(s.popularByCategory);
  for (const list of categories) {
    for (const p of list) {
      inCategories.set(p.sku, p.score);
      bestSeller = Math.max(bestSeller, p.score);
    }
  }
  const parts = new Map<string, Part>();
  const companions = together(s.boughtTogether, s.context.map((sku) => ({ sku })));
  const top = companions[0]?.score ?? 0;
  if (top > 0) {
    for (const item of companions) {
      // together() names each SKU once and never one of the context.
      parts.set(skuString(item.sku), newPart((item.score / top) * weights.bought_together, item.because || undefined, undefined));
    }
  }
  const offerPopular = (list: readonly Scored[]) => {
    if (bestSeller <= 0) return;
    for (const item of list) {
      if (inContext.has(item.sku)) continue;
      const score = (item.score / bestSeller) * weights.popular_in_category;
      const part = parts.get(item.sku);
      if (!part) parts.set(skuString(item.sku), newPart(undefined, undefined, score));
      else if (part.popular === undefined) part.popular = score;
      else (part.popularMore ??= []).push(score);
    }
  };
  if (categories.length) for (const list of categories) offerPopular(list);
  else offerPopular(s.popular);
  // Ties go to the item in more baskets, then to the SKU, so the order is stable.
  const order = bestFirst(inCategories, popularIndex);
  const ranked: Candidate[] = [];
  for (const [sku, part] of parts) ranked.push(fold(sku, part));
  ranked.sort(order);
  const n = ranked.length;
  const ranking: Ranking = {
    ranked,
    inContext,
    order,
    scores: new Float64Array(n),
    skus: new Array<string>(n),
    together: new Float64Array(n),
    because: new Array<string | undefined>(n),
    popular: new Float64Array(n),
    popularMore: undefined,
    // At most half full, so a probe ends within a slot or two.
    slots: new Int32Array(Math.max(8, 2 ** Math.ceil(Math.log2(2 * n + 1)))),
  };
  let popularMore: Map<number, number[]> | undefined;
  for (let at = 0; at < n; at++) {
    const sku = ranked[at]!.sku;
    const part = parts.get(sku)!;
    ranking.scores[at] = ranked[at]!.score;
    ranking.skus[at] = sku;
    ranking.together[at] = part.together ?? NaN;
    ranking.because[at] = part.because;
    ranking.popular[at] = part.popular ?? NaN;
    if (part.popularMore) (popularMore ??= new Map()).set(at, part.popularMore);
    let slot = skuHash(sku) & (ranking.slots.length - 1);
    while (ranking.slots[slot] !== 0) slot = (slot + 1) & (ranking.slots.length - 1);
    ranking.slots[slot] = at + 1;
  }
  ranking.popularMore = popularMore;
  return ranking;
}

/**
 * A ranking's order: score, then baskets, then SKU. Made here rather than inside rankWithoutShopper
 * because a function keeps its whole enclosing scope alive: made there, every kept ranking would
 * also have kept the parts it was built from.
 */
function bestFirst(inCategories: ReadonlyMap<string, number>, popularIndex: ReadonlyMap<string, number>): Ranking["order"] {
  const baskets = (sku: string) => inCategories.get(sku) ?? popularIndex.get(sku) ?? 0;
  return (a, b) => b.score - a.score || baskets(b.sku) - baskets(a.sku) || (a.sku < b.sku ? -1 : 1);
}

/** Where `sku` stands in `r.ranked`, or -1 when the ranking does not offer it; `hash` is `skuHash(sku)`. */
function positionOf(r: Ranking, sku: string, hash: number): number {
  const mask = r.slots.length - 1;
  for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
    const at = r.slots[slot]! - 1;
    if (at < 0 || r.skus[at] === sku) return at;
  }
}

/** FNV-1a over a SKU's characters: where it goes in a ranking's `slots` (worked out once per SKU of a prepared list). */
function skuHash(sku: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < sku.length; i++) h = Math.imul(h ^ sku.charCodeAt(i), 0x01000193);
  return h;
}

/**
 * The first `upTo` candidates of the ranking with the shopper's own list offered between
 * bought-together and popular items, as if ranked from scratch: only the candidates the list names
 * are worked out again, and merged into the ranking without a shopper (which stays as it is).
 * Bound by the memory it touches more than by its arithmetic (docs/performance-log.md, "Where
 * a personalised answer's time goes"): the list is prepared once per list read, and the merge reads
 * the ranking's score array rather than its candidates.
 */
export function withShopper(
  ranking: Ranking,
  forUser: readonly Scored[],
  upTo = Infinity,
  weights: Readonly<Record<RecommendationReason, number>> = SOURCE_WEIGHT,
): Candidate[] {
  const list = prepared(forUser, weights);
  if (list === null) return upTo < ranking.ranked.length ? ranking.ranked.slice(0, upTo) : ranking.ranked;
  const { ranked, scores, inContext, order } = ranking;
  // The ranking's candidates the list names (they come out of `changed` instead), by position: one
  // buffer per isolate, cleared for each merge (this function never awaits), since a typed array
  // of more than 64 bytes made per request would be allocated outside V8's heap every time.
  if (namedScratch.length < ranked.length) namedScratch = new Uint8Array(Math.max(ranked.length, 2 * namedScratch.length));
  const named = namedScratch;
  named.fill(0, 0, ranked.length);
  const changed: Candidate[] = [];
  if (list.once) {
    for (let i = 0; i < list.skus.length; i++) {
      const sku = list.skus[i]!;
      // The ranking's candidates are never in the context: only a SKU it does not offer is looked for there.
      const at = positionOf(ranking, sku, list.hashes[i]!);
      if (at < 0) {
        // Not a candidate of this context: the list's own step alone, the same for every context.
        if (!inContext.has(sku)) changed.push((list.alone[i] ??= fold(sku, undefined, list.own[i]!)));
        continue;
      }
      named[at] = 1;
      changed.push(foldAt(ranking, at, list.own[i]!));
    }
  } else {
    // A SKU the list names twice (it does not, as built) gets both steps.
    const mine = new Map<string, number[]>();
    for (let i = 0; i < list.skus.length; i++) {
      const sku = list.skus[i]!;
      if (inContext.has(sku)) continue;
      const steps = mine.get(sku);
      if (steps) steps.push(list.own[i]!);
      else mine.set(sku, [list.own[i]!]);
    }
    for (const [sku, own] of mine) {
      const at = positionOf(ranking, sku, skuHash(sku));
      if (at >= 0) named[at] = 1;
      changed.push(at < 0 ? fold(sku, undefined, own.length === 1 ? own[0] : own) : foldAt(ranking, at, own.length === 1 ? own[0]! : own));
    }
  }
  sortBest(changed, order);
  const out: Candidate[] = [];
  let j = 0;
  for (let at = 0; at < ranked.length && out.length < upTo; at++) {
    if (named[at]) continue;
    // A changed candidate goes first when it scores higher, or ties and wins the order's tie-breaks.
    const score = scores[at]!;
    while (j < changed.length && out.length < upTo && (changed[j]!.score > score || (changed[j]!.score === score && order(changed[j]!, ranked[at]!) < 0))) out.push(changed[j++]!);
    if (out.length < upTo) out.push(ranked[at]!);
  }
  while (j < changed.length && out.length < upTo) out.push(changed[j++]!);
  return out;
}

let namedScratch = new Uint8Array(256);

/**
 * One string per SKU in this process. Each list is parsed on its own (a shopper's list every time
 * it is read), so the same SKU arrives as many strings; a ranking's candidates and a prepared
 * shopper's list use this one instead. Then the lookups a personalised answer makes by SKU (the
 * ranking's SKU index, the view's cards, the availability pages) read a few strings every answer
 * reads, not each list's own copies: a personalised answer's cost is the memory it touches
 * (docs/performance-log.md). Bounded: past SKU_STRINGS entries it starts again.
 */
const skuStrings = new Map<string, string>();
const SKU_STRINGS = 100_000;

function skuString(sku: string): string {
  const known = skuStrings.get(sku);
  if (known !== undefined) return known;
  if (skuStrings.size >= SKU_STRINGS) skuStrings.clear();
  skuStrings.set(sku, sku);
  return sku;
}

/**
 * `order` for the few candidates a shopper's list re-scores: an insertion sort that compares scores
 * in place and calls `order` only on a tie (the same result as `sort(order)`, a total order, for a
 * fraction of the calls).
 */
function sortBest(c: Candidate[], order: Ranking["order"]): void {
  for (let i = 1; i < c.length; i++) {
    const x = c[i]!;
    let k = i - 1;
    while (k >= 0 && (c[k]!.score < x.score || (c[k]!.score === x.score && order(c[k]!, x) > 0))) {
      c[k + 1] = c[k]!;
      k--;
    }
    c[k + 1] = x;
  }
}

/** A shopper's list as withShopper reads it: its SKUs and their scores on the list's own 0..1 scale, times its weight. */
interface PreparedList {
  skus: string[];
  /** `skuHash` of each SKU: where to look for it in a ranking's slots. */
  hashes: Int32Array;
  own: Float64Array;
  /** Per SKU, its candidate where no context offers it (made when first needed; candidates are never changed). */
  alone: (Candidate | undefined)[];
  /** Whether it names each SKU once (as built). */
  once: boolean;
}

/** Shoppers' lists are kept parsed (recommendations/list-cache.ts), so one comes back as the same array while it is held. */
const preparedLists = new WeakMap<readonly Scored[], PreparedList | null>();

/** `forUser` prepared once per list (for the shipped weights), or null when it offers nothing (no positive score). */
function prepared(forUser: readonly Scored[], weights: Readonly<Record<RecommendationReason, number>>): PreparedList | null {
  const kept = weights === SOURCE_WEIGHT ? preparedLists.get(forUser) : undefined;
  if (kept !== undefined) return kept;
  const top = forUser[0]?.score ?? 0;
  let list: PreparedList | null = null;
  if (top > 0) {
    const skus: string[] = [];
    const hashes = new Int32Array(forUser.length);
    const own = new Float64Array(forUser.length);
    const seen = new Set<string>();
    for (let i = 0; i < forUser.length; i++) {
      const { sku, score } = forUser[i]!;
      skus.push(skuString(sku));
      hashes[i] = skuHash(sku);
      own[i] = (score / top) * weights.for_you;
      seen.add(sku);
    }
    list = { skus, hashes, own, alone: new Array<Candidate | undefined>(skus.length), once: seen.size === skus.length };
  }
  if (weights === SOURCE_WEIGHT) preparedLists.set(forUser, list);
  return list;
}

/** A part with every field present, in one order: all parts share one shape. */
function newPart(together: number | undefined, because: string | undefined, popular: number | undefined): Part {
  return { together, because, popular, popularMore: undefined };
}

/**
 * One candidate from its contributions, offered in turn (bought together, the shopper's, popular):
 * the scores add up, so a SKU several sources agree on ranks higher; its reason (and `because`) is
 * the source that outscored everything before it. Rounded to 6 decimals.
 */
function fold(sku: string, part: Part | undefined, own?: number | readonly number[]): Candidate {
  foldSteps(part?.together ?? NaN, part?.because, part?.popular ?? NaN, part?.popularMore, own);
  // The key order of a candidate made in one piece: sku, reason, because (when there is one), score.
  const { reason, because, score } = folded;
  return because ? { sku, reason, because, score, head: undefined } : { sku, reason, score, head: undefined };
}

/**
 * `fold` of the ranking's candidate at `at` with the shopper's steps, read from the ranking's
 * arrays. Its candidates live for one request: they are made here, not in `fold`, whose candidates
 * (kept rankings) live long. V8 decides per place in the code whether what it makes is allocated
 * as short-lived or as long-lived, and one place for both made every personalised answer's
 * candidates long-lived (in Node, making them was 35-40 % of withShopper's time).
 */
function foldAt(r: Ranking, at: number, own: number | readonly number[]): Candidate {
  const sku = r.skus[at]!;
  foldSteps(r.together[at]!, r.because[at], r.popular[at]!, r.popularMore?.get(at), own);
  const { reason, because, score } = folded;
  return because ? { sku, reason, because, score, head: undefined } : { sku, reason, score, head: undefined };
}

/** What `foldSteps` worked out last: read at once by its caller (nothing runs in between). */
const folded: { reason: RecommendationReason; because: string | undefined; score: number } = { reason: "popular_in_category", because: undefined, score: 0 };

/** `fold` from the steps themselves (NaN: no such step), into `folded`. */
function foldSteps(
  together: number,
  togetherWith: string | undefined,
  popular: number,
  popularMore: readonly number[] | undefined,
  own: number | readonly number[] | undefined,
): void {
  let reason: RecommendationReason | undefined;
  let because: string | undefined;
  let score = 0;
  if (!Number.isNaN(together)) {
    reason = "bought_together";
    because = togetherWith;
    score = together;
  }
  if (own !== undefined) {
    // One step (the list as built names a SKU once) or several, with no array made for one.
    const steps = typeof own === "number" ? 1 : own.length;
    for (let i = 0; i < steps; i++) {
      const value = typeof own === "number" ? own : own[i]!;
      if (reason === undefined || value > score) {
        reason = "for_you";
        because = undefined;
      }
      score += value;
    }
  }
  if (!Number.isNaN(popular)) {
    for (let i = -1; i < (popularMore?.length ?? 0); i++) {
      const value = i < 0 ? popular : popularMore![i]!;
      if (reason === undefined || value > score) {
        reason = "popular_in_category";
        because = undefined;
      }
      score += value;
    }
  }
  folded.reason = reason!;
  folded.because = because;
  folded.score = Math.round(score * 1e6) / 1e6;
}

/** Cards by SKU: a Map, or a view over entries held elsewhere. */
export type CardLookup = Pick<ReadonlyMap<string, Card>, "get">;

/** How many candidates' cards pick() reads at a time. */
export const cardPageSize = (limit: number) => Math.min(100, Math.max(20, 3 * limit));

/**
 * What pick() reads. Each answers at once when it can (from memory), else with a promise: pick()
 * waits only for those, so a walk that needs nothing read awaits nothing.
 */
export interface PickSources {
  /** Reads the cards of these SKUs (one bulk read) and returns a lookup of every card known so far. */
  cards: (skus: string[]) => CardLookup | Promise<CardLookup>;
  /**
   * A SKU's card when this process holds it: null when the region has none, undefined when it
   * would have to be read. When every SKU of a page is held, that page is not asked of `cards`.
   */
  cardHeld?: (sku: string) => Card | null | undefined;
  /** How many card reads the request may make. */
  cardPages: number;
  /** The units available of each of these SKUs, in their order (0: none), or null when availability cannot be known in time. */
  available: (skus: string[]) => readonly number[] | null | Promise<readonly number[] | null>;
  /** How many SKUs' availability the request may ask for in all. */
  maxChecks: number;
}

/** A candidate pick() chose: the ranking's own object (never copied), its card, and its units (null: unknown). */
export interface PickedItem {
  candidate: Candidate;
  card: Card;
  units: number | null;
}

export interface Picked {
  chosen: PickedItem[];
  availability: "checked" | "unknown";
  /** Every SKU whose availability was asked, in the order asked, and the units each had. */
  checked: string[];
  checkedUnits: number[];
}

/**
 * Walks the ranking (which names each SKU once), skipping SKUs without a card (not sold in the
 * region), brands already at their cap and SKUs `available` turns down, until `limit` items are
 * chosen. Cards are read a page ahead and availability a few candidates ahead, so the long tail
 * costs nothing. When availability fails, the rest of the walk is unfiltered and the answer says
 * `availability: "unknown"`. What it learns of a candidate is kept by position, so no SKU is
 * looked up twice.
 *
 * Answers at once, with no promise, when every source did (the steady state: cards and units in
 * memory); a promise only once a source gave one. A busy isolate pays more for an await than for
 * the whole walk.
 */
export function pick(ranked: readonly Candidate[], limit: number, sources: PickSources): Picked | Promise<Picked> {
  const walk = walkRanking(ranked, limit, sources);
  const step = walk.next();
  return step.done ? step.value : finishWalk(walk, step.value);
}

/** The rest of a walk that had to wait for `pending`: each read awaited in turn, handed back to the walk. */
async function finishWalk(walk: Generator<Promise<unknown>, Picked, unknown>, pending: Promise<unknown>): Promise<Picked> {
  for (;;) {
    const step = walk.next(await pending);
    if (step.done) return step.value;
    pending = step.value;
  }
}

/**
 * pick()'s walk: it yields only a source's promise, and is given back what that promise gave, so a
 * walk whose sources all answer at once runs to its end in one step.
 */
function* walkRanking(ranked: readonly Candidate[], limit: number, sources: PickSources): Generator<Promise<unknown>, Picked, unknown> {
  const cap = maxPerBrand(limit);
  const pageSize = cardPageSize(limit);
  let cardsUpTo = 0;
  let pages = 0;
  // Per position: its card (null: none in the region), and its units once asked.
  const cardAt: (Card | null)[] = [];
  const unitsAt: number[] = [];
  const perBrand = new Map<string, number>();
  const checked: string[] = [];
  const checkedUnits: number[] = [];
  let unknown = false;
  const chosen: PickedItem[] = [];
  const usable = (j: number) => {
    const card = cardAt[j]!;
    return card !== null && (perBrand.get(card.brand) ?? 0) < cap;
  };
  for (let i = 0; i < ranked.length && chosen.length < limit; i++) {
    if (i >= cardsUpTo) {
      if (pages >= sources.cardPages) break;
      const end = Math.min(ranked.length, i + pageSize);
      let held = sources.cardHeld !== undefined;
      for (let j = i; held && j < end; j++) {
        const card = sources.cardHeld!(ranked[j]!.sku);
        if (card === undefined) held = false;
        else cardAt[j] = card;
      }
      if (!held) {
        const page: string[] = [];
        for (let j = i; j < end; j++) page.push(ranked[j]!.sku);
        const read = sources.cards(page);
        const cards = read instanceof Promise ? ((yield read) as CardLookup) : read;
        for (let j = i; j < end; j++) cardAt[j] = cards.get(ranked[j]!.sku) ?? null;
      }
      cardsUpTo = i + pageSize;
      pages++;
    }
    if (!usable(i)) continue;
    if (!unknown && unitsAt[i] === undefined) {
      if (checked.length >= sources.maxChecks) break;
      const want = Math.min(limit - chosen.length + 2, sources.maxChecks - checked.length);
      const batch: string[] = [];
      const at: number[] = [];
      for (let j = i; j < Math.min(ranked.length, cardsUpTo) && batch.length < want; j++) {
        if (usable(j) && unitsAt[j] === undefined) {
          batch.push(ranked[j]!.sku);
          at.push(j);
        }
      }
      const asked = sources.available(batch);
      const units = asked instanceof Promise ? ((yield asked) as readonly number[] | null) : asked;
      if (units === null) unknown = true;
      else {
        for (let k = 0; k < batch.length; k++) {
          unitsAt[at[k]!] = units[k]!;
          checked.push(batch[k]!);
          checkedUnits.push(units[k]!);
        }
      }
    }
    if (!unknown && !(unitsAt[i]! > 0)) continue;
    const card = cardAt[i]!;
    perBrand.set(card.brand, (perBrand.get(card.brand) ?? 0) + 1);
    chosen.push({ candidate: ranked[i]!, card, units: unknown ? null : unitsAt[i]! });
  }
  return { chosen, availability: unknown ? "unknown" : "checked", checked, checkedUnits };
}
