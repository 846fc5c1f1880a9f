// What a reservation is to its callers, whichever object keeps it: a single-line reservation is
// kept by its SKU-region object itself (inventory.ts), a cart by a coordinator (reservation.ts).
// Both answer in these shapes, and the route maps them to HTTP the same way.
import type { DropRefusal } from "./drop-rules";

/** SKU objects keep a cart's hold this much past the reservation's expiry, so a confirm accepted
 * just before expiry reaches every line even if their clocks differ slightly. */
export const CONFIRM_GRACE_MS = 2_000;

export interface Line {
  sku: string;
  qty: number;
}

export interface ReservationView {
  id: string;
  region: string;
  status: "held" | "confirmed" | "released" | "expired";
  lines: Line[];
  createdAt: number;
  expiresAt: number;
  confirmedAt?: number;
  releasedAt?: number;
}

export type ShortLine = { sku: string; requested: number; available: number };

export type CreateOutcome =
  | { ok: true; reservation: ReservationView; token: string }
  | { ok: false; code: "insufficient_stock"; lines: ShortLine[] }
  | { ok: false; code: "idempotency_key_reused" | "reservation_abandoned" }
  /** A drop rule of `sku` refused it (durable-objects/drop-rules.ts): nothing was held. */
  | ({ sku: string } & DropRefusal)
  | { ok: false; code: "try_again"; detail: string };

export type ReservationFailure =
  | { ok: false; code: "reservation_not_found" | "invalid_token" | "reservation_released" | "already_confirmed" }
  | { ok: false; code: "hold_expired"; reservation: ReservationView }
  | { ok: false; code: "try_again"; detail: string };

export type ReservationOutcome = { ok: true; reservation: ReservationView } | ReservationFailure;

/**
 * Where a reservation lives, from its id: a cart's id is 64 hex digits (its coordinator is picked
 * by the first byte); a single-line reservation's id is those 64 digits, a dot and the SKU, so a
 * request for it goes straight to that SKU's object.
 */
export function singleLineId(digest: string, sku: string): string {
  return `${digest}.${sku}`;
}

export function parseReservationId(id: string): { digest: string; sku: string | null } {
  const dot = id.indexOf(".");
  return dot < 0 ? { digest: id, sku: null } : { digest: id.slice(0, dot), sku: id.slice(dot + 1) };
}

export function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * Compares in constant time, so the time taken says nothing about how much of the token matched
 * (tokens all have the same length; a wrong length is refused at once). Synchronous, so an object
 * can check a token inside its transaction.
 */
export function sameSecret(expected: string, given: string): boolean {
  const enc = new TextEncoder();
  const a = enc.encode(expected);
  const b = enc.encode(given);
  return a.byteLength === b.byteLength && crypto.subtle.timingSafeEqual(a, b);
}
