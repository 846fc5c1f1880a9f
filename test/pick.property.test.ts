// pick() (recommendations/blend.ts) walks a ranking and keeps what it learns of each candidate by
// position. As properties: a walk whose cards are all held in memory chooses exactly what a walk
// that reads them a page at a time chooses, and asks for no page; and whatever it chooses is the
// best it could: every candidate it passes over before its last choice has no card, a brand at
// its cap, or no units; no brand exceeds its cap; it asks for no more than its bounds allow.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Candidate, maxPerBrand, pick, type PickSources } from "../recommendations/blend";
import type { Card } from "../recommendations/store";

const SKUS = Array.from({ length: 90 }, (_, i) => `P${String(i).padStart(3, "0")}`);

interface World {
  ranked: Candidate[];
  /** Per SKU: its brand, or null when the region has no card for it. */
  brand: Record<string, string | null>;
  units: Record<string, number>;
  /** SKUs whose cards this process holds. */
  held: Set<string>;
  limit: number;
  maxChecks: number;
  cardPages: number;
  /** The availability batch that fails (answers null), if any. */
  failAt: number | null;
}

const world: fc.Arbitrary<World> = fc
  .record({
    count: fc.integer({ min: 0, max: 90 }),
    brands: fc.array(fc.option(fc.constantFrom("A", "B", "C", "D"), { freq: 6 }), { minLength: 90, maxLength: 90 }),
    units: fc.array(fc.constantFrom(0, 0, 1, 3, 7), { minLength: 90, maxLength: 90 }),
    held: fc.array(fc.boolean(), { minLength: 90, maxLength: 90 }),
    limit: fc.integer({ min: 1, max: 12 }),
    maxChecks: fc.integer({ min: 1, max: 40 }),
    cardPages: fc.integer({ min: 1, max: 3 }),
    failAt: fc.option(fc.integer({ min: 0, max: 3 })),
  })
  .map(({ count, brands, units, held, limit, maxChecks, cardPages, failAt }) => {
    const skus = SKUS.slice(0, count);
    return {
      ranked: skus.map((sku, i) => ({ sku, reason: "popular_in_category" as const, score: count - i })),
      brand: Object.fromEntries(skus.map((s, i) => [s, brands[i] ?? null])),
      units: Object.fromEntries(skus.map((s, i) => [s, units[i]!])),
      held: new Set(skus.filter((_, i) => held[i])),
      limit,
      maxChecks,
      cardPages,
      failAt,
    };
  });

const cardOf = (w: World, sku: string): Card | null => (w.brand[sku] ? { name: sku, brand: w.brand[sku]!, category: "c" } : null);

/** Sources over `w`; `holding` says which cards are held ("none": every card is read by page). */
function sourcesOf(w: World, holding: "none" | "some" | "all") {
  const cards = new Map<string, Card>();
  const calls = { cardPages: [] as string[][], batches: 0 };
  const sources: PickSources = {
    cards: (skus) => {
      calls.cardPages.push(skus);
      for (const s of skus) {
        const card = cardOf(w, s);
        if (card) cards.set(s, card);
      }
      // A read answers later, as KV does.
      return Promise.resolve(cards);
    },
    cardHeld: holding === "none" ? undefined : (sku) => (holding === "all" || w.held.has(sku) ? cardOf(w, sku) : undefined),
    cardPages: w.cardPages,
    maxChecks: w.maxChecks,
    available: (skus) => (calls.batches++ === w.failAt ? null : skus.map((s) => w.units[s]!)),
  };
  return { sources, calls };
}

describe("pick()", () => {
  it("chooses the same from cards held as from cards read, and reads no page it holds", async () => {
    await fc.assert(
      fc.asyncProperty(world, async (w) => {
        const read = sourcesOf(w, "none");
        const fromReads = await pick(w.ranked, w.limit, read.sources);
        const all = sourcesOf(w, "all");
        expect(await pick(w.ranked, w.limit, all.sources)).toEqual(fromReads);
        expect(all.calls.cardPages).toEqual([]);
        const some = sourcesOf(w, "some");
        expect(await pick(w.ranked, w.limit, some.sources)).toEqual(fromReads);
        // A page is read only when it has a SKU whose card is not held, and then whole.
        for (const page of some.calls.cardPages) expect(page.some((s) => !w.held.has(s))).toBe(true);
        expect(some.calls.cardPages.length).toBeLessThanOrEqual(read.calls.cardPages.length);
      }),
      { numRuns: 300 },
    );
  });

  it("passes over only what it cannot show, keeps each brand to its cap and stays within its bounds", async () => {
    await fc.assert(
      fc.asyncProperty(world, async (w) => {
        const { sources, calls } = sourcesOf(w, "some");
        const picked = await pick(w.ranked, w.limit, sources);
        const cap = maxPerBrand(w.limit);
        expect(picked.chosen.length).toBeLessThanOrEqual(w.limit);
        expect(calls.cardPages.length).toBeLessThanOrEqual(w.cardPages);
        expect(picked.checked.length).toBeLessThanOrEqual(w.maxChecks);
        expect(new Set(picked.checked).size).toBe(picked.checked.length);
        expect(picked.checkedUnits).toEqual(picked.checked.map((s) => w.units[s]));
        expect(picked.availability).toBe(w.failAt !== null && calls.batches > w.failAt ? "unknown" : "checked");
        // Walk the ranking up to the last choice, as a shopper would read it.
        const perBrand = new Map<string, number>();
        let next = 0;
        const last = picked.chosen.length ? w.ranked.indexOf(picked.chosen.at(-1)!.candidate) : -1;
        for (let i = 0; i <= last; i++) {
          const c = w.ranked[i]!;
          const brand = w.brand[c.sku] ?? null;
          const item = picked.chosen[next];
          if (item?.candidate === c) {
            next++;
            expect(item.card).toEqual(cardOf(w, c.sku));
            expect(item.units === null || (item.units === w.units[c.sku] && item.units > 0)).toBe(true);
            perBrand.set(brand!, (perBrand.get(brand!) ?? 0) + 1);
            expect(perBrand.get(brand!)).toBeLessThanOrEqual(cap);
            continue;
          }
          // Passed over: no card, its brand full, or nothing to sell (as far as was known).
          const known = picked.checked.includes(c.sku);
          expect(brand === null || (perBrand.get(brand) ?? 0) >= cap || (known && w.units[c.sku] === 0)).toBe(true);
        }
        expect(next).toBe(picked.chosen.length);
      }),
      { numRuns: 300 },
    );
  });
});
