// Drop rules of one SKU-region: how much one shopper may hold or buy, and for how long a hold may
// last. They are checked by the SKU-region object itself, inside the transaction that places the
// hold, so two carts of the same shopper racing each other cannot beat them. A shopper is known
// here only by a key derived from the edge's pseudonym (see workers/routes/reservations.ts),
// kept on the hold row and deleted with it.
//
// A SKU-region with drop rules is sold by its one object: stock shards would each count only their
// own holds, so the rules and shards exclude each other (the admin routes refuse the mix).

export interface DropRules {
  /** Units one shopper may hold or have bought (held, prepared, confirmed, shipped) at a time. */
  maxUnitsPerShopper: number | null;
  /** Holds one shopper may have open at a time. */
  maxHoldsPerShopper: number | null;
  /** The longest a hold may last; longer requests are shortened to it (the answer's expiresAt says). */
  maxHoldTtlSeconds: number | null;
}

export type DropRefusal =
  | { ok: false; code: "shopper_limit"; rule: "max_units_per_shopper" | "max_holds_per_shopper"; limit: number; current: number }
  | { ok: false; code: "shopper_required" };

export const NO_RULES: DropRules = { maxUnitsPerShopper: null, maxHoldsPerShopper: null, maxHoldTtlSeconds: null };

export function hasRules(r: DropRules): boolean {
  return r.maxUnitsPerShopper !== null || r.maxHoldsPerShopper !== null || r.maxHoldTtlSeconds !== null;
}

export function readRules(sql: SqlStorage): DropRules {
  const row = sql
    .exec<{ u: number | null; h: number | null; t: number | null }>(
      "SELECT max_units_per_shopper AS u, max_holds_per_shopper AS h, max_hold_ttl_seconds AS t FROM sku_region",
    )
    .toArray()[0];
  return row ? { maxUnitsPerShopper: row.u, maxHoldsPerShopper: row.h, maxHoldTtlSeconds: row.t } : NO_RULES;
}

export function writeRules(sql: SqlStorage, r: DropRules): void {
  sql.exec(
    "UPDATE sku_region SET max_units_per_shopper = ?, max_holds_per_shopper = ?, max_hold_ttl_seconds = ?",
    r.maxUnitsPerShopper, r.maxHoldsPerShopper, r.maxHoldTtlSeconds,
  );
}

/**
 * Whether `shopper` may hold `qty` more units now. Units count while held (and not yet due),
 * prepared, confirmed or shipped: a limit per shopper is about what they end up with, not only
 * what they hold. A request without a shopper is refused when a per-shopper limit is set.
 */
export function checkShopper(sql: SqlStorage, rules: DropRules, shopper: string | undefined, qty: number, now: number): DropRefusal | null {
  if (rules.maxUnitsPerShopper === null && rules.maxHoldsPerShopper === null) return null;
  if (!shopper) return { ok: false, code: "shopper_required" };
  const row = sql
    .exec<{ units: number; holds: number }>(
      `SELECT
         coalesce(sum(CASE WHEN status IN ('prepared', 'confirmed', 'shipped') OR (status = 'held' AND expires_at > ?) THEN qty END), 0) AS units,
         count(CASE WHEN status = 'held' AND expires_at > ? THEN 1 END) AS holds
       FROM holds WHERE shopper = ?`,
      now, now, shopper,
    )
    .one();
  if (rules.maxHoldsPerShopper !== null && row.holds + 1 > rules.maxHoldsPerShopper) {
    return { ok: false, code: "shopper_limit", rule: "max_holds_per_shopper", limit: rules.maxHoldsPerShopper, current: row.holds };
  }
  if (rules.maxUnitsPerShopper !== null && row.units + qty > rules.maxUnitsPerShopper) {
    return { ok: false, code: "shopper_limit", rule: "max_units_per_shopper", limit: rules.maxUnitsPerShopper, current: row.units };
  }
  return null;
}

/** A hold's expiry, shortened to the rules' longest hold (`graceMs`: a cart line's confirm grace). */
export function clampExpiry(rules: DropRules, now: number, expiresAt: number, graceMs = 0): number {
  return rules.maxHoldTtlSeconds === null ? expiresAt : Math.min(expiresAt, now + rules.maxHoldTtlSeconds * 1000 + graceMs);
}
