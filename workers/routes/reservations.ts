import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import {
  CreateReservationBody,
  CreatedReservation,
  RegionParams,
  Reservation,
  ReservationParams,
} from "../../schema/contracts";
import { coordinatorName, type CreateRequest } from "../../durable-objects/reservation";
import {
  parseReservationId, type CreateOutcome, type ReservationFailure, type ReservationOutcome, type ReservationView,
} from "../../durable-objects/reservation-contract";
import { jsonBody, knownRegion, storefrontKey } from "../auth";
import type { AppEnv } from "../env";
import { pseudonymise } from "../privacy";
import { reservationRate } from "../rate-limits";
import { maxWaiting, shed } from "../load-shed";
import { inventoryName, type ReserveOutcome } from "../../durable-objects/inventory";
import { Problem } from "../problems";
import { forgetSnapshots } from "../snapshot-cache";
import { validationHook } from "../validation";
import { info, warn } from "../../observability/log";
import { record } from "../../observability/metrics";
import { formatTraceparent } from "../../observability/trace";
import { idempotencyKey, IdempotencyHeader, inventoryStub, iso, requestHash } from "./common";
import { JSON_BODY_PROBLEMS, problems, STOREFRONT_PROBLEMS, storefrontAccess } from "./contract";

const TokenHeaders = z.object({
  "x-api-key": z.string(),
  "x-reservation-token": z.string().min(1).openapi({ description: "The token returned when the reservation was made" }),
});

const createReservation = createRoute({
  method: "post",
  path: "/v1/{region}/reservations",
  operationId: "reserveCart",
  tags: ["storefront"],
  security: storefrontAccess,
  summary: "Hold units of every line for a while (all or nothing)",
  middleware: [storefrontKey(), knownRegion(), reservationRate(), jsonBody()] as const,
  request: {
    params: RegionParams,
    headers: z.object({ "x-api-key": z.string(), "idempotency-key": IdempotencyHeader.optional() }),
    body: { content: { "application/json": { schema: CreateReservationBody } }, required: true },
  },
  responses: {
    201: { description: "Every line is held until expiresAt", content: { "application/json": { schema: CreatedReservation } } },
    ...problems(
      ...STOREFRONT_PROBLEMS, ...JSON_BODY_PROBLEMS, "idempotency_key_required", "insufficient_stock", "reservation_abandoned",
      "shopper_limit", "idempotency_key_reused", "shopper_required", "try_again", "stock_unavailable",
    ),
  },
});

const getReservation = createRoute({
  method: "get",
  path: "/v1/{region}/reservations/{id}",
  operationId: "getReservation",
  tags: ["storefront"],
  security: storefrontAccess,
  summary: "Current state of a reservation",
  middleware: [storefrontKey(), knownRegion()] as const,
  request: { params: ReservationParams, headers: TokenHeaders },
  responses: {
    200: { description: "The reservation", content: { "application/json": { schema: Reservation } } },
    ...problems(...STOREFRONT_PROBLEMS, "invalid_token", "reservation_not_found", "try_again", "stock_unavailable"),
  },
});

const confirmReservation = createRoute({
  method: "post",
  path: "/v1/{region}/reservations/{id}/confirm",
  operationId: "confirmReservation",
  tags: ["storefront"],
  security: storefrontAccess,
  summary: "Turn the hold into a sale",
  middleware: [storefrontKey(), knownRegion()] as const,
  request: { params: ReservationParams, headers: TokenHeaders.extend({ "idempotency-key": IdempotencyHeader.optional() }) },
  responses: {
    200: { description: "Confirmed (repeating a confirm returns the same)", content: { "application/json": { schema: Reservation } } },
    ...problems(
      ...STOREFRONT_PROBLEMS, "idempotency_key_required", "invalid_token", "reservation_not_found", "reservation_released",
      "hold_expired", "idempotency_key_reused", "try_again", "stock_unavailable",
    ),
  },
});

const releaseReservation = createRoute({
  method: "post",
  path: "/v1/{region}/reservations/{id}/release",
  operationId: "releaseReservation",
  tags: ["storefront"],
  security: storefrontAccess,
  summary: "Give the held units back (idempotent)",
  middleware: [storefrontKey(), knownRegion()] as const,
  request: { params: ReservationParams, headers: TokenHeaders },
  responses: {
    200: { description: "Released (or already expired: status says which)", content: { "application/json": { schema: Reservation } } },
    ...problems(...STOREFRONT_PROBLEMS, "invalid_token", "reservation_not_found", "already_confirmed", "try_again", "stock_unavailable"),
  },
});

