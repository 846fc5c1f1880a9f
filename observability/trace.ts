// W3C Trace Context (https://www.w3.org/TR/trace-context/): one trace id follows a request from the
// edge through its objects, queues, Postgres rows and warehouse calls. A trace is carried as a
// `traceparent` string (version-traceid-parentid-flags), passed explicitly as an argument or a
// message field: never kept in module state, where concurrent requests would mix.
import { hex } from "../workers/hex";

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const HEX2 = /^[0-9a-f]{2}$/;

export interface TraceContext {
  traceId: string;
  /** The span the next hop is a child of: ours, once we continue a trace. */
  spanId: string;
  flags: string;
}

/**
 * Reads a traceparent header as the spec's section 3.2 and 4.3 ask: lowercase hex only, ids not all
 * zeros, version ff invalid, version 00 exactly 55 characters, a later version may append fields
 * after a dash. Anything else (including two headers joined with a comma) is null: the caller
 * starts a new trace rather than refusing the request.
 */
export function parseTraceparent(value: string | null | undefined): TraceContext | null {
  if (typeof value !== "string") return null;
  const text = value.trim();
  if (text.length < 55) return null;
  const version = text.slice(0, 2);
  if (!HEX2.test(version) || version === "ff") return null;
  if (version === "00" ? text.length !== 55 : text.length > 55 && text[55] !== "-") return null;
  const [v, traceId, spanId, flags] = text.slice(0, 55).split("-");
  if (v !== version || !traceId || !spanId || !flags) return null;
  if (!HEX32.test(traceId) || /^0+$/.test(traceId)) return null;
  if (!HEX16.test(spanId) || /^0+$/.test(spanId)) return null;
  if (!HEX2.test(flags)) return null;
  // A later version's flags are read as 00's (only the sampled bit is defined).
  return { traceId, spanId, flags: version === "00" ? flags : (parseInt(flags, 16) & 1 ? "01" : "00") };
}

// Random bytes for ids, drawn from the runtime's CSPRNG a few kilobytes at a time rather than with
// a call for every id (two per request: a trace id and a span id).
const pool = new Uint8Array(4096);
let drawn = pool.length;

/** `bytes` random bytes in lowercase hex, never all zeros (the spec's invalid id). */
function randomHex(bytes: number): string {
  if (drawn + bytes > pool.length) {
    crypto.getRandomValues(pool);
    drawn = 0;
  }
  const id = pool.subarray(drawn, (drawn += bytes));
  return id.some((b) => b !== 0) ? hex(id) : randomHex(bytes);
}

/** Continues `parent` (a new span of ours inside it) or, without one, starts a new sampled trace. */
export function continueTrace(parent: TraceContext | null): TraceContext {
  return { traceId: parent?.traceId ?? randomHex(16), spanId: randomHex(8), flags: parent?.flags ?? "01" };
}

export function formatTraceparent(t: TraceContext): string {
  return `00-${t.traceId}-${t.spanId}-${t.flags}`;
}

/** A carried traceparent (message field, RPC argument, header) continued in a new span; a broken or missing one starts a new trace. */
export function traceFrom(value: string | null | undefined): TraceContext {
  return continueTrace(parseTraceparent(value));
}

/** The trace id of a carried traceparent, or null (old messages and rows carry none). */
export function traceIdOf(value: string | null | undefined): string | null {
  return parseTraceparent(value)?.traceId ?? null;
}

/** The pattern the response header always matches (what we send is version 00). */
export const TRACEPARENT_PATTERN = "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$";
