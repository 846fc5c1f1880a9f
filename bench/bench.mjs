#!/usr/bin/env node
// `npm run bench`: the edge API under three workloads (flash sale, carts, availability reads),
// served by the Worker in workerd and by the alternatives a team would pick instead (Hono on Node
// over Redis + Lua, and over Postgres), each with its production durability, plus a no-op route
// through our runtime as the ceiling. One load generator (autocannon, in its own process) drives
// them all with the same requests; every write scenario is checked for overselling afterwards.
// See bench/README.md and docs/performance.md.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cleanupOnExit } from "./lib/cleanup.mjs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, usage } from "./lib/args.mjs";
import { buildWorker } from "./lib/build.mjs";
import { costLine, costMeter, describeFsyncs, FSYNC_MODES, perRequest } from "./lib/costs.mjs";
import { LoadGenerator } from "./lib/load.mjs";
import { machine, waitForQuiet } from "./lib/proc.mjs";
import { report, summarize } from "./lib/report.mjs";
import { gitInfo, writeResults } from "./lib/results.mjs";
import { miniflareRunner } from "./lib/runner-miniflare.mjs";
import { DEFAULT_PG_ADMIN_URL, postgresRunner, redisRunner } from "./lib/runner-peers.mjs";
import { ADMIN_TOKEN, adminApi, ceilingWorkload, REGION, scenarioCatalog, SETUP_ALARM_DELAY_MS, SETUP_SETTLED_MS, STOREFRONT_KEY, USER_ID_SECRET } from "./lib/scenarios.mjs";
import { int, ms } from "./lib/table.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RESULTS_DIR = fileURLToPath(new URL("./results/", import.meta.url));
const require = createRequire(import.meta.url);