function view(r: ReservationView) {
  return {
    id: r.id,
    region: r.region,
    status: r.status,
    expiresAt: iso(r.expiresAt),
    lines: r.lines,
    createdAt: iso(r.createdAt),
    ...(r.confirmedAt !== undefined && { confirmedAt: iso(r.confirmedAt) }),
    ...(r.releasedAt !== undefined && { releasedAt: iso(r.releasedAt) }),
  };
}

function fail(outcome: ReservationFailure): never {
  if (outcome.code === "hold_expired") {
    throw new Problem("hold_expired", "Make a new reservation", { reservation: view(outcome.reservation) });
  }
  throw new Problem(outcome.code, "detail" in outcome ? outcome.detail : undefined);
}

/** The coordinator that keeps cart `id` in `region` (another region's id is not found there). */
function coordinator(c: Context<AppEnv>, region: string, id: string) {
  return c.env.RESERVATIONS.get(c.env.RESERVATIONS.idFromName(coordinatorName(region, id)));
}

/**
 * Makes a reservation where it is cheapest: a single line in its SKU object alone (one call, one
 * commit), a cart through a coordinator. A single line of a SKU split into stock shards also goes
 * through a coordinator, after its SKU object said so: that object is asked first every time, so a
 * retry finds a reservation it made before the split.
 */
async function reserve(c: Context<AppEnv>, region: string, digest: string, req: CreateRequest): Promise<CreateOutcome> {
  const [line] = req.lines;
  const limit = maxWaiting(c.env);
  if (req.lines.length === 1) {
    const outcome = await shed(inventoryName(region, line!.sku), limit, async (): Promise<ReserveOutcome> => inventoryStub(c.env, region, line!.sku).reserve(line!.sku, region, {
      digest, requestHash: req.requestHash, qty: line!.qty, ttlSeconds: req.ttlSeconds,
      ...(req.storefront !== undefined && { storefront: req.storefront }),
      ...(req.shopper !== undefined && { shopper: req.shopper }),
      ...(req.trace !== undefined && { trace: req.trace }),
    }));
    // Split into shards: a coordinator routes the line. Key reused: the coordinator may keep this
    // key's reservation (made while the SKU was split) and answers for it, or refuses it too.
    if (outcome.ok || (outcome.code !== "sharded" && outcome.code !== "idempotency_key_reused")) return outcome;
  }
  return shed(coordinatorName(region, digest), limit, async (): Promise<CreateOutcome> => coordinator(c, region, digest).create(digest, req));
}

/** Metric names of outcomes: a refusal for want of stock is the oversell the invariant prevented. */
const OUTCOME_NAMES: Record<string, string> = { insufficient_stock: "out_of_stock" };

/** Counts a reservation, confirm or release outcome and logs it with its trace (never the shopper). */
function countOutcome(c: Context<AppEnv>, region: string, code: string, started: number, reservation?: string) {
  const outcome = OUTCOME_NAMES[code] ?? code;
  const durationMs = Date.now() - started;
  record(c.env, (p) => c.executionCtx.waitUntil(p), region, { kind: "reservation", outcome, ms: durationMs });
  info("reservation", { region, reservation, outcome, durationMs, trace: c.get("trace").traceId });
}

/** Where reservation `id` lives: its SKU object (a single line) or its coordinator (a cart). */
function keeper(c: Context<AppEnv>, region: string, id: string) {
  const { digest, sku } = parseReservationId(id);
  // Only the storefront that made a reservation may see or change it.
  const storefront = c.get("storefrontKeyId");
  const trace = formatTraceparent(c.get("trace"));
  if (sku) {
    const stock = inventoryStub(c.env, region, sku);
    return {
      view: (token: string): Promise<ReservationOutcome> => stock.reservation(id, token, storefront),
      confirm: (token: string): Promise<ReservationOutcome> => stock.confirmReservation(id, token, storefront, trace),
      release: (token: string): Promise<ReservationOutcome> => stock.releaseReservation(id, token, storefront, trace),
    };
  }
  const cart = coordinator(c, region, digest);
  return {
    view: (token: string): Promise<ReservationOutcome> => cart.view(digest, token, storefront),
    confirm: (token: string): Promise<ReservationOutcome> => cart.confirm(digest, token, storefront, trace),
    release: (token: string): Promise<ReservationOutcome> => cart.release(digest, token, storefront, trace),
  };
}

