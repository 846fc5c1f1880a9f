// The reservation coordinators: they keep carts, reservations of two lines or more (a single
// line is kept by its SKU object itself, see inventory.ts). A cart's id is derived from its
// region, storefront and Idempotency-Key, so a retried request finds the same cart and gets the
// same outcome. Carts live in 256 coordinator objects per region, picked by the id's first byte.
// A coordinator holds the token and the lines and drives the SKU-region objects; it never decides
// stock:
//   create:  the intent is stored first, then every line is held or none (a line stays pinned to
//            the object that first may have held it);
//   confirm: prepare every line, store the decision, then commit every line (only then does
//            anything leave for a warehouse) or revert them all;
//   release: every line.
// Work left half-done (a create nobody came back for, a confirm whose objects did not answer) is
// finished by the alarm, retrying with exponential backoff and jitter.
import { DurableObject } from "cloudflare:workers";
import { meterCalls, meterStorage } from "./cost-meter";
import type { DropRefusal } from "./drop-rules";
import { migrate } from "./inventory-schema";
import {
  applyShardCount, commitAt, confirmAt, grownShardCount, holdLine, isOverloaded, mainStub, preferredShard, prepareAt, releaseAt, revertAt, shardStub,
  type LineHold, type Placement,
} from "./shard-routing";
import {
  CONFIRM_GRACE_MS, randomToken, sameSecret, type CreateOutcome, type Line, type ReservationFailure, type ReservationOutcome,
  type ReservationView, type ShortLine,
} from "./reservation-contract";
import type { Env } from "../workers/env";
import { warn } from "../observability/log";

export { CONFIRM_GRACE_MS } from "./reservation-contract";
export type { CreateOutcome, Line, ReservationFailure, ReservationOutcome, ReservationView, ShortLine } from "./reservation-contract";

export interface ReservationRecord {
  id: string;
  region: string;
  requestHash: string;
  token: string;
  lines: Line[];
  createdAt: number;
  expiresAt: number;
  state: "pending" | "held" | "rejected" | "abandoned" | "confirming" | "confirmed" | "aborting" | "released" | "expired";
  confirmedAt?: number;
  releasedAt?: number;
  createOutcome?: CreateOutcome;
  /** Per line, the stock shard that holds it (0 = the main SKU-region object). Absent: all 0. */
  placements?: number[];
  /** Per line, every object that may hold it after failed attempts (released on compensation). */
  maybeHeldAt?: number[][];
  /** The confirm's decision, stored once every line has answered its prepare. */
  decision?: "commit" | "abort";
  /** How often the alarm has retried the work due on this cart (for backoff). */
  attempts?: number;
  storefront?: string;
  /** Who makes it (a key derived from the shopper's pseudonym), for the drop rules. */
  shopper?: string;
  /** The traceparent of the request that made it: the alarm's later work on it keeps that trace. */
  trace?: string;
}

export interface CreateRequest {
  region: string;
  requestHash: string;
  lines: Line[];
  ttlSeconds: number;
  /** The storefront making it (a digest of its key): only that storefront may read or change it. */
  storefront?: string;
  /** Who makes it (a key derived from the shopper's pseudonym), for the drop rules. */
  shopper?: string;
  /** The request's traceparent, carried to every line's object. */
  trace?: string;
}

/** A create that failed half-way is compensated (its holds released) this long after it began. */
export const ABANDONED_AFTER_MS = 30_000;
/** Carts (and so their Idempotency-Keys) are kept this long, well over the promised 24 h. */
export const RETENTION_MS = 7 * 24 * 3600_000;
/** A refused cart is kept only long enough to answer a quick retry the same way. */
export const REFUSED_RETENTION_MS = 15 * 60_000;
/** Confirm Idempotency-Keys are remembered this long (the API promises at least 24 h). */
export const CONFIRM_KEY_RETENTION_MS = 48 * 3600_000;

/** Confirms that died half-way are finished (or reverted) by the alarm this long after. */
const STALLED_CONFIRM_MS = 5_000;
const MAX_BACKOFF_MS = 5 * 60_000;

