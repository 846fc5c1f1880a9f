// `npx tsx bench/recs-serve-loop.ts [--rounds N]`: what the route's own serve code costs per
// recommendation in Node, cache-hot, with nothing else running: answers without a shopper (from the
// memo once warm) and from a consenting shopper with a list (worked out for each request). The
// recommendations scenario's data (bench/lib/recs-fixture.ts: 169 SKUs, 2,000 shoppers) and its
// requests (a random context, market and language), the lists and the units in memory. 20,000
// requests per round, after 60,000 to warm up; the best round is the figure (the others are
// printed beside it). What it cannot say: a busy server pays several times this for the same
// answer, since other requests push its code and data out of the CPU's caches between two
// answers (docs/performance-log.md). Numbers from tsx include esbuild's __name wrappers of nested
// functions, which the Worker's bundle leaves out (wrangler.toml, keep_names).
import { parseArgs } from "node:util";
import { recsFixture } from "./lib/recs-fixture";
import { recsAsk } from "./lib/workloads.mjs";
import { inMemorySources } from "./lib/recs-in-memory";
import { type RecommendationRequest, recommendTextAtOnce } from "../recommendations/serve";
import { pseudonymise } from "../workers/privacy";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "5" } } });
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds is a whole number, at least 1");

const REGION = "eu";
const SECRET = "recs-serve-loop";
const SHOPPERS = 2_000;
const fixture = await recsFixture({ region: REGION, userIdSecret: SECRET, shoppers: SHOPPERS });
const { sources } = inMemorySources(fixture);
const pseudonyms = await Promise.all(Array.from({ length: SHOPPERS }, (_, s) => pseudonymise({ USER_ID_SECRET: SECRET }, REGION, `bench-shopper-${s}`)));

function requests(count: number, personalised: boolean): RecommendationRequest[] {
  return Array.from({ length: count }, () => {
    const { context, market, language } = recsAsk(fixture.contexts);
    const shopper = personalised ? pseudonyms[Math.floor(Math.random() * SHOPPERS)] : undefined;
    return { region: REGION, context, limit: 10, market, acceptLanguage: language, shopper };
  });
}

/** Answers every request; the ones whose lists are not held yet are awaited (only while warming up). */
async function answerAll(asks: RecommendationRequest[]): Promise<number> {
  let bytes = 0;
  for (const ask of asks) {
    const answer = recommendTextAtOnce(ask, sources);
    bytes += (typeof answer === "string" ? answer : await answer).length;
  }
  return bytes;
}

process.stderr.write("warming up: reading every list and answer once...\n");
await answerAll([...requests(30_000, false), ...requests(30_000, true)]);
const rows: string[][] = [];
for (const [label, personalised] of [["without a shopper (from the memo)", false], ["from a consenting shopper with a list", true]] as const) {
  const asks = requests(20_000, personalised);
  await answerAll(asks); // every list of this round read once
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const started = performance.now();
    await answerAll(asks);
    times.push(((performance.now() - started) * 1000) / asks.length);
  }
  rows.push([label, Math.min(...times).toFixed(2), times.map((t) => t.toFixed(1)).join(" ")]);
}
console.log("| recommendation | µs per answer (best round) | every round |");
console.log("| :-- | --: | :-- |");
for (const row of rows) console.log(`| ${row.join(" | ")} |`);
