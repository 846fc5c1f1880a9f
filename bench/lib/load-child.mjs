// The load generator process: autocannon (closed loop, one request in flight per connection),
// driven over IPC by bench/lib/load.mjs. It runs in its own process so its CPU use and event loop
// are separate from the runner's, and so its CPU time can be measured on its own.
//
// Differences from plain `autocannon -d D`:
// - Duration runs drain instead of cutting connections: at the deadline every connection finishes
//   the request it has in flight and stops. autocannon's own stop destroys sockets with requests
//   in flight, whose outcome the server still decides; a benchmark that checks "units held ==
//   201s counted" must count every request it sent.
// - Latency is kept per response with sub-millisecond precision (autocannon's histogram rounds
//   to whole milliseconds, too coarse for a local no-op route).
// - Requests come from a workload (bench/lib/workloads.mjs): sequences per connection, such as a
//   shopper who reserves and then confirms or releases with the token from the answer, with
//   statuses and latency kept per kind of request. A plain spec ({ method, path, headers, body,
//   uniqueHeader }) is one fixed request, optionally with a unique header (an Idempotency-Key).
import autocannon from "autocannon";
import { buildWorkload } from "./workloads.mjs";

const TICK_MS = 1000;

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

class Samples {
  constructor() {
    this.values = new Float64Array(1 << 16);
    this.length = 0;
  }
  push(v) {
    if (this.length === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.length++] = v;
  }
  summary() {
    const sorted = this.values.slice(0, this.length).sort();
    let sum = 0;
    for (const v of sorted) sum += v;
    return {
      count: sorted.length,
      mean: sorted.length ? sum / sorted.length : null,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
      p999: percentile(sorted, 99.9),
      max: sorted.length ? sorted[sorted.length - 1] : null,
    };
  }
}

/**
 * spec: { url, connections, durationSec | amount, timeoutSec, workload } or, for one fixed
 * request, { url, connections, durationSec | amount, timeoutSec, method, path, headers, body,
 * uniqueHeader?: { name, prefix } }
 */
function run(spec) {
  return new Promise((resolve, reject) => {
    const clients = [];
    const latency = new Samples();
    const statusCounts = {};
    const byKind = {};
    const counters = { sent: 0, badBodies: 0, staleReads: 0, unknownAvailability: 0, outOfStockShown: 0 };
    let lastKind = null;
    const tag = (kind) => {
      lastKind = kind;
    };
    const workload = buildWorkload(
      spec.workload ?? { kind: "static", method: spec.method, path: spec.path, headers: spec.headers, body: spec.body, uniqueHeader: spec.uniqueHeader },
      counters,
      tag,
    );
    let responses = 0;
    let socketErrors = 0;
    let timeouts = 0;
    const errorMessages = {};
    let tickResponses = 0;
    let lastResponseAt = null;
    let draining = false;


    const cpuStart = process.cpuUsage();
    const startedAt = performance.now();
    const durationMode = spec.amount === undefined;
    const instance = autocannon(
      {
        url: spec.url,
        connections: spec.connections,
        pipelining: 1,
        timeout: spec.timeoutSec ?? 10,
        // Duration runs stop by draining (below); autocannon's own timer is only a safety net.
        ...(durationMode ? { duration: spec.durationSec + 300 } : { amount: spec.amount }),
        sampleInt: 100,
        requests: workload.requests,
        setupClient(client) {
          clients.push(client);
        },
      },
      (err, result) => {
        clearInterval(ticker);
        clearTimeout(deadline);
        if (err) return reject(err);
        const cpu = process.cpuUsage(cpuStart);
        const end = lastResponseAt ?? performance.now();
        const sent = counters.sent;
        resolve({
          sent,
          expected: workload.expected,
          byKind: Object.fromEntries(Object.entries(byKind).map(([k, v]) => [k, { responses: v.responses, statusCounts: v.statusCounts, latencyMs: v.latency.summary() }])),
          badBodies: counters.badBodies,
          staleReads: counters.staleReads,
          unknownAvailability: counters.unknownAvailability,
          outOfStockShown: counters.outOfStockShown,
          ...(counters.turns && { turns: counters.turns }),
          responses,
          statusCounts,
          socketErrors,
          timeouts,
          errorMessages,
          unanswered: Math.max(0, sent - responses - timeouts),
          elapsedMs: end - startedAt,
          latencyMs: latency.summary(),
          loadgenCpuMs: (cpu.user + cpu.system) / 1000,
          autocannon: { totalRequests: result.totalRequests, non2xx: result.non2xx, errors: result.errors },
        });
      },
    );

    // Emitted right after the request's onResponse, which tagged the answer with its kind.
    instance.on("response", (_client, statusCode, _bytes, responseTime) => {
      responses++;
      tickResponses++;
      statusCounts[statusCode] = (statusCounts[statusCode] ?? 0) + 1;
      latency.push(responseTime);
      const kind = (byKind[lastKind ?? "unknown"] ??= { responses: 0, statusCounts: {}, latency: new Samples() });
      kind.responses++;
      kind.statusCounts[statusCode] = (kind.statusCounts[statusCode] ?? 0) + 1;
      kind.latency.push(responseTime);
      lastKind = null;
      lastResponseAt = performance.now();
    });
    instance.on("reqError", (error) => {
      if (error?.message === "request timed out") {
        timeouts++;
      } else {
        socketErrors++;
      }
      const key = String(error?.code ?? error?.message ?? error);
      errorMessages[key] = (errorMessages[key] ?? 0) + 1;
    });

    const ticker = setInterval(() => {
      if (process.connected) process.send({ type: "tick", elapsedMs: performance.now() - startedAt, responses, perSecond: tickResponses * (1000 / TICK_MS), draining });
      tickResponses = 0;
    }, TICK_MS);

    // Graceful stop: a client whose responseMax equals the requests it made sends nothing more and
    // closes once its in-flight response has arrived; when all have, autocannon finishes.
    const deadline = durationMode
      ? setTimeout(() => {
          draining = true;
          for (const client of clients) client.responseMax = Math.max(1, client.reqsMade);
        }, spec.durationSec * 1000)
      : null;
  });
}

const reply = (msg) => {
  if (process.connected) process.send(msg);
};
process.on("message", async (msg) => {
  if (msg?.type !== "run") return;
  try {
    reply({ type: "result", result: await run(msg.spec) });
  } catch (err) {
    reply({ type: "error", message: String(err?.stack ?? err) });
  }
});
// Ctrl-C in a terminal reaches the whole process group: the parent decides when this one stops.
process.on("SIGINT", () => {});
// The parent is gone (or done with us): nothing left to do.
process.on("disconnect", () => process.exit(0));
process.send?.({ type: "ready" });
