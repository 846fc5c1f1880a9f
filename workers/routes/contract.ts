// What every operation of /openapi.json must say, in one place: who may call it (security), and
// which problems it can answer with, grouped by HTTP status, each with its `code`s and a real
// example. The tests validate every response against the document, so a code a route can throw
// but does not list here fails them (docs/api-contract.md).
import { z } from "@hono/zod-openapi";
import { Problem as ProblemSchema } from "../../schema/contracts";
import { PROBLEMS, type ProblemCode } from "../problems";

export const storefrontAccess = [{ storefrontKey: [] }];
export const adminAccess = [{ adminToken: [] }];
export const warehouseAccess = [{ warehouseSignature: [] }];
/** No credentials: health, the document and its reference page. */
export const openAccess: { [scheme: string]: string[] }[] = [];

export const SECURITY_SCHEMES = {
  storefrontKey: { type: "apiKey", in: "header", name: "X-Api-Key", description: "A storefront's key (STOREFRONT_KEYS); Idempotency-Keys are scoped per key" },
  adminToken: { type: "http", scheme: "bearer", description: "The operator token (ADMIN_TOKEN); the scheme name is case-insensitive" },
  warehouseSignature: {
    type: "apiKey",
    in: "header",
    name: "webhook-signature",
    description:
      "Standard Webhooks: `v1,` + base64 HMAC-SHA256 with the warehouse's secret (WAREHOUSE_SECRETS, `whsec_...`) over " +
      "`{webhook-id}.{webhook-timestamp}.{raw body}`; send `webhook-id` and `webhook-timestamp` too. Timestamps more than " +
      "5 minutes away and ids seen in the last 48 h are refused.",
  },
} as const;

/** The `detail` the API really sends for these codes, so that examples are real answers. */
const EXAMPLE_DETAIL: Partial<Record<ProblemCode, string>> = {
  invalid_request: "json.lines.0.qty: qty must be at least 1; json.ttlSeconds: Too small: expected number to be >=2",
  malformed_json: "Malformed JSON in request body",
  idempotency_key_required: "Send an Idempotency-Key header, unique per operation; reuse it only to retry",
  unauthorized: "Send your storefront key in the X-Api-Key header",
  invalid_signature: "signature does not match; nothing was changed",
  not_found: "See /docs for the routes",
  unknown_region: "Region 'mars' is not served here; served: eu, us, apac",
  unknown_warehouse: "Warehouse 'eu-xyz' is not configured in this deployment",
  dead_letter_not_found: "No dead letter 17 in region eu; GET /v1/admin/eu/dead-letters lists them. Nothing was changed",
  already_replayed: "Dead letter 17 was already replayed at 2026-12-01T13:02:11.512Z; nothing was changed",
  not_replayable: "Dead letter 17 is a warehouse dispatch: POST /v1/admin/eu/dead-letters/17/redispatch. Nothing was changed",
  sale_not_standing: "Sale 9f2c...e1.LIP-NOIR-LTD of eu:LIP-NOIR-LTD is released, timed_out: nothing to ship. The letter stays as it was",
  insufficient_stock: "Some lines cannot be held; nothing was held",
  version_conflict: "Read the stock again: the current version is 8",
  hold_expired: "Make a new reservation",
  payload_too_large: "Bodies are limited to 64 KiB",
  unsupported_media_type: "Set Content-Type: application/json",
  idempotency_key_reused: "This Idempotency-Key already confirmed another reservation; use one key per confirm",
  database_unavailable: "Check DATABASE_URL and that Postgres is up",
  try_again: "The stock object is busy; retry with the same Idempotency-Key",
  setting_missing: "USER_ID_SECRET is not set: wrangler secret put USER_ID_SECRET",
  internal_error: "Retry later; if it persists, tell the on-call engineer the time of the request",
  rate_limited: "Too many reservations from this address; retry after 10 s",
  shopper_limit: "This drop allows 2 units of LIP-NOIR-LTD per shopper; this shopper has 2. Nothing was held",
  shopper_required: "LIP-NOIR-LTD is limited per shopper: send shopper.id with the reservation. Nothing was held",
};

