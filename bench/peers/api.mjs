// The edge API's HTTP surface, served from Node by Hono, over a pluggable stock store (Redis + Lua
// or Postgres). It exists so the benchmark can drive the alternatives with the very requests it
// sends to the Worker: the same routes, headers, bodies, status codes and problem+json errors.
// Request shapes come from schema/contracts.ts and the error table from workers/problems.ts, so
// validation costs and answers match the Worker's (peers run under tsx for those imports).
//
// Covered: the routes the benchmark and the peer self-test use.
//   GET  /healthz
//   PUT  /v1/admin/{region}/stock/{sku}         (Idempotency-Key on this route is not supported)
//   GET  /v1/admin/{region}/stock/{sku}
//   GET  /v1/{region}/availability?skus=a,b,c
//   POST /v1/{region}/reservations              (Idempotency-Key required)
//   GET  /v1/{region}/reservations/{id}
//   POST /v1/{region}/reservations/{id}/confirm (X-Reservation-Token, Idempotency-Key)
//   POST /v1/{region}/reservations/{id}/release (X-Reservation-Token)
//   GET  /v1/{region}/recommendations           (the Worker's answer, recommendations/serve.ts, over
//                                                the store's lists and availability)
//
// The store interface (all async; times in ms since the epoch):
//   setStock({ region, sku, warehouse, onHand, safetyStock?, expectedVersion? })
//     -> { ok: true, snapshot } | { ok: false, code: "version_conflict", currentVersion }
//   state(region, sku) -> snapshot + { warehouses: [{ warehouse, onHand, updatedAt }], activeHolds, nextDeadline }
//   availability(region, skus) -> [{ sku, available, version }] in the order asked
//   reserve({ id, region, requestHash, token, lines, ttlSeconds })
//     -> { ok: true, reservation, token } | { ok: false, code: "insufficient_stock", lines } | { ok: false, code: "idempotency_key_reused" }
//   view(region, id, token) / confirm(region, id, token) / release(region, id, token)
//     -> { ok: true, reservation } | { ok: false, code, reservation? }
//   lists: { get(keys, "text") -> Map(key -> JSON text | null) }   recommendation lists under KV's keys
//   close()
// A snapshot is { sku, region, onHand, held, confirmed, safetyStock, available, version }; a
// reservation is { id, region, status, lines, createdAt, expiresAt, confirmedAt?, releasedAt? }.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { ListCache } from "../../recommendations/list-cache.ts";
import { MARKETS, REGION_MARKETS } from "../../recommendations/markets.ts";
import { maxAvailabilityChecks, recommendText } from "../../recommendations/serve.ts";
import { AvailabilityQuery, CreateReservationBody, RecommendationsQuery, ReservationParams, SetStockBody, StockParams, UserId } from "../../schema/contracts.ts";
import { CONSENT_HEADER, hasConsent, pseudonymise, SHOPPER_ID_HEADER } from "../../workers/privacy.ts";
import { onError, Problem } from "../../workers/problems.ts";

const sha256 = (value) => createHash("sha256").update(value).digest();
export const hex = (value) => sha256(value).toString("hex");

/** Constant-time comparison of two secrets (by their digests, so lengths do not leak). */
export function sameSecret(expected, given) {
  return timingSafeEqual(sha256(expected), sha256(given ?? ""));
}

export function randomToken() {
  return randomBytes(24).toString("base64url");
}

function parse(schema, value, target) {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const errors = result.error.issues.map((i) => ({ path: [target, ...i.path.map(String)].join("."), message: i.message }));
  throw new Problem("invalid_request", errors.map((e) => `${e.path}: ${e.message}`).join("; "), { errors });
}

async function jsonOf(c) {
  if (!/^application\/json\b/i.test(c.req.header("content-type") ?? "")) {
    throw new Problem("unsupported_media_type", "Set Content-Type: application/json");
  }
  try {
    return await c.req.json();
  } catch (err) {
    throw new Problem("malformed_json", String(err?.message ?? err));
  }
}

const iso = (ms) => new Date(ms).toISOString();

function view(r) {
  return {
    id: r.id,
    region: r.region,
    status: r.status,
    expiresAt: iso(r.expiresAt),
    lines: r.lines,
    createdAt: iso(r.createdAt),
    ...(r.confirmedAt !== undefined && r.confirmedAt !== null && { confirmedAt: iso(r.confirmedAt) }),
    ...(r.releasedAt !== undefined && r.releasedAt !== null && { releasedAt: iso(r.releasedAt) }),
  };
}

