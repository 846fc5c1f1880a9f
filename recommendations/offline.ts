// The model from counts instead of baskets, for the offline build (scripts/recs-offline-build.ts):
// order lines arrive a page at a time and only these counts are kept, so memory depends on the
// catalogue (a triangle of n(n-1)/2 pair cells) and not on the order history. Up to `maxDense`
// SKUs it computes the shipped blend exactly as the Worker build does (shipped.ts); above, RP3beta
// from the same counts (no matrix inverse: a row at a time), which the evaluation puts level with
// EASE (docs/recommendations.md).
import { byScore, type Scored } from "./co-purchase";
import { easeFromGram } from "./models";
import type { ShippedModel } from "./shipped";

export class PairCounts {
  /** Baskets holding each item. */
  readonly counts: Float64Array;
  /** Baskets holding both i < j, at tri(i, j). */
  readonly together: Uint32Array;
  /** Σ over baskets holding both of 1 / basket size: RP3beta's random-walk mass. */
  readonly walk: Float32Array;
  baskets = 0;

  constructor(readonly n: number) {
    this.counts = new Float64Array(n);
    this.together = new Uint32Array((n * (n - 1)) / 2);
    this.walk = new Float32Array((n * (n - 1)) / 2);
  }

  tri(i: number, j: number): number {
    return i < j ? i * this.n - (i * (i + 1)) / 2 + (j - i - 1) : j * this.n - (j * (j + 1)) / 2 + (i - j - 1);
  }

  /** One basket, as distinct item indices. */
  add(items: readonly number[]): void {
    this.baskets++;
    const inv = 1 / items.length;
    for (let a = 0; a < items.length; a++) {
      this.counts[items[a]!]! += 1;
      for (let b = a + 1; b < items.length; b++) {
        const t = this.tri(items[a]!, items[b]!);
        this.together[t]! += 1;
        this.walk[t]! += inv;
      }
    }
  }
}

/**
 * Each item's best `neighbours`: the shipped model's lists when n <= maxDense, else RP3beta's.
 * Items are named by `skus[i]`.
 */
export function listsFromCounts(
  pc: PairCounts,
  skus: readonly string[],
  model: ShippedModel,
  maxDense: number,
): { lists: Map<string, Scored[]>; model: string } {
  const n = pc.n;
  const { alpha, beta } = model.kind === "ease" ? { alpha: 0.5, beta: 0.2 } : model.params;
  const rp3 = (i: number, j: number) => {
    const v = pc.walk[pc.tri(i, j)]!;
    return v > 0 ? (v / pc.counts[i]!) ** alpha / pc.counts[j]! ** beta : 0;
  };
  const lists = new Map<string, Scored[]>();
  const keep = (i: number, row: (j: number) => number) => {
    const scored: Scored[] = [];
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const v = row(j);
      if (v > 0) scored.push({ sku: skus[j]!, score: Math.round(v * 1e6) / 1e6 });
    }
    if (scored.length) lists.set(skus[i]!, scored.sort(byScore).slice(0, model.params.neighbours));
  };
  if (n <= maxDense && model.kind !== "rp3beta") {
    const g = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      g[i * n + i] = pc.counts[i]!;
      for (let j = i + 1; j < n; j++) g[i * n + j] = g[j * n + i] = pc.together[pc.tri(i, j)]!;
    }
    const e = easeFromGram(g, n, model.params.lambda);
    if (model.kind === "ease") {
      for (let i = 0; i < n; i++) keep(i, (j) => e[i * n + j]!);
      return { lists, model: "ease" };
    }
    let maxE = 0;
    let maxR = 0;
    for (let i = 0; i < e.length; i++) maxE = Math.max(maxE, Math.abs(e[i]!));
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) maxR = Math.max(maxR, rp3(i, j));
    const mix = model.params.mix;
    for (let i = 0; i < n; i++) keep(i, (j) => (mix * e[i * n + j]!) / (maxE || 1) + ((1 - mix) * rp3(i, j)) / (maxR || 1));
    return { lists, model: model.kind };
  }
  for (let i = 0; i < n; i++) keep(i, (j) => rp3(i, j));
  return { lists, model: n <= maxDense ? "rp3beta" : `rp3beta (catalogue above ${maxDense} SKUs)` };
}
