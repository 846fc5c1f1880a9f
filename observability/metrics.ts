// Metrics, aggregated per region per minute. Each isolate adds what it saw to a small buffer and,
// at most once a second per region, hands the buffer to that region's RegionMetrics object in one
// call (coalesced: a reservation never waits for it, nor costs an object call of its own). In
// production every data point also goes to Workers Analytics Engine (the METRICS binding), which
// keeps them longer; locally that binding is a no-op, so the console and tests read the object.
// Latency percentiles come from fixed histogram buckets: a p99 of 50 means "at most 50 ms".
import { servedRegions } from "../workers/openapi";
import type { Env } from "../workers/env";
import { warn } from "./log";

/** Upper bounds (ms) of the latency buckets; the last bucket is everything slower. */
export const LATENCY_BOUNDS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000] as const;
const FLUSH_MS = 1_000;
/** Minutes the object keeps: a day, the longest window the route serves. */
export const KEPT_MINUTES = 1440;

export interface DispatchCounts { ok: number; failed: number; deadLettered: number }

export interface MinuteAggregate {
  requests: number;
  status4xx: number;
  status5xx: number;
  requestLatency: number[];
  outcomes: Record<string, number>;
  reservationLatency: number[];
  recommendations: number;
  recommendationCacheHits: number;
  /** Answers served again from the isolate's memo (recommendations/serve.ts, AnswerMemo). */
  recommendationMemoHits: number;
  recommendationLatency: number[];
  dispatch: Record<string, DispatchCounts>;
  /** Largest seen in the minute. */
  queueLagMs: number | null;
  outboxAgeMs: number | null;
  /** Last seen in the minute. */
  reconcileDrift: number | null;
}

export type MetricEvent =
  | { kind: "request"; status: number; ms: number }
  /** created | out_of_stock | shopper_limit | confirmed | released | expired | error | ... */
  | { kind: "reservation"; outcome: string; ms?: number }
  | { kind: "recommendation"; ms: number; cacheHit: boolean; fromMemo?: boolean }
  | { kind: "dispatch"; warehouse: string; result: keyof DispatchCounts }
  | { kind: "queue_lag"; ms: number }
  | { kind: "outbox_age"; ms: number }
  | { kind: "reconcile_drift"; drift: number };

export function emptyMinute(): MinuteAggregate {
  const hist = () => LATENCY_BOUNDS_MS.map(() => 0).concat(0);
  return {
    requests: 0, status4xx: 0, status5xx: 0, requestLatency: hist(), outcomes: {}, reservationLatency: hist(),
    recommendations: 0, recommendationCacheHits: 0, recommendationMemoHits: 0, recommendationLatency: hist(), dispatch: {},
    queueLagMs: null, outboxAgeMs: null, reconcileDrift: null,
  };
}

function observe(hist: number[], ms: number): void {
  let i = LATENCY_BOUNDS_MS.findIndex((b) => ms <= b);
  if (i < 0) i = LATENCY_BOUNDS_MS.length;
  hist[i] = (hist[i] ?? 0) + 1;
}

const maxOf = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));

/** Adds one event to a minute. */
export function apply(m: MinuteAggregate, e: MetricEvent): void {
  switch (e.kind) {
    case "request":
      m.requests++;
      if (e.status >= 500) m.status5xx++;
      else if (e.status >= 400) m.status4xx++;
      observe(m.requestLatency, e.ms);
      break;
    case "reservation":
      m.outcomes[e.outcome] = (m.outcomes[e.outcome] ?? 0) + 1;
      if (e.ms !== undefined) observe(m.reservationLatency, e.ms);
      break;
    case "recommendation":
      m.recommendations++;
      if (e.cacheHit) m.recommendationCacheHits++;
      if (e.fromMemo) m.recommendationMemoHits++;
      observe(m.recommendationLatency, e.ms);
      break;
    case "dispatch": {
      const counts = (m.dispatch[e.warehouse] ??= { ok: 0, failed: 0, deadLettered: 0 });
      counts[e.result]++;
      break;
    }
    case "queue_lag":
      m.queueLagMs = maxOf(m.queueLagMs, Math.max(0, e.ms));
      break;
    case "outbox_age":
      m.outboxAgeMs = maxOf(m.outboxAgeMs, Math.max(0, e.ms));
      break;
    case "reconcile_drift":
      m.reconcileDrift = e.drift;
      break;
  }
}

