// Items frequently bought together, from baskets alone. Plain TypeScript with no platform imports:
// the build in the worker and `npm run recs:eval` in Node run this same code, so the evaluation
// measures what ships.
//
// score(i -> j) = c(i,j) / sqrt(n(i) * n(j)) * c(i,j) / (c(i,j) + shrinkage)
//   c(i,j): baskets holding both; n(i): baskets holding i.
// The cosine denominator keeps best-sellers from crowding out everything (they co-occur with every
// item merely by being everywhere); the shrinkage factor distrusts pairs seen in only a basket or two.

export interface Scored {
  sku: string;
  score: number;
}

export interface CoPurchaseOptions {
  /** How many neighbours to keep per item. */
  neighbours?: number;
  /** Pairs seen this many times are trusted half; more, nearly fully. */
  shrinkage?: number;
  /** Baskets with more distinct items than this are skipped: bulk orders say little about affinity. */
  maxBasketSize?: number;
}

export const CO_PURCHASE_DEFAULTS = { neighbours: 30, shrinkage: 2, maxBasketSize: 40 } as const;

/** Each basket as its distinct items, in first-seen order; empty baskets dropped. */
export function distinctBaskets(baskets: Iterable<readonly string[]>): string[][] {
  const out: string[][] = [];
  for (const basket of baskets) {
    const items = [...new Set(basket.map((s) => s.trim()).filter(Boolean))];
    if (items.length) out.push(items);
  }
  return out;
}

/** In how many baskets each item appears. */
export function basketCounts(baskets: readonly (readonly string[])[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const basket of baskets) for (const sku of new Set(basket)) counts.set(sku, (counts.get(sku) ?? 0) + 1);
  return counts;
}

/** Items ordered by how many baskets hold them (ties by SKU, so the order is stable). */
export function popularity(baskets: readonly (readonly string[])[]): Scored[] {
  return [...basketCounts(baskets)].map(([sku, n]) => ({ sku, score: n })).sort(byScore);
}

/** For every item, its best co-purchased items, best first. */
export function boughtTogether(baskets: readonly (readonly string[])[], options: CoPurchaseOptions = {}): Map<string, Scored[]> {
  const { neighbours, shrinkage, maxBasketSize } = { ...CO_PURCHASE_DEFAULTS, ...options };
  const index = new Map<string, number>();
  const names: string[] = [];
  const id = (sku: string) => {
    let i = index.get(sku);
    if (i === undefined) {
      i = names.length;
      index.set(sku, i);
      names.push(sku);
    }
    return i;
  };
  const counts: number[] = [];
  // pairs[i] maps j -> baskets holding both; both directions are stored.
  const pairs: Map<number, number>[] = [];
  for (const basket of baskets) {
    const items = [...new Set(basket)].map(id);
    for (const i of items) {
      counts[i] = (counts[i] ?? 0) + 1;
      pairs[i] ??= new Map();
    }
    if (items.length > maxBasketSize) continue;
    for (let a = 0; a < items.length; a++) {
      for (let b = a + 1; b < items.length; b++) {
        const i = items[a]!;
        const j = items[b]!;
        pairs[i]!.set(j, (pairs[i]!.get(j) ?? 0) + 1);
        pairs[j]!.set(i, (pairs[j]!.get(i) ?? 0) + 1);
      }
    }
  }
  const lists = new Map<string, Scored[]>();
  for (let i = 0; i < names.length; i++) {
    const scored: Scored[] = [];
    for (const [j, together] of pairs[i] ?? []) {
      const cosine = together / Math.sqrt(counts[i]! * counts[j]!);
      scored.push({ sku: names[j]!, score: round(cosine * (together / (together + shrinkage))) });
    }
    if (scored.length) lists.set(names[i]!, scored.sort(byScore).slice(0, neighbours));
  }
  return lists;
}

/**
 * What goes with a set of items (a cart, a product page, a shopper's history): the sum of each
 * item's neighbour scores, weighted, best first, without the items themselves. The recommendation
 * route and the evaluation both rank with this.
 */
export function together(
  lists: ReadonlyMap<string, readonly Scored[]>,
  context: readonly { sku: string; weight?: number }[],
  limit = Infinity,
): (Scored & { because: string })[] {
  const inContext = new Set(context.map((c) => c.sku));
  const totals = new Map<string, { score: number; because: string; best: number }>();
  for (const { sku, weight = 1 } of context) {
    for (const n of lists.get(sku) ?? []) {
      if (inContext.has(n.sku)) continue;
      const contribution = n.score * weight;
      const t = totals.get(n.sku);
      if (!t) totals.set(n.sku, { score: contribution, because: sku, best: contribution });
      else {
        t.score += contribution;
        if (contribution > t.best) {
          t.best = contribution;
          t.because = sku;
        }
      }
    }
  }
  const out: (Scored & { because: string })[] = [];
  for (const [sku, t] of totals) out.push({ sku, score: round(t.score), because: t.because });
  out.sort(byScore);
  return limit < out.length ? out.slice(0, limit) : out;
}

export function byScore(a: Scored, b: Scored): number {
  return b.score - a.score || (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0);
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;
