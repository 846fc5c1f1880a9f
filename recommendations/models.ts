// Item-to-item models from baskets, as dense item-by-item weight matrices: score(j | context) is the
// sum of the context items' rows. Plain TypeScript with no platform imports, so the build (in the
// Worker or offline in Node) and `npm run recs:eval` run the same code.
//
//   cosine item-kNN   w(i,j) = c(i,j) / sqrt(n(i) n(j)), best `neighbours` per row
//   EASE              Steck 2019: B = I - P diagMat(1 / diag(P)), P = (XᵀX + λI)⁻¹, diag(B) = 0
//   RP3beta           Paudel et al. 2017: w(i,j) = (Σ_u x_ui x_uj / (n(i) |u|))^α / n(j)^β
//
// EASE inverts an n-by-n matrix: n² doubles of memory and about n³ multiply-adds. That is what
// bounds the catalogue a Worker can build in (docs/recommendations.md, "Limits").
import { basketCounts, byScore, type Scored } from "./co-purchase";

/** Items of the training baskets, most popular first (ties by SKU), and each basket as indices. */
export interface ItemSpace {
  items: string[];
  index: Map<string, number>;
  /** Baskets holding each item. */
  counts: Float64Array;
  baskets: number[][];
}

export function itemSpace(baskets: readonly (readonly string[])[]): ItemSpace {
  const counts = basketCounts(baskets);
  const items = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([sku]) => sku);
  const index = new Map(items.map((sku, i) => [sku, i]));
  return {
    items,
    index,
    counts: Float64Array.from(items, (sku) => counts.get(sku)!),
    baskets: baskets.map((b) => [...new Set(b)].map((sku) => index.get(sku)!)),
  };
}

/** Row-major n-by-n weights; row i holds what item i recommends. */
export interface Weights {
  space: ItemSpace;
  w: Float64Array;
}

/** XᵀX: baskets holding both i and j (n(i) on the diagonal). */
export function gram(space: ItemSpace): Float64Array {
  const n = space.items.length;
  const g = new Float64Array(n * n);
  for (const b of space.baskets) for (const i of b) for (const j of b) g[i * n + j]! += 1;
  return g;
}

/**
 * Inverts a symmetric positive definite matrix in place (Gauss-Jordan; no pivoting is needed
 * when the diagonal dominates, as it does for XᵀX + λI with λ > 0). Returns the same array.
 */
export function invertInPlace(a: Float64Array, n: number): Float64Array {
  for (let k = 0; k < n; k++) {
    const rowK = k * n;
    const pivot = a[rowK + k]!;
    if (!(Math.abs(pivot) > 1e-12)) throw new Error(`matrix is singular at row ${k}`);
    a[rowK + k] = 1;
    for (let j = 0; j < n; j++) a[rowK + j]! /= pivot;
    for (let i = 0; i < n; i++) {
      if (i === k) continue;
      const rowI = i * n;
      const f = a[rowI + k]!;
      if (f === 0) continue;
      a[rowI + k] = 0;
      for (let j = 0; j < n; j++) a[rowI + j]! -= f * a[rowK + j]!;
    }
  }
  return a;
}

export function ease(space: ItemSpace, lambda: number): Weights {
  return { space, w: easeFromGram(gram(space), space.items.length, lambda) };
}

/** EASE's weights from XᵀX (overwritten: the result is returned in the same array). */
export function easeFromGram(p: Float64Array, n: number, lambda: number): Float64Array {
  for (let i = 0; i < n; i++) p[i * n + i]! += lambda;
  invertInPlace(p, n);
  // B(i,j) = -P(i,j) / P(j,j) off the diagonal, 0 on it; P is reused as B.
  const diag = Float64Array.from({ length: n }, (_, j) => p[j * n + j]!);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) p[i * n + j] = i === j ? 0 : -p[i * n + j]! / diag[j]!;
  return p;
}

export function cosineKnn(space: ItemSpace, neighbours: number): Weights {
  const n = space.items.length;
  const w = gram(space);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) w[i * n + j] = i === j ? 0 : w[i * n + j]! / Math.sqrt(space.counts[i]! * space.counts[j]!);
  }
  keepBestPerRow(w, n, neighbours);
  return { space, w };
}

export function rp3beta(space: ItemSpace, alpha: number, beta: number, neighbours: number): Weights {
  const n = space.items.length;
  const w = new Float64Array(n * n);
  for (const b of space.baskets) {
    for (const i of b) for (const j of b) if (i !== j) w[i * n + j]! += 1 / (space.counts[i]! * b.length);
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = w[i * n + j]!;
      if (v > 0) w[i * n + j] = v ** alpha / space.counts[j]! ** beta;
    }
  }
  keepBestPerRow(w, n, neighbours);
  return { space, w };
}

/** Zeroes all but the `keep` largest weights of each row. */
function keepBestPerRow(w: Float64Array, n: number, keep: number) {
  if (keep >= n) return;
  for (let i = 0; i < n; i++) {
    const row = w.subarray(i * n, i * n + n);
    const threshold = [...row].sort((a, b) => b - a)[keep - 1]!;
    let kept = 0;
    for (let j = 0; j < n; j++) {
      if (row[j]! > threshold || (row[j] === threshold && kept < keep)) kept++;
      else row[j] = 0;
    }
  }
}

/**
 * Each item's best `neighbours` positive weights as a bought-together list: the shape the build
 * writes to KV and `together` ranks with.
 */
export function toLists(model: Weights, neighbours: number): Map<string, Scored[]> {
  const { space, w } = model;
  const n = space.items.length;
  const lists = new Map<string, Scored[]>();
  for (let i = 0; i < n; i++) {
    const list: Scored[] = [];
    for (let j = 0; j < n; j++) {
      const v = w[i * n + j]!;
      if (v > 0) list.push({ sku: space.items[j]!, score: Math.round(v * 1e6) / 1e6 });
    }
    if (list.length) lists.set(space.items[i]!, list.sort(byScore).slice(0, neighbours));
  }
  return lists;
}

/**
 * The top k for a context from the full matrix (no truncation): the baselines' exact ranking. Ties,
 * including items nothing points to, go to the more popular item; the context itself is left out.
 */
export function recommendFromWeights(model: Weights, context: readonly string[], k: number): string[] {
  const { space, w } = model;
  const n = space.items.length;
  const scores = new Float64Array(n);
  const skip = new Set<number>();
  for (const sku of context) {
    const i = space.index.get(sku);
    if (i === undefined) continue;
    skip.add(i);
    for (let j = 0; j < n; j++) scores[j]! += w[i * n + j]!;
  }
  return topK(scores, skip, k).map((j) => space.items[j]!);
}

/** Indices of the k best scores; ties to the lower index (items are ordered by popularity). */
export function topK(scores: Float64Array, skip: ReadonlySet<number>, k: number): number[] {
  const best: number[] = [];
  for (let j = 0; j < scores.length; j++) {
    if (skip.has(j)) continue;
    if (best.length === k && scores[j]! <= scores[best[k - 1]!]!) continue;
    let at = best.length === k ? k - 1 : best.length;
    if (best.length < k) best.push(j);
    while (at > 0 && scores[best[at - 1]!]! < scores[j]!) {
      best[at] = best[at - 1]!;
      at--;
    }
    best[at] = j;
  }
  return best;
}
