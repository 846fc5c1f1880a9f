// The "errors and latency" panel: GET /v1/admin/{region}/metrics?minutes=15, kept apart from the
// rest of the console so it can change with that route alone.
import { lineChart } from "./chart.js";
import { h, setPanel, table } from "./dom.js";

export const METRICS_MINUTES = 15;

/** Red: more than 1 % of requests answered 5xx, reconcile drift, or a dispatch dead-lettered. Amber: p99 over 1 s, or queue lag / outbox age over a minute. */
export function metricsState(m) {
  const total = m.requests?.total ?? 0;
  const deadLettered = Object.values(m.dispatch ?? {}).reduce((n, w) => n + (w.deadLettered ?? 0), 0);
  if ((total && (m.requests.status5xx ?? 0) / total > 0.01) || (m.reconcileDrift ?? 0) > 0 || deadLettered > 0) return "bad";
  if ((m.requests?.latencyMs?.p99 ?? 0) > 1000 || (m.queueLagMs ?? 0) > 60_000 || (m.outboxAgeMs ?? 0) > 60_000) return "warn";
  return "ok";
}

const ms = (v) => (v === null || v === undefined ? "–" : `${Math.round(v)} ms`);
const pct = (n, d) => (d ? `${((100 * n) / d).toFixed(1)} %` : "–");

export function metricsView(m) {
  const r = m.requests ?? {};
  const recs = m.recommendations ?? {};
  const outcomes = Object.entries(m.reservations?.outcomes ?? {});
  const dispatch = Object.entries(m.dispatch ?? {});
  const series = m.series ?? [];
  return [
    h(
      "dl",
      { class: "figures" },
      h("dt", {}, "requests"), h("dd", { "data-figure": "requests" }, r.total ?? 0),
      h("dt", {}, "4xx / 5xx"), h("dd", { "data-figure": "errors" }, `${r.status4xx ?? 0} / ${r.status5xx ?? 0} (${pct(r.status5xx ?? 0, r.total)} 5xx)`),
      h("dt", {}, "latency p50 / p99"), h("dd", {}, `${ms(r.latencyMs?.p50)} / ${ms(r.latencyMs?.p99)}`),
      h("dt", {}, "reservations p50 / p99"), h("dd", {}, `${ms(m.reservations?.latencyMs?.p50)} / ${ms(m.reservations?.latencyMs?.p99)}`),
      h("dt", {}, "recommendations"), h("dd", {}, `${recs.requests ?? 0}, cache hits ${pct(recs.cacheHits ?? 0, recs.requests)}, from memo ${pct(recs.fromMemo ?? 0, recs.requests)}, p99 ${ms(recs.latencyMs?.p99)}`),
      h("dt", {}, "queue lag / outbox age"), h("dd", {}, `${ms(m.queueLagMs)} / ${ms(m.outboxAgeMs)}`),
      h("dt", {}, "reconcile drift"), h("dd", {}, m.reconcileDrift ?? 0),
    ),
    outcomes.length ? h("p", {}, "Reservation outcomes: ", outcomes.map(([k, n]) => `${k} ${n}`).join(", ")) : null,
    dispatch.length
      ? table(["warehouse", "ok", "failed", "dead-lettered"], dispatch.map(([id, d]) => h("tr", {}, h("td", {}, id), h("td", { class: "num" }, d.ok ?? 0), h("td", { class: "num" }, d.failed ?? 0), h("td", { class: "num" }, d.deadLettered ?? 0))))
      : null,
    series.length
      ? lineChart(
          [
            { name: "p99Ms", className: "p99", points: series.map((p) => [Date.parse(p.at), p.p99Ms ?? 0]) },
            { name: "status5xx", className: "errors", points: series.map((p) => [Date.parse(p.at), p.status5xx ?? 0]) },
          ],
          { title: "p99 latency (ms) and 5xx answers per interval" },
        )
      : null,
  ];
}

export async function loadMetrics(api, region, panel) {
  const res = await api("GET", `/v1/admin/${region}/metrics?minutes=${METRICS_MINUTES}`);
  if (res.status !== 200) return setPanel(panel, "bad", h("p", { class: "error" }, res.problem));
  setPanel(panel, metricsState(res.body), metricsView(res.body));
}
