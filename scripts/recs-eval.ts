// npm run recs:eval -- --baskets FILE.csv [--k 10] [--hold-out-every 5]
// Leave-one-out evaluation of the bought-together lists (the same code the build ships) against a
// popularity baseline: every 5th basket is held out, each of its items hidden in turn and looked
// for in the top k recommended from the rest of the basket.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { evaluate, holdOut, parseBaskets } from "../recommendations/evaluate";
import { progressBar } from "./progress.mjs";

const usage = "usage: npm run recs:eval -- --baskets FILE.csv [--k 10] [--hold-out-every 5]\n  FILE.csv: one basket per line, items separated by commas (e.g. data/groceries-sample.csv)";

let args;
try {
  args = parseArgs({
    options: {
      baskets: { type: "string" },
      k: { type: "string", default: "10" },
      "hold-out-every": { type: "string", default: "5" },
      help: { type: "boolean", short: "h" },
    },
  }).values;
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`);
  process.exit(2);
}
if (args.help) {
  console.log(usage);
  process.exit(0);
}
const k = Number(args.k);
const every = Number(args["hold-out-every"]);
if (!args.baskets || !Number.isInteger(k) || k < 1 || !Number.isInteger(every) || every < 2) {
  console.error(usage);
  process.exit(2);
}

let csv: string;
try {
  csv = readFileSync(args.baskets, "utf8");
} catch (err) {
  console.error(`cannot read ${args.baskets}: ${(err as Error).message}`);
  process.exit(2);
}
const baskets = parseBaskets(csv);
if (baskets.length < every) {
  console.error(`${args.baskets} holds ${baskets.length} baskets; at least ${every} are needed to hold one out`);
  process.exit(2);
}

const bar = progressBar("evaluating");
const result = evaluate(holdOut(baskets, every), { k, onProgress: (done, total) => bar.update(done, total, "test baskets") });
bar.done();

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const rows = [
  ["method", `hit@${k}`, `NDCG@${k}`, "coverage"],
  ...result.results.map((r) => [r.method, pct(r.hitRate), r.ndcg.toFixed(4), pct(r.coverage)]),
];
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
console.log(
  [
    `leave-one-out on ${args.baskets}`,
    `  baskets: ${baskets.length} (${result.trainBaskets} train, ${result.testBaskets} test baskets with 2+ items, every ${every}th held out)`,
    `  cases: ${result.cases} hidden items; catalogue: ${result.catalogue} items seen in training`,
    "",
    line(rows[0]!),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.slice(1).map(line),
    "",
    `took ${(result.ms / 1000).toFixed(2)} s`,
  ].join("\n"),
);
