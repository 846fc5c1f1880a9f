// Every error leaves the API as application/problem+json (RFC 9457) with a stable `code`. The codes
// and their HTTP statuses live here and nowhere else.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { error } from "../observability/log";

export const PROBLEMS = {
  invalid_request: [400, "The request is not valid"],
  malformed_json: [400, "The body is not valid JSON"],
  idempotency_key_required: [400, "An Idempotency-Key header is required"],
  unauthorized: [401, "Missing or wrong credentials"],
  invalid_signature: [401, "The webhook signature does not verify"],
  invalid_token: [403, "The reservation token does not match"],
  not_found: [404, "No such route"],
  unknown_region: [404, "This deployment does not serve that region"],
  reservation_not_found: [404, "No such reservation"],
  unknown_warehouse: [404, "No such warehouse in this deployment"],
  dead_letter_not_found: [404, "No such dead letter in this region"],
  insufficient_stock: [409, "Not enough stock for every line"],
  version_conflict: [409, "The stock changed since the version you read"],
  reservation_released: [409, "The reservation was released"],
  already_confirmed: [409, "The reservation is already confirmed"],
  reservation_abandoned: [409, "An earlier attempt with this Idempotency-Key was given up"],
  wrong_warehouse: [409, "That sale ships from another warehouse"],
  shopper_limit: [409, "This shopper has reached a limit of this drop"],
  sharded: [409, "The SKU-region is split into stock shards"],
  drop_rules_active: [409, "The SKU-region has drop rules"],
  already_replayed: [409, "The dead letter was already replayed"],
  not_replayable: [409, "The dead letter cannot be replayed this way"],
  sale_not_standing: [409, "The sale no longer stands: nothing to ship"],
  shopper_id_in_url: [400, "A shopper id never goes in a URL"],
  hold_expired: [410, "The hold expired before it was confirmed"],
  moved_to_body: [410, "This URL carried a shopper id; the operation now takes it in the body"],
  payload_too_large: [413, "The body is too large"],
  unsupported_media_type: [415, "Send the body as application/json"],
  rate_limited: [429, "Too many requests"],
  idempotency_key_reused: [422, "This Idempotency-Key was used with a different request"],
  shopper_required: [422, "This SKU is limited per shopper: the reservation needs a shopper id"],
  build_too_large: [422, "The region's recommendation lists do not fit one Worker invocation; build them offline"],
  database_unavailable: [503, "The system of record (Postgres) cannot be reached; retry shortly"],
  recommendations_unavailable: [503, "The recommendation lists cannot be read right now; retry shortly"],
  stock_unavailable: [503, "Stock cannot be read or changed in this region right now; retry shortly (a reservation with the same Idempotency-Key)"],
  try_again: [503, "A stock object did not answer in time; retry with the same Idempotency-Key"],
  setting_missing: [503, "A setting this deployment needs is not configured"],
  archive_corrupt: [500, "An archived chunk does not match its checksum"],
  internal_error: [500, "Something went wrong on our side"],
} as const satisfies Record<string, readonly [number, string]>;

export type ProblemCode = keyof typeof PROBLEMS;

/** A secret or variable the deployment lacks: the operator's to fix, so a 503 that names it. */
export class MissingSetting extends Error {
  constructor(
    readonly setting: string,
    howToSet: string,
  ) {
    super(`${setting} is not set: ${howToSet}`);
  }
}

export class Problem extends Error {
  constructor(
    readonly code: ProblemCode,
    readonly detail?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail ?? PROBLEMS[code][1]);
  }
}

/** A problem's status, body and headers: what every error answer is made of. */
function problemParts(problem: Problem): { status: number; body: string; headers: Record<string, string> } {
  const [status, title] = PROBLEMS[problem.code];
  const body = {
    type: `https://docs.edge-inventory.dev/problems/${problem.code}`,
    title,
    status,
    code: problem.code,
    ...(problem.detail !== undefined && { detail: problem.detail }),
    ...problem.extra,
  };
  const headers: Record<string, string> = { "content-type": "application/problem+json" };
  if (problem.code === "try_again") headers["retry-after"] = "1";
  if (problem.code === "rate_limited") headers["retry-after"] = String(problem.extra.retryAfter ?? 10);
  if (problem.code === "stock_unavailable") headers["retry-after"] = "2";
  return { status, body: JSON.stringify(body), headers };
}

export function problemResponse(c: Context, problem: Problem): Response {
  const { status, body, headers } = problemParts(problem);
  return c.body(body, status as ContentfulStatusCode, headers);
}

/** The same answer outside the router (workers/storefront-fast-path.ts). */
export function problemAnswer(problem: Problem): Response {
  const { status, body, headers } = problemParts(problem);
  return new Response(body, { status, headers });
}

export function onError(err: Error, c: Context): Response {
  return problemResponse(c, problemFor(err, { method: c.req.method, path: c.req.path, traceId: c.get("trace")?.traceId }));
}

/** What a thrown error is answered with; the ones that are ours to fix are logged. */
export function problemFor(err: unknown, where: { method: string; path: string; traceId?: string }): Problem {
  if (err instanceof Problem) return err;
  if (err instanceof MissingSetting) {
    error("setting_missing", { setting: err.setting, detail: err.message, route: where.path.split("/").slice(0, 3).join("/"), trace: where.traceId });
    return new Problem("setting_missing", err.message, { setting: err.setting });
  }
  if (err instanceof HTTPException) {
    // Hono's own validators throw these, e.g. for a body that is not JSON.
    if (err.status === 400 && /json/i.test(err.message)) return new Problem("malformed_json", err.message);
    if (err.status === 413) return new Problem("payload_too_large");
    return new Problem("invalid_request", err.message);
  }
  const platform = err as Error & { overloaded?: boolean; retryable?: boolean };
  if (platform?.overloaded || platform?.retryable) {
    return new Problem("try_again", "The stock object is busy; retry with the same Idempotency-Key");
  }
  error("unhandled_error", { method: where.method, error: err, stack: platform?.stack, trace: where.traceId });
  return new Problem("internal_error", "Retry later; if it persists, tell the on-call engineer the time of the request");
}