/** Adds minute `b` into `a` (the object merges what isolates send; the report sums a window). */
export function merge(a: MinuteAggregate, b: MinuteAggregate): MinuteAggregate {
  const sum = (x: number[], y: number[]) => x.map((v, i) => v + (y[i] ?? 0));
  const outcomes = { ...a.outcomes };
  for (const [k, v] of Object.entries(b.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + v;
  const dispatch: Record<string, DispatchCounts> = structuredClone(a.dispatch);
  for (const [w, c] of Object.entries(b.dispatch)) {
    const d = (dispatch[w] ??= { ok: 0, failed: 0, deadLettered: 0 });
    d.ok += c.ok;
    d.failed += c.failed;
    d.deadLettered += c.deadLettered;
  }
  return {
    requests: a.requests + b.requests,
    status4xx: a.status4xx + b.status4xx,
    status5xx: a.status5xx + b.status5xx,
    requestLatency: sum(a.requestLatency, b.requestLatency),
    outcomes,
    reservationLatency: sum(a.reservationLatency, b.reservationLatency),
    recommendations: a.recommendations + b.recommendations,
    recommendationCacheHits: a.recommendationCacheHits + b.recommendationCacheHits,
    // Minutes kept before this count existed have none.
    recommendationMemoHits: (a.recommendationMemoHits ?? 0) + (b.recommendationMemoHits ?? 0),
    recommendationLatency: sum(a.recommendationLatency, b.recommendationLatency),
    dispatch,
    queueLagMs: maxOf(a.queueLagMs, b.queueLagMs),
    outboxAgeMs: maxOf(a.outboxAgeMs, b.outboxAgeMs),
    reconcileDrift: b.reconcileDrift ?? a.reconcileDrift,
  };
}

/** The bucket bound at or below which a share `p` of the observations fall (0 with none). */
export function percentile(hist: number[], p: number): number {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  const rank = Math.ceil(p * total);
  let seen = 0;
  for (const [i, n] of hist.entries()) {
    seen += n;
    if (seen >= rank) return LATENCY_BOUNDS_MS[Math.min(i, LATENCY_BOUNDS_MS.length - 1)]!;
  }
  return LATENCY_BOUNDS_MS.at(-1)!;
}

export const minuteOf = (ms: number) => Math.floor(ms / 60_000);

// ---------------------------------------------------------------- the isolate's buffer

type Pending = Map<string, Map<number, MinuteAggregate>>;
let pending: Pending = new Map();
let flushing: Promise<void> | null = null;
/** Hand-overs to the objects under way (a reader waits for them, so it sees its own isolate's counts). */
const handing = new Set<Promise<unknown>>();

function metricsObject(env: Env, region: string) {
  return env.REGION_METRICS.get(env.REGION_METRICS.idFromName(region));
}

/**
 * Counts one event for `region` (only regions this deployment serves: a made-up region in a URL
 * must not create an object). `waitUntil` keeps the coalesced flush alive after the answer.
 */
export function record(env: Env, waitUntil: (p: Promise<unknown>) => void, region: string, event: MetricEvent, now = Date.now()): void {
  if (!env.REGION_METRICS || !servedRegions(env).includes(region)) return;
  const minutes = pending.get(region) ?? new Map<number, MinuteAggregate>();
  pending.set(region, minutes);
  const minute = minuteOf(now);
  const m = minutes.get(minute) ?? emptyMinute();
  minutes.set(minute, m);
  apply(m, event);
  writeDataPoint(env, region, event);
  if (!flushing) {
    flushing = new Promise<void>((resolve) => setTimeout(resolve, FLUSH_MS)).then(() => {
      flushing = null;
      return flush(env);
    });
    waitUntil(flushing);
  }
}

/** Hands what this isolate counted to the regions' objects (all regions, or one), and waits for any hand-over under way. */
export async function flush(env: Env, only?: string): Promise<void> {
  const under = [...handing];
  const taken: Pending = new Map();
  for (const [region, minutes] of pending) {
    if (only === undefined || region === only) taken.set(region, minutes);
  }
  for (const region of taken.keys()) pending.delete(region);
  await Promise.all([
    ...under,
    ...[...taken].map(async ([region, minutes]) => {
      const rows = [...minutes].map(([minute, data]) => ({ minute, data }));
      const adding = metricsObject(env, region).add(rows);
      handing.add(adding);
      try {
        await adding;
      } catch (err) {
        warn("metrics_flush_failed", { region, error: err, minutes: rows.length });
        // Kept for the next flush, unless older than the object keeps anyway.
        const back = pending.get(region) ?? new Map<number, MinuteAggregate>();
        for (const { minute, data } of rows) {
          if (minute > minuteOf(Date.now()) - 10) back.set(minute, back.has(minute) ? merge(back.get(minute)!, data) : data);
        }
        pending.set(region, back);
      } finally {
        handing.delete(adding);
      }
    }),
  ]).catch(() => undefined);
}

/** Workers Analytics Engine: one data point per event (non-blocking; a no-op locally). */
function writeDataPoint(env: Env, region: string, e: MetricEvent): void {
  if (!env.METRICS) return;
  const [label, value] =
    e.kind === "request" ? [String(e.status), e.ms]
      : e.kind === "reservation" ? [e.outcome, e.ms ?? 0]
        : e.kind === "recommendation" ? [e.fromMemo ? "memo" : e.cacheHit ? "hit" : "miss", e.ms]
          : e.kind === "dispatch" ? [`${e.warehouse}:${e.result}`, 1]
            : e.kind === "reconcile_drift" ? ["", e.drift]
              : ["", e.ms];
  try {
    env.METRICS.writeDataPoint({ indexes: [region], blobs: [e.kind, label], doubles: [value] });
  } catch (err) {
    warn("analytics_engine_write_failed", { region, error: err });
  }
}
