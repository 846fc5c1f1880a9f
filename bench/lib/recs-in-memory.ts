// The route's recommendation sources over the recs scenario's data held in this process (the lists
// behind a ListCache, the units in a Map), for the Node tools that run the serve code itself
// (bench/memo-under-sales.ts, bench/recs-serve-loop.ts).
import { ListCache } from "../../recommendations/list-cache";
import { AnswerMemo, maxAvailabilityChecks, type RecommendationSources } from "../../recommendations/serve";
import type { RecsFixture } from "./recs-fixture";

/** Sources answering from `fixture` (limit 10), with a memo of their own; `units` can be changed to sell. */
export function inMemorySources(fixture: RecsFixture): { sources: RecommendationSources & { memo: AnswerMemo }; units: Map<string, number> } {
  const kv = new Map(fixture.entries);
  const lists = new ListCache({ get: async (keys: string[]) => new Map(keys.map((k) => [k, kv.get(k) ?? null])) });
  const units = new Map(fixture.stock);
  const sources = {
    lists,
    available: async (skus: string[]) => new Map(skus.map((sku) => [sku, { available: units.get(sku) ?? 0 }])),
    unitsInMemory: (skus: readonly string[]) => skus.map((sku) => units.get(sku) ?? 0),
    maxChecks: maxAvailabilityChecks(10),
    // The route's stockStatus at its default LOW_STOCK_THRESHOLD (5).
    status: (n: number) => (n <= 0 ? "out_of_stock" : n <= 5 ? "low_stock" : "in_stock") as "out_of_stock" | "low_stock" | "in_stock",
    memo: new AnswerMemo(),
  };
  return { sources, units };
}
