// The one logger: a JSON line per event, so Workers Logs (and `wrangler tail`, and tests) can filter
// on fields: time, level, event, region, sku, reservation, trace (the W3C trace id), durationMs,
// and what else the event needs. It never takes personal data: fields that could hold some are
// dropped by name, and e-mail addresses and secrets are masked in any text (error messages too).
import { traceIdOf } from "./trace";

export type Level = "debug" | "info" | "warn" | "error";

export interface LogFields {
  region?: string;
  sku?: string;
  reservation?: string;
  /** A traceparent or a bare 32-hex trace id; logged as the trace id. */
  trace?: string | null;
  durationMs?: number;
  error?: unknown;
  [field: string]: unknown;
}

/** Field names that may carry a person's data or a credential: never logged. */
const FORBIDDEN = new Set(["shopper", "shopperid", "userid", "user", "email", "token", "authorization", "address", "secret", "password", "consent", "id_token"]);
const EMAIL = /[^\s"'<>@,;:()]+@[^\s"'<>@,;:()]+\.[A-Za-z]{2,}/g;
const SECRET = /\b(whsec_[A-Za-z0-9+/=]+|Bearer\s+[^\s"'()]+)/gi;

/** Masks what looks like an e-mail address or a secret in free text. */
export function scrub(text: string): string {
  return text.replace(EMAIL, "[email]").replace(SECRET, "[secret]");
}

/** Longest error text logged: enough to read, never a whole object dump. */
const MAX_ERROR_CHARS = 500;

/**
 * An error as one short line. Never serialises an object: a driver's error event can hold its
 * client, and with it a connection string and its password.
 */
function describe(err: unknown): string {
  let text: string;
  if (err instanceof Error) text = `${err.name}: ${err.message}`;
  else if (typeof err === "string") text = err;
  else if (typeof err === "object" && err !== null && typeof (err as { message?: unknown }).message === "string") text = (err as { message: string }).message;
  else text = String(err);
  return scrub(text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}…` : text);
}

function clean(value: unknown): unknown {
  if (typeof value === "string") return scrub(value);
  if (value instanceof Error) return describe(value);
  // Numbers, booleans, null and arrays of them (lists of SKUs); anything else as a short line.
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value) && value.every((v) => v === null || typeof v !== "object")) return value.map(clean);
  return describe(value);
}

/** The line as it is written (exported for tests). */
export function logLine(level: Level, event: string, fields: LogFields = {}): string {
  const line: Record<string, unknown> = { time: new Date().toISOString(), level, event };
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined || FORBIDDEN.has(key.toLowerCase())) continue;
    if (key === "trace") {
      const id = typeof value === "string" ? (traceIdOf(value) ?? (/^[0-9a-f]{32}$/.test(value) ? value : null)) : null;
      if (id) line.trace = id;
    } else if (key === "error") line.error = describe(value);
    else line[key] = clean(value);
  }
  return JSON.stringify(line);
}

export function log(level: Level, event: string, fields?: LogFields): void {
  const line = logLine(level, event, fields);
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else if (level === "debug") console.debug(line);
  else console.log(line);
}

export const info = (event: string, fields?: LogFields) => log("info", event, fields);
export const warn = (event: string, fields?: LogFields) => log("warn", event, fields);
export const error = (event: string, fields?: LogFields) => log("error", event, fields);
