// `npx tsx bench/memo-under-sales.ts [--every N]`: how many recommendations without a shopper an
// isolate serves from its memo (recommendations/serve.ts, AnswerMemo) while units sell. The
// recommendations scenario's data (bench/lib/recs-fixture.ts: the committed Groceries baskets, 169
// SKUs) and the route's own serve code, in Node, with the lists and the units in memory: 100,000
// requests to warm up, then 100,000 more with one unit sold every N requests (default 5: 1,000 sales
// a second at 5,000 requests a second) from a random SKU in stock, never below 6 units (so every
// status stays "in_stock"). What it shows is the memo's rule, not a speed: a kept answer is checked
// against the status of each SKU it looked up, so sales that change no status keep it.
import { parseArgs } from "node:util";
import { recsFixture } from "./lib/recs-fixture";
import { recsAsk } from "./lib/workloads.mjs";
import { inMemorySources } from "./lib/recs-in-memory";
import { recommendTextAtOnce, type RecommendationSources } from "../recommendations/serve";

const { values } = parseArgs({ options: { every: { type: "string", default: "5" } } });
const every = Number(values.every);
if (!Number.isInteger(every) || every < 1) throw new Error("--every is a whole number of requests, at least 1");

const fixture = await recsFixture({ region: "eu", userIdSecret: "memo-under-sales", shoppers: 1 });
const { sources: held, units } = inMemorySources(fixture);
const inStock = fixture.stock.filter(([, n]) => n > 6).map(([sku]) => sku);
const memo = held.memo;
let fromMemo = 0;
const sources: RecommendationSources = { ...held, fromMemo: () => fromMemo++ };
const REQUESTS = 100_000;
for (const phase of ["warm-up, no sales", `a sale every ${every} requests`]) {
  fromMemo = 0;
  let sold = 0;
  for (let i = 0; i < REQUESTS; i++) {
    if (phase !== "warm-up, no sales" && i % every === 0) {
      const sku = inStock[Math.floor(Math.random() * inStock.length)]!;
      units.set(sku, Math.max(6, units.get(sku)! - 1));
      sold++;
    }
    // Asked as the bench's recs workload asks.
    const { context, market, language } = recsAsk(fixture.contexts);
    await recommendTextAtOnce({ region: "eu", context, limit: 10, market, acceptLanguage: language }, sources);
  }
  console.log(`${phase}: ${((100 * fromMemo) / REQUESTS).toFixed(1)} % of ${REQUESTS.toLocaleString("en")} answers from the memo (${sold.toLocaleString("en")} units sold meanwhile, ${memo.size.toLocaleString("en")} answers kept)`);
}