/** The extension fields those answers carry (README, Errors and Examples). */
const EXAMPLE_EXTRA: Partial<Record<ProblemCode, Record<string, unknown>>> = {
  invalid_request: {
    errors: [
      { path: "json.lines.0.qty", message: "qty must be at least 1" },
      { path: "json.ttlSeconds", message: "Too small: expected number to be >=2" },
    ],
  },
  insufficient_stock: { lines: [{ sku: "LIP-NOIR-LTD", requested: 30, available: 25 }] },
  version_conflict: { currentVersion: 8 },
  setting_missing: { setting: "USER_ID_SECRET" },
  rate_limited: { limit: "RESERVE_LIMITER", retryAfter: 10 },
  shopper_limit: { sku: "LIP-NOIR-LTD", rule: "max_units_per_shopper", limit: 2, current: 2 },
  shopper_required: { sku: "LIP-NOIR-LTD" },
};

export const problemType = (code: ProblemCode) => `https://docs.edge-inventory.dev/problems/${code}`;

function example(code: ProblemCode) {
  const [status, title] = PROBLEMS[code];
  const detail = EXAMPLE_DETAIL[code];
  return { type: problemType(code), title, status, code, ...(detail !== undefined && { detail }), ...EXAMPLE_EXTRA[code] };
}

const RetryAfter = {
  description: "Seconds to wait before retrying (sent with try_again and rate_limited)",
  schema: { type: "string", pattern: "^[0-9]+$", example: "10" },
} as const;

/**
 * The error responses of an operation: each code's status, grouped, with `code` and `type` narrowed
 * to the codes listed. internal_error (500) is always added: any route can fail unexpectedly.
 */
type ProblemResponse = { description: string; content: { "application/problem+json": { schema: typeof ProblemSchema } } };
type StatusOf<C extends ProblemCode> = (typeof PROBLEMS)[C][0];

export function problems<const C extends readonly ProblemCode[]>(...codes: C): { [S in StatusOf<C[number]> | 500]: ProblemResponse } {
  const byStatus = new Map<number, ProblemCode[]>();
  for (const code of new Set<ProblemCode>([...codes, "internal_error"])) {
    const status = PROBLEMS[code][0];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<number, unknown> = {};
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    const schema = ProblemSchema.extend({
      type: z.enum(list.map(problemType) as [string, ...string[]]),
      status: z.literal(status),
      code: z.enum(list as [ProblemCode, ...ProblemCode[]]),
    });
    responses[status] = {
      description: list.map((code) => `\`${code}\`: ${PROBLEMS[code][1]}`).join("; "),
      ...(status === 503 && { headers: { "Retry-After": RetryAfter } }),
      ...(status === 429 && { headers: { "Retry-After": { ...RetryAfter, required: true } } }),
      content: {
        "application/problem+json": {
          schema,
          examples: Object.fromEntries(list.map((code) => [code, { summary: PROBLEMS[code][1], value: example(code) }])),
        },
      },
    };
  }
  return responses as { [S in StatusOf<C[number]> | 500]: ProblemResponse };
}

/** Problems every storefront route can answer with, before its own (setting_missing: REGIONS names a route word). */
export const STOREFRONT_PROBLEMS = ["unauthorized", "rate_limited", "unknown_region", "invalid_request", "setting_missing"] as const satisfies ProblemCode[];
/** Problems every admin route can answer with, before its own. */
export const ADMIN_PROBLEMS = ["unauthorized", "rate_limited", "unknown_region", "invalid_request", "setting_missing"] as const satisfies ProblemCode[];
/** Problems of a route that takes a JSON body. */
export const JSON_BODY_PROBLEMS = ["malformed_json", "payload_too_large", "unsupported_media_type"] as const satisfies ProblemCode[];
