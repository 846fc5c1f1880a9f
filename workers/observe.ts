// Every answer of the Worker: its trace (the caller's traceparent continued, or a new trace), a
// `traceparent` response header and the request metrics of its region; a JSON log line for the
// answers worth one (requestLogged). Only the route's pattern is logged, never the URL: a path or
// query may carry what must not be kept.
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { record } from "../observability/metrics";
import { info } from "../observability/log";
import { formatTraceparent, traceFrom, type TraceContext } from "../observability/trace";
import type { AppEnv, Env } from "./env";

/** The region a path names: /v1/{region}/... or /v1/admin/{region}/... (null for others). */
export function regionOfPath(path: string): string | null {
  const parts = path.split("/");
  if (parts[1] !== "v1") return null;
  const region = parts[2] === "admin" ? parts[3] : parts[2];
  return region && region !== "warehouses" ? region : null;
}

/** The traceparent a callee is given: this request's trace, in this request's span. */
export const traceparentOf = (trace: TraceContext) => formatTraceparent(trace);

/** Answers slower than this are logged whatever their status. */
export const SLOW_REQUEST_MS = 1_000;

/**
 * Which answers get a `request` log line. `REQUEST_LOG=all` logs every one; by default only 5xx
 * and slow answers do: a flash sale's tens of thousands of answers a second are counted by the
 * metrics, and a log line each cost as much CPU as a whole availability answer (`npm run bench`).
 * Reservations, confirms and releases log their outcome with their trace either way.
 */
export function requestLogged(status: number, durationMs: number, mode: string | undefined): boolean {
  return mode === "all" || status >= 500 || durationMs >= SLOW_REQUEST_MS;
}

export function observe(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = Date.now();
    c.set("trace", traceFrom(c.req.header("traceparent")));
    await next();
    // A route may have continued another trace it was given (a SOAP Traceparent header block).
    const trace = c.get("trace");
    const header = formatTraceparent(trace);
    try {
      c.res.headers.set("traceparent", header);
    } catch {
      // A response passed through from a fetch (static assets) has immutable headers.
      c.res = new Response(c.res.body, c.res);
      c.res.headers.set("traceparent", header);
    }
    requestDone(c.env, c.executionCtx, { method: c.req.method, route: () => routePath(c, -1), region: regionOfPath(c.req.path) }, c.res.status, started, trace);
  };
}

/** An answer's bookkeeping: its log line when it is worth one, and its region's request metrics. */
export function requestDone(
  env: Env,
  ctx: Pick<ExecutionContext, "waitUntil">,
  /** `route`: the route's pattern (asked only for a logged answer), never the URL. */
  request: { method: string; route: () => string; region: string | null },
  status: number,
  started: number,
  trace: TraceContext,
): void {
  const durationMs = Date.now() - started;
  const { method, route, region } = request;
  if (requestLogged(status, durationMs, env.REQUEST_LOG)) {
    info("request", { method, route: route(), status, durationMs, trace: trace.traceId, ...(region !== null && { region }) });
  }
  if (region !== null) record(env, (p) => ctx.waitUntil(p), region, { kind: "request", status, ms: durationMs });
}
