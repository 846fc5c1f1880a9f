#!/usr/bin/env node
// `npm run bench:profile`: where workerd's CPU goes on one scenario's hot route. Runs the worker as
// `npm run bench` does (same build, runner, set-up, load generator and defaults), takes a V8 CPU
// profile of the worker's isolate through workerd's inspector during the measured load, and prints
// self time grouped by source module (the bundle keeps esbuild's `// path` markers) and the top
// functions, beside workerd's whole CPU time from /proc: what the profile does not see (HTTP
// parsing, the runtime's own C++, kernel) is the difference. The inspector itself slows the isolate
// a little: read the split, not the req/s.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, usage } from "./lib/args.mjs";
import { buildWorker } from "./lib/build.mjs";
import { LoadGenerator } from "./lib/load.mjs";
import { cpuTimeMs } from "./lib/proc.mjs";
import { miniflareRunner } from "./lib/runner-miniflare.mjs";
import { freePort } from "./lib/runner-peers.mjs";
import { ADMIN_TOKEN, adminApi, scenarioCatalog, SETUP_SETTLED_MS, STOREFRONT_KEY, USER_ID_SECRET } from "./lib/scenarios.mjs";
import { renderTable } from "./lib/table.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

const SPEC = {
  scenario: { type: "string", default: "reads", help: "which scenario of npm run bench to profile: reads, carts, flash, recs" },
  connections: { type: "int", default: 64, help: "concurrent connections (as npm run bench)" },
  duration: { type: "number", default: 5, help: "seconds of profiled load" },
  "cart-skus": { type: "int", default: 1000, help: "SKUs the requests spread over (as npm run bench)" },
  "read-skus": { type: "int", default: 20, help: "reads: SKUs per request (as npm run bench)" },
  "recs-consent": { type: "number", default: 0.5, help: "recs: share of requests from a consenting shopper (as npm run bench)" },
  "recs-shoppers": { type: "int", default: 2000, help: "recs: consenting shoppers with a list of their own (as npm run bench)" },
  alloc: { type: "boolean", default: false, help: "also sample allocations (V8's sampling heap profiler, collected objects included) and list the functions allocating the most bytes per request; used on reads: on recs it did not finish within 10 minutes here" },
  save: { type: "string", help: "also write the raw profile to this file (open it in Chrome DevTools' Performance panel, or read its samples), and the bundle it was taken of beside it (FILE.bundle.js: its line numbers are the profile's)" },
  top: { type: "int", default: 25, help: "functions listed" },
  "after-alarms": { type: "boolean", default: true, help: "wait until the set-up's objects have run their outbox safety alarm (30 s after each write) and been freed (about 10 s later) before profiling" },
};

