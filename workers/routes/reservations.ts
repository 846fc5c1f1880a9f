import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import {
  CreateReservationBody,
  CreatedReservation,
  RegionParams,
  Reservation,
  ReservationParams,
} from "../../schema/contracts";
import { coordinatorName, type ReservationFailure, type ReservationView } from "../../durable-objects/reservation";
import { jsonBody, knownRegion, storefrontKey } from "../auth";
import type { AppEnv } from "../env";
import { pseudonymise } from "../privacy";
import { Problem } from "../problems";
import { forgetSnapshots } from "../snapshot-cache";
import { validationHook } from "../validation";
import { idempotencyKey, IdempotencyHeader, iso, problemContent, requestHash } from "./common";

const TokenHeaders = z.object({
  "x-api-key": z.string(),
  "x-reservation-token": z.string().min(1).openapi({ description: "The token returned when the reservation was made" }),
});

const createReservation = createRoute({
  method: "post",
  path: "/v1/{region}/reservations",
  tags: ["storefront"],
  summary: "Hold units of every line for a while (all or nothing)",
  middleware: [storefrontKey(), knownRegion(), jsonBody()] as const,
  request: {
    params: RegionParams,
    headers: z.object({ "x-api-key": z.string(), "idempotency-key": IdempotencyHeader.optional() }),
    body: { content: { "application/json": { schema: CreateReservationBody } }, required: true },
  },
  responses: {
    201: { description: "Every line is held until expiresAt", content: { "application/json": { schema: CreatedReservation } } },
    400: problemContent("Invalid body or missing Idempotency-Key"),
    409: problemContent("insufficient_stock: `lines` lists each short line with what is available"),
    422: problemContent("The Idempotency-Key was used with a different body"),
    503: problemContent("A stock object did not answer; retry with the same Idempotency-Key"),
  },
});

const getReservation = createRoute({
  method: "get",
  path: "/v1/{region}/reservations/{id}",
  tags: ["storefront"],
  summary: "Current state of a reservation",
  middleware: [storefrontKey(), knownRegion()] as const,
  request: { params: ReservationParams, headers: TokenHeaders },
  responses: {
    200: { description: "The reservation", content: { "application/json": { schema: Reservation } } },
    403: problemContent("Wrong reservation token"),
    404: problemContent("No such reservation"),
  },
});

const confirmReservation = createRoute({
  method: "post",
  path: "/v1/{region}/reservations/{id}/confirm",
  tags: ["storefront"],
  summary: "Turn the hold into a sale",
  middleware: [storefrontKey(), knownRegion()] as const,
  request: { params: ReservationParams, headers: TokenHeaders.extend({ "idempotency-key": IdempotencyHeader.optional() }) },
  responses: {
    200: { description: "Confirmed (repeating a confirm returns the same)", content: { "application/json": { schema: Reservation } } },
    409: problemContent("The reservation was released"),
    410: problemContent("The hold expired before the confirm"),
  },
});

const releaseReservation = createRoute({
  method: "post",
  path: "/v1/{region}/reservations/{id}/release",
  tags: ["storefront"],
  summary: "Give the held units back (idempotent)",
  middleware: [storefrontKey(), knownRegion()] as const,
  request: { params: ReservationParams, headers: TokenHeaders },
  responses: {
    200: { description: "Released (or already expired: status says which)", content: { "application/json": { schema: Reservation } } },
    409: problemContent("Already confirmed: a sale cannot be released"),
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

/** The coordinator that keeps reservation `id` in `region` (another region's id is not found there). */
function coordinator(c: Context<AppEnv>, region: string, id: string) {
  return c.env.RESERVATIONS.get(c.env.RESERVATIONS.idFromName(coordinatorName(region, id)));
}

export const reservations = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(createReservation, async (c) => {
    const key = idempotencyKey(c);
    const { region } = c.req.valid("param");
    const { shopper: given, ...body } = c.req.valid("json");
    // The raw user id goes no further than this line.
    const shopper = given && { shopper: await pseudonymise(c.env, region, given.id), consent: given.consent };
    // The id is a digest of region, storefront and key: a retry with the same key finds it again.
    const id = await requestHash(`${region}:${c.get("storefrontKeyId")}:${key}`);
    const outcome = await coordinator(c, region, id).create(id, {
      region,
      requestHash: await requestHash(shopper ? { ...body, shopper } : body),
      lines: body.lines,
      ttlSeconds: body.ttlSeconds,
    });
    if (!outcome.ok) {
      if (outcome.code === "insufficient_stock") {
        throw new Problem("insufficient_stock", "Some lines cannot be held; nothing was held", { lines: outcome.lines });
      }
      throw new Problem(outcome.code, "detail" in outcome ? outcome.detail : undefined);
    }
    // Only a hold changes availability: in a sell-out most answers are refusals, which must not
    // cost a cache write each (the snapshots' 2 s bound covers what a refusal reveals).
    forgetSnapshots(c.executionCtx, region, body.lines.map((l) => l.sku));
    if (shopper) {
      // Off the reservation path: the consumer stores it (with consent) or forgets the shopper's
      // orders (without). Recommendations only ever use confirmed reservations.
      const message = { region, reservationId: id, ...shopper, at: Date.now() };
      c.executionCtx.waitUntil(
        c.env.SHOPPER_ORDERS.send(message, { contentType: "json" }).catch((err) => console.warn("shopper-orders: not sent", err)),
      );
    }
    return c.json({ ...view(outcome.reservation), token: outcome.token }, 201);
  })
  .openapi(getReservation, async (c) => {
    const { region, id } = c.req.valid("param");
    const outcome = await coordinator(c, region, id).view(id, c.req.valid("header")["x-reservation-token"]);
    if (!outcome.ok) fail(outcome);
    return c.json(view(outcome.reservation), 200);
  })
  .openapi(confirmReservation, async (c) => {
    idempotencyKey(c);
    const { region, id } = c.req.valid("param");
    const outcome = await coordinator(c, region, id).confirm(id, c.req.valid("header")["x-reservation-token"]);
    if (!outcome.ok) fail(outcome);
    forgetSnapshots(c.executionCtx, region, outcome.reservation.lines.map((l) => l.sku));
    return c.json(view(outcome.reservation), 200);
  })
  .openapi(releaseReservation, async (c) => {
    const { region, id } = c.req.valid("param");
    const outcome = await coordinator(c, region, id).release(id, c.req.valid("header")["x-reservation-token"]);
    if (!outcome.ok) fail(outcome);
    forgetSnapshots(c.executionCtx, region, outcome.reservation.lines.map((l) => l.sku));
    return c.json(view(outcome.reservation), 200);
  });
