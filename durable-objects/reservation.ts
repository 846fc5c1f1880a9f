// The reservation coordinators. A reservation (a shopper's cart hold) has an id derived from its
// region, storefront and Idempotency-Key, so a retried request finds the same reservation and gets
// the same outcome. Reservations live in 256 coordinator objects per region, picked by the id's
// first byte: warm objects with a small SQLite table each, rather than a new object per cart.
// A coordinator holds the token and the lines and drives the SKU-region objects: hold every line
// or none, confirm every line or revert, release every line. It never decides stock.
import { DurableObject } from "cloudflare:workers";
import { migrate } from "./inventory-schema";
import {
  applyShardCount, confirmAt, grownShardCount, holdLine, isOverloaded, releaseAt, revertAt, type LineHold, type Placement,
} from "./shard-routing";
import type { Env } from "../workers/env";

export interface Line {
  sku: string;
  qty: number;
}

export interface ReservationRecord {
  id: string;
  region: string;
  requestHash: string;
  token: string;
  lines: Line[];
  createdAt: number;
  expiresAt: number;
  state: "pending" | "held" | "rejected" | "confirming" | "confirmed" | "released" | "expired";
  confirmedAt?: number;
  releasedAt?: number;
  createOutcome?: CreateOutcome;
  /** Per line, the stock shard that holds it (0 = the main SKU-region object). Absent: all 0. */
  placements?: number[];
  /** Per line, every object that may hold it after failed attempts (released on compensation). */
  maybeHeldAt?: number[][];
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
  | { ok: false; code: "idempotency_key_reused" }
  | { ok: false; code: "try_again"; detail: string };

export type ReservationFailure =
  | { ok: false; code: "reservation_not_found" | "invalid_token" | "reservation_released" | "already_confirmed" }
  | { ok: false; code: "hold_expired"; reservation: ReservationView }
  | { ok: false; code: "try_again"; detail: string };

export type ReservationOutcome = { ok: true; reservation: ReservationView } | ReservationFailure;

export interface CreateRequest {
  region: string;
  requestHash: string;
  lines: Line[];
  ttlSeconds: number;
}

/** SKU objects keep a hold this much past the reservation's expiry, so a confirm accepted just
 * before expiry reaches every line even if their clocks differ slightly. */
export const CONFIRM_GRACE_MS = 2_000;
/** A create that failed half-way is compensated (its holds released) this long after it began. */
export const ABANDONED_AFTER_MS = 30_000;
/** Reservations (and so their Idempotency-Keys) are kept this long, well over the promised 24 h. */
export const RETENTION_MS = 7 * 24 * 3600_000;

/** Confirms that died half-way are finished (or reverted) by the alarm this long after. */
const STALLED_CONFIRM_MS = 5_000;

const MIGRATIONS = [
  `
  CREATE TABLE reservations (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    due_at INTEGER
  );
  -- due_at: when the alarm must look at this reservation (abandoned create, stalled confirm).
  CREATE INDEX reservations_due ON reservations (due_at) WHERE due_at IS NOT NULL;
  CREATE INDEX reservations_by_age ON reservations (created_at);
  `,
];

/** The coordinator object that keeps a reservation: its region and the id's first byte. */
export function coordinatorName(region: string, reservationId: string): string {
  return `${region}:${reservationId.slice(0, 2)}`;
}

export class ReservationObject extends DurableObject<Env> {
  private sql: SqlStorage;
  private chains = new Map<string, Promise<unknown>>();
  /** K per SKU-region as its objects last said (a hint for routing; the objects decide). */
  private shardCounts = new Map<string, number>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => migrate(this.sql, MIGRATIONS));
  }

  async create(id: string, req: CreateRequest): Promise<CreateOutcome> {
    return this.serially(id, async () => {
      let record = this.load(id);
      if (record && record.requestHash !== req.requestHash) return { ok: false, code: "idempotency_key_reused" };
      if (record?.createOutcome) return record.createOutcome;
      if (!record) {
        const now = Date.now();
        // Not stored until the holds are decided: one write per reservation on the hot path. If
        // this process dies in between, the holds (keyed by the reservation id) expire with their
        // TTL, and a retry with the same key finds them again and answers the same way.
        record = {
          id,
          region: req.region,
          requestHash: req.requestHash,
          token: randomToken(),
          lines: req.lines,
          createdAt: now,
          expiresAt: now + req.ttlSeconds * 1000,
          state: "pending",
        };
      }
      // A record stored as pending means an earlier attempt failed half-way: finish it now.
      return this.holdAllLines(record);
    });
  }

  async view(id: string, token: string): Promise<ReservationOutcome> {
    const record = this.load(id);
    const denied = await checkAccess(record, token);
    if (denied) return denied;
    return { ok: true, reservation: toView(record!) };
  }

  async confirm(id: string, token: string): Promise<ReservationOutcome> {
    return this.serially(id, async () => {
      const record = this.load(id);
      const denied = await checkAccess(record, token);
      if (denied) return denied;
      const r = record!;
      if (r.state === "confirmed") return { ok: true, reservation: toView(r) };
      if (r.state === "released") return { ok: false, code: "reservation_released" };
      if (r.state === "held" && Date.now() >= r.expiresAt) r.state = "expired";
      if (r.state === "expired") return { ok: false, code: "hold_expired", reservation: toView(r) };
      r.state = "confirming";
      await this.save(r, Date.now() + STALLED_CONFIRM_MS);
      return this.confirmAllLines(r);
    });
  }

  async release(id: string, token: string): Promise<ReservationOutcome> {
    return this.serially(id, async () => {
      const record = this.load(id);
      const denied = await checkAccess(record, token);
      if (denied) return denied;
      const r = record!;
      if (r.state === "confirmed" || r.state === "confirming") return { ok: false, code: "already_confirmed" };
      if (r.state === "held") {
        const failed = await this.releaseAllLines(r);
        if (failed) return { ok: false, code: "try_again", detail: failed };
        r.state = Date.now() >= r.expiresAt ? "expired" : "released";
        if (r.state === "released") r.releasedAt = Date.now();
        await this.save(r, null);
      }
      return { ok: true, reservation: toView(r) };
    });
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.sql.exec("DELETE FROM reservations WHERE created_at <= ?", now - RETENTION_MS);
    const due = this.sql
      .exec<{ id: string }>("SELECT id FROM reservations WHERE due_at <= ? ORDER BY due_at LIMIT 100", now)
      .toArray();
    const failures: string[] = [];
    for (const { id } of due) {
      await this.serially(id, async () => {
        const r = this.load(id);
        if (r?.state === "pending") {
          // Nobody came back to finish this create: give its units back now rather than at expiry,
          // and forget it so a late retry with the same key starts afresh.
          const failed = await this.releaseAllLines(r, r.maybeHeldAt ?? r.lines.map(() => [0]));
          if (failed) failures.push(failed);
          else this.sql.exec("DELETE FROM reservations WHERE id = ?", id);
        } else if (r?.state === "confirming") {
          await this.confirmAllLines(r);
        }
      });
    }
    await this.scheduleAlarm();
    if (failures.length) throw new Error(`compensating abandoned reservations: ${failures.join("; ")}`); // retried
  }

  // ------------------------------------------------------------------ storage

  private load(id: string): ReservationRecord | undefined {
    const row = this.sql.exec<{ record: string }>("SELECT record FROM reservations WHERE id = ?", id).toArray()[0];
    return row ? (JSON.parse(row.record) as ReservationRecord) : undefined;
  }

  /** Writes the reservation; `dueAt` asks the alarm to look at it then (null: nothing to do). */
  private async save(r: ReservationRecord, dueAt: number | null): Promise<void> {
    this.sql.exec(
      `INSERT INTO reservations (id, record, state, created_at, due_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET record = excluded.record, state = excluded.state, due_at = excluded.due_at`,
      r.id, JSON.stringify(r), r.state, r.createdAt, dueAt,
    );
    await this.scheduleAlarm();
  }

  private async scheduleAlarm(): Promise<void> {
    const row = this.sql
      .exec<{ due: number | null; oldest: number | null }>(
        "SELECT (SELECT min(due_at) FROM reservations) AS due, (SELECT min(created_at) FROM reservations) AS oldest",
      )
      .one();
    const candidates = [row.due, row.oldest === null ? null : row.oldest + RETENTION_MS].filter((t): t is number => t !== null);
    if (candidates.length === 0) return;
    const next = Math.max(Math.min(...candidates), Date.now() + 1);
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > next || current < Date.now()) await this.ctx.storage.setAlarm(next);
  }

  // ------------------------------------------------------------------ the saga steps

  private async holdAllLines(r: ReservationRecord): Promise<CreateOutcome> {
    const skuExpiry = r.expiresAt + CONFIRM_GRACE_MS;
    const placed: Placement[] = await Promise.all(
      r.lines.map((line) => holdLine(this.env, r.region, line.sku, r.id, line.qty, skuExpiry, this.shardCount(r.region, line.sku))),
    );
    const before = r.maybeHeldAt ?? r.lines.map(() => [] as number[]);
    r.maybeHeldAt = placed.map((p, i) => [...new Set([...before[i]!, ...p.maybeHeldAt])]);
    for (const [i, p] of placed.entries()) if (p.shards !== null) this.shardCounts.set(`${r.region}:${r.lines[i]!.sku}`, p.shards);
    const broken = placed.find((p): p is Extract<Placement, { error: unknown }> => "error" in p);
    if (broken) {
      // An object that cannot keep up splits its stock across more shards; the shopper retries.
      await Promise.all(placed.map((p, i) => ("error" in p && isOverloaded(p.error) ? this.growShards(r.region, r.lines[i]!.sku) : null)));
      // Keep it pending: a retry with the same key resumes it, or the alarm gives its holds back.
      await this.save(r, r.createdAt + ABANDONED_AFTER_MS);
      return { ok: false, code: "try_again", detail: `a stock object did not answer: ${String(broken.error)}` };
    }
    const results = placed.map((p) => (p as Extract<Placement, { result: LineHold }>).result);
    let outcome: CreateOutcome;
    if (results.every((h) => h.ok)) {
      r.placements = placed.map((p) => (p as Extract<Placement, { shard: number }>).shard);
      // Objects an earlier, failed attempt may have left a hold in, other than the one that holds
      // the line now, give it back (rare: only after a retry that landed elsewhere).
      const stale = r.maybeHeldAt.flatMap((at, i) => at.filter((s) => s !== r.placements![i]).map((s) => [i, s] as const));
      if (stale.length) {
        const settled = await Promise.allSettled(stale.map(([i, s]) => releaseAt(this.env, r.region, r.lines[i]!.sku, s, r.id)));
        if (settled.every((x) => x.status === "fulfilled")) r.maybeHeldAt = r.placements.map((s) => [s]);
      }
      // A retry after a crash finds holds placed by the first attempt: keep their deadline.
      const skuExpiries = results.map((h) => (h.ok ? h.expiresAt : skuExpiry));
      r.expiresAt = Math.min(r.expiresAt, Math.min(...skuExpiries) - CONFIRM_GRACE_MS);
      r.state = "held";
      outcome = { ok: true, reservation: toView(r), token: r.token };
    } else {
      // Give back only what may be held: a refused line holds nothing, and releasing it would
      // cost the hottest SKU of a sell-out one more write per refused cart.
      const failed = await this.releaseAllLines(r, r.maybeHeldAt);
      if (failed) {
        await this.save(r, r.createdAt + ABANDONED_AFTER_MS); // the alarm finishes giving back
        return { ok: false, code: "try_again", detail: failed };
      }
      r.maybeHeldAt = r.lines.map(() => []);
      r.state = "rejected";
      const lines = r.lines.flatMap((line, i): ShortLine[] => {
        const h = results[i]!;
        if (h.ok) return [];
        const available = h.code === "insufficient_stock" ? h.available : 0;
        return [{ sku: line.sku, requested: line.qty, available }];
      });
      outcome = { ok: false, code: "insufficient_stock", lines };
    }
    r.createOutcome = outcome;
    await this.save(r, null);
    return outcome;
  }

  private async confirmAllLines(r: ReservationRecord): Promise<ReservationOutcome> {
    const at = (i: number) => r.placements?.[i] ?? 0;
    const settled = await Promise.allSettled(r.lines.map((line, i) => confirmAt(this.env, r.region, line.sku, at(i), r.id)));
    const broken = settled.find((s) => s.status === "rejected");
    if (broken) {
      // Still "confirming", due for the alarm, which finishes (or reverts) it.
      return { ok: false, code: "try_again", detail: `a stock object did not answer: ${String(broken.reason)}` };
    }
    const results = settled.map((s) => (s as PromiseFulfilledResult<Awaited<ReturnType<typeof confirmAt>>>).value);
    if (results.every((c) => c.ok)) {
      r.state = "confirmed";
      r.confirmedAt = Date.now();
      await this.save(r, null);
      return { ok: true, reservation: toView(r) };
    }
    // Some line's hold was gone (past its grace period): the sale cannot be whole, so give back the
    // lines that did confirm and release the rest.
    await Promise.all(
      r.lines.map(async (line, i) => {
        if (results[i]!.ok) await revertAt(this.env, r.region, line.sku, r.id);
        else await releaseAt(this.env, r.region, line.sku, at(i), r.id);
      }),
    );
    r.state = "expired";
    await this.save(r, null);
    return { ok: false, code: "hold_expired", reservation: toView(r) };
  }

  /**
   * Returns a description of what failed, or null when every line is released. `at` lists, per
   * line, the objects to release it in (default: where it is placed).
   */
  private async releaseAllLines(r: ReservationRecord, at = r.lines.map((_, i) => [r.placements?.[i] ?? 0])): Promise<string | null> {
    const calls = r.lines.flatMap((line, i) => (at[i] ?? []).map((shard) => releaseAt(this.env, r.region, line.sku, shard, r.id)));
    const settled = await Promise.allSettled(calls);
    const broken = settled.find((s) => s.status === "rejected");
    return broken ? `releasing holds failed: ${String((broken as PromiseRejectedResult).reason)}` : null;
  }

  private shardCount(region: string, sku: string): number {
    return this.shardCounts.get(`${region}:${sku}`) ?? 1;
  }

  /** Doubles K (up to 16) after an overload; a compare-and-set, so concurrent callers grow it once. */
  private async growShards(region: string, sku: string): Promise<void> {
    const current = this.shardCount(region, sku);
    const next = grownShardCount(current);
    if (next === current) return;
    try {
      const { shards } = await applyShardCount(this.env, region, sku, next, "overload", current);
      this.shardCounts.set(`${region}:${sku}`, shards);
    } catch (err) {
      console.warn(`could not add stock shards to ${region}:${sku} after an overload`, err);
    }
  }

  /** Changes to one reservation run one at a time, although RPC awaits let other requests in. */
  private serially<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(id) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.chains.set(id, tail);
    void tail.then(() => {
      if (this.chains.get(id) === tail) this.chains.delete(id);
    });
    return run;
  }
}

function toView(r: ReservationRecord): ReservationView {
  let status: ReservationView["status"];
  if (r.state === "confirmed") status = "confirmed";
  else if (r.state === "released") status = "released";
  else if (r.state === "expired" || Date.now() >= r.expiresAt) status = "expired";
  else status = "held";
  return {
    id: r.id,
    region: r.region,
    status,
    lines: r.lines,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    ...(r.confirmedAt !== undefined && { confirmedAt: r.confirmedAt }),
    ...(r.releasedAt !== undefined && { releasedAt: r.releasedAt }),
  };
}

async function checkAccess(record: ReservationRecord | undefined, token: string): Promise<ReservationFailure | null> {
  // A reservation that was never held (rejected, or still being made) does not exist for its readers.
  if (!record || record.state === "pending" || record.state === "rejected") return { ok: false, code: "reservation_not_found" };
  if (!(await sameSecret(record.token, token))) return { ok: false, code: "invalid_token" };
  return null;
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Compares digests, so the time taken says nothing about how much of the token matched. */
async function sameSecret(expected: string, given: string): Promise<boolean> {
  const enc = new TextEncoder();
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", enc.encode(expected)),
    crypto.subtle.digest("SHA-256", enc.encode(given)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}
