// One per region: the minute-by-minute metrics of that region, fed by the isolates' coalesced
// hand-overs (observability/metrics.ts) and read by GET /v1/admin/{region}/metrics and the console.
// A day of minutes is kept; older ones are dropped on the next hand-over.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../workers/env";
import { meterCalls, meterStorage } from "./cost-meter";
import { emptyMinute, KEPT_MINUTES, merge, minuteOf, percentile, type DispatchCounts, type MinuteAggregate } from "../observability/metrics";

export interface MetricsReport {
  region: string;
  from: string;
  to: string;
  minutes: number;
  requests: { total: number; status4xx: number; status5xx: number; latencyMs: { p50: number; p99: number } };
  reservations: { outcomes: Record<string, number>; latencyMs: { p50: number; p99: number } };
  recommendations: { requests: number; cacheHits: number; fromMemo: number; latencyMs: { p50: number; p99: number } };
  dispatch: Record<string, DispatchCounts>;
  queueLagMs: number | null;
  outboxAgeMs: number | null;
  reconcileDrift: number | null;
  series: { at: string; requests: number; status5xx: number; reservations: number; p99Ms: number }[];
}

const latency = (hist: number[]) => ({ p50: percentile(hist, 0.5), p99: percentile(hist, 0.99) });
const iso = (minute: number) => new Date(minute * 60_000).toISOString();

/** The window of the last `minutes` minutes (the current one included) from stored minutes. */
export function metricsReport(region: string, stored: Map<number, MinuteAggregate>, minutes: number, now = Date.now()): MetricsReport {
  const last = minuteOf(now);
  const first = last - minutes + 1;
  let total = emptyMinute();
  const series: MetricsReport["series"] = [];
  // Gauges: the most recent minute that saw one.
  let queueLagMs: number | null = null;
  let outboxAgeMs: number | null = null;
  let reconcileDrift: number | null = null;
  for (let minute = first; minute <= last; minute++) {
    const m = stored.get(minute) ?? emptyMinute();
    total = merge(total, m);
    queueLagMs = m.queueLagMs ?? queueLagMs;
    outboxAgeMs = m.outboxAgeMs ?? outboxAgeMs;
    reconcileDrift = m.reconcileDrift ?? reconcileDrift;
    const reservations = Object.values(m.outcomes).reduce((a, b) => a + b, 0);
    series.push({ at: iso(minute), requests: m.requests, status5xx: m.status5xx, reservations, p99Ms: percentile(m.requestLatency, 0.99) });
  }
  return {
    region,
    from: iso(first),
    to: new Date(now).toISOString(),
    minutes,
    requests: { total: total.requests, status4xx: total.status4xx, status5xx: total.status5xx, latencyMs: latency(total.requestLatency) },
    reservations: { outcomes: total.outcomes, latencyMs: latency(total.reservationLatency) },
    recommendations: { requests: total.recommendations, cacheHits: total.recommendationCacheHits, fromMemo: total.recommendationMemoHits ?? 0, latencyMs: latency(total.recommendationLatency) },
    dispatch: total.dispatch,
    queueLagMs,
    outboxAgeMs,
    reconcileDrift,
    series,
  };
}

export class RegionMetrics extends DurableObject<Env> {
  private sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = meterStorage(ctx.storage);
    this.sql.exec("CREATE TABLE IF NOT EXISTS minutes (minute INTEGER PRIMARY KEY, data TEXT NOT NULL)");
  }

  /** Merges one isolate's minutes into the stored ones, in one transaction. */
  async add(rows: { minute: number; data: MinuteAggregate }[]): Promise<void> {
    this.ctx.storage.transactionSync(() => {
      for (const { minute, data } of rows) {
        const stored = this.sql.exec<{ data: string }>("SELECT data FROM minutes WHERE minute = ?", minute).toArray()[0];
        const merged = stored ? merge(JSON.parse(stored.data) as MinuteAggregate, data) : data;
        this.sql.exec("INSERT INTO minutes (minute, data) VALUES (?, ?) ON CONFLICT (minute) DO UPDATE SET data = excluded.data", minute, JSON.stringify(merged));
      }
      this.sql.exec("DELETE FROM minutes WHERE minute < ?", minuteOf(Date.now()) - KEPT_MINUTES);
    });
  }

  async report(region: string, minutes: number): Promise<MetricsReport> {
    const from = minuteOf(Date.now()) - minutes + 1;
    const stored = new Map(
      this.sql
        .exec<{ minute: number; data: string }>("SELECT minute, data FROM minutes WHERE minute >= ?", from)
        .toArray()
        .map((r) => [r.minute, JSON.parse(r.data) as MinuteAggregate] as const),
    );
    return metricsReport(region, stored, minutes);
  }
}

// Counted like every object: the benchmark shows what the metrics cost per request.
meterCalls(RegionMetrics, ["add", "report"]);
