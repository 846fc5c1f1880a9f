// The evaluation behind `npm run recs:eval`: leave-one-out metrics on a fixture whose right answers
// are worked out by hand, the baselines' maths (EASE's inverse), the paired bootstrap, tuning on the
// training file only, and the shipped model against the baselines on the committed held-out split.
import { describe, expect, it } from "vitest";
import { boughtTogether, together } from "../recommendations/co-purchase";
import { bootstrap, evaluate, holdOut, parseBaskets, scoreCases, tune } from "../recommendations/evaluate";
import { ease, invertInPlace, itemSpace, toLists } from "../recommendations/models";
import { PairCounts, listsFromCounts } from "../recommendations/offline";
import { SHIPPED_MODEL, shippedLists } from "../recommendations/shipped";
import trainCsv from "../data/groceries-train.csv?raw";
import testCsv from "../data/groceries-test.csv?raw";

// Training: A and B always together (3 baskets), C and D always together (2 baskets), E alone.
// Popularity: A 3, B 3, C 2, D 2, E 1. Test baskets: [A, B] and [C, D]: four hidden items.
const fixture = {
  train: [["A", "B"], ["A", "B"], ["A", "B"], ["C", "D"], ["C", "D"], ["E"]],
  test: [["A", "B"], ["C", "D"]],
};

const byMethod = (e: ReturnType<typeof evaluate>) => Object.fromEntries(e.results.map((r) => [r.method.split(/[ :]/)[0], r]));