const SPEC = {
  connections: { env: "BENCH_CONNECTIONS", type: "int", default: 64, help: "concurrent connections, one request in flight each (closed loop)" },
  duration: { env: "BENCH_DURATION", type: "number", default: 10, help: "seconds of measured load per scenario and runner" },
  rounds: { env: "BENCH_ROUNDS", type: "int", default: 1, help: "run every scenario and runner this many times, the runners taking turns round by round; the tables show each runner's median round (by req/s) and a section lists every round's ratios against the Redis peer. This VM's speed drifts by up to a third between runs: the median of 3 rounds is not moved by one slow stretch" },
  warmup: { env: "BENCH_WARMUP", type: "number", default: 1, help: "seconds of unmeasured warm-up load before each measurement (0 to skip)" },
  scenarios: { env: "BENCH_SCENARIOS", type: "string", default: "flash,carts,reads,recs,storefront", help: "which scenarios to run: flash, carts, reads, recs, storefront (ours only: reads and recs taking turns on one server), outage (ours only; not in the default set), personalisation (ours only, not in the default set: recommendations without and with a shopper's list taking turns on one server)" },
  runners: { env: "BENCH_RUNNERS", type: "string", default: "ours,redis,postgres,ceiling", help: "which runners: ours, redis, postgres, ceiling (no-op route in ours)" },
  stock: { env: "BENCH_STOCK", type: "int", default: 500, help: "flash sale: units of the hot SKU (fewer than the shoppers who ask)" },
  "confirm-ratio": { env: "BENCH_CONFIRM_RATIO", type: "number", default: 0.5, help: "flash sale: share of shoppers with a hold who confirm (the others release)" },
  "cart-skus": { env: "BENCH_CART_SKUS", type: "int", default: 1000, help: "carts and reads: how many SKUs the requests spread over" },
  "cart-lines": { env: "BENCH_CART_LINES", type: "int", default: 3, help: "carts: lines per reservation" },
  "cart-stock": { env: "BENCH_CART_STOCK", type: "int", default: 1_000_000, help: "carts: units of each SKU (ample: the scenario measures holds)" },
  "read-skus": { env: "BENCH_READ_SKUS", type: "int", default: 20, help: "reads: SKUs per availability request" },
  "recs-consent": { env: "BENCH_RECS_CONSENT", type: "number", default: 0.5, help: "recs: share of requests from a consenting shopper (Shopper-Id header, their own list)" },
  "recs-shoppers": { env: "BENCH_RECS_SHOPPERS", type: "int", default: 2000, help: "recs: consenting shoppers with a list of their own" },
  "recs-contexts": { env: "BENCH_RECS_CONTEXTS", type: "int", default: 0, help: "recs: ask next to only the first N held-out baskets (0: all of them; fewer keep the contexts' rankings in the CPU's caches)" },
  "staleness-bound-ms": { env: "BENCH_STALENESS_BOUND_MS", type: "int", default: 2000, help: "reads: an answer further behind its stock object's own state than this fails the run" },
  shards: { env: "BENCH_SHARDS", type: "string", default: "1", help: "stock shards for the flash SKU: only 1 here; `npm run bench:reserve -- --shards 1,2,4` measures K > 1" },
  storage: { env: "BENCH_STORAGE", type: "string", default: "disk", help: "where our Durable Objects keep SQLite files: disk (OS temp dir) or tmpfs (/dev/shm)" },
  "pg-admin-url": { env: "BENCH_PG_ADMIN_URL", type: "string", default: DEFAULT_PG_ADMIN_URL, help: "Postgres to create the throwaway database in" },
  "pg-pool": { env: "BENCH_PG_POOL", type: "int", default: 16, help: "connections in the Postgres peer's pool" },
  "redis-server": { env: "BENCH_REDIS_SERVER", type: "string", help: "path to redis-server (default: /usr/bin/redis-server or PATH)" },
  "redis-fsync": { env: "BENCH_REDIS_FSYNC", type: "string", default: "always", help: "Redis appendfsync: always (production-safe for holds) or everysec" },
  fsyncs: { env: "BENCH_FSYNCS", type: "string", default: "off", help: "count our workerd's fsyncs per measured run with strace: launch (workerd runs under strace with a seccomp filter: only fsyncs stop it, which slows write-heavy runs somewhat), attach (strace -p for the run: slows workerd several times over; a cross-check) or off" },
  "quiet-wait": { env: "BENCH_QUIET_WAIT", type: "number", default: 8, help: "before each run, wait up to this many seconds for other processes to leave the CPU idle (0 to skip)" },
  timeout: { env: "BENCH_TIMEOUT", type: "number", default: 10, help: "seconds before a request counts as timed out" },
  "no-json": { type: "boolean", default: false, help: "do not write bench/results/bench-<timestamp>.json" },
};

const isTTY = process.stderr.isTTY;
const progress = (text) => process.stderr.write(`${text}\n`);

function tickPrinter(label) {
  let last = 0;
  return (t) => {
    const s = Math.round(t.elapsedMs / 1000);
    const text = `    ${label} ${String(s).padStart(3)} s  ${int(t.perSecond).padStart(7)} req/s  ${int(t.responses).padStart(9)} responses${t.draining ? "  (draining)" : ""}`;
    if (isTTY) process.stderr.write(`\r${text}\x1b[K`);
    else if (s - last >= 5) {
      last = s;
      progress(text);
    }
  };
}

