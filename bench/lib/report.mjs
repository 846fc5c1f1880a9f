// Turns what the load generator measured into metrics, and a whole `npm run bench` run into the
// text it prints: one table per scenario (a row per runner, plus the no-op ceiling), outcomes,
// ratios of ours to each peer, CPU use and the notes that say how to read it.
import { costNotes, costTable } from "./costs.mjs";
import { int, ms, pct, renderTable } from "./table.mjs";

/** Metrics of one measured run; statuses outside the workload's expected ones are errors. */
export function summarize(raw) {
  const unexpected = {};
  for (const [kind, k] of Object.entries(raw.byKind)) {
    const ok = raw.expected[kind] ?? [];
    for (const [status, n] of Object.entries(k.statusCounts)) {
      if (!ok.includes(Number(status))) unexpected[`${kind} ${status}`] = n;
    }
  }
  const badResponses = Object.values(unexpected).reduce((a, b) => a + b, 0);
  // CPU of the server under test (ours: workerd; peers: Node app + store), per answered request.
  // strace (counting our fsyncs) is watched apart and is not the server's.
  let serverCpuMs = 0;
  for (const [name, p] of Object.entries(raw.cpu.processes)) {
    if (["loadgen", "host", "others", "strace"].includes(name) || p.cpuMs === null) continue;
    serverCpuMs += p.cpuMs;
  }
  const errors = badResponses + raw.socketErrors + raw.timeouts + raw.unanswered;
  return {
    requests: raw.sent,
    responses: raw.responses,
    throughput: raw.responses / (raw.elapsedMs / 1000),
    elapsedSec: raw.elapsedMs / 1000,
    latencyMs: raw.latencyMs,
    errors,
    errorRate: errors / Math.max(1, raw.sent),
    serverCpuMsPerRequest: raw.responses ? serverCpuMs / raw.responses : null,
    errorDetail: { unexpectedStatuses: unexpected, socketErrors: raw.socketErrors, timeouts: raw.timeouts, unanswered: raw.unanswered, messages: raw.errorMessages },
    byKind: raw.byKind,
    cpu: {
      wallSec: raw.cpu.wallMs / 1000,
      coresUsed: Object.fromEntries(Object.entries(raw.cpu.processes).map(([k, v]) => [k, v.coresUsed])),
    },
  };
}

const CEILING_LABEL = "ceiling: no-op GET /healthz in ours";

function rowLabel(run, runnerInfo) {
  if (run.runner === "ceiling") return CEILING_LABEL;
  const base = runnerInfo[run.runner]?.label ?? run.runner;
  return run.runner === "ours" && run.shards > 1 ? `${base} (K=${run.shards})` : base;
}

function outcomes(run) {
  const parts = [];
  for (const [kind, k] of Object.entries(run.metrics.byKind)) {
    const statuses = Object.entries(k.statusCounts).map(([s, n]) => `${s} x ${int(n)}`).join(", ");
    parts.push(`${kind} ${statuses} (${int(k.responses / run.metrics.elapsedSec)}/s, p50 ${ms(k.latencyMs.p50)} ms, p99 ${ms(k.latencyMs.p99)} ms)`);
  }
  return parts.join("; ");
}

/** The columns of a table of rows { name, reqs, lat, cpu } (cpu: server CPU ms per request, or null). */
const rateColumns = (first) => [
  { header: first, align: "left", value: (r) => r.name },
  { header: "req/s", value: (r) => int(r.reqs) },
  { header: "p50 ms", value: (r) => ms(r.lat.p50) },
  { header: "p99 ms", value: (r) => ms(r.lat.p99) },
  { header: "server CPU ms/req", value: (r) => (r.cpu == null ? "-" : r.cpu.toFixed(3)) },
];

/**
 * Issue 15's targets for recommendations, ours in this run: throughput at least the availability
 * reads', and p99 at most half the p99 of reservations (the flash sale's creates).
 */