describe("leave-one-out evaluation", () => {
  it("scores the shipped lists perfectly where each item has one true companion", () => {
    const e = evaluate(fixture, { k: 10, bootstrap: 50 });
    expect(e).toMatchObject({ k: 10, trainBaskets: 6, testBaskets: 2, cases: 4, catalogue: 5 });
    const shipped = byMethod(e).shipped!;
    expect(shipped.hitRate.mean).toBe(1);
    expect(shipped.ndcg.mean).toBe(1);
    expect(shipped.basketNdcg.mean).toBe(1);
  });

  it("scores the popularity baseline by the hidden item's rank, per case and per basket", () => {
    // Hide A (context B): A, C, D, E -> rank 1. Hide B: rank 1. Hide C (context D): A, B, C, E ->
    // rank 3, gain 1/log2(4) = 0.5. Hide D: rank 3, 0.5. Per case (1 + 1 + 0.5 + 0.5) / 4 = 0.75;
    // per basket: (1 + 0.5) / 2 = 0.75 too, as both baskets hold two items.
    const popularity = byMethod(evaluate(fixture, { k: 10, bootstrap: 50 })).popularity!;
    expect(popularity).toMatchObject({ hitRate: { mean: 1 }, ndcg: { mean: 0.75 }, basketNdcg: { mean: 0.75 }, coverage: 1 });
    // k = 2: only A and B are found. Single-item contexts show [B, C], [A, C], then [A, B] for
    // C, D and E: 3 of 5 items.
    expect(byMethod(evaluate(fixture, { k: 2, bootstrap: 50 })).popularity).toMatchObject({
      hitRate: { mean: 0.5 },
      ndcg: { mean: 0.5 },
      coverage: 0.6,
    });
  });

  it("weighs each basket once in the per-basket average, each hidden item once in the per-case one", () => {
    // Test baskets: [A, B, E] (3 cases) and [C, D] (2 cases).
    const e = evaluate({ train: fixture.train, test: [["A", "B", "E"], ["C", "D"]] }, { k: 1, bootstrap: 50 });
    const popularity = byMethod(e).popularity!;
    // k = 1: hide A (context B, E) -> top A: hit. Hide B (context A, E) -> top B: hit. Hide E ->
    // top C: miss. Hide C (context D) -> top A: miss. Hide D -> miss. Cases: 2/5; baskets: (2/3 + 0) / 2.
    expect(popularity.hitRate.mean).toBeCloseTo(2 / 5, 12);
    expect(popularity.basketHitRate.mean).toBeCloseTo(1 / 3, 12);
  });

  it("reports a coverage that does not depend on how many test baskets there are", () => {
    const few = evaluate({ train: fixture.train, test: [["A", "B"]] }, { bootstrap: 20 });
    const many = evaluate({ train: fixture.train, test: Array.from({ length: 50 }, () => ["C", "D"]) }, { bootstrap: 20 });
    expect(few.results.map((r) => r.coverage)).toEqual(many.results.map((r) => r.coverage));
  });

  it("tunes on the training baskets only: the test file cannot move a parameter", () => {
    const baskets = parseBaskets(trainCsv).slice(0, 1500);
    const a = evaluate({ train: baskets, test: parseBaskets(testCsv).slice(0, 100) }, { bootstrap: 20 });
    const b = evaluate({ train: baskets, test: parseBaskets(testCsv).slice(200, 210) }, { bootstrap: 20 });
    expect(a.tuned).toEqual(b.tuned);
    expect(a.tuned).toEqual(tune(baskets, 10));
  }, 240_000); // two whole evaluations, each choosing the shipped form by cross-validation

  it("holds out every n-th basket, deterministically", () => {
    expect(holdOut([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 5)).toEqual({ train: [1, 2, 3, 4, 6, 7, 8, 9], test: [5, 10] });
  });

  it("reads one basket per line, trimming items and dropping blanks and repeats", () => {
    expect(parseBaskets("a, b ,a\n\nc\r\nd,,e\n")).toEqual([["a", "b"], ["c"], ["d", "e"]]);
  });
});

describe("paired bootstrap", () => {
  const cases = (hits: number[][], basketOf: number[]) => ({
    hits: hits.map((h) => Float64Array.from(h)),
    gains: hits.map((h) => Float64Array.from(h)),
    basketOf: Int32Array.from(basketOf),
    baskets: Math.max(...basketOf) + 1,
  });

  it("gives a zero-width difference for identical methods and the exact gap for always-right against never", () => {
    const boot = bootstrap(cases([[1, 0, 1, 0], [1, 0, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]], [0, 0, 1, 2]), 200, 7);
    expect(boot.difference(0, 1, "hit", "case")).toEqual({ mean: 0, lo: 0, hi: 0 });
    expect(boot.difference(2, 3, "hit", "basket")).toEqual({ mean: 1, lo: 1, hi: 1 });
  });

  it("brackets the observed mean, and repeats itself for a seed", () => {
    const c = cases([[1, 0, 1, 1, 0, 0, 1, 0, 1, 1]], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const once = bootstrap(c, 500, 3).interval(0, "hit", "case");
    expect(once.mean).toBeCloseTo(0.6, 12);
    expect(once.lo).toBeLessThan(0.6);
    expect(once.hi).toBeGreaterThan(0.6);
    expect(bootstrap(c, 500, 3).interval(0, "hit", "case")).toEqual(once);
  });
});

describe("EASE, implemented here", () => {
  it("inverts a matrix: [[2, 1], [1, 2]] gives [[2, -1], [-1, 2]] / 3", () => {
    const inv = invertInPlace(Float64Array.from([2, 1, 1, 2]), 2);
    [2 / 3, -1 / 3, -1 / 3, 2 / 3].forEach((x, i) => expect(inv[i]).toBeCloseTo(x, 12));
  });

  it("inverts a larger positive definite matrix: A times its inverse is the identity", () => {
    const n = 12;
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = i === j ? n + 1 : 1 / (1 + i + j);
    const inv = invertInPlace(Float64Array.from(a), n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let m = 0; m < n; m++) s += a[i * n + m]! * inv[m * n + j]!;
        expect(s).toBeCloseTo(i === j ? 1 : 0, 10);
      }
    }
  });

  it("computes B = -P / diag(P) by hand on two items", () => {
    // Baskets [A, B] x3 and [A]: XᵀX = [[4, 3], [3, 3]]; + λI (λ = 1) = [[5, 3], [3, 4]];
    // P = [[4, -3], [-3, 5]] / 11; B(A, B) = 3/5, B(B, A) = 3/4.
    const model = ease(itemSpace([["A", "B"], ["A", "B"], ["A", "B"], ["A"]]), 1);
    expect(toLists(model, 10).get("A")).toEqual([{ sku: "B", score: 0.6 }]);
    expect(toLists(model, 10).get("B")).toEqual([{ sku: "A", score: 0.75 }]);
  });
});