function validate(opts) {
  if (opts.connections < 1) throw new Error("--connections must be at least 1");
  if (!(opts.duration > 0)) throw new Error("--duration must be more than 0 seconds");
  if (!(Number.isInteger(opts.rounds) && opts.rounds >= 1 && opts.rounds <= 10)) throw new Error("--rounds must be a whole number from 1 to 10");
  if (!(opts.timeout > 0)) throw new Error("--timeout must be more than 0 seconds");
  if (!["disk", "tmpfs"].includes(opts.storage)) throw new Error("--storage is disk or tmpfs");
  if (!FSYNC_MODES.includes(opts.fsyncs)) throw new Error(`--fsyncs is ${FSYNC_MODES.join(", ")}`);
  if (!["always", "everysec"].includes(opts["redis-fsync"])) throw new Error("--redis-fsync is always or everysec");
  if (opts["confirm-ratio"] > 1) throw new Error("--confirm-ratio is between 0 and 1");
  if (opts["cart-lines"] < 1 || opts["cart-lines"] > Math.min(50, opts["cart-skus"])) throw new Error("--cart-lines must be 1..50 and at most --cart-skus");
  if (!(opts["recs-consent"] >= 0 && opts["recs-consent"] <= 1)) throw new Error("--recs-consent is between 0 and 1");
  if (opts["recs-shoppers"] < 1) throw new Error("--recs-shoppers must be at least 1");
  if (opts["read-skus"] < 1 || opts["read-skus"] > Math.min(100, opts["cart-skus"])) throw new Error("--read-skus must be 1..100 and at most --cart-skus");
  const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
  const runners = list(opts.runners);
  for (const r of runners) if (!["ours", "redis", "postgres", "ceiling"].includes(r)) throw new Error(`unknown runner '${r}'; known: ours, redis, postgres, ceiling`);
  const shards = list(opts.shards).map((k) => {
    const n = Number(k);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--shards takes whole numbers >= 1, got '${k}'`);
    // Sharding is per SKU (PUT /v1/admin/{region}/stock/{sku}/shards); `npm run bench:reserve --
    // --shards 1,2,4` measures the flash sale per K with the oversell check summed over shards.
    // This side-by-side run measures K = 1 only rather than print a K > 1 row it did not set up.
    if (n > 1) throw new Error("--shards > 1 is measured by `npm run bench:reserve -- --shards 1,2,4`; run this one with --shards 1.");
    return n;
  });
  return { runners, scenarioIds: list(opts.scenarios), shards };
}

