// The route keeps answers that are not personalised per isolate and serves them again while they
// are still right (recommendations/serve.ts, AnswerMemo). As a property: through any run of
// requests (without a shopper, from a shopper with a list, possibly empty, and from one with none),
// units sold or restocked, availability pages dropped or unknown and new builds, every answer
// served with the memo is byte for byte the answer worked out from scratch at that moment. And the
// memo keeps nothing made with a shopper's list, nor an answer whose availability was unknown, and
// stays within its bound. Units that change without changing a SKU's status keep an answer.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ListCache } from "../recommendations/list-cache";
import { AnswerMemo, maxAvailabilityChecks, recommendText, recommendTextAtOnce, type RecommendationRequest, type RecommendationSources } from "../recommendations/serve";
import { type Lists } from "../recommendations/store";
import { ask, REGION, scored, SKUS, sourcesOf, storeOf, world, type World } from "./recs-world";

type Step =
  | { kind: "ask"; which: number; who: "shopper" | "stranger" }
  | { kind: "units"; sku: number; units: number }
  | { kind: "pages"; held: boolean }
  | { kind: "build"; popular: World["popular"] };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ kind: fc.constant("ask" as const), which: fc.nat(2), who: fc.constantFrom("shopper" as const, "stranger" as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("units" as const), sku: fc.nat(SKUS.length - 1), units: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("pages" as const), held: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("build" as const), popular: scored(12) }) },
);

/** A build's lists as KV holds them: text, read through the isolate's cache as the Worker does. */
function kvOf(state: { store: Map<string, unknown> }) {
  return { get: async (keys: string[]) => new Map(keys.map((k) => [k, state.store.has(k) ? JSON.stringify(state.store.get(k)) : null])) };
}

/** Units from `w` as this isolate's pages would give them: at once when held, else read (or unknown). */
function memoSources(w: World, lists: Lists, memo: AnswerMemo, pages: { held: boolean }, known: boolean, limit: number): RecommendationSources {
  return {
    ...sourcesOf(w, lists, known, limit),
    unitsInMemory: (skus) => (pages.held && known ? skus.map((s) => w.units[SKUS.indexOf(s)]!) : undefined),
    maxChecks: maxAvailabilityChecks(limit),
    memo,
  };
}

