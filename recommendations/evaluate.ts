// Leave-one-out evaluation of bought-together lists: for every held-out basket and every item in it,
// hide the item, recommend from the rest of the basket, and see where (if anywhere) the hidden item
// lands in the top k. The same lists and ranking as the recommendation route (co-purchase.ts),
// next to a popularity baseline. Plain TypeScript, for Node (scripts/recs-eval.ts) and the tests.
import { boughtTogether, type CoPurchaseOptions, distinctBaskets, popularity, together } from "./co-purchase";

export interface MethodResult {
  method: string;
  /** Share of hidden items found in the top k. */
  hitRate: number;
  /** Mean NDCG@k with one relevant item: 1 / log2(rank + 1) when found, else 0. */
  ndcg: number;
  /** Share of the training catalogue that appears in at least one top k. */
  coverage: number;
}

export interface Evaluation {
  k: number;
  trainBaskets: number;
  testBaskets: number;
  /** Hidden items scored (one per item of every test basket with at least two items). */
  cases: number;
  catalogue: number;
  results: MethodResult[];
  ms: number;
}

/** Every `every`-th basket is held out for testing; the rest train. Deterministic, so runs compare. */
export function holdOut<T>(baskets: readonly T[], every = 5): { train: T[]; test: T[] } {
  const train: T[] = [];
  const test: T[] = [];
  baskets.forEach((b, i) => ((i + 1) % every === 0 ? test : train).push(b));
  return { train, test };
}

export function evaluate(
  split: { train: readonly (readonly string[])[]; test: readonly (readonly string[])[] },
  options: { k?: number; coPurchase?: CoPurchaseOptions; onProgress?: (done: number, total: number) => void } = {},
): Evaluation {
  const started = Date.now();
  const k = options.k ?? 10;
  const train = distinctBaskets(split.train);
  const test = distinctBaskets(split.test).filter((b) => b.length >= 2);
  const lists = boughtTogether(train, options.coPurchase);
  const popular = popularity(train);
  const catalogue = popular.length;

  const methods = {
    "bought together (shipped)": (context: string[]) =>
      together(lists, context.map((sku) => ({ sku })), k).map((s) => s.sku),
    "popularity baseline": (context: string[]) => {
      const skip = new Set(context);
      return popular.filter((p) => !skip.has(p.sku)).slice(0, k).map((p) => p.sku);
    },
  };
  const tallies = Object.keys(methods).map(() => ({ hits: 0, gain: 0, shown: new Set<string>() }));
  let cases = 0;
  test.forEach((basket, n) => {
    for (const hidden of basket) {
      const context = basket.filter((s) => s !== hidden);
      cases++;
      Object.values(methods).forEach((recommend, m) => {
        const top = recommend(context);
        const t = tallies[m]!;
        for (const sku of top) t.shown.add(sku);
        const rank = top.indexOf(hidden);
        if (rank >= 0) {
          t.hits++;
          t.gain += 1 / Math.log2(rank + 2);
        }
      });
    }
    if (options.onProgress && ((n + 1) % 100 === 0 || n + 1 === test.length)) options.onProgress(n + 1, test.length);
  });
  return {
    k,
    trainBaskets: train.length,
    testBaskets: test.length,
    cases,
    catalogue,
    results: Object.keys(methods).map((method, m) => ({
      method,
      hitRate: cases ? tallies[m]!.hits / cases : 0,
      ndcg: cases ? tallies[m]!.gain / cases : 0,
      coverage: catalogue ? tallies[m]!.shown.size / catalogue : 0,
    })),
    ms: Date.now() - started,
  };
}

/** One basket per line, items separated by commas (the Groceries CSV format). */
export function parseBaskets(csv: string): string[][] {
  return distinctBaskets(csv.split(/\r?\n/).map((line) => line.split(",")));
}