async function main() {
  const { help, values: opts } = parseArgs(SPEC);
  if (help) {
    console.log(usage("npm run bench --", SPEC));
    return 0;
  }
  const { runners: runnerIds, scenarioIds, shards } = validate(opts);
  const catalog = scenarioCatalog(opts);
  const scenarios = scenarioIds.map((id) => {
    if (!catalog[id]) throw new Error(`unknown scenario '${id}'; known: ${Object.keys(catalog).join(", ")}`);
    return catalog[id];
  });

  const startedAt = new Date();
  const runId = startedAt.getTime().toString(36);
  const { defer, forget, cleanup, onExit } = cleanupOnExit({
    log: progress,
    onSignal: (signal) => {
      if (isTTY) process.stderr.write("\n");
      progress(`[bench] ${signal}: stopping (a throwaway Postgres database bench_peer_* may be left; drop it by hand)`);
    },
  });

  const secrets = { STOREFRONT_KEYS: STOREFRONT_KEY, ADMIN_TOKEN, USER_ID_SECRET };
  try {
    // Peers first: a missing redis-server or Postgres is reported before minutes are spent.
    const peers = [];
    if (runnerIds.includes("redis")) peers.push(redisRunner({ secrets, redisServer: opts["redis-server"] || undefined, fsync: opts["redis-fsync"] }));
    if (runnerIds.includes("postgres")) {
      const r = postgresRunner({ secrets, adminUrl: opts["pg-admin-url"], poolSize: opts["pg-pool"] });
      await r.check();
      peers.push(r);
    }

    let ours = null;
    let build = null;
    if (runnerIds.includes("ours") || runnerIds.includes("ceiling")) {
      const outdir = mkdtempSync(join(tmpdir(), "bench-build-"));
      onExit.dirs.add(outdir);
      defer(() => {
        rmSync(outdir, { recursive: true, force: true });
        onExit.dirs.delete(outdir);
      });
      progress("[bench] building the worker: wrangler deploy --dry-run --outdir <tmp> ...");
      build = await buildWorker({ projectRoot: ROOT, outdir });
      const bundleText = readFileSync(build.main, "utf8");
      build.bundleBytes = Buffer.byteLength(bundleText);
      progress(`[bench] built in ${(build.ms / 1000).toFixed(1)} s (wrangler ${build.wranglerVersion}, ${(build.bundleBytes / 1024).toFixed(0)} KiB bundle)`);
      const oursByK = new Map();
      ours = async (k) => {
        if (!oursByK.has(k)) oursByK.set(k, await oursRunner(k));
        return oursByK.get(k);
      };
      const oursRunner = (k) =>
        miniflareRunner({
          scriptPath: build.main,
          configPath: join(ROOT, "wrangler.toml"),
          env: "",
          bindings: { REGIONS: "eu,us,apac", LOW_STOCK_THRESHOLD: "5", ...secrets, ...(scenarios.some((sc) => sc.needsFaultInjection) && { FAULT_INJECTION: "on" }) },
          queueConsumers: false,
          storage: opts.storage,
          viaEntry: false,
          traceFsyncs: opts.fsyncs === "launch",
        });
    }
    // Locally workerd fsyncs the objects' SQLite files on every commit (counted per request in the
    // cost table: --fsyncs).
    const oursDurability = opts.storage === "tmpfs" ? "DO SQLite on tmpfs (no disk)" : "DO SQLite, fsync per commit";
    const describeOurs = (r) => ({ id: "ours", label: "ours: workerd + DOs", durability: oursDurability, description: r.description, meta: r.meta });

    const loadgen = await LoadGenerator.start();
    onExit.pids.add(loadgen.pid);
    defer(async () => {
      await loadgen.stop();
      onExit.pids.delete(loadgen.pid);
    });
    const autocannonVersion = JSON.parse(readFileSync(require.resolve("autocannon/package.json"), "utf8")).version;

    // One line per runner, up front: what exactly is measured.
    const runnerInfo = {};
    if (ours) {
      const r = await ours(1);
      runnerInfo.ours = describeOurs(r);
      progress(`[bench] ours: ${r.description}`);
      progress(`[bench] ours, fsyncs: ${describeFsyncs(opts.fsyncs, r)}`);
    }
    for (const p of peers) {
      runnerInfo[p.id] = { id: p.id, label: p.label, durability: p.durability, description: p.description, meta: p.meta };
      progress(`[bench] ${p.id}: ${p.description}`);
    }
    progress(`[bench] load: autocannon ${autocannonVersion} in its own process, ${opts.connections} connections, closed loop, ${opts.duration} s per run after ${opts.warmup} s warm-up; a fresh server and store for every run`);

    const plan = [];
    if (runnerIds.includes("ceiling")) plan.push({ scenario: null, runner: "ceiling" });
    for (const scenario of scenarios) {
      for (const id of runnerIds) {
        if (id === "ours") for (const k of scenario.shardable ? shards : [1]) plan.push({ scenario, runner: "ours", shards: k });
        else if (id !== "ceiling" && !scenario.oursOnly) plan.push({ scenario, runner: id });
      }
    }
    // Rounds: the whole plan again, so each runner's runs spread over the same stretch of time.
    for (const base of plan.splice(0)) plan.push({ ...base, round: 1 });
    for (let round = 2; round <= opts.rounds; round++) for (const base of plan.filter((st) => st.round === 1)) plan.push({ ...base, round });
    plan.sort((a, b) => a.round - b.round);
    const estimate = plan.length * (opts.duration + opts.warmup + 4);
    progress(`[bench] ${plan.length} runs${opts.rounds > 1 ? ` (${opts.rounds} rounds)` : ""}, about ${Math.ceil(estimate / 60)} min, plus up to 45 s for each of ours that waits out its set-up`);

    const allRuns = [];
    for (const [i, step] of plan.entries()) {
      const label = `[${i + 1}/${plan.length}]${opts.rounds > 1 ? ` round ${step.round}` : ""}`;
      const scenarioName = step.scenario?.name ?? "no-op ceiling (GET /healthz)";
      const runnerLabel = step.runner === "ceiling" ? "ours" : step.runner + (step.shards > 1 ? ` K=${step.shards}` : "");
      progress(`[bench] ${label} ${scenarioName} — ${runnerLabel}`);
      const runner = step.runner === "ours" || step.runner === "ceiling" ? await ours(step.shards ?? 1) : peers.find((p) => p.id === step.runner);
      const t0 = performance.now();
      const instance = await runner.start();
      for (const pid of Object.values(instance.pids)) onExit.pids.add(pid);
      if (instance.persistDir) onExit.dirs.add(instance.persistDir);
      for (const dir of instance.tempDirs ?? []) onExit.dirs.add(dir);
      const stopInstance = defer(async () => {
        await instance.stop();
        for (const pid of Object.values(instance.pids)) onExit.pids.delete(pid);
        if (instance.persistDir) onExit.dirs.delete(instance.persistDir);
        for (const dir of instance.tempDirs ?? []) onExit.dirs.delete(dir);
      });
      try {
        const api = adminApi(instance.url);
        const run = await measure({ step, instance, api, loadgen, opts, runId, label, onExit });
        run.setupSec = (performance.now() - t0) / 1000 - run.metrics.elapsedSec;
        const m = run.metrics;
        const v = run.verification;
        const cpu = Object.entries(m.cpu.coresUsed).map(([k, c]) => `${k} ${c === null ? "?" : c.toFixed(2)}`).join(", ");
        progress(
          `    ${int(m.requests)} requests, ${int(m.throughput)} req/s, p50 ${ms(m.latencyMs.p50)} ms, p99 ${ms(m.latencyMs.p99)} ms, ` +
            `errors ${m.errors}${v?.units != null ? `, units ${int(v.units)} / ${int(v.stock)}, oversold ${v.oversold}` : ""}; cores: ${cpu}`,
        );
        if (run.cost) progress(`    per request: ${costLine(run.cost)}`);
        for (const w of v?.warnings ?? []) progress(`    warning: ${w}`);
        for (const f of v?.failures ?? []) progress(`    FAILED: ${f}`);
        if ((m.cpu.coresUsed.others ?? 0) > 0.2) progress(`    warning: other processes used ${m.cpu.coresUsed.others.toFixed(2)} cores meanwhile: numbers disturbed`);
        if (m.errors > 0) progress(`    warning: ${m.errors} errors: ${JSON.stringify(m.errorDetail)}`);
        allRuns.push({ scenarioId: step.scenario?.id ?? "ceiling", scenarioName, runner: step.runner, shards: step.shards ?? null, round: step.round, ...run });
      } finally {
        forget(stopInstance);
        await stopInstance();
      }
    }

    const runs = opts.rounds > 1 ? medianRounds(allRuns) : allRuns;
    const m = machine();
    const text = report({ opts, runs, runnerInfo, scenarios, machine: m, build, autocannonVersion, startedAt });
    console.log(text);
    if (opts.rounds > 1) console.log(roundsReport(allRuns));

    const ok = allRuns.every((r) => !r.verification || r.verification.ok);
    if (!opts["no-json"]) {
      const file = writeResults(RESULTS_DIR, "bench", {
        benchmark: "bench",
        startedAt: startedAt.toISOString(),
        git: gitInfo(ROOT),
        machine: m,
        runners: runnerInfo,
        build: build && { tool: "wrangler deploy --dry-run", wranglerVersion: build.wranglerVersion, bundleBytes: build.bundleBytes, ms: Math.round(build.ms) },
        loadgen: { tool: "autocannon", version: autocannonVersion, process: "separate", mode: "closed loop", pipelining: 1, connections: opts.connections },
        options: opts,
        runs: allRuns,
        ok,
      }, startedAt);
      console.log(`results: ${file.slice(ROOT.length)}`);
    }
    if (!ok) {
      const bar = "!".repeat(78);
      console.error(`\n${bar}`);
      for (const r of allRuns) for (const f of r.verification?.failures ?? []) console.error(`!!! ${r.scenarioName} — ${r.runner}${r.round > 1 ? ` (round ${r.round})` : ""}: ${f}`);
      console.error("!!! A runner broke the stock invariant or lost count under load. These numbers are not valid.");
      console.error(bar);
      return 1;
    }
    return 0;
  } finally {
    await cleanup();
  }
}