function recsTargets(runs) {
  const ours = (id) => runs.find((r) => r.scenarioId === id && r.runner === "ours" && !(r.shards > 1));
  const recs = ours("recs");
  const storefront = ours("storefront");
  const turns = storefront?.verification?.turns;
  if (!recs && !turns) return [];
  const reads = ours("reads");
  const flash = ours("flash");
  const reserve = flash?.metrics.byKind.reserve;
  const row = (name, reqs, lat, cpu) => ({ name, reqs, lat, cpu });
  const rows = [
    ...(recs ? [row("recommendations (recs)", recs.metrics.throughput, recs.metrics.latencyMs, recs.metrics.serverCpuMsPerRequest)] : []),
    ...(reads ? [row("availability reads (reads)", reads.metrics.throughput, reads.metrics.latencyMs, reads.metrics.serverCpuMsPerRequest)] : []),
    ...(reserve ? [row("reservations (flash: creates only)", reserve.responses / flash.metrics.elapsedSec, reserve.latencyMs, null)] : []),
    ...(turns
      ? turns.kinds.map((kind, i) => row(`${kind === "read" ? "availability reads" : "recommendations"}, taking turns (storefront)`, turns.perSecond[i], storefront.metrics.byKind[kind].latencyMs, turns.cpuMsPerRequest?.[i] ?? null))
      : []),
  ];
  const out = ["### recommendations beside reads and reservations (ours, this run)", "", renderTable(rateColumns("ours: workerd + DOs"), rows), ""];
  const verdict = (ok) => (ok ? "met" : "NOT met");
  if (turns) {
    const [readsPerSec, recsPerSec] = turns.perSecond;
    out.push(
      `- throughput, taking turns on one server (storefront): recommendations ${int(recsPerSec)} req/s = ${ratio(turns.ratio)} the reads' ${int(readsPerSec)} ` +
        `(95 % interval over ${turns.blocks} blocks of ${turns.blockSec} s: ${ratio(turns.interval[0])} to ${ratio(turns.interval[1])}; single blocks ${ratio(turns.blockRange[0])} to ${ratio(turns.blockRange[1])}) (target >= 1x: ${verdict(turns.ratio >= 1)})`,
    );
    out.push(`- stalled turns (under a third of their kind's median answers): ${stalledText(turns)}`);
  }
  if (recs && reads) {
    const x = recs.metrics.throughput / reads.metrics.throughput;
    out.push(`- throughput, separate runs: recommendations ${int(recs.metrics.throughput)} req/s = ${ratio(x)} the reads' ${int(reads.metrics.throughput)} (target >= 1x: ${verdict(x >= 1)}; the runs are a minute apart, and the machine's speed drifts by up to 2x within seconds: the line above is the comparison that drift does not decide)`);
  } else if (!turns) out.push("- throughput against reads: not measured (run the reads or storefront scenario too)");
  for (const [label, run] of [["recs", recs], ["storefront", storefront]]) {
    const memo = run?.verification?.memo;
    if (memo?.answers) {
      out.push(`- ${label}: ${int(memo.fromMemo)} of ${int(memo.answers)} recommendations (${((100 * memo.fromMemo) / memo.answers).toFixed(0)} %, warm-up included) were served again from the isolate's memo; the rest were worked out (every consenting shopper's, and the first or changed answer to a request without one)`);
    }
  }
  if (recs && reserve) {
    const half = reserve.latencyMs.p99 / 2;
    out.push(`- p99: recommendations ${ms(recs.metrics.latencyMs.p99)} ms against half the reservations' p99, ${ms(half)} ms (target <=: ${verdict(recs.metrics.latencyMs.p99 <= half)})`);
  } else if (recs) out.push("- p99 against reservations: not measured (run the flash scenario too)");
  out.push("");
  return out;
}

/** The personalisation scenario: what a personalised recommendation costs against one from the memo, on one server. */
function personalisationCost(runs) {
  const run = runs.find((r) => r.scenarioId === "personalisation" && r.runner === "ours");
  const turns = run?.verification?.turns;
  if (!turns) return [];
  const rows = turns.kinds.map((kind, i) => ({
    name: kind === "recommend-personalised" ? "from a consenting shopper with a list" : "without a shopper (the memo's)",
    reqs: turns.perSecond[i],
    lat: run.metrics.byKind[kind].latencyMs,
    cpu: turns.cpuMsPerRequest?.[i] ?? null,
  }));
  const cpu = turns.cpuMsPerRequest;
  return [
    "### what personalising costs (ours, this run: the personalisation scenario)",
    "",
    renderTable(rateColumns("recommendations, taking turns"), rows),
    "",
    `- personalised answers: ${ratio(turns.ratio)} the throughput of answers without a shopper (95 % interval over ${turns.blocks} blocks of ${turns.blockSec} s: ${ratio(turns.interval[0])} to ${ratio(turns.interval[1])})` +
      (cpu ? `; ${ratio(cpu[1] / cpu[0])} their server CPU per request` : ""),
    "",
  ];
}