describe("the shipped model on baskets it never saw", () => {
  it("is at least as good as the best baseline on the committed held-out split", () => {
    const e = evaluate({ train: parseBaskets(trainCsv), test: parseBaskets(testCsv) }, { bootstrap: 1000 }); // as `npm run recs:eval` reports it
    expect(e.cases).toBe(5911);
    const baselines = e.comparisons.filter((c) => !c.against.includes("before"));
    // Never significantly worse than any baseline on any reported measure (each interval of the
    // difference reaches 0 or above): hit@10 and NDCG@10, per case and per basket...
    for (const c of baselines) {
      for (const measure of ["hitRate", "ndcg", "basketHitRate", "basketNdcg"] as const) expect(c[measure].hi, `${measure} against ${c.against}`).toBeGreaterThanOrEqual(0);
    }
    // ...and clearly better than popularity, cosine item-kNN and the lists it replaces.
    for (const name of ["popularity", "cosine item-kNN", "co-purchase v1 (before)"]) {
      expect(e.comparisons.find((c) => c.against === name)!.ndcg.lo, name).toBeGreaterThan(0);
    }
    expect(e.choice).toMatch(/^blend lists/);
  }, 240_000); // the whole evaluation: cross-validated choice of the shipped form, 1,000 bootstrap draws

  it("falls back to the sparse co-purchase lists above the dense size limit", () => {
    const baskets = [["A", "B"], ["A", "B"], ["B", "C"]];
    expect(shippedLists(baskets, undefined, 2).fallback).toBe(true);
    expect(shippedLists(baskets, undefined, 2).get("A")).toEqual(boughtTogether(baskets, { neighbours: 30 }).get("A"));
    expect(shippedLists(baskets).fallback).toBeUndefined();
  });
});

describe("the offline build's model from counts", () => {
  const baskets = parseBaskets(trainCsv).slice(0, 800);
  const skus = [...new Set(baskets.flat())];
  const index = new Map(skus.map((s, i) => [s, i]));
  const counts = new PairCounts(skus.length);
  for (const b of baskets) counts.add(b.map((s) => index.get(s)!));

  it("computes the same lists as the Worker build, a page of baskets at a time", () => {
    const fromBaskets = shippedLists(baskets);
    const { lists, model } = listsFromCounts(counts, skus, SHIPPED_MODEL, 1_500);
    expect(model).toBe("blend");
    expect([...lists.keys()].sort()).toEqual([...fromBaskets.keys()].sort());
    for (const [sku, list] of fromBaskets) {
      const other = lists.get(sku)!;
      // Float32 sums may move the sixth decimal, never the ranking by more than a near-tie.
      list.forEach((x, r) => expect(other[r]!.score, `${sku} #${r}`).toBeCloseTo(x.score, 4));
    }
  });

  it("falls back to RP3beta from the same counts above the dense limit", () => {
    const { lists, model } = listsFromCounts(counts, skus, SHIPPED_MODEL, 10);
    expect(model).toMatch(/^rp3beta/);
    const rp3 = shippedLists(baskets, { kind: "rp3beta", params: { alpha: 0.5, beta: 0.2, neighbours: SHIPPED_MODEL.params.neighbours, popular: SHIPPED_MODEL.params.popular } });
    for (const [sku, list] of rp3) list.forEach((x, r) => expect(lists.get(sku)![r]!.score).toBeCloseTo(x.score, 4));
  });
});

describe("bought-together scoring", () => {
  it("normalises by popularity and distrusts pairs seen once", () => {
    const lists = boughtTogether([["X", "Y"], ["X", "Y"], ["X", "Z"], ["Z"], ["Z"], ["Z"]], { shrinkage: 2 });
    // X-Y: 2 / sqrt(3 * 2) * 2 / 4; X-Z: 1 / sqrt(3 * 4) * 1 / 3.
    expect(lists.get("X")).toEqual([
      { sku: "Y", score: Math.round((2 / Math.sqrt(6)) * 0.5 * 1e6) / 1e6 },
      { sku: "Z", score: Math.round((1 / Math.sqrt(12)) * (1 / 3) * 1e6) / 1e6 },
    ]);
  });

  it("ranks for a whole cart by summed scores, naming the item each pick goes with", () => {
    const lists = new Map([
      ["A", [{ sku: "C", score: 0.5 }, { sku: "D", score: 0.4 }]],
      ["B", [{ sku: "D", score: 0.3 }, { sku: "A", score: 0.9 }]],
    ]);
    expect(together(lists, [{ sku: "A" }, { sku: "B" }])).toEqual([
      { sku: "D", score: 0.7, because: "A" },
      { sku: "C", score: 0.5, because: "A" },
    ]);
  });
});
