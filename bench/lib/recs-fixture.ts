// The recommendations scenario's data, made once per bench run and given to every runner alike: the
// committed Groceries training baskets as order history (169 items, renamed to BENCH-REC-nnnn by
// popularity), cards with names in three languages and prices in four markets, 2,000 consenting
// shoppers, and the lists the Worker's own build computes from them (recommendations/build.ts), under
// the same KV keys. The load asks with contexts taken from the held-out test baskets.
// Loaded by bench/lib/scenarios.mjs through tsx, for the project's TypeScript.
import { readFileSync } from "node:fs";
import { computeLists, listWrites } from "../../recommendations/build";
import { parseBaskets } from "../../recommendations/evaluate";
import { type Card, pointerKey } from "../../recommendations/store";
import { pseudonymise } from "../../workers/privacy";

const DATA = new URL("../../data/", import.meta.url);
const BRANDS = 12;
const CATEGORIES = 10;
/** Every n-th SKU is out of stock, so the availability filter has work to do. */
const OUT_OF_STOCK_EVERY = 10;

export interface RecsFixture {
  /** KV key -> value, the pointer included: what a build would leave in KV. */
  entries: [string, string][];
  /** SKU -> units on hand to set through the admin API. */
  stock: [string, number][];
  outOfStock: string[];
  /** Contexts for the load: each a test basket's SKUs the training history knows. */
  contexts: string[][];
  shoppers: number;
}

export async function recsFixture(options: { region: string; userIdSecret: string; shoppers: number; contexts?: number }): Promise<RecsFixture> {
  const { region, shoppers } = options;
  const train = parseBaskets(readFileSync(new URL("groceries-train.csv", DATA), "utf8"));
  const test = parseBaskets(readFileSync(new URL("groceries-test.csv", DATA), "utf8"));
  const counts = new Map<string, number>();
  for (const b of train) for (const item of b) counts.set(item, (counts.get(item) ?? 0) + 1);
  const items = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([item]) => item);
  const skuOf = new Map(items.map((item, i) => [item, `BENCH-REC-${String(i).padStart(4, "0")}`]));
  const catalog: Record<string, Card> = {};
  items.forEach((item, i) => {
    catalog[skuOf.get(item)!] = {
      name: `${item} (en)`,
      brand: `Brand ${i % BRANDS}`,
      category: `category-${i % CATEGORIES}`,
      names: { fr: `${item} (fr)`, de: `${item} (de)` },
      prices: {
        FR: { amount: 100 + i, currency: "EUR" },
        DE: { amount: 100 + i, currency: "EUR" },
        NL: { amount: 100 + i, currency: "EUR" },
        GB: { amount: 90 + i, currency: "GBP" },
      },
    };
  });
  const lines = train.flatMap((b, n) => b.map((item) => ({ reservationId: `r${n}`, sku: skuOf.get(item)! })));
  // Each shopper id is what a storefront sends; the lists are keyed by its pseudonym, as the build keys them.
  const pseudonyms = await Promise.all(
    Array.from({ length: shoppers }, (_, s) => pseudonymise({ USER_ID_SECRET: options.userIdSecret }, region, `bench-shopper-${s}`)),
  );
  const links = train.map((_, n) => ({ reservationId: `r${n}`, shopper: pseudonyms[n % shoppers]! }));
  const version = "vbench";
  const entries = listWrites(region, version, catalog, computeLists(catalog, lines, links));
  entries.push([pointerKey(region), JSON.stringify({ version, builtAt: new Date().toISOString() })]);
  const skus = Object.keys(catalog);
  const outOfStock = skus.filter((_, i) => i % OUT_OF_STOCK_EVERY === OUT_OF_STOCK_EVERY - 1);
  const stock = skus.map((sku, i): [string, number] => [sku, i % OUT_OF_STOCK_EVERY === OUT_OF_STOCK_EVERY - 1 ? 0 : 1_000 + i]);
  const known = test.map((b) => b.map((item) => skuOf.get(item)).filter((s): s is string => s !== undefined)).filter((c) => c.length > 0);
  // Fewer baskets (--recs-contexts) ask next to fewer contexts, so fewer of their rankings are made and reached.
  const contexts = options.contexts ? known.slice(0, options.contexts) : known;
  return { entries, stock, outOfStock, contexts, shoppers };
}
