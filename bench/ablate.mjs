#!/usr/bin/env node
// `npm run bench:ablate`: where a personalised recommendation's time goes, measured in the server
// itself. The CPU profiler attributes a busy isolate's time poorly (it put 42 µs a request in the
// Response constructor, which costs 8 µs when timed alone), and a loop over the answer in one
// request (cache-hot, nothing else running) costs a fifth of what the same work costs among
// reads and other requests. So this takes steps out, one variant at a time, and measures what is
// left against reads on the same server: the storefront scenario of `npm run bench` (reads and
// recommendations taking turns, a b b a), in a scratch git worktree of HEAD with the variant's
// edits applied. A variant's answers are wrong on purpose (a fixed text stands in for what it
// skips); each run is still checked as the bench checks it.
//
// What a step costs, in reads: the difference of 1 / ratio between two variants (a recommendation
// at 0.70x costs 1.43 reads; at 0.90x, 1.11: the steps between cost 0.32 of a read).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, usage } from "./lib/args.mjs";
import { renderTable } from "./lib/table.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** A fixed answer, captured from the first real one, stands in for what a variant skips. */
const CAPTURE = `(globalThis as { __ablated?: string }).__ablated`;

/**
 * Edits that end choose() for a personalised answer just before the line `find` (once a real
 * answer has been captured to stand in for it): a marker thrown there and caught in workedOut(),
 * whether choose() answered at once or with a promise.
 */
function stopChooseBefore(find) {
  const stop = `if (err === ABLATED) return ${CAPTURE}!;\n    throw err;`;
  return [
    {
      file: "recommendations/serve.ts",
      find: "  const chosen = choose(request, sources, held);\n  return chosen instanceof Promise ? chosen.then((c) => joined(request, sources, c)) : joined(request, sources, chosen);\n",
      replace:
        `  let chosen: Chosen | Promise<Chosen>;\n  try {\n    chosen = choose(request, sources, held);\n  } catch (err) {\n    ${stop}\n  }\n` +
        `  return chosen instanceof Promise ? chosen.then((c) => joined(request, sources, c), (err) => {\n    ${stop}\n  }) : joined(request, sources, chosen);\n`,
    },
    {
      file: "recommendations/serve.ts",
      find: "  sources.cacheHit?.(chosen.cacheHit);\n  const text = answerText(chosen);\n",
      replace: `  sources.cacheHit?.(chosen.cacheHit);\n  const text = answerText(chosen);\n  if (chosen.personalised) ${CAPTURE} = JSON.parse(JSON.stringify(text));\n`,
    },
    { file: "recommendations/serve.ts", find, replace: `  if (forUser?.length && ${CAPTURE}) throw ABLATED;\n${find}` },
    { file: "recommendations/serve.ts", find: "function choose(", replace: 'const ABLATED = new Error("ablated");\nfunction choose(' },
  ];
}

/**
 * Each variant: edits of the tree at HEAD, each an exact text found once (the run stops, naming
 * it, when the code has moved on: test/node/bench-ablate.test.ts checks them against the tree).
 */
export const VARIANTS = [
  { id: "shipped", what: "the answer as shipped", edits: [] },
  {
    id: "twice",
    what: "every personalised answer worked out a second time (the second discarded)",
    edits: [
      {
        file: "recommendations/serve.ts",
        find: "  const text = answerText(chosen);\n",
        replace:
          "  const text = answerText(chosen);\n" +
          "  const again = chosen.personalised ? choose(request, sources) : undefined;\n" +
          "  if (again !== undefined) (globalThis as { __again?: number }).__again = again instanceof Promise ? -1 : answerText(again).length;\n",
      },
    ],
  },
  {
    id: "no-text",
    what: "a personalised answer's text not joined (a fixed text sent)",
    edits: [
      {
        file: "recommendations/serve.ts",
        find: "  const text = answerText(chosen);\n",
        replace: `  if (chosen.personalised && ${CAPTURE}) return ${CAPTURE}!;\n  const text = answerText(chosen);\n  if (chosen.personalised) ${CAPTURE} = JSON.parse(JSON.stringify(text));\n`,
      },
    ],
  },
  {
    id: "no-pick",
    what: "nor pick() run: the lists read and the shopper's list merged, nothing more",
    edits: stopChooseBefore("  const picked = pick("),
  },
  {
    id: "no-merge",
    what: "nor the shopper's list merged: the lists read, nothing more",
    edits: stopChooseBefore("  const ranked = forUser ? withShopper("),
  },
  {
    id: "nothing",
    what: "nothing after the pseudonym: no list read, no ranking, no pick, no text",
    edits: [
      {
        file: "workers/routes/recommendations.ts",
        find: "  const budget = availabilityBudget();\n",
        replace:
          `  if (shopper !== undefined && ${CAPTURE}) return new Response(${CAPTURE}, { status: 200, headers: { "content-type": "application/json", "cache-control": "private, no-store", vary: "accept-language" } });\n` +
          "  const budget = availabilityBudget();\n",
      },
      {
        file: "workers/routes/recommendations.ts",
        find: "    body = typeof answer === \"string\" ? answer : await answer;\n",
        replace: `    body = typeof answer === "string" ? answer : await answer;\n    if (shopper !== undefined && !fromMemo) ${CAPTURE} = JSON.parse(JSON.stringify(body));\n`,
      },
    ],
  },
];

const SPEC = {
  duration: { type: "number", default: 30, help: "seconds of measured turns per variant (30 blocks of 1 s at the default)" },
  warmup: { type: "number", default: 10, help: "seconds of warm-up per variant" },
  "recs-consent": { type: "number", default: 1, help: "share of recommendations from a consenting shopper (1: every answer personalised, the path measured)" },
  variants: { type: "string", default: VARIANTS.map((v) => v.id).join(","), help: "which variants, in order" },
};