const ratio = (x) => (Number.isFinite(x) ? `${x >= 10 ? x.toFixed(0) : x.toFixed(2)}x` : "-");

export function report({ opts, runs, runnerInfo, scenarios, machine: m, build, autocannonVersion, startedAt }) {
  const ceiling = runs.find((r) => r.runner === "ceiling");
  const columns = [
    { header: "runner", align: "left", value: (r) => rowLabel(r, runnerInfo) },
    { header: "durability", align: "left", value: (r) => (r.runner === "ceiling" ? "-" : runnerInfo[r.runner]?.durability) },
    { header: "requests", value: (r) => int(r.metrics.requests) },
    { header: "req/s", value: (r) => int(r.metrics.throughput) },
    { header: "p50 ms", value: (r) => ms(r.metrics.latencyMs.p50) },
    { header: "p95 ms", value: (r) => ms(r.metrics.latencyMs.p95) },
    { header: "p99 ms", value: (r) => ms(r.metrics.latencyMs.p99) },
    { header: "server CPU ms/req", value: (r) => (r.metrics.serverCpuMsPerRequest == null ? "-" : r.metrics.serverCpuMsPerRequest.toFixed(2)) },
    { header: "error %", value: (r) => (r.metrics.errors === 0 ? "0" : pct(r.metrics.errorRate)) },
    { header: "held+confirmed / stock", value: (r) => (r.verification?.units == null ? "-" : `${int(r.verification.units)} / ${int(r.verification.stock)}`) },
    { header: "oversold", value: (r) => (r.verification?.oversold == null ? "-" : r.verification.oversold > 0 ? `${int(r.verification.oversold)} FAIL` : "0") },
    { header: "other load", value: (r) => (r.metrics.cpu.coresUsed.others == null ? "?" : `${r.metrics.cpu.coresUsed.others.toFixed(2)} cores`) },
  ];

  const lines = [
    "",
    `## npm run bench — ${startedAt.toISOString()}`,
    "",
    `machine: ${m.cores} cores, ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; load generator, servers and stores share the cores`,
    `load:    autocannon ${autocannonVersion} in its own process; ${opts.connections} connections, 1 request in flight each (closed loop); ${opts.duration} s per run after ${opts.warmup} s warm-up; fresh server and empty store per run`,
    ...(build ? [`build:   wrangler ${build.wranglerVersion} deploy --dry-run (${(build.bundleBytes / 1024).toFixed(0)} KiB bundle of workers/index.ts)`] : []),
    "runners:",
    ...Object.values(runnerInfo).map((r) => `- ${r.label}: ${r.description}`),
    "",
  ];

  for (const scenario of scenarios) {
    const rows = runs.filter((r) => r.scenarioId === scenario.id);
    if (!rows.length) continue;
    lines.push(`### ${scenario.name}`, "", renderTable(columns, ceiling ? [...rows, ceiling] : rows), "");
    lines.push("outcomes (status x count per request kind):");
    for (const r of rows) lines.push(`- ${rowLabel(r, runnerInfo)}: ${outcomes(r)}`);
    for (const r of rows.filter((r) => r.verification?.outage)) {
      const o = r.verification.outage;
      lines.push(
        "",
        `outage: availability (share of answers that were not 5xx) in the region that was down ${pct(o.availabilityDown)}, in the other ${pct(o.availabilityUp)}; ` +
          `reads answered in the region that was down ${pct(o.readsAnsweredDown)} (${int(o.staleReads)} marked stale); read model caught up ${o.recoveredMs == null ? "NOT within 30 s" : `${int(o.recoveredMs)} ms`} after recovery`,
      );
    }
    const probed = rows.filter((r) => r.verification?.staleness);
    if (probed.length) {
      lines.push("", `staleness (answers to a probe reading 20 SKUs whose stock changes ~10 times/s, against each change's start; bound ${opts["staleness-bound-ms"]} ms):`);
      for (const r of probed) {
        const s = r.verification.staleness;
        lines.push(`- ${rowLabel(r, runnerInfo)}: largest ${int(s.maxMs)} ms, p99 ${int(s.p99Ms)} ms, ${pct(s.staleShare)} of ${int(s.answers)} answers behind, ${int(s.writes)} changes`);
      }
    }
    const ratios = [];
    for (const o of rows.filter((r) => r.runner === "ours")) {
      const name = rowLabel(o, runnerInfo);
      for (const p of rows.filter((r) => r.runner !== "ours")) {
        ratios.push(
          `- ${name} vs ${rowLabel(p, runnerInfo)}: throughput ${ratio(o.metrics.throughput / p.metrics.throughput)}, ` +
            `p50 latency ${ratio(o.metrics.latencyMs.p50 / p.metrics.latencyMs.p50)}, p99 latency ${ratio(o.metrics.latencyMs.p99 / p.metrics.latencyMs.p99)}`,
        );
      }
      if (ceiling) ratios.push(`- ${name}: ${pct(o.metrics.throughput / ceiling.metrics.throughput)} of the no-op ceiling's throughput`);
    }
    if (ratios.length) lines.push("", "ratios, ours / peer (throughput above 1x: ours does more; latency above 1x: ours is slower):", ...ratios);
    lines.push("");
  }

  lines.push(...recsTargets(runs));
  lines.push(...personalisationCost(runs));

  lines.push(
    ...costTable(runs, {
      title: "### cost per request (ours: workerd + DOs; the Node peers have no such counters)",
      label: (r) => (r.runner === "ceiling" ? "ceiling" : r.shards > 1 ? `${r.scenarioId} (K=${r.shards})` : r.scenarioId),
      cpuMs: (r) => r.metrics.serverCpuMsPerRequest,
    }),
  );

  lines.push(`CPU used during each measured run (cores; this machine has ${m.cores}):`);
  const fmt = (v) => (v === null || v === undefined ? "?" : v.toFixed(2));
  for (const r of runs) {
    const c = r.metrics.cpu.coresUsed;
    const parts = Object.entries(c).filter(([k]) => k !== "others").map(([k, v]) => `${k} ${fmt(v)}`);
    lines.push(`- ${r.runner === "ceiling" ? "ceiling" : r.scenarioId} / ${rowLabel(r, runnerInfo)}: ${parts.join(", ")}, everything else ${fmt(c.others)}`);
  }
  const noisy = runs.filter((r) => (r.metrics.cpu.coresUsed.others ?? 0) > 0.2);
  const loadgenBusy = runs.filter((r) => (r.metrics.cpu.coresUsed.loadgen ?? 0) > 0.85);
  lines.push(
    "",
    "Notes:",
    "- req/s counts every request answered (for the flash sale: reservations, confirms and releases); latency is per request, measured in the load generator.",
    `- Closed loop: latency ~= connections / throughput (Little's law). The load generator shares the ${m.cores} cores with the server under test.`,
    "- server CPU ms/req = CPU time of the server under test (ours: workerd; peers: the Node process plus redis-server or every postgres process) over requests answered. It is less sensitive to a busy machine than req/s. The cost table's CPU ms is the same figure.",
    "- error % = statuses other than the expected ones (201/409 for reservations, 200 otherwise), socket errors, timeouts and requests left unanswered, over requests sent.",
    "- held+confirmed / stock is read back from each server's GET /v1/admin/eu/stock/{sku} after the run (carts: summed over the SKUs); oversold = max(0, held + confirmed - (onHand - safetyStock)), and must be 0.",
    "- The ceiling row is the same runtime answering a route that does nothing, measured once: the most this machine and load generator allow.",
    ...costNotes(opts.fsyncs),
    "- other load = CPU used meanwhile by processes outside the run (other people's builds and tests on a shared machine, kernel threads); above 0.2 cores the row is disturbed.",
    ...(noisy.length ? [`- WARNING: other processes used more than 0.2 of a core during ${noisy.length} run(s): those numbers are disturbed; rerun on a quiet machine.`] : []),
    ...(loadgenBusy.length ? ["- WARNING: the load generator used more than 0.85 of a core in some run: it may be the bottleneck there."] : []),
    "",
  );
  return lines.join("\n");
}

/** The storefront's stalled turns in words: each with its kind, answers and the server's CPU in it. */
function stalledText(turns) {
  if (!turns.stalled.length) return `none of ${turns.turns.length}`;
  return turns.stalled
    .map((t) => `${t.kind} turn ${t.turn + 1} of ${turns.turns.length}: ${int(t.answers)} answers${t.serverCpuMs === null ? "" : `, server CPU ${t.serverCpuMs} ms of ${turns.turnMs}`}`)
    .join("; ");
}