function fail(outcome) {
  if (outcome.code === "hold_expired") throw new Problem("hold_expired", "Make a new reservation", { reservation: view(outcome.reservation) });
  throw new Problem(outcome.code);
}

/**
 * options: { store, storefrontKeys: string[], adminToken, userIdSecret?, regions: string[], lowStockThreshold }
 */
export function createApp({ store, storefrontKeys, adminToken, userIdSecret, regions, lowStockThreshold = 5 }) {
  // The lists in this process's memory, as the Worker keeps them in its isolate's.
  const lists = store.lists && new ListCache(store.lists);
  const status = (available) => (available <= 0 ? "out_of_stock" : available <= lowStockThreshold ? "low_stock" : "in_stock");
  const snapshotBody = (s) => ({
    sku: s.sku,
    region: s.region,
    onHand: s.onHand,
    held: s.held,
    confirmed: s.confirmed,
    safetyStock: s.safetyStock,
    available: s.available,
    status: status(s.available),
    version: s.version,
  });

  const storefront = async (c, next) => {
    const given = c.req.header("x-api-key");
    if (!given) throw new Problem("unauthorized", "Send your storefront key in the X-Api-Key header");
    let match = false;
    for (const key of storefrontKeys) if (key && sameSecret(key, given)) match = true;
    if (!match) throw new Problem("unauthorized", "The X-Api-Key is not a known storefront key");
    // Idempotency-Keys are scoped per storefront key, as in the Worker.
    c.set("storefrontKeyId", hex(given).slice(0, 16));
    await next();
  };
  const admin = async (c, next) => {
    const m = /^Bearer (.+)$/.exec(c.req.header("authorization") ?? "");
    if (!m) throw new Problem("unauthorized", "Send Authorization: Bearer <admin token>");
    if (!adminToken || !sameSecret(adminToken, m[1])) throw new Problem("unauthorized", "The admin token is wrong");
    await next();
  };
  const knownRegion = async (c, next) => {
    const region = c.req.param("region") ?? "";
    if (!regions.includes(region)) throw new Problem("unknown_region", `Region '${region}' is not served here; served: ${regions.join(", ")}`);
    await next();
  };
  const idempotencyKey = (c) => {
    const key = c.req.header("idempotency-key");
    if (!key) throw new Problem("idempotency_key_required", "Send an Idempotency-Key header, unique per operation; reuse it only to retry");
    if (key.length > 255) throw new Problem("invalid_request", "Idempotency-Key must be at most 255 characters");
    return key;
  };
  const token = (c) => {
    const t = c.req.header("x-reservation-token");
    if (!t) throw new Problem("invalid_request", "header.x-reservation-token: Required");
    return t;
  };

  const app = new Hono();
  app.onError(onError);
  app.notFound(() => {
    throw new Problem("not_found", "See /docs for the routes");
  });
  app.use("/v1/*", bodyLimit({ maxSize: 64 * 1024, onError: () => { throw new Problem("payload_too_large", "Bodies are limited to 64 KiB"); } }));
  app.get("/healthz", (c) => c.json({ ok: true }));

  app.put("/v1/admin/:region/stock/:sku", admin, knownRegion, async (c) => {
    const { region, sku } = parse(StockParams, c.req.param(), "param");
    const body = parse(SetStockBody, await jsonOf(c), "json");
    const result = await store.setStock({ region, sku, ...body });
    if (!result.ok) {
      throw new Problem("version_conflict", `Read the stock again: the current version is ${result.currentVersion}`, { currentVersion: result.currentVersion });
    }
    return c.json(snapshotBody(result.snapshot), 200);
  });

  app.get("/v1/admin/:region/stock/:sku", admin, knownRegion, async (c) => {
    const { region, sku } = parse(StockParams, c.req.param(), "param");
    const s = await store.state(region, sku);
    return c.json(
      {
        ...snapshotBody(s),
        warehouses: s.warehouses.map((w) => ({ warehouse: w.warehouse, onHand: w.onHand, updatedAt: iso(w.updatedAt) })),
        activeHolds: s.activeHolds,
        nextDeadline: s.nextDeadline === null ? null : iso(s.nextDeadline),
        // The peers have no warehouse saga, so nothing ever needs an operator's attention.
        attention: [],
      },
      200,
    );
  });

  app.get("/v1/:region/availability", storefront, knownRegion, async (c) => {
    const { region } = parse(ReservationParams.pick({ region: true }), c.req.param(), "param");
    const { skus } = parse(AvailabilityQuery, { skus: c.req.query("skus") }, "query");
    const unique = [...new Set(skus)];
    const items = await store.availability(region, unique);
    return c.json({ region, items: items.map((s) => ({ sku: s.sku, available: s.available, status: status(s.available), version: s.version })) }, 200);
  });

  app.get("/v1/:region/recommendations", storefront, knownRegion, async (c) => {
    const { region } = parse(ReservationParams.pick({ region: true }), c.req.param(), "param");
    const { context, limit, market: asked } = parse(RecommendationsQuery, c.req.query(), "query");
    if (new URL(c.req.url).searchParams.has("user")) throw new Problem("shopper_id_in_url", `Send the shopper id in the ${SHOPPER_ID_HEADER} header, never in the URL`);
    const market = asked ?? REGION_MARKETS[region]?.[0] ?? null;
    if (market && !MARKETS[market]) throw new Problem("invalid_request", `Unknown market ${market}; known: ${Object.keys(MARKETS).join(", ")}`);
    const user = c.req.header(SHOPPER_ID_HEADER);
    const shopper = hasConsent(c.req.header(CONSENT_HEADER)) && user ? await pseudonymise({ USER_ID_SECRET: userIdSecret }, region, parse(UserId, user, "header")) : undefined;
    let body;
    try {
      body = await recommendText(
        { region, context, limit, market, shopper, acceptLanguage: c.req.header("accept-language") },
        {
          lists,
          available: async (skus) => new Map((await store.availability(region, skus)).map((s) => [s.sku, s])),
          maxChecks: maxAvailabilityChecks(limit),
          status,
        },
      );
    } catch (err) {
      console.warn("recommendations: lists unreadable", err);
      throw new Problem("recommendations_unavailable");
    }
    c.header("cache-control", "private, no-store");
    c.header("vary", "accept-language");
    c.header("content-type", "application/json");
    return c.body(body, 200);
  });

  app.post("/v1/:region/reservations", storefront, knownRegion, async (c) => {
    const key = idempotencyKey(c);
    const { region } = parse(ReservationParams.pick({ region: true }), c.req.param(), "param");
    const body = parse(CreateReservationBody, await jsonOf(c), "json");
    // The id is a digest of region, storefront and key: a retry with the same key finds it again.
    const id = hex(`${region}:${c.get("storefrontKeyId")}:${key}`);
    const outcome = await store.reserve({ id, region, requestHash: hex(JSON.stringify(body)), token: randomToken(), lines: body.lines, ttlSeconds: body.ttlSeconds });
    if (!outcome.ok) {
      if (outcome.code === "insufficient_stock") throw new Problem("insufficient_stock", "Some lines cannot be held; nothing was held", { lines: outcome.lines });
      throw new Problem(outcome.code);
    }
    return c.json({ ...view(outcome.reservation), token: outcome.token }, 201);
  });

  app.get("/v1/:region/reservations/:id", storefront, knownRegion, async (c) => {
    const { region, id } = parse(ReservationParams, c.req.param(), "param");
    const outcome = await store.view(region, id, token(c));
    if (!outcome.ok) fail(outcome);
    return c.json(view(outcome.reservation), 200);
  });

  app.post("/v1/:region/reservations/:id/confirm", storefront, knownRegion, async (c) => {
    idempotencyKey(c);
    const { region, id } = parse(ReservationParams, c.req.param(), "param");
    const outcome = await store.confirm(region, id, token(c));
    if (!outcome.ok) fail(outcome);
    return c.json(view(outcome.reservation), 200);
  });

  app.post("/v1/:region/reservations/:id/release", storefront, knownRegion, async (c) => {
    const { region, id } = parse(ReservationParams, c.req.param(), "param");
    const outcome = await store.release(region, id, token(c));
    if (!outcome.ok) fail(outcome);
    return c.json(view(outcome.reservation), 200);
  });

  return app;
}

/** Status of a reservation as readers see it: a hold past its expiry reads as expired. */
export function readerStatus(state, expiresAt, now = Date.now()) {
  if (state === "held" && now >= expiresAt) return "expired";
  return state;
}