const runKey = (r) => `${r.scenarioId}|${r.runner}|${r.shards ?? 1}`;

/** Each scenario and runner's median round by throughput (the lower middle one for an even count). */
function medianRounds(allRuns) {
  const byKey = new Map();
  for (const r of allRuns) byKey.set(runKey(r), [...(byKey.get(runKey(r)) ?? []), r]);
  return [...byKey.values()].map((rs) => [...rs].sort((a, b) => a.metrics.throughput - b.metrics.throughput)[Math.floor((rs.length - 1) / 2)]);
}

/** Every round's ours-against-Redis ratios per scenario, and their medians. */
function roundsReport(allRuns) {
  const median = (xs) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  };
  const x = (v) => `${v.toFixed(2)}x`;
  const out = ["### every round: ours against node + redis/lua", ""];
  for (const scenarioId of [...new Set(allRuns.map((r) => r.scenarioId))]) {
    const pairs = [];
    for (const round of [...new Set(allRuns.map((r) => r.round))]) {
      const ours = allRuns.find((r) => r.scenarioId === scenarioId && r.round === round && r.runner === "ours" && !(r.shards > 1));
      const redis = allRuns.find((r) => r.scenarioId === scenarioId && r.round === round && r.runner === "redis");
      if (ours && redis) pairs.push({ round, thr: ours.metrics.throughput / redis.metrics.throughput, p99: ours.metrics.latencyMs.p99 / redis.metrics.latencyMs.p99, cpu: ours.metrics.serverCpuMsPerRequest });
    }
    if (!pairs.length) continue;
    const rows = pairs.map((p) => `round ${p.round}: throughput ${x(p.thr)}, p99 ${x(p.p99)}, ours ${p.cpu.toFixed(2)} ms CPU`);
    out.push(`- ${scenarioId}: ${rows.join("; ")}; median throughput ${x(median(pairs.map((p) => p.thr)))}, median p99 ${x(median(pairs.map((p) => p.p99)))}`);
  }
  const recs = allRuns.filter((r) => r.scenarioId === "recs" && r.runner === "ours");
  const reads = allRuns.filter((r) => r.scenarioId === "reads" && r.runner === "ours");
  if (recs.length && reads.length) {
    const ratios = recs.map((rc) => reads.find((rd) => rd.round === rc.round)).map((rd, i) => (rd ? recs[i].metrics.throughput / rd.metrics.throughput : null)).filter((v) => v !== null);
    if (ratios.length) out.push(`- ours, recommendations against reads (separate runs): ${ratios.map(x).join(", ")}; median ${x(median(ratios))}`);
  }
  const turns = allRuns.filter((r) => r.scenarioId === "storefront" && r.verification?.turns).map((r) => r.verification.turns.ratio);
  if (turns.length) out.push(`- ours, recommendations against reads (taking turns on one server): ${turns.map(x).join(", ")}; median ${x(median(turns))}`);
  out.push("");
  return out.join("\n");
}

