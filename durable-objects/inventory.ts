// The single writer for one SKU in one region. Every change runs in one synchronous SQLite
// transaction that first materialises due expiries, then checks the invariant
//   held + confirmed <= onHand - safetyStock
// changes state and appends its event. Nothing in here awaits anything but storage.
import { DurableObject } from "cloudflare:workers";
import { INVENTORY_MIGRATIONS, migrate } from "./inventory-schema";
import type { Env } from "../workers/env";

export type EventType =
  | "stock_set"
  | "hold_placed"
  | "hold_confirmed"
  | "hold_released"
  | "hold_expired"
  | "confirmation_reverted";

export interface Totals {
  onHand: number;
  held: number;
  confirmed: number;
  safetyStock: number;
  available: number;
}

export interface Snapshot extends Totals {
  sku: string;
  region: string;
  version: number;
}

export interface StockState extends Snapshot {
  warehouses: { warehouse: string; onHand: number; updatedAt: number }[];
  activeHolds: number;
  nextDeadline: number | null;
}

export type EventValue = string | number | boolean | null | Totals;

export interface StoredEvent {
  seq: number;
  type: EventType;
  at: number;
  /** What happened, plus `after`: the totals once it had happened. */
  payload: { [key: string]: EventValue };
}

export type HoldResult =
  | { ok: true; holdId: string; qty: number; expiresAt: number; version: number }
  | { ok: false; code: "insufficient_stock"; available: number; version: number }
  | { ok: false; code: "hold_conflict" | "hold_released" | "hold_expired" | "already_confirmed" };

export type ConfirmResult =
  | { ok: true; version: number }
  | { ok: false; code: "hold_expired" | "hold_released" | "hold_not_found" };

export type ReleaseResult = { ok: true; version: number } | { ok: false; code: "already_confirmed" };

export type SetStockResult =
  | { ok: true; snapshot: Snapshot }
  | { ok: false; code: "version_conflict"; currentVersion: number }
  | { ok: false; code: "idempotency_key_reused" };

export interface SetStockRequest {
  sku: string;
  region: string;
  warehouse: string;
  onHand: number;
  safetyStock?: number;
  expectedVersion?: number;
  idempotencyKey?: string;
  requestHash?: string;
}

type HoldRow = { id: string; qty: number; status: string; expires_at: number };

/** How soon the alarm retries events that have not reached the queue yet. */
export const OUTBOX_RETRY_MS = 5_000;
const OUTBOX_BATCH = 100; // the queue's sendBatch limit
const IDEMPOTENCY_RETENTION_MS = 48 * 3600_000; // the API promises at least 24 h
const TERMINAL_HOLD_RETENTION_MS = 8 * 24 * 3600_000; // outlives the reservation records (7 days)

export function inventoryName(region: string, sku: string): string {
  return `${region}:${sku}`;
}