describe("recommendation answers kept per isolate", () => {
  it("are always the answer worked out from scratch, through sales, restocks, unknown availability and new builds", async () => {
    let hits = 0;
    let misses = 0;
    let shoppersServed = 0;
    await fc.assert(
      fc.asyncProperty(world, fc.array(ask, { minLength: 3, maxLength: 3 }), fc.array(step, { minLength: 1, maxLength: 60 }), async (start, asks, steps) => {
        const w: World = structuredClone(start);
        let version = 0;
        const state = { store: storeOf(w, `v${version}`) };
        const cache = new ListCache(kvOf(state));
        const memo = new AnswerMemo();
        const pages = { held: true };
        for (const s of steps) {
          if (s.kind === "units") w.units[s.sku] = s.units;
          else if (s.kind === "pages") pages.held = s.held;
          else if (s.kind === "build") {
            w.popular = s.popular;
            state.store = storeOf(w, `v${++version}`);
            cache.forgetPointer(REGION); // as a build through this isolate does
          } else {
            const a = asks[s.which]!;
            const request: RecommendationRequest = { region: REGION, context: a.context, limit: a.limit, market: a.market, acceptLanguage: a.acceptLanguage, ...(a.shopper && { shopper: s.who }) };
            const before = memo.hits;
            const served = await recommendTextAtOnce(request, memoSources(w, cache, memo, pages, a.availabilityKnown, a.limit));
            // From scratch: a store of its own (nothing kept from earlier answers), the same units.
            const fresh = storeOf(w, `v${version}`);
            const scratch: Lists = { json: async (keys) => new Map(keys.map((k) => [k, fresh.has(k) ? structuredClone(fresh.get(k)) : null])) };
            expect(served).toBe(await recommendText(request, sourcesOf(w, scratch, a.availabilityKnown, a.limit)));
            if (request.shopper !== undefined && memo.hits > before) shoppersServed++;
          }
        }
        hits += memo.hits;
        misses += memo.misses;
      }),
      { numRuns: 300 },
    );
    // The property means something only if kept answers were served, and some were turned down.
    expect(hits).toBeGreaterThan(50);
    // Shoppers without a list of their own (or with an empty one) were served kept answers too.
    expect(shoppersServed).toBeGreaterThan(10);
    expect(misses).toBeGreaterThan(50);
  });

  it("keeps nothing made with a shopper's list, nor an answer whose availability was unknown", async () => {
    const w = fc.sample(world, { numRuns: 1, seed: 7 })[0]!;
    w.forUser = [{ sku: SKUS[1]!, score: 5 }];
    const state = { store: storeOf(w, "v1") };
    const cache = new ListCache(kvOf(state));
    const memo = new AnswerMemo();
    const request: RecommendationRequest = { region: REGION, context: [SKUS[0]!], limit: 5, market: "FR" };
    await recommendText({ ...request, shopper: "shopper" }, memoSources(w, cache, memo, { held: true }, true, 5));
    await recommendText(request, memoSources(w, cache, memo, { held: false }, false, 5));
    expect(memo.size).toBe(0);
    await recommendText(request, memoSources(w, cache, memo, { held: true }, true, 5));
    expect(memo.size).toBe(1);
    // The same request with a shopper is worked out, not served the kept answer.
    await recommendText({ ...request, shopper: "shopper" }, memoSources(w, cache, memo, { held: true }, true, 5));
    expect(memo.hits).toBe(0);
  });

  it("serves a kept answer through sales that leave every SKU it looked up in the same status, and not past them", async () => {
    const w = fc.sample(world, { numRuns: 1, seed: 11 })[0]!;
    w.units = w.units.map(() => 100);
    const cache = new ListCache(kvOf({ store: storeOf(w, "v1") }));
    const memo = new AnswerMemo();
    const pages = { held: true };
    const request: RecommendationRequest = { region: REGION, context: [SKUS[0]!], limit: 3, market: "GB" };
    const first = await recommendText(request, memoSources(w, cache, memo, pages, true, 3));
    // Units sold from every SKU, all still in stock (more than 3: "in_stock" in this world): the same answer, from the memo.
    w.units = w.units.map(() => 40);
    expect(await recommendTextAtOnce(request, memoSources(w, cache, memo, pages, true, 3))).toBe(first);
    expect(memo.hits).toBe(1);
    // Down to low stock: the status shown changes, so the answer is worked out again.
    w.units = w.units.map(() => 2);
    const low = await recommendTextAtOnce(request, memoSources(w, cache, memo, pages, true, 3));
    expect(memo.hits).toBe(1);
    expect(low).not.toBe(first);
    expect(low).toContain('"status":"low_stock"');
  });

  it("stays within its bound, the oldest answers going first", async () => {
    const w = fc.sample(world, { numRuns: 1, seed: 11 })[0]!;
    w.units = w.units.map(() => 5);
    const cache = new ListCache(kvOf({ store: storeOf(w, "v1") }));
    const memo = new AnswerMemo(4_000);
    for (const sku of SKUS) await recommendText({ region: REGION, context: [sku], limit: 3, market: "GB" }, memoSources(w, cache, memo, { held: true }, true, 3));
    expect(memo.size).toBeGreaterThan(0);
    expect(memo.size).toBeLessThan(SKUS.length);
    await recommendText({ region: REGION, context: [SKUS.at(-1)!], limit: 3, market: "GB" }, memoSources(w, cache, memo, { held: true }, true, 3));
    expect(memo.hits).toBe(1);
    await recommendText({ region: REGION, context: [SKUS[0]!], limit: 3, market: "GB" }, memoSources(w, cache, memo, { held: true }, true, 3));
    expect(memo.hits).toBe(1);
  });
});
