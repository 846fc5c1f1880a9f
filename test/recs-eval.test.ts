// The evaluation behind `npm run recs:eval`: leave-one-out metrics on a fixture whose right answers
// are worked out by hand, and the shipped bought-together scoring on a slice of real baskets.
import { describe, expect, it } from "vitest";
import { boughtTogether, together } from "../recommendations/co-purchase";
import { evaluate, holdOut, parseBaskets } from "../recommendations/evaluate";
import sample from "../data/groceries-sample.csv?raw";

// Training: A and B always together (3 baskets), C and D always together (2 baskets), E alone.
// Popularity: A 3, B 3, C 2, D 2, E 1. Test baskets: [A, B] and [C, D]: four hidden items.
const fixture = {
  train: [["A", "B"], ["A", "B"], ["A", "B"], ["C", "D"], ["C", "D"], ["E"]],
  test: [["A", "B"], ["C", "D"]],
};

const byMethod = (e: ReturnType<typeof evaluate>) => Object.fromEntries(e.results.map((r) => [r.method.split(" ")[0], r]));

describe("leave-one-out evaluation", () => {
  it("scores the bought-together lists perfectly where each item has one true companion", () => {
    const e = evaluate(fixture, { k: 10 });
    expect(e).toMatchObject({ k: 10, trainBaskets: 6, testBaskets: 2, cases: 4, catalogue: 5 });
    // Every hidden item is the first recommendation: hit 1, NDCG 1; shown: A, B, C, D of 5 items.
    expect(byMethod(e).bought).toMatchObject({ hitRate: 1, ndcg: 1, coverage: 0.8 });
  });

  it("scores the popularity baseline by the hidden item's rank", () => {
    // Hide A (context B): A, C, D, E -> rank 1. Hide B: rank 1. Hide C (context D): A, B, C, E ->
    // rank 3, gain 1/log2(4) = 0.5. Hide D: rank 3, 0.5. NDCG = (1 + 1 + 0.5 + 0.5) / 4 = 0.75.
    expect(byMethod(evaluate(fixture, { k: 10 })).popularity).toMatchObject({ hitRate: 1, ndcg: 0.75, coverage: 1 });
    // With k = 2 the lists are [A, C], [B, C], [A, B], [A, B]: only A and B are found, and only
    // A, B and C of the 5 items are ever shown.
    expect(byMethod(evaluate(fixture, { k: 2 })).popularity).toMatchObject({ hitRate: 0.5, ndcg: 0.5, coverage: 0.6 });
  });

  it("holds out every n-th basket, deterministically", () => {
    expect(holdOut([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 5)).toEqual({ train: [1, 2, 3, 4, 6, 7, 8, 9], test: [5, 10] });
  });

  it("reads one basket per line, trimming items and dropping blanks and repeats", () => {
    expect(parseBaskets("a, b ,a\n\nc\r\nd,,e\n")).toEqual([["a", "b"], ["c"], ["d", "e"]]);
  });

  it("beats nothing by luck on real baskets: wide coverage where popularity shows the same few items", () => {
    const e = evaluate(holdOut(parseBaskets(sample)), { k: 10 });
    expect(e.cases).toBe(405);
    const { bought, popularity } = byMethod(e);
    expect(bought!.hitRate).toBeGreaterThan(0.3);
    expect(bought!.coverage).toBeGreaterThan(5 * popularity!.coverage);
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