export const reservations = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(createReservation, async (c) => {
    const key = idempotencyKey(c);
    const { region } = c.req.valid("param");
    const started = Date.now();
    const { shopper: given, ...body } = c.req.valid("json");
    // The raw user id goes no further than this line.
    const shopper = given && { shopper: await pseudonymise(c.env, region, given.id), consent: given.consent };
    // A digest of region, storefront and key: a retry with the same key finds the reservation again.
    const digest = await requestHash(`${region}:${c.get("storefrontKeyId")}:${key}`);
    const outcome = await reserve(c, region, digest, {
      region,
      requestHash: await requestHash(shopper ? { ...body, shopper } : body),
      lines: body.lines,
      ttlSeconds: body.ttlSeconds,
      storefront: c.get("storefrontKeyId"),
      // The drop rules count per shopper with a key of its own, not the pseudonym itself.
      ...(shopper && { shopper: (await requestHash(`drop-rules:${shopper.shopper}`)).slice(0, 32) }),
      trace: formatTraceparent(c.get("trace")),
    }).catch((err: unknown) => {
      countOutcome(c, region, "error", started);
      throw err;
    });
    const reservation = outcome.ok ? outcome.reservation.id : undefined;
    countOutcome(c, region, outcome.ok ? "created" : outcome.code, started, reservation);
    if (!outcome.ok) {
      if (outcome.code === "insufficient_stock") {
        throw new Problem("insufficient_stock", "Some lines cannot be held; nothing was held", { lines: outcome.lines });
      }
      if (outcome.code === "shopper_limit") {
        const what = outcome.rule === "max_units_per_shopper" ? `${outcome.limit} units` : `${outcome.limit} open holds`;
        throw new Problem("shopper_limit", `This drop allows ${what} of ${outcome.sku} per shopper; this shopper has ${outcome.current}. Nothing was held`, {
          sku: outcome.sku, rule: outcome.rule, limit: outcome.limit, current: outcome.current,
        });
      }
      if (outcome.code === "shopper_required") {
        throw new Problem("shopper_required", `${outcome.sku} is limited per shopper: send shopper.id with the reservation. Nothing was held`, { sku: outcome.sku });
      }
      if (outcome.code === "reservation_abandoned") {
        throw new Problem("reservation_abandoned", "An earlier attempt with this key was given up and its units released; make a new reservation with a new Idempotency-Key");
      }
      throw new Problem(outcome.code, "detail" in outcome ? outcome.detail : undefined);
    }
    // Only a hold changes availability: this isolate stops serving older snapshots of these SKUs
    // (other isolates within the snapshots' 2 s bound; no cache write on the hot path).
    forgetSnapshots(region, body.lines.map((l) => l.sku));
    if (shopper) {
      // Off the reservation path: the consumer stores it (with consent) or forgets the shopper's
      // orders (without). Recommendations only ever use confirmed reservations.
      const message = { region, reservationId: outcome.reservation.id, ...shopper, at: Date.now(), trace: formatTraceparent(c.get("trace")) };
      c.executionCtx.waitUntil(
        c.env.SHOPPER_ORDERS.send(message, { contentType: "json" }).catch((err) => warn("shopper_order_not_sent", { region, reservation, error: err, trace: c.get("trace").traceId })),
      );
    }
    return c.json({ ...view(outcome.reservation), token: outcome.token }, 201);
  })
  .openapi(getReservation, async (c) => {
    const { region, id } = c.req.valid("param");
    const outcome = await keeper(c, region, id).view(c.req.valid("header")["x-reservation-token"]);
    if (!outcome.ok) fail(outcome);
    return c.json(view(outcome.reservation), 200);
  })
  .openapi(confirmReservation, async (c) => {
    const key = idempotencyKey(c);
    const { region, id } = c.req.valid("param");
    // The key is remembered with the reservation it confirms; another reservation cannot reuse it.
    const scope = await requestHash(`${region}:${c.get("storefrontKeyId")}:confirm:${key}`);
    const claim = await coordinator(c, region, scope).claimConfirmKey(scope, id);
    if (!claim.ok) throw new Problem("idempotency_key_reused", "This Idempotency-Key already confirmed another reservation; use one key per confirm");
    const started = Date.now();
    const outcome = await keeper(c, region, id).confirm(c.req.valid("header")["x-reservation-token"]);
    countOutcome(c, region, outcome.ok ? "confirmed" : outcome.code, started, id);
    if (!outcome.ok) fail(outcome);
    forgetSnapshots(region, outcome.reservation.lines.map((l) => l.sku));
    return c.json(view(outcome.reservation), 200);
  })
  .openapi(releaseReservation, async (c) => {
    const { region, id } = c.req.valid("param");
    const started = Date.now();
    const outcome = await keeper(c, region, id).release(c.req.valid("header")["x-reservation-token"]);
    countOutcome(c, region, outcome.ok ? "released" : outcome.code, started, id);
    if (!outcome.ok) fail(outcome);
    forgetSnapshots(region, outcome.reservation.lines.map((l) => l.sku));
    return c.json(view(outcome.reservation), 200);
  });