export class InventoryObject extends DurableObject<Env> {
  private sql: SqlStorage;
  private identity: { sku: string; region: string } | null = null;
  private alarmAt: number | null = null;
  private sending: Promise<void> | null = null;
  private sendAgain = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      migrate(this.sql, INVENTORY_MIGRATIONS);
      const row = this.sql.exec<{ sku: string; region: string }>("SELECT sku, region FROM sku_region").toArray()[0];
      this.identity = row ?? null;
      this.alarmAt = await ctx.storage.getAlarm();
      // Events committed before a restart but never sent go out now (the alarm would also get them).
      void this.sendOutbox();
    });
  }

  // ------------------------------------------------------------------ writes

  async hold(sku: string, region: string, holdId: string, qty: number, expiresAt: number): Promise<HoldResult> {
    const result = this.ctx.storage.transactionSync((): HoldResult => {
      const now = Date.now();
      // A SKU never stocked here is simply unavailable; holding it must not create the SKU-region.
      if (!this.identity) return { ok: false, code: "insufficient_stock", available: 0, version: 0 };
      this.claimIdentity(sku, region);
      this.expireDue(now);
      const existing = this.findHold(holdId);
      if (existing) return this.replayHold(existing);
      const totals = this.totals();
      if (totals.available < qty) {
        return { ok: false, code: "insufficient_stock", available: totals.available, version: this.version() };
      }
      this.sql.exec(
        "INSERT INTO holds (id, qty, status, expires_at, created_at, updated_at) VALUES (?, ?, 'held', ?, ?, ?)",
        holdId, qty, expiresAt, now, now,
      );
      this.sql.exec("UPDATE sku_region SET held = held + ?", qty);
      const version = this.append("hold_placed", now, { holdId, qty, expiresAt });
      return { ok: true, holdId, qty, expiresAt, version };
    });
    if (result.ok) {
      await this.scheduleAlarm(Math.min(expiresAt, Date.now() + OUTBOX_RETRY_MS));
      this.sendOutbox();
    }
    return result;
  }

  async confirm(holdId: string): Promise<ConfirmResult> {
    const result = this.ctx.storage.transactionSync((): ConfirmResult => {
      const now = Date.now();
      this.expireDue(now);
      const hold = this.findHold(holdId);
      if (!hold) return { ok: false, code: "hold_not_found" };
      if (hold.status === "confirmed") return { ok: true, version: this.version() };
      if (hold.status === "expired") return { ok: false, code: "hold_expired" };
      if (hold.status !== "held") return { ok: false, code: "hold_released" };
      this.setHoldStatus(hold, "confirmed", now);
      return { ok: true, version: this.append("hold_confirmed", now, { holdId, qty: hold.qty }) };
    });
    await this.ensureAlarm();
    return result;
  }

  async release(holdId: string): Promise<ReleaseResult> {
    const result = this.ctx.storage.transactionSync((): ReleaseResult => {
      const now = Date.now();
      this.expireDue(now);
      const hold = this.findHold(holdId);
      if (!hold) {
        // The hold may still be in flight from a caller that gave up: make sure it can never land.
        this.sql.exec(
          "INSERT INTO holds (id, qty, status, expires_at, created_at, updated_at) VALUES (?, 0, 'released', ?, ?, ?)",
          holdId, now, now, now,
        );
        return { ok: true, version: this.version() };
      }
      if (hold.status === "confirmed") return { ok: false, code: "already_confirmed" };
      if (hold.status !== "held") return { ok: true, version: this.version() };
      this.setHoldStatus(hold, "released", now);
      return { ok: true, version: this.append("hold_released", now, { holdId, qty: hold.qty }) };
    });
    await this.ensureAlarm();
    return result;
  }

  /** Compensation for a multi-line confirm that could not complete: the units go back on sale. */
  async revertConfirmation(holdId: string): Promise<{ ok: boolean }> {
    const result = this.ctx.storage.transactionSync(() => {
      const now = Date.now();
      this.expireDue(now);
      const hold = this.findHold(holdId);
      if (!hold || hold.status !== "confirmed") return { ok: hold?.status === "reverted" };
      this.setHoldStatus(hold, "reverted", now);
      this.append("confirmation_reverted", now, { holdId, qty: hold.qty });
      return { ok: true };
    });
    await this.ensureAlarm();
    return result;
  }

  async setStock(req: SetStockRequest): Promise<SetStockResult> {
    const result = this.ctx.storage.transactionSync((): SetStockResult => {
      const now = Date.now();
      if (req.idempotencyKey) {
        const seen = this.sql
          .exec<{ request_hash: string; response: string }>(
            "SELECT request_hash, response FROM idempotency WHERE key = ?", req.idempotencyKey,
          )
          .toArray()[0];
        if (seen) {
          if (seen.request_hash !== req.requestHash) return { ok: false, code: "idempotency_key_reused" };
          return JSON.parse(seen.response) as SetStockResult;
        }
      }
      this.claimIdentity(req.sku, req.region);
      this.expireDue(now);
      const version = this.version();
      let result: SetStockResult;
      if (req.expectedVersion !== undefined && req.expectedVersion !== version) {
        result = { ok: false, code: "version_conflict", currentVersion: version };
      } else {
        this.sql.exec(
          `INSERT INTO warehouse_stock (warehouse, on_hand, updated_at) VALUES (?, ?, ?)
           ON CONFLICT (warehouse) DO UPDATE SET on_hand = excluded.on_hand, updated_at = excluded.updated_at`,
          req.warehouse, req.onHand, now,
        );
        if (req.safetyStock !== undefined) {
          this.sql.exec("UPDATE sku_region SET safety_stock = ?", req.safetyStock);
        }
        const safetyStock = this.sql.exec<{ s: number }>("SELECT safety_stock AS s FROM sku_region").one().s;
        this.append("stock_set", now, { warehouse: req.warehouse, onHand: req.onHand, safetyStock });
        result = { ok: true, snapshot: this.snapshotNow(now) };
      }
      if (req.idempotencyKey) {
        this.sql.exec(
          "INSERT INTO idempotency (key, request_hash, response, created_at) VALUES (?, ?, ?, ?)",
          req.idempotencyKey, req.requestHash ?? "", JSON.stringify(result), now,
        );
      }
      return result;
    });
    await this.ensureAlarm();
    return result;
  }

  // ------------------------------------------------------------------ reads

  async snapshot(sku: string, region: string): Promise<Snapshot> {
    if (!this.identity) return { sku, region, onHand: 0, held: 0, confirmed: 0, safetyStock: 0, available: 0, version: 0 };
    return this.snapshotNow(Date.now());
  }

  async state(sku: string, region: string): Promise<StockState> {
    const now = Date.now();
    const snapshot = await this.snapshot(sku, region);
    const warehouses = this.sql
      .exec<{ warehouse: string; on_hand: number; updated_at: number }>(
        "SELECT warehouse, on_hand, updated_at FROM warehouse_stock ORDER BY warehouse",
      )
      .toArray()
      .map((w) => ({ warehouse: w.warehouse, onHand: w.on_hand, updatedAt: w.updated_at }));
    const activeHolds = this.sql
      .exec<{ n: number }>("SELECT count(*) AS n FROM holds WHERE status = 'held' AND expires_at > ?", now)
      .one().n;
    return { ...snapshot, warehouses, activeHolds, nextDeadline: this.nextDeadline() };
  }

  /**
   * Puts every event after `after` back in the outbox and sends them again: the repair for a
   * system of record that lost messages (its consumer skips what it already has).
   */
  async resend(after: number): Promise<{ queued: number }> {
    const queued = this.ctx.storage.transactionSync(() => {
      this.sql.exec("INSERT OR IGNORE INTO outbox (seq) SELECT seq FROM events WHERE seq > ?", after);
      return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
    });
    await this.scheduleAlarm(Date.now() + OUTBOX_RETRY_MS);
    void this.sendOutbox();
    return { queued };
  }

  /**
   * The state as the event log records it (the `after` of the last event), which is what a
   * projection of the log must equal; plus when the first event after `projectedVersion` happened.
   */
  async recordedState(projectedVersion: number): Promise<{
    version: number;
    totals: Totals;
    warehouses: { warehouse: string; onHand: number }[];
    firstUnprojectedAt: number | null;
  }> {
    const last = this.sql
      .exec<{ seq: number; payload: string }>("SELECT seq, payload FROM events ORDER BY seq DESC LIMIT 1")
      .toArray()[0];
    const next = this.sql
      .exec<{ at: number }>("SELECT at FROM events WHERE seq = ?", projectedVersion + 1)
      .toArray()[0];
    const warehouses = this.sql
      .exec<{ warehouse: string; on_hand: number }>("SELECT warehouse, on_hand FROM warehouse_stock ORDER BY warehouse")
      .toArray()
      .map((w) => ({ warehouse: w.warehouse, onHand: w.on_hand }));
    return {
      version: last?.seq ?? 0,
      totals: last ? (JSON.parse(last.payload) as { after: Totals }).after : { onHand: 0, held: 0, confirmed: 0, safetyStock: 0, available: 0 },
      warehouses,
      firstUnprojectedAt: next?.at ?? null,
    };
  }

  async events(after: number, limit: number): Promise<StoredEvent[]> {
    return this.sql
      .exec<{ seq: number; type: EventType; at: number; payload: string }>(
        "SELECT seq, type, at, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?", after, limit,
      )
      .toArray()
      .map((e) => ({ seq: e.seq, type: e.type, at: e.at, payload: JSON.parse(e.payload) }));
  }

  // ------------------------------------------------------------------ alarm

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      this.expireDue(now);
      this.sql.exec("DELETE FROM idempotency WHERE created_at <= ?", now - IDEMPOTENCY_RETENTION_MS);
      this.sql.exec(
        "DELETE FROM holds WHERE status IN ('released', 'expired', 'reverted') AND updated_at <= ?",
        now - TERMINAL_HOLD_RETENTION_MS,
      );
    });
    await this.sendOutbox();
    const next = this.nextDeadline();
    if (next !== null) await this.scheduleAlarm(next);
  }

  // ------------------------------------------------------------------ internals

  private claimIdentity(sku: string, region: string): void {
    if (this.identity) {
      if (this.identity.sku !== sku || this.identity.region !== region) {
        throw new Error(`object for ${this.identity.region}:${this.identity.sku} was called as ${region}:${sku}`);
      }
      return;
    }
    this.sql.exec("INSERT INTO sku_region (id, sku, region) VALUES (1, ?, ?)", sku, region);
    this.identity = { sku, region };
  }

  /** Holds stop counting at their expiry; inside a write we also record that as events. */
  private expireDue(now: number): void {
    const due = this.sql
      .exec<HoldRow>(
        "SELECT id, qty, status, expires_at FROM holds WHERE status = 'held' AND expires_at <= ? ORDER BY expires_at, id", now,
      )
      .toArray();
    for (const hold of due) {
      this.setHoldStatus(hold, "expired", now);
      this.append("hold_expired", now, { holdId: hold.id, qty: hold.qty });
    }
  }

  private append(type: EventType, at: number, payload: { [key: string]: EventValue }): number {
    const seq = this.version() + 1;
    // As recorded so far: a hold that expireDue has not reached yet in this pass still counts.
    const after = this.totals(null);
    this.sql.exec("INSERT INTO events (seq, type, at, payload) VALUES (?, ?, ?, ?)", seq, type, at, JSON.stringify({ ...payload, after }));
    this.sql.exec("INSERT INTO outbox (seq) VALUES (?)", seq);
    this.sql.exec("UPDATE sku_region SET version = ?", seq);
    return seq;
  }

  /** `now` null: the totals as the event log has them, without holds lapsed since. */
  private totals(now: number | null = Date.now()): Totals {
    // Holds past their expiry stop counting now, even before an event records it.
    const row = this.sql
      .exec<{ on_hand: number; held: number; confirmed: number; safety_stock: number }>(
        `SELECT
           (SELECT coalesce(sum(on_hand), 0) FROM warehouse_stock) AS on_hand,
           coalesce(r.held, 0) - (SELECT coalesce(sum(qty), 0) FROM holds WHERE status = 'held' AND expires_at <= ?) AS held,
           coalesce(r.confirmed, 0) AS confirmed,
           coalesce(r.safety_stock, 0) AS safety_stock
         FROM (SELECT 1) LEFT JOIN sku_region r ON r.id = 1`,
        now,
      )
      .one();
    const available = Math.max(0, row.on_hand - row.held - row.confirmed - row.safety_stock);
    return { onHand: row.on_hand, held: row.held, confirmed: row.confirmed, safetyStock: row.safety_stock, available };
  }

  private snapshotNow(now: number): Snapshot {
    const { sku, region } = this.identity!;
    return { sku, region, ...this.totals(now), version: this.version() };
  }

  private version(): number {
    return this.sql.exec<{ v: number | null }>("SELECT max(version) AS v FROM sku_region").one().v ?? 0;
  }

  private findHold(id: string): HoldRow | undefined {
    return this.sql.exec<HoldRow>("SELECT id, qty, status, expires_at FROM holds WHERE id = ?", id).toArray()[0];
  }

  private replayHold(hold: HoldRow): HoldResult {
    switch (hold.status) {
      case "held":
        return { ok: true, holdId: hold.id, qty: hold.qty, expiresAt: hold.expires_at, version: this.version() };
      case "confirmed":
        return { ok: false, code: "already_confirmed" };
      case "expired":
        return { ok: false, code: "hold_expired" };
      default:
        return { ok: false, code: "hold_released" };
    }
  }

  /** Moves a hold to its next status and its units between the running totals. */
  private setHoldStatus(hold: HoldRow, status: string, now: number): void {
    this.sql.exec("UPDATE holds SET status = ?, updated_at = ? WHERE id = ?", status, now, hold.id);
    const held = (status === "held" ? hold.qty : 0) - (hold.status === "held" ? hold.qty : 0);
    const confirmed = (status === "confirmed" ? hold.qty : 0) - (hold.status === "confirmed" ? hold.qty : 0);
    this.sql.exec("UPDATE sku_region SET held = held + ?, confirmed = confirmed + ?", held, confirmed);
  }

  private nextDeadline(): number | null {
    const row = this.sql
      .exec<{ unsent: number | null; hold: number | null; idem: number | null; terminal: number | null }>(
        `SELECT
           (SELECT min(seq) FROM outbox) AS unsent,
           (SELECT min(expires_at) FROM holds WHERE status = 'held') AS hold,
           (SELECT min(created_at) FROM idempotency) AS idem,
           (SELECT min(updated_at) FROM holds WHERE status IN ('released', 'expired', 'reverted')) AS terminal`,
      )
      .one();
    const candidates = [
      row.unsent === null ? null : Date.now() + OUTBOX_RETRY_MS,
      row.hold,
      row.idem === null ? null : row.idem + IDEMPOTENCY_RETENTION_MS,
      row.terminal === null ? null : row.terminal + TERMINAL_HOLD_RETENTION_MS,
    ].filter((t): t is number => t !== null);
    return candidates.length ? Math.min(...candidates) : null;
  }

  /** Writes other than holds only add far-off clean-up deadlines: an existing alarm recomputes them. */
  private async ensureAlarm(): Promise<void> {
    if (this.alarmAt === null) {
      const next = this.nextDeadline();
      if (next !== null) await this.scheduleAlarm(next);
    } else if (this.hasUnsent()) {
      await this.scheduleAlarm(Date.now() + OUTBOX_RETRY_MS);
    }
    this.sendOutbox();
  }

  private hasUnsent(): boolean {
    return this.sql.exec("SELECT 1 FROM outbox LIMIT 1").toArray().length > 0;
  }

  /**
   * Sends committed events to the queue, oldest first, outside any transaction and without
   * holding up the caller. One sender at a time; a commit during a send asks for another round.
   * What fails stays in the outbox for the alarm, which is already set before the send.
   */
  private sendOutbox(): Promise<void> {
    if (this.sending) {
      this.sendAgain = true;
      return this.sending;
    }
    this.sending = (async () => {
      do {
        this.sendAgain = false;
        for (;;) {
          const rows = this.sql
            .exec<{ seq: number; type: string; at: number; payload: string }>(
              `SELECT e.seq, e.type, e.at, e.payload FROM outbox o JOIN events e ON e.seq = o.seq ORDER BY o.seq LIMIT ?`,
              OUTBOX_BATCH,
            )
            .toArray();
          if (rows.length === 0 || !this.identity) break;
          const { sku, region } = this.identity;
          try {
            await this.env.INVENTORY_EVENTS.sendBatch(
              rows.map((r) => ({ body: { region, sku, seq: r.seq, type: r.type, at: r.at, payload: JSON.parse(r.payload) }, contentType: "json" as const })),
            );
          } catch (err) {
            console.warn(`outbox ${region}:${sku}: queue refused ${rows.length} events, the alarm retries`, err);
            return;
          }
          this.sql.exec("DELETE FROM outbox WHERE seq >= ? AND seq <= ?", rows[0]!.seq, rows.at(-1)!.seq);
        }
      } while (this.sendAgain);
    })().finally(() => {
      this.sending = null;
    });
    this.ctx.waitUntil(this.sending);
    return this.sending;
  }

  /** One alarm per object, always at the earliest deadline; only storage calls here. */
  private async scheduleAlarm(at: number): Promise<void> {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    const when = Math.max(at, Date.now() + 1);
    this.alarmAt = when;
    await this.ctx.storage.setAlarm(when);
  }
}