/** Set-up, warm-up, the measured run and the check, against one fresh instance. */
async function measure({ step, instance, api, loadgen, opts, runId, label, onExit }) {
  const spec = (workload, durationSec) => ({ url: instance.url, connections: opts.connections, timeoutSec: opts.timeout, durationSec, workload });
  const scenario = step.scenario;
  // A scenario may need a longer warm-up to reach its steady state (recs: every shopper's list read once).
  const warmupSec = opts.warmup > 0 ? Math.max(opts.warmup, scenario?.minWarmupSec ?? 0) : 0;
  let setup = null;
  let setupSpan = null;
  if (scenario) {
    // From the first stock write on: the warm-up's own stock (the recommendations' whole catalogue)
    // leaves safety alarms too.
    const setupStartedAt = Date.now();
    await scenario.warmupSetup(api, instance);
    setup = await scenario.setup(api);
    setupSpan = { startedAt: setupStartedAt, endedAt: Date.now() };
  }
  const isOurs = step.runner === "ours" || step.runner === "ceiling";
  // Each stock write of the set-up leaves our object a safety alarm 30 s later (the peers have no
  // such deferred work). When the set-up was slow (a busy machine), those alarms would land in the
  // measured window and be billed to the scenario: wait them out then. The warm-up comes after the
  // wait, so that what it warmed (pages, lists kept 30 s) is still warm when the measured run starts.
  if (isOurs && setupSpan) {
    const windowEnd = Date.now() + (warmupSec + opts["quiet-wait"] + opts.duration + 2) * 1000;
    if (windowEnd > setupSpan.startedAt + SETUP_ALARM_DELAY_MS) {
      const waitMs = setupSpan.endedAt + SETUP_SETTLED_MS - Date.now();
      if (waitMs > 0) {
        progress(`    waiting ${(waitMs / 1000).toFixed(0)} s for the set-up's safety alarms (due 30 s after each of its writes; it took ${((setupSpan.endedAt - setupSpan.startedAt) / 1000).toFixed(0)} s) and the freeing of its objects after them, so they stay outside the measured window`);
        await new Promise((r) => setTimeout(r, waitMs));
      }
    }
  }
  if (warmupSec > 0) await loadgen.run(spec(scenario ? scenario.warmup(`warm-${runId}-${step.runner}-${scenario.id}-`) : ceilingWorkload, warmupSec));
  if (opts["quiet-wait"] > 0) {
    let told = false;
    const quiet = await waitForQuiet({
      maxWaitSec: opts["quiet-wait"],
      onWait: (busy) => {
        if (!told) progress(`    waiting for the machine to quiet down: ${busy.toFixed(2)} cores busy with other work (up to ${opts["quiet-wait"]} s; --quiet-wait 0 skips)`);
        told = true;
      },
    });
    if (told) progress(`    ${quiet.busyCores < 0.3 ? "quiet" : "still busy"} after ${quiet.waitedSec.toFixed(0)} s (${quiet.busyCores.toFixed(2)} cores busy); measuring`);
  }
  // Looked up now, so that pool connections (Postgres backends) opened during warm-up count too.
  // For ours, this Node process hosts miniflare: it should stay idle while the load runs.
  const watched = { ...(instance.watchPids ? instance.watchPids() : instance.pids), ...(isOurs ? { host: process.pid } : {}) };
  // Ours: cost counters and fsyncs, read / counted right before and right after the measured load,
  // so that the set-up above and the check below stay outside the window.
  const meter = isOurs ? costMeter({ url: instance.url, region: REGION, token: ADMIN_TOKEN, fsyncs: opts.fsyncs, instance }) : null;
  await meter?.begin();
  const attachedPid = meter?.stracePid ?? null;
  if (attachedPid) onExit.pids.add(attachedPid);
  // strace's own CPU is watched apart: neither the server's nor "everything else".
  const stracePid = attachedPid ?? (isOurs ? instance.tracerPid : null);
  if (stracePid) watched.strace = stracePid;
  let raw;
  let costRaw = null;
  let probeResult = null;
  const probe = scenario?.during ? scenario.during(api, instance.url) : null;
  if (probe?.ready) await probe.ready;
  try {
    const workload = scenario ? scenario.workload(`bench-${runId}-${step.runner}-${step.shards ?? 1}-${scenario.id}-`) : ceilingWorkload;
    // Taking turns: the server's CPU is split by whose turn it was (workloads.mjs).
    if (workload.kind === "turns" && watched.workerd !== undefined) workload.serverPids = watched.workerd;
    raw = await loadgen.run(spec(workload, opts.duration), {
      watch: watched,
      onTick: tickPrinter(label),
    });
  } finally {
    probeResult = probe ? await probe.stop() : null;
    costRaw = meter ? await meter.end() : null;
    if (attachedPid) onExit.pids.delete(attachedPid);
  }
  if (isTTY) process.stderr.write("\r\x1b[K");
  const metrics = summarize(raw);
  const cost = costRaw && { ...costRaw, perRequest: perRequest(costRaw, metrics.requests) };
  const verification = scenario ? await scenario.verify(api, raw, probeResult) : null;
  return { setup, metrics, verification, cost };
}

main().then(
  (code) => process.exit(code),
  (err) => {
    // Most failures here say what to do next (a missing redis-server, Postgres down, a bad flag).
    console.error(`[bench] ${process.env.BENCH_DEBUG ? (err?.stack ?? err) : `${err?.message ?? err}\n[bench] (BENCH_DEBUG=1 shows the stack)`}`);
    process.exit(1);
  },
);