/** The edits applied to the tree at `dir`; throws naming an edit whose text is not found exactly once. */
export function applyEdits(dir, edits) {
  for (const edit of edits) {
    const path = join(dir, edit.file);
    const text = readFileSync(path, "utf8");
    const at = text.indexOf(edit.find);
    if (at === -1 || text.indexOf(edit.find, at + 1) !== -1) {
      throw new Error(`${edit.file}: the text to edit is ${at === -1 ? "not there" : "there more than once"} (the code moved on: update bench/ablate.mjs): ${JSON.stringify(edit.find.slice(0, 80))}`);
    }
    writeFileSync(path, text.slice(0, at) + edit.replace + text.slice(at + edit.find.length));
  }
}

async function main() {
  const { help, values: opts } = parseArgs(SPEC);
  if (help) {
    console.log(usage("npm run bench:ablate --", SPEC));
    return 0;
  }
  const chosen = opts.variants.split(",").map((id) => {
    const v = VARIANTS.find((x) => x.id === id.trim());
    if (!v) throw new Error(`unknown variant '${id}'; known: ${VARIANTS.map((v) => v.id).join(", ")}`);
    return v;
  });
  const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
  if (execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: ROOT, encoding: "utf8" }).trim()) {
    process.stderr.write(`note: uncommitted changes are not measured: the variants start from HEAD (${commit})\n`);
  }
  const dir = mkdtempSync(join(tmpdir(), "ablate-"));
  rmSync(dir, { recursive: true });
  execFileSync("git", ["worktree", "add", "--detach", "--quiet", dir, "HEAD"], { cwd: ROOT });
  const removeTree = () => {
    try {
      execFileSync("git", ["worktree", "remove", "--force", dir], { cwd: ROOT, stdio: "ignore" });
    } catch {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  process.once("SIGINT", () => {
    removeTree();
    process.exit(130);
  });
  const rows = [];
  try {
    symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
    // Every variant's edits are checked before the first run, so a moved anchor stops the tool at once.
    for (const variant of chosen) {
      applyEdits(dir, variant.edits);
      execFileSync("git", ["checkout", "--quiet", "--", "."], { cwd: dir });
    }
    for (const [i, variant] of chosen.entries()) {
      execFileSync("git", ["checkout", "--quiet", "--", "."], { cwd: dir });
      applyEdits(dir, variant.edits);
      process.stderr.write(`[${i + 1}/${chosen.length}] ${variant.id}: ${variant.what} (about ${Math.round(opts.warmup + opts.duration + 65)} s: set-up, 44 s for its alarms, warm-up, run)\n`);
      const run = spawnSync(
        process.execPath,
        ["bench/bench.mjs", "--scenarios", "storefront", "--runners", "ours", "--warmup", String(opts.warmup), "--duration", String(opts.duration), "--recs-consent", String(opts["recs-consent"])],
        { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
      );
      const results = join(dir, "bench", "results");
      const newest = existsSync(results) ? readdirSync(results).filter((f) => f.endsWith(".json")).sort().pop() : undefined;
      const storefront = newest && JSON.parse(readFileSync(join(results, newest), "utf8")).runs.find((r) => r.scenarioId === "storefront");
      rmSync(results, { recursive: true, force: true });
      if (run.status !== 0 || !storefront?.verification?.turns) {
        process.stderr.write(run.stdout.split("\n").slice(-30).join("\n"));
        throw new Error(`variant ${variant.id}: the bench failed (exit ${run.status}); its last lines are above`);
      }
      const t = storefront.verification.turns;
      rows.push({ variant, ratio: t.ratio, interval: t.interval, reads: t.perSecond[0], recs: t.perSecond[1], others: storefront.metrics?.cpu?.coresUsed?.others });
      process.stderr.write(`    ${t.ratio.toFixed(2)}x reads (${t.interval.map((x) => x.toFixed(2)).join("x-")}x)\n`);
    }
  } finally {
    removeTree();
  }
  const shipped = rows.find((r) => r.variant.id === "shipped");
  console.log(`\n## Where a personalised recommendation's time goes (HEAD ${commit}, ${Math.round(opts["recs-consent"] * 100)} % from a consenting shopper, ${opts.duration} s of turns each)\n`);
  console.log(
    renderTable(
      [
        { header: "variant", align: "left", value: (r) => r.variant.id },
        { header: "what it leaves out", align: "left", value: (r) => r.variant.what },
        { header: "recs / reads", align: "right", value: (r) => `${r.ratio.toFixed(2)}x` },
        { header: "95 % interval", align: "right", value: (r) => `${r.interval[0].toFixed(2)}x-${r.interval[1].toFixed(2)}x` },
        { header: "reads req/s", align: "right", value: (r) => Math.round(r.reads).toLocaleString("en-US") },
        { header: "a recommendation costs (reads)", align: "right", value: (r) => (1 / r.ratio).toFixed(2) },
        { header: "other load (cores)", align: "right", value: (r) => (r.others == null ? "-" : r.others.toFixed(2)) },
        { header: "against shipped (reads)", align: "right", value: (r) => (shipped ? (1 / r.ratio - 1 / shipped.ratio >= 0 ? "+" : "") + (1 / r.ratio - 1 / shipped.ratio).toFixed(2) : "-") },
      ],
      rows,
    ),
  );
  console.log("\nA recommendation's cost in reads is 1 / ratio; the difference between two variants is what the steps between them cost. Intervals of about ±0.07x: read differences under 0.1 of a read as noise. Other load above 0.2 cores (processes outside the run) marks a disturbed row.");
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`bench:ablate: ${err.message}\n`);
      process.exit(1);
    },
  );
}