/** The n-th retry's delay: doubling from 1 s up to 5 minutes, with jitter (50-100 %). */
export function backoffMs(attempt: number): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling * (0.5 + Math.random() / 2));
}

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
  // purge_at: when a cart is forgotten (refused carts soon, the others after the retention).
  // confirm_keys: which reservation each confirm Idempotency-Key confirmed.
  `
  ALTER TABLE reservations ADD COLUMN purge_at INTEGER;
  UPDATE reservations SET purge_at = created_at + ${RETENTION_MS};
  CREATE INDEX reservations_purge ON reservations (purge_at);
  CREATE TABLE confirm_keys (key TEXT PRIMARY KEY, reservation_id TEXT NOT NULL, created_at INTEGER NOT NULL);
  CREATE INDEX confirm_keys_by_age ON confirm_keys (created_at);
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
  private alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = meterStorage(ctx.storage);
    ctx.blockConcurrencyWhile(async () => {
      migrate(this.sql, MIGRATIONS);
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  async create(id: string, req: CreateRequest): Promise<CreateOutcome> {
    return this.serially(id, async () => {
      let record = this.load(id);
      if (record && record.requestHash !== req.requestHash) return { ok: false, code: "idempotency_key_reused" };
      if (record?.createOutcome) return record.createOutcome;
      if (!record) {
        const now = Date.now();
        record = {
          id,
          region: req.region,
          requestHash: req.requestHash,
          token: randomToken(),
          lines: req.lines,
          createdAt: now,
          expiresAt: now + req.ttlSeconds * 1000,
          state: "pending",
          ...(req.storefront !== undefined && { storefront: req.storefront }),
          ...(req.shopper !== undefined && { shopper: req.shopper }),
          ...(req.trace !== undefined && { trace: req.trace }),
        };
        // The intent is durable before any hold is placed: if this object dies half-way, its
        // alarm gives back whatever was held, and a retry with the same key resumes it.
        await this.save(record, now + ABANDONED_AFTER_MS);
        record.maybeHeldAt = record.lines.map(() => []);
      }
      // A record stored as pending means an earlier attempt failed half-way: finish it now. If
      // that attempt died before it noted where its lines went, find them first.
      if (!record.maybeHeldAt) {
        try {
          record.maybeHeldAt = await this.locate(record);
        } catch (err) {
          return { ok: false, code: "try_again", detail: `a stock object did not answer: ${String(err)}` };
        }
      }
      return this.holdAllLines(record);
    });
  }

  async view(id: string, token: string, storefront?: string): Promise<ReservationOutcome> {
    const record = this.load(id);
    const denied = checkAccess(record, token, storefront);
    if (denied) return denied;
    return { ok: true, reservation: toView(record!) };
  }

  /**
   * Remembers which reservation a confirm's Idempotency-Key (scoped by the caller) confirms: the
   * same key for another reservation is refused. Keys live in the coordinator their digest picks.
   */
  async claimConfirmKey(scope: string, reservationId: string): Promise<{ ok: true } | { ok: false; code: "idempotency_key_reused" }> {
    const row = this.sql.exec<{ reservation_id: string }>("SELECT reservation_id FROM confirm_keys WHERE key = ?", scope).toArray()[0];
    if (row) return row.reservation_id === reservationId ? { ok: true } : { ok: false, code: "idempotency_key_reused" };
    this.sql.exec("INSERT INTO confirm_keys (key, reservation_id, created_at) VALUES (?, ?, ?)", scope, reservationId, Date.now());
    await this.scheduleAlarm(Date.now() + CONFIRM_KEY_RETENTION_MS);
    return { ok: true };
  }

  async confirm(id: string, token: string, storefront?: string, trace?: string): Promise<ReservationOutcome> {
    return this.serially(id, async () => {
      const record = this.load(id);
      const denied = checkAccess(record, token, storefront);
      if (denied) return denied;
      const r = record!;
      if (r.state === "confirmed") return { ok: true, reservation: toView(r) };
      if (r.state === "released") return { ok: false, code: "reservation_released" };
      if (r.state === "aborting" || r.state === "expired") return { ok: false, code: "hold_expired", reservation: toView(r) };
      if (r.state === "held") {
        if (Date.now() >= r.expiresAt) return { ok: false, code: "hold_expired", reservation: toView({ ...r, state: "expired" }) };
        r.state = "confirming";
        r.attempts = 0;
        if (trace !== undefined) r.trace = trace; // the confirm's trace follows the sale to its warehouse
        await this.save(r, Date.now() + STALLED_CONFIRM_MS);
      }
      return this.confirmAllLines(r);
    });
  }

  async release(id: string, token: string, storefront?: string, trace?: string): Promise<ReservationOutcome> {
    return this.serially(id, async () => {
      const record = this.load(id);
      const denied = checkAccess(record, token, storefront);
      if (denied) return denied;
      const r = record!;
      if (r.state === "confirmed" || r.state === "confirming") return { ok: false, code: "already_confirmed" };
      if (r.state === "held") {
        const failed = await this.releaseAllLines(r, undefined, trace ?? r.trace);
        if (failed) return { ok: false, code: "try_again", detail: failed };
        r.state = Date.now() >= r.expiresAt ? "expired" : "released";
        if (r.state === "released") r.releasedAt = Date.now();
        await this.save(r, null);
      }
      return { ok: true, reservation: toView(r) };
    });
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    this.sql.exec("DELETE FROM reservations WHERE purge_at <= ? AND due_at IS NULL", now);
    this.sql.exec("DELETE FROM confirm_keys WHERE created_at <= ?", now - CONFIRM_KEY_RETENTION_MS);
    const due = this.sql
      .exec<{ id: string }>("SELECT id FROM reservations WHERE due_at <= ? ORDER BY due_at LIMIT 100", now)
      .toArray();
    for (const { id } of due) {
      await this.serially(id, async () => {
        const r = this.load(id);
        if (!r) return;
        try {
          if (r.state === "pending") await this.abandon(r);
          else if (["confirming", "confirmed", "aborting"].includes(r.state)) await this.confirmAllLines(r);
          else await this.save(r, null);
        } catch (err) {
          warn("cart_alarm_work_failed", { region: r.region, reservation: id, error: err, trace: r.trace, retry: "with backoff" });
          await this.retryLater(r);
        }
      });
    }
    await this.scheduleAlarm();
  }

  // ------------------------------------------------------------------ storage

  private load(id: string): ReservationRecord | undefined {
    const row = this.sql.exec<{ record: string }>("SELECT record FROM reservations WHERE id = ?", id).toArray()[0];
    return row ? (JSON.parse(row.record) as ReservationRecord) : undefined;
  }

  /**
   * Writes the reservation; `dueAt` asks the alarm to look at it then (null: nothing to do).
   * `purgeAt`: when it is forgotten (default: the retention after its creation).
   */
  private async save(r: ReservationRecord, dueAt: number | null, purgeAt = r.createdAt + RETENTION_MS): Promise<void> {
    this.sql.exec(
      `INSERT INTO reservations (id, record, state, created_at, due_at, purge_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET record = excluded.record, state = excluded.state, due_at = excluded.due_at, purge_at = excluded.purge_at`,
      r.id, JSON.stringify(r), r.state, r.createdAt, dueAt, purgeAt,
    );
    await this.scheduleAlarm(Math.min(dueAt ?? Infinity, purgeAt));
  }

  /** The work on `r` failed again: look at it later, backing off. */
  private async retryLater(r: ReservationRecord): Promise<void> {
    r.attempts = (r.attempts ?? 0) + 1;
    await this.save(r, Date.now() + backoffMs(r.attempts));
  }

  /**
   * One alarm, at the earliest due work or purge; rewritten only when that moves earlier. `next`:
   * the one time that may have moved it (a save's), which spares the query while an alarm is due.
   */
  private async scheduleAlarm(next?: number): Promise<void> {
    if (next !== undefined && this.alarmAt !== null && this.alarmAt > Date.now()) {
      if (this.alarmAt <= next) return;
    } else {
      const row = this.sql
        .exec<{ due: number | null; purge: number | null; key: number | null }>(
          `SELECT (SELECT min(due_at) FROM reservations) AS due, (SELECT min(purge_at) FROM reservations) AS purge,
                  (SELECT min(created_at) FROM confirm_keys) AS key`,
        )
        .one();
      const candidates = [row.due, row.purge, row.key === null ? null : row.key + CONFIRM_KEY_RETENTION_MS].filter((t): t is number => t !== null);
      if (candidates.length === 0) return;
      next = Math.min(...candidates);
      if (this.alarmAt !== null && this.alarmAt <= next && this.alarmAt > Date.now()) return;
    }
    this.alarmAt = Math.max(next, Date.now() + 1);
    await this.ctx.storage.setAlarm(this.alarmAt);
  }

  // ------------------------------------------------------------------ the saga steps

  private async holdAllLines(r: ReservationRecord): Promise<CreateOutcome> {
    const skuExpiry = r.expiresAt + CONFIRM_GRACE_MS;
    const before = r.maybeHeldAt ?? r.lines.map(() => [] as number[]);
    // A line that may already be held somewhere stays there: never the same id in two objects.
    const placed: Placement[] = await Promise.all(
      r.lines.map((line, i) =>
        holdLine(this.env, r.region, line.sku, r.id, line.qty, skuExpiry, this.shardCount(r.region, line.sku), before[i]![0], r.shopper, r.trace)),
    );
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
    if (results.every((h) => h.ok)) {
      r.placements = placed.map((p) => (p as Extract<Placement, { shard: number }>).shard);
      // A line found in two objects (an earlier attempt that died before it noted where it held):
      // it is pinned to the first; the other hold is given back.
      const stale = r.maybeHeldAt.flatMap((at, i) => at.filter((s) => s !== r.placements![i]).map((s) => [i, s] as const));
      if (stale.length) {
        const settled = await Promise.allSettled(stale.map(([i, s]) => releaseAt(this.env, r.region, r.lines[i]!.sku, s, r.id, r.trace)));
        if (settled.every((x) => x.status === "fulfilled")) r.maybeHeldAt = r.placements.map((s) => [s]);
      }
      // A retry after a crash finds holds placed by the first attempt: keep their deadline.
      const skuExpiries = results.map((h) => (h.ok ? h.expiresAt : skuExpiry));
      r.expiresAt = Math.min(r.expiresAt, Math.min(...skuExpiries) - CONFIRM_GRACE_MS);
      r.state = "held";
      r.createOutcome = { ok: true, reservation: toView(r), token: r.token };
      await this.save(r, null);
      return r.createOutcome;
    }
    // Give back only what may be held: a refused line holds nothing, and releasing it would
    // cost the hottest SKU of a sell-out one more write per refused cart.
    const failed = await this.releaseAllLines(r, r.maybeHeldAt);
    if (failed) {
      await this.save(r, r.createdAt + ABANDONED_AFTER_MS); // the alarm finishes giving back
      return { ok: false, code: "try_again", detail: failed };
    }
    r.maybeHeldAt = r.lines.map(() => []);
    r.state = "rejected";
    const ruled = results.findIndex((h) => !h.ok && (h.code === "shopper_limit" || h.code === "shopper_required"));
    if (results.some((h) => !h.ok && h.code === "idempotency_key_reused")) {
      r.createOutcome = { ok: false, code: "idempotency_key_reused" };
    } else if (ruled >= 0) {
      // A drop rule refused a line (the first such line says which rule): nothing is held.
      r.createOutcome = { ...(results[ruled] as DropRefusal), sku: r.lines[ruled]!.sku };
    } else {
      const lines = r.lines.flatMap((line, i): ShortLine[] => {
        const h = results[i]!;
        if (h.ok) return [];
        const available = h.code === "insufficient_stock" ? h.available : 0;
        return [{ sku: line.sku, requested: line.qty, available }];
      });
      r.createOutcome = { ok: false, code: "insufficient_stock", lines };
    }
    // A refusal is kept only briefly: enough to answer a retry the same way, not days of storage.
    await this.save(r, null, Date.now() + REFUSED_RETENTION_MS);
    return r.createOutcome;
  }

  /**
   * Nobody came back to finish this create: give its units back now rather than at expiry. The
   * cart and its outcome stay, so the same key answers the same way (another body: 422).
   */
  private async abandon(r: ReservationRecord): Promise<void> {
    const failed = await this.releaseAllLines(r, r.maybeHeldAt ?? (await this.wherePlaced(r)));
    if (failed) {
      warn("abandoned_cart_release_failed", { region: r.region, reservation: r.id, attempt: (r.attempts ?? 0) + 1, error: failed, trace: r.trace });
      return this.retryLater(r);
    }
    r.state = "abandoned";
    r.maybeHeldAt = r.lines.map(() => []);
    r.createOutcome = { ok: false, code: "reservation_abandoned" };
    await this.save(r, null);
  }

  /**
   * Where each line may be held when this coordinator died before it learnt where it placed them:
   * the main object, and the stock shard the line would have preferred (see holdLine).
   */
  private async wherePlaced(r: ReservationRecord): Promise<number[][]> {
    return Promise.all(
      r.lines.map(async (line) => {
        const { shards } = await mainStub(this.env, r.region, line.sku).snapshot(line.sku, r.region);
        const preferred = preferredShard(r.id, shards ?? 1);
        return preferred === 0 ? [0] : [preferred, 0];
      }),
    );
  }

  /** Of the objects each line may be in (wherePlaced), those that really have its hold. */
  private async locate(r: ReservationRecord): Promise<number[][]> {
    const candidates = await this.wherePlaced(r);
    return Promise.all(
      r.lines.map(async (line, i) => {
        const found = await Promise.all(
          candidates[i]!.map(async (at) => {
            const status = at === 0 ? await mainStub(this.env, r.region, line.sku).holdStatus(r.id) : await shardStub(this.env, r.region, line.sku, at).holdStatus(r.id);
            return status === null ? null : at;
          }),
        );
        return found.filter((at): at is number => at !== null);
      }),
    );
  }

  /**
   * Prepare every line; once each has answered, store the decision; then commit every line (a
   * sale, dispatched to its warehouse) or revert them all. Safe to run again from any point.
   */
  private async confirmAllLines(r: ReservationRecord): Promise<ReservationOutcome> {
    const at = (i: number) => r.placements?.[i] ?? 0;
    if (!r.decision) {
      // A cart of one line (a sharded SKU's) has nothing to wait for: confirm it at once.
      const step = r.lines.length === 1 ? confirmAt : prepareAt;
      const settled = await Promise.allSettled(r.lines.map((line, i) => step(this.env, r.region, line.sku, at(i), r.id, r.trace)));
      const broken = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
      if (broken) {
        await this.retryLater(r);
        return { ok: false, code: "try_again", detail: `a stock object did not answer: ${String(broken.reason)}` };
      }
      const prepared = settled.every((s) => s.status === "fulfilled" && s.value.ok);
      r.decision = prepared ? "commit" : "abort";
      r.state = prepared ? "confirmed" : "aborting";
      if (prepared) r.confirmedAt = Date.now();
      r.attempts = 0;
      if (r.lines.length === 1 && prepared) {
        await this.save(r, null);
        return { ok: true, reservation: toView(r) };
      }
      // The decision is durable before any line acts on it.
      await this.save(r, Date.now() + STALLED_CONFIRM_MS);
    }
    if (r.decision === "commit") {
      const settled = await Promise.allSettled(r.lines.map((line) => commitAt(this.env, r.region, line.sku, r.id, r.trace)));
      const unfinished = settled.filter((s) => s.status === "rejected" || !s.value.ok);
      if (unfinished.length) {
        // The cart is a sale already; the alarm finishes telling the lines that did not hear it.
        warn("cart_lines_not_committed", { region: r.region, reservation: r.id, lines: unfinished.length, trace: r.trace, retry: "the alarm retries" });
        await this.retryLater(r);
      } else await this.save(r, null);
      return { ok: true, reservation: toView(r) };
    }
    // Abort: every line goes back on sale, whether it was prepared (reverted) or still held.
    const settled = await Promise.allSettled(
      r.lines.flatMap((line, i) => [revertAt(this.env, r.region, line.sku, r.id, r.trace), releaseAt(this.env, r.region, line.sku, at(i), r.id, r.trace)]),
    );
    if (settled.some((s) => s.status === "rejected")) await this.retryLater(r);
    else {
      r.state = "expired";
      await this.save(r, null);
    }
    return { ok: false, code: "hold_expired", reservation: toView({ ...r, state: "expired" }) };
  }

  /**
   * Returns a description of what failed, or null when every line is released. `at` lists, per
   * line, the objects to release it in (default: where it is placed).
   */
  private async releaseAllLines(r: ReservationRecord, at = r.lines.map((_, i) => [r.placements?.[i] ?? 0]), trace = r.trace): Promise<string | null> {
    const calls = r.lines.flatMap((line, i) => (at[i] ?? []).map((shard) => releaseAt(this.env, r.region, line.sku, shard, r.id, trace)));
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
      warn("shard_growth_failed", { region, sku, error: err });
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

meterCalls(ReservationObject, ["create", "view", "claimConfirmKey", "confirm", "release", "alarm"]);

function toView(r: ReservationRecord): ReservationView {
  let status: ReservationView["status"];
  if (r.state === "confirmed") status = "confirmed";
  else if (r.state === "released") status = "released";
  else if (r.state === "expired" || r.state === "aborting" || Date.now() >= r.expiresAt) status = "expired";
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

function checkAccess(record: ReservationRecord | undefined, token: string, storefront?: string): ReservationFailure | null {
  // A reservation that was never held (refused, abandoned, or still being made) does not exist for its readers.
  if (!record || ["pending", "rejected", "abandoned"].includes(record.state)) return { ok: false, code: "reservation_not_found" };
  // Nor does another storefront's, token or not.
  if (storefront !== undefined && record.storefront !== undefined && record.storefront !== storefront) return { ok: false, code: "reservation_not_found" };
  if (!sameSecret(record.token, token)) return { ok: false, code: "invalid_token" };
  return null;
}