/** A minimal Chrome DevTools Protocol session over the inspector's WebSocket. */
async function inspect(port) {
  let targets = [];
  for (let i = 0; i < 50 && targets.length === 0; i++) {
    try {
      targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  // miniflare runs a few workers of its own; ours is the one named after wrangler.toml's `name`.
  const target = targets.find((t) => !/^(core:|miniflare)/.test(t.title ?? t.id)) ?? targets[0];
  if (!target) throw new Error(`no inspector target on port ${port}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`cannot open ${target.webSocketDebuggerUrl}`));
  });
  let nextId = 1;
  const waiting = new Map();
  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.id && waiting.has(msg.id)) {
      const { resolve, reject } = waiting.get(msg.id);
      waiting.delete(msg.id);
      if (msg.error) reject(new Error(msg.error.message));
      else resolve(msg.result);
    }
  };
  return {
    target: target.title ?? target.id,
    send: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        waiting.set(id, { resolve, reject });
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
}

/** Line number -> source module, from esbuild's `// path/to/file.ts` markers in the bundle. */
function moduleIndex(bundle) {
  const marks = [];
  bundle.split("\n").forEach((line, i) => {
    const m = /^\/\/ ((?:node_modules\/)?[\w@./-]+\.(?:[cm]?[jt]s))$/.exec(line);
    if (m) marks.push([i, m[1]]);
  });
  return (line) => {
    let lo = 0;
    let hi = marks.length - 1;
    let found = "(bundle prelude)";
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (marks[mid][0] <= line) {
        found = marks[mid][1];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found.replace(/^node_modules\/(@[^/]+\/[^/]+|[^/]+)\/.*$/, "node_modules/$1");
  };
}

/** Waits (up to 20 s) until workerd is idle: the set-up's publishes and queue sends have landed. */
async function settled(pid) {
  for (let i = 0; i < 40; i++) {
    const before = cpuTimeMs(pid);
    await new Promise((r) => setTimeout(r, 500));
    if (before !== null && cpuTimeMs(pid) - before < 25) return;
  }
}

function selfTimes(profile) {
  const self = new Map(profile.nodes.map((n) => [n.id, 0]));
  const dt = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i], self.get(profile.samples[i]) + (dt[i + 1] ?? 0) / 1000);
  return profile.nodes.map((n) => ({ frame: n.callFrame, ms: self.get(n.id) }));
}

/**
 * Stretches of consecutive garbage-collector samples: the pauses every request in flight waits out
 * (locally all objects and the Worker share one isolate, so one heap and one collector).
 */
function gcPauses(profile, minMs = 5) {
  const gc = new Set(profile.nodes.filter((n) => n.callFrame.functionName === "(garbage collector)").map((n) => n.id));
  const pauses = [];
  let at = profile.startTime;
  let start = null;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (gc.has(profile.samples[i])) start ??= at;
    else if (start !== null) {
      if ((at - start) / 1000 >= minMs) pauses.push({ atSec: (start - profile.startTime) / 1e6, ms: (at - start) / 1000 });
      start = null;
    }
  }
  return pauses;
}

async function main() {
  const { help, values: opts } = parseArgs(SPEC);
  if (help) {
    console.log(usage("npm run bench:profile --", SPEC));
    return 0;
  }
  const scenario = scenarioCatalog({ ...opts, stock: 500, "confirm-ratio": 0.5, "cart-lines": 3, "cart-stock": 1_000_000 })[opts.scenario];
  if (!scenario || scenario.oursOnly) throw new Error(`--scenario is one of reads, carts, flash, recs`);
  const outdir = mkdtempSync(join(tmpdir(), "bench-profile-"));
  let instance = null;
  let loadgen = null;
  try {
    const build = await buildWorker({ projectRoot: ROOT, outdir });
    const port = await freePort();
    const runner = await miniflareRunner({
      scriptPath: build.main,
      configPath: join(ROOT, "wrangler.toml"),
      env: "",
      bindings: { REGIONS: "eu,us,apac", LOW_STOCK_THRESHOLD: "5", STOREFRONT_KEYS: STOREFRONT_KEY, ADMIN_TOKEN, USER_ID_SECRET },
      inspectorPort: port,
    });
    instance = await runner.start();
    const api = adminApi(instance.url);
    loadgen = await LoadGenerator.start();
    const spec = (workload, durationSec) => ({ url: instance.url, connections: opts.connections, timeoutSec: 10, durationSec, workload });
    await scenario.warmupSetup(api, instance);
    await scenario.setup(api);
    const setUpAt = Date.now();
    // The set-up's alarms and freed objects (SETUP_SETTLED_MS), then the warm-up, so that what it
    // warms (lists kept 30 s) is still warm when profiling.
    if (opts["after-alarms"]) await new Promise((r) => setTimeout(r, Math.max(0, setUpAt + SETUP_SETTLED_MS - Date.now())));
    await loadgen.run(spec(scenario.warmup("profile-warm-"), Math.max(1, scenario.minWarmupSec ?? 0)));
    await loadgen.run(spec(scenario.workload("profile-settle-"), 1));
    await settled(instance.pids.workerd);

    const session = await inspect(port);
    await session.send("Profiler.enable");
    await session.send("Profiler.setSamplingInterval", { interval: 100 });
    await session.send("Profiler.start");
    if (opts.alloc) {
      await session.send("HeapProfiler.enable");
      await session.send("HeapProfiler.startSampling", { samplingInterval: 16_384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    }
    const probe = scenario.during?.(api, instance.url);
    const raw = await loadgen.run(spec(scenario.workload("profile-"), opts.duration), { watch: instance.pids });
    await probe?.stop();
    const { profile } = await session.send("Profiler.stop");
    const allocations = opts.alloc ? (await session.send("HeapProfiler.stopSampling")).profile : null;
    // Live memory, not garbage waiting for the collector: a full collection first.
    await session.send("HeapProfiler.collectGarbage").catch(() => null);
    const heap = await session.send("Runtime.getHeapUsage").catch(() => null);
    session.close();
    if (opts.save) {
      writeFileSync(opts.save, JSON.stringify(profile));
      writeFileSync(`${opts.save}.bundle.js`, readFileSync(build.main, "utf8"));
      console.error(`[profile] raw profile (Chrome DevTools .cpuprofile) written to ${opts.save}, the bundle to ${opts.save}.bundle.js`);
    }

    const moduleOf = moduleIndex(readFileSync(build.main, "utf8"));
    const byModule = new Map();
    const byFunction = new Map();
    let total = 0;
    /** A frame's module and function as the tables name them: "(program)" and the like as they are. */
    const place = (frame) => {
      const special = /^\(.*\)$/.test(frame.functionName) ? frame.functionName : null;
      const mod = special ?? (frame.url ? moduleOf(frame.lineNumber) : "(native / runtime)");
      return { mod, fn: special ?? `${frame.functionName || "(anonymous)"} ${mod}:${frame.lineNumber + 1}` };
    };
    for (const { frame, ms } of selfTimes(profile)) {
      if (ms === 0) continue;
      total += ms;
      const { mod, fn } = place(frame);
      byModule.set(mod, (byModule.get(mod) ?? 0) + ms);
      byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
    }
    const requests = raw.responses;
    const workerdMs = raw.cpu.processes.workerd?.cpuMs ?? null;
    const rows = (map, n) =>
      [...map.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, n)
        .map(([name, ms]) => ({ name, ms, perReq: (ms / requests) * 1000, share: ms / total }));
    const cols = (header) => [
      { header, align: "left", value: (r) => r.name },
      { header: "µs/request", value: (r) => r.perReq.toFixed(1), align: "right" },
      { header: "share of samples", value: (r) => `${(r.share * 100).toFixed(1)} %`, align: "right" },
    ];
    console.log(`## CPU profile of the worker isolate: ${scenario.name}\n`);
    console.log(`inspector target ${session.target}; ${requests} requests in ${(raw.elapsedMs / 1000).toFixed(1)} s (${Math.round(requests / (raw.elapsedMs / 1000))} req/s, slowed by the profiler)`);
    console.log(`workerd CPU from /proc: ${workerdMs === null ? "?" : `${((workerdMs / requests) * 1000).toFixed(1)} µs/request`}; profiled wall time ${(total / requests * 1000).toFixed(1)} µs/request (idle included)`);
    if (heap) console.log(`isolate heap after the run and a full collection: ${(heap.usedSize / 2 ** 20).toFixed(1)} MiB live of ${(heap.totalSize / 2 ** 20).toFixed(1)} MiB (every object of every class shares this isolate locally)`);
    console.log("");
    console.log(renderTable(cols("module (self time)"), rows(byModule, 20)));
    console.log("");
    console.log(renderTable(cols("function (self time)"), rows(byFunction, opts.top)));
    if (allocations) {
      const bytes = new Map();
      const walk = (node) => {
        const { fn } = place(node.callFrame);
        if (node.selfSize) bytes.set(fn, (bytes.get(fn) ?? 0) + node.selfSize);
        for (const child of node.children ?? []) walk(child);
      };
      walk(allocations.head);
      const all = [...bytes.values()].reduce((a, b) => a + b, 0);
      console.log(`\nallocations (sampled every 16 KiB, collected objects included): ${(all / requests / 1024).toFixed(1)} KiB per request\n`);
      console.log(
        renderTable(
          [
            { header: "function (bytes allocated)", align: "left", value: (r) => r[0] },
            { header: "bytes/request", value: (r) => Math.round(r[1] / requests).toLocaleString("en-US"), align: "right" },
            { header: "share", value: (r) => `${((r[1] / all) * 100).toFixed(1)} %`, align: "right" },
          ],
          [...bytes.entries()].sort((a, b) => b[1] - a[1]).slice(0, opts.top),
        ),
      );
    }
    const pauses = gcPauses(profile);
    console.log(
      `\ngarbage collection: ${pauses.length} pauses of 5 ms or more in ${opts.duration} s` +
        (pauses.length ? `, longest ${Math.max(...pauses.map((p) => p.ms)).toFixed(1)} ms (${pauses.map((p) => `${p.ms.toFixed(0)} ms at ${p.atSec.toFixed(1)} s`).join(", ")})` : "") +
        ": every request in flight waits out such a pause, which is what a p99 of a few thousand requests a second sees",
    );
    return 0;
  } finally {
    await loadgen?.stop();
    await instance?.stop();
    rmSync(outdir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`[bench:profile] ${err?.stack ?? err}`);
    process.exit(1);
  },
);
