// npm run recs:eval -- --train FILE --test FILE [--json] [--k 10] [--bootstrap 1000]
// npm run recs:eval -- --baskets FILE [--hold-out-every 5]          (one file, every n-th basket held out)
// Leave-one-out evaluation of the shipped bought-together lists against baselines implemented in
// recommendations/ (popularity, cosine item-kNN, EASE, RP3beta), tuned on a split of the training
// file only, with paired bootstrap 95 % intervals. Files: one basket per line, items separated by commas.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type Evaluation, evaluate, FOLDS, holdOut, type Interval, parseBaskets } from "../recommendations/evaluate";
import { SHIPPED_MODEL } from "../recommendations/shipped";
import { progressBar } from "./progress.mjs";

const usage = [
  "usage: npm run recs:eval -- --train FILE.csv --test FILE.csv [--json] [--k 10] [--bootstrap 1000]",
  "       npm run recs:eval -- --baskets FILE.csv [--hold-out-every 5] [--json] [--k 10]",
  "  FILE.csv: one basket per line, items separated by commas (e.g. data/groceries-train.csv, data/groceries-test.csv)",
].join("\n");

function fail(message: string): never {
  console.error(`${message}\n${usage}`);
  process.exit(2);
}

const options = {
  train: { type: "string" },
  test: { type: "string" },
  baskets: { type: "string" },
  json: { type: "boolean", default: false },
  k: { type: "string", default: "10" },
  bootstrap: { type: "string", default: "1000" },
  "hold-out-every": { type: "string", default: "5" },
  help: { type: "boolean", short: "h" },
} as const;
let args: ReturnType<typeof parseArgs<{ options: typeof options }>>["values"];
try {
  args = parseArgs({
    options,
  }).values;
} catch (err) {
  fail((err as Error).message);
}
if (args.help) {
  console.log(usage);
  process.exit(0);
}
const k = Number(args.k);
const every = Number(args["hold-out-every"]);
const draws = Number(args.bootstrap);
if (!Number.isInteger(k) || k < 1) fail("--k must be a whole number of at least 1");
if (!Number.isInteger(every) || every < 2) fail("--hold-out-every must be a whole number of at least 2");
if (!Number.isInteger(draws) || draws < 10) fail("--bootstrap must be a whole number of at least 10");
const twoFiles = args.train !== undefined || args.test !== undefined;
if (twoFiles === (args.baskets !== undefined)) fail("give either --train and --test, or --baskets");
if (twoFiles && (!args.train || !args.test)) fail("--train and --test go together");

function read(file: string): string[][] {
  let csv: string;
  try {
    csv = readFileSync(file, "utf8");
  } catch (err) {
    fail(`cannot read ${file}: ${(err as Error).message}`);
  }
  return parseBaskets(csv);
}

const split = twoFiles ? { train: read(args.train!), test: read(args.test!) } : holdOut(read(args.baskets!), every);
if (split.train.length < 10) fail(`the training baskets number ${split.train.length}; at least 10 are needed (tuning holds out a fifth of them)`);
if (!split.test.some((b) => b.length >= 2)) fail("no test basket has two or more items: nothing to hide and recommend back");

const bar = args.json ? null : progressBar("evaluating");
const result = evaluate(split, { k, bootstrap: draws, onProgress: (done, total) => bar?.update(done, total, "test baskets") });
bar?.done();

if (args.json) {
  console.log(JSON.stringify({ train: args.train ?? args.baskets, test: args.test ?? `every ${every}th of ${args.baskets}`, shipped: SHIPPED_MODEL, ...result }, null, 2));
} else {
  console.log(report(result));
}

function report(e: Evaluation): string {
  const pct = (x: number) => (x * 100).toFixed(1);
  const ci = (i: Interval, f: (x: number) => string) => `${f(i.mean)} [${f(i.lo)}, ${f(i.hi)}]`;
  const n4 = (x: number) => x.toFixed(4);
  const sp = (x: number) => (x >= 0 ? "+" : "") + pct(x);
  const sn = (x: number) => (x >= 0 ? "+" : "") + x.toFixed(4);
  const methods = [
    ["method", "params", `hit@${e.k} % per case`, `NDCG@${e.k} per case`, "hit % per basket", "NDCG per basket", "coverage"],
    ...e.results.map((r) => [
      r.method,
      Object.entries(r.params).map(([p, v]) => `${p}=${v}`).join(" ") || "-",
      ci(r.hitRate, pct),
      ci(r.ndcg, n4),
      ci(r.basketHitRate, pct),
      ci(r.basketNdcg, n4),
      `${pct(r.coverage)} %`,
    ]),
  ];
  const deltas = [
    ["shipped minus", `Δ hit@${e.k} pts per case`, `Δ NDCG@${e.k} per case`, "Δ hit pts per basket", "Δ NDCG per basket"],
    ...e.comparisons.map((c) => [c.against, ci(c.hitRate, sp), ci(c.ndcg, sn), ci(c.basketHitRate, sp), ci(c.basketNdcg, sn)]),
  ];
  const shippedName = `${SHIPPED_MODEL.kind} lists ${JSON.stringify(SHIPPED_MODEL.params)}`;
  return [
    `leave-one-out, k = ${e.k}: train ${args.train ?? args.baskets} (${e.trainBaskets} baskets), test ${args.test ?? `every ${every}th basket held out`} (${e.testBaskets} baskets with 2+ items)`,
    `  cases: ${e.cases} hidden items; catalogue: ${e.catalogue} items seen in training`,
    `  tuned on every 5th training basket: EASE lambda=${e.tuned.ease!.lambda}; item-kNN neighbours=${e.tuned.knn!.neighbours}; RP3beta alpha=${e.tuned.rp3beta!.alpha} beta=${e.tuned.rp3beta!.beta}`,
    `  [95 % intervals: ${e.bootstrap} bootstrap draws of whole test baskets, paired across methods; coverage: top ${e.k} of every single-item context]`,
    "",
    table(methods),
    "",
    table(deltas),
    "",
    `evaluator's choice by ${FOLDS}-fold cross-validation on the training file: ${e.choice}`,
    e.choice === shippedName ? "  = the shipped model (recommendations/shipped.ts)" : `  ≠ the shipped model ${shippedName}: update recommendations/shipped.ts if this holds on the real data`,
    `took ${(e.ms / 1000).toFixed(1)} s`,
  ].join("\n");
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
  return [line(rows[0]!), line(widths.map((w) => "-".repeat(w))), ...rows.slice(1).map(line)].join("\n");
}
