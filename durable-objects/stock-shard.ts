// One stock shard of a hot SKU-region (durable-objects/escrow.ts has the main object's side). It
// sells from a quota of units lent by the main object `${region}:${sku}`, under its own invariant
//   held + transferring <= quota
// checked in one synchronous transaction per write, exactly like the main object. When it runs
// dry it asks the main object for more; a confirmed hold is handed to the main object, which runs
// the sale's saga. Calls to the main object happen outside any transaction, under a transfer id
// (or the hold id) stored first, so a call that fails is retried with the same id and applied once.
//
// Shard holds never reach the system of record: they are short-lived and the main object records
// every unit that enters or leaves the shard (quota_granted, quota_returned, hold_confirmed). The
// shard keeps its own append-only log for audits and tests; it is not sent anywhere.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../workers/env";
import { error, warn } from "../observability/log";
import { inventoryName, OUTBOX_RETRY_MS, type ConfirmResult, type ReleaseResult } from "./inventory";
import { shardName } from "./escrow";
import { meterCalls, meterStorage } from "./cost-meter";
import { publishAfter, type Published } from "./availability-publisher";
import { failDuringOutage } from "./fault-injection";
import { migrate } from "./inventory-schema";

export { shardName };

export type ShardHoldResult =
  | { ok: true; holdId: string; qty: number; expiresAt: number; version: number; shards: number }
  | { ok: false; code: "insufficient_stock"; available: number; version: number; shards: number; retired: boolean }
  | { ok: false; code: "hold_released" | "hold_expired" | "already_confirmed" };

export interface ShardState {
  index: number;
  quota: number;
  held: number;
  transferring: number;
  available: number;
  retired: boolean;
  shards: number;
  version: number;
  pendingTransfers: number;
}

type ShardEventType =
  | "hold_placed" | "hold_released" | "hold_expired" | "hold_transferring" | "hold_transferred" | "hold_conflict"
  | "quota_received" | "quota_returned" | "retired" | "enabled";
export interface ShardEvent {
  seq: number;
  type: ShardEventType;
  at: number;
  payload: { [key: string]: string | number | boolean | null | ShardTotals };
}
export interface ShardTotals {
  quota: number;
  held: number;
  transferring: number;
  available: number;
}

type HoldStatus = "held" | "transferring" | "transferred" | "released" | "expired";
type HoldRow = { id: string; qty: number; status: HoldStatus; expires_at: number; prepared: number };
type Transfer = { id: string; kind: "grant" | "return"; qty: number };

const TERMINAL_HOLD_RETENTION_MS = 8 * 24 * 3600_000;

const MIGRATIONS = [
  `
  CREATE TABLE shard (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sku TEXT NOT NULL,
    region TEXT NOT NULL,
    shard_index INTEGER NOT NULL,
    quota INTEGER NOT NULL DEFAULT 0 CHECK (quota >= 0),
    held INTEGER NOT NULL DEFAULT 0,
    transferring INTEGER NOT NULL DEFAULT 0,
    -- K as the main object last said, and whether it took this shard out of service.
    shards INTEGER NOT NULL DEFAULT 1,
    retired INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0,
    CHECK (held + transferring <= quota)
  );
  -- status: held -> transferring -> transferred (a sale, now in the main object), or released | expired.
  CREATE TABLE holds (
    id TEXT PRIMARY KEY,
    qty INTEGER NOT NULL CHECK (qty >= 0),
    status TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX holds_by_status_expiry ON holds (status, expires_at);
  -- Quota moves with the main object: stored (pending) before the call, done once it answered.
  CREATE TABLE transfers (id TEXT PRIMARY KEY, kind TEXT NOT NULL, qty INTEGER NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL);
  CREATE TABLE events (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, at INTEGER NOT NULL, payload TEXT NOT NULL);
  `,
  // A cart line is handed over as prepared (its coordinator commits it in the main object).
  `
  ALTER TABLE holds ADD COLUMN prepared INTEGER NOT NULL DEFAULT 0;
  `,
];

export class StockShard extends DurableObject<Env> {
  private sql: SqlStorage;
  private identity: { sku: string; region: string; index: number } | null = null;
  private refilling: Promise<void> | null = null;
  private alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = meterStorage(ctx.storage);
    ctx.blockConcurrencyWhile(async () => {
      migrate(this.sql, MIGRATIONS);
      const row = this.sql.exec<{ sku: string; region: string; shard_index: number }>("SELECT sku, region, shard_index FROM shard").toArray()[0];
      this.identity = row ? { sku: row.sku, region: row.region, index: row.shard_index } : null;
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  // ------------------------------------------------------------------ storefront writes (via the coordinator)

  async hold(sku: string, region: string, index: number, holdId: string, qty: number, expiresAt: number): Promise<ShardHoldResult> {
    this.claim(sku, region, index);
    let result = this.ctx.storage.transactionSync(() => this.tryHold(holdId, qty, expiresAt));
    if (!result.ok && result.code === "insufficient_stock" && !result.retired) {
      await this.refill(qty);
      result = this.ctx.storage.transactionSync(() => this.tryHold(holdId, qty, expiresAt));
    }
    if (result.ok) await this.scheduleAlarm(expiresAt);
    return result;
  }

  /**
   * Marks the hold as transferring (still counted here), then hands the sale to the main object;
   * `prepare`: as a cart line, which its coordinator commits (or reverts) there.
   */
  async confirm(holdId: string, prepare = false, trace?: string): Promise<ConfirmResult> {
    const step = this.ctx.storage.transactionSync((): ConfirmResult | HoldRow => {
      const now = Date.now();
      this.expireDue(now);
      const hold = this.findHold(holdId);
      if (!hold) return { ok: false, code: "hold_not_found" };
      if (hold.status === "transferred") return { ok: true, version: this.version() };
      if (hold.status === "expired") return { ok: false, code: "hold_expired" };
      if (hold.status === "released") return { ok: false, code: "hold_released" };
      if (hold.status === "held") {
        this.setStatus(hold, "transferring", now);
        this.sql.exec("UPDATE holds SET prepared = ? WHERE id = ?", prepare ? 1 : 0, holdId);
        hold.prepared = prepare ? 1 : 0;
        this.append("hold_transferring", now, { holdId, qty: hold.qty, prepared: prepare });
      }
      return hold;
    });
    if ("ok" in step) return step;
    await this.scheduleAlarm(Date.now() + OUTBOX_RETRY_MS); // finishes the hand-over if this call dies
    return this.handOver(step, trace);
  }

  async release(holdId: string): Promise<ReleaseResult> {
    const result = this.ctx.storage.transactionSync((): ReleaseResult => {
      const now = Date.now();
      this.expireDue(now);
      const hold = this.findHold(holdId);
      if (!hold) {
        // A hold still in flight from a caller that gave up must never land.
        this.sql.exec("INSERT INTO holds (id, qty, status, expires_at, updated_at) VALUES (?, 0, 'released', ?, ?)", holdId, now, now);
        return { ok: true, version: this.version() };
      }
      if (hold.status === "transferring" || hold.status === "transferred") return { ok: false, code: "already_confirmed" };
      if (hold.status !== "held") return { ok: true, version: this.version() };
      this.setStatus(hold, "released", now);
      return { ok: true, version: this.append("hold_released", now, { holdId, qty: hold.qty }) };
    });
    if (this.isRetired()) await this.returnIdle();
    return result;
  }

  // ------------------------------------------------------------------ quota

  /** Gives every idle unit back to the main object (rebalancing, or this shard leaving service). */
  async returnIdle(): Promise<{ returned: number }> {
    if (!this.identity) return { returned: 0 };
    const returned = this.ctx.storage.transactionSync(() => {
      const now = Date.now();
      this.expireDue(now);
      const idle = this.totals().available;
      if (idle <= 0) return 0;
      const id = crypto.randomUUID();
      this.sql.exec("UPDATE shard SET quota = quota - ?", idle);
      this.sql.exec("INSERT INTO transfers (id, kind, qty, status, created_at) VALUES (?, 'return', ?, 'pending', ?)", id, idle, now);
      this.append("quota_returned", now, { transferId: id, qty: idle });
      return idle;
    });
    await this.sendPendingReturns();
    return { returned };
  }

  /** The main object took this shard out of service (K went down): stop selling, give units back. */
  async retire(sku: string, region: string, index: number): Promise<{ returned: number }> {
    this.claim(sku, region, index);
    this.setRetired(true);
    return this.returnIdle();
  }

  async enable(sku: string, region: string, index: number): Promise<void> {
    this.claim(sku, region, index);
    this.setRetired(false);
  }

  /** Fills the quota up to `want` idle units ahead of demand (when a SKU-region is split). */
  async topUp(sku: string, region: string, index: number, want: number): Promise<ShardState> {
    this.claim(sku, region, index);
    const missing = want - this.totals().available;
    if (missing > 0 && !this.isRetired()) await this.refill(missing, true);
    return this.state();
  }

  // ------------------------------------------------------------------ reads

  /** Whether this shard has a hold (or its tombstone) under `holdId`, and in what status. */
  async holdStatus(holdId: string): Promise<string | null> {
    return this.findHold(holdId)?.status ?? null;
  }

  async state(): Promise<ShardState> {
    const row = this.sql.exec<{ shards: number; retired: number }>("SELECT shards, retired FROM shard").toArray()[0];
    const pending = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM transfers WHERE status = 'pending'").one().n;
    return {
      index: this.identity?.index ?? 0,
      ...this.totals(),
      retired: row?.retired === 1,
      shards: row?.shards ?? 1,
      version: this.version(),
      pendingTransfers: pending,
    };
  }

  /** This shard's part of its SKU-region in the read model: the idle units of its quota. */
  readModelPart(): Published | null {
    if (!this.identity) return null;
    const { sku, region, index } = this.identity;
    const row = this.sql.exec<{ shards: number; retired: number }>("SELECT shards, retired FROM shard").toArray()[0];
    const available = row?.retired === 1 ? 0 : this.totals().available;
    return { region, part: { sku, part: index, available, version: this.version(), shards: row?.shards ?? 1, at: Date.now() } };
  }

  async events(after: number, limit: number): Promise<ShardEvent[]> {
    return this.sql
      .exec<{ seq: number; type: ShardEventType; at: number; payload: string }>("SELECT seq, type, at, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?", after, limit)
      .toArray()
      .map((e) => ({ seq: e.seq, type: e.type, at: e.at, payload: JSON.parse(e.payload) }));
  }

  // ------------------------------------------------------------------ alarm

  /** Records expiries, finishes hand-overs and transfers that failed, and empties a retired shard. */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    const handOvers = this.ctx.storage.transactionSync(() => {
      this.expireDue(now);
      this.sql.exec("DELETE FROM holds WHERE status IN ('released', 'expired', 'transferred') AND updated_at <= ?", now - TERMINAL_HOLD_RETENTION_MS);
      this.sql.exec("DELETE FROM transfers WHERE status = 'done' AND created_at <= ?", now - TERMINAL_HOLD_RETENTION_MS);
      return this.sql.exec<HoldRow>("SELECT id, qty, status, expires_at, prepared FROM holds WHERE status = 'transferring'").toArray();
    });
    const failures: string[] = [];
    for (const hold of handOvers) await this.handOver(hold).catch((err) => failures.push(String(err)));
    if (this.pendingGrant()) await this.refill(0).catch((err) => failures.push(String(err)));
    if (this.isRetired()) await this.returnIdle().catch((err) => failures.push(String(err)));
    else await this.sendPendingReturns().catch((err) => failures.push(String(err)));
    const next = this.nextDeadline();
    if (next !== null) await this.scheduleAlarm(next);
    if (failures.length) warn("shard_calls_failed", { shard: this.name(), failures: failures.length, error: failures[0], retry: "the alarm retries" });
  }

  // ------------------------------------------------------------------ talking to the main object

  private main() {
    const { region, sku } = this.identity!;
    return this.env.INVENTORY.get(this.env.INVENTORY.idFromName(inventoryName(region, sku)));
  }

  private async handOver(hold: HoldRow, trace?: string): Promise<ConfirmResult> {
    const { sku, region, index } = this.identity!;
    const result = await this.main().confirmFromShard(sku, region, index, hold.id, hold.qty, hold.prepared === 1, trace);
    if (!result.ok && result.code === "hold_conflict") return this.giveUpConflicting(hold, result.detail);
    if (!result.ok) throw new Error(`the main object refused sale ${hold.id}: ${result.detail}`); // stays transferring
    return this.ctx.storage.transactionSync((): ConfirmResult => {
      const now = Date.now();
      this.expireDue(now);
      const current = this.findHold(hold.id);
      if (current?.status === "transferring") {
        this.setStatus(current, "transferred", now);
        this.sql.exec("UPDATE shard SET quota = quota - ?", current.qty);
        this.append("hold_transferred", now, { holdId: hold.id, qty: current.qty, mainVersion: result.version });
      }
      return { ok: true, version: this.version() };
    });
  }

  /**
   * The main object has this hold id for something else (a hold placed there, or ended there): this
   * line is not a sale. Its units go back into the quota and the confirm fails, so the cart is not
   * confirmed; an operator sees why in the log. Never acknowledged as if it were a sale.
   */
  private giveUpConflicting(hold: HoldRow, detail: string): ConfirmResult {
    error("shard_sale_not_handed_over", { shard: this.name(), reservation: hold.id, detail });
    this.ctx.storage.transactionSync(() => {
      const current = this.findHold(hold.id);
      if (current?.status !== "transferring") return;
      this.setStatus(current, "released", Date.now());
      this.append("hold_conflict", Date.now(), { holdId: hold.id, qty: current.qty, detail });
    });
    return { ok: false, code: "hold_released" };
  }

  /**
   * Asks the main object for `want` units (`exact`), or at least `want` and a fair share of what is
   * free. One request at a time; a request whose answer was lost is sent again under its id.
   */
  private refill(want: number, exact = false): Promise<void> {
    this.refilling ??= (async () => {
      try {
        const { sku, region, index } = this.identity!;
        const transfer = this.ctx.storage.transactionSync((): Transfer => {
          const pending = this.pendingGrant();
          if (pending) return pending;
          const id = crypto.randomUUID();
          this.sql.exec("INSERT INTO transfers (id, kind, qty, status, created_at) VALUES (?, 'grant', ?, 'pending', ?)", id, want, Date.now());
          return { id, kind: "grant", qty: want };
        });
        let answer;
        try {
          answer = await this.main().grantQuota(sku, region, index, transfer.id, Math.max(want, transfer.qty), exact);
        } catch (err) {
          await this.scheduleAlarm(Date.now() + OUTBOX_RETRY_MS);
          throw err;
        }
        this.ctx.storage.transactionSync(() => {
          const still = this.sql.exec("SELECT 1 FROM transfers WHERE id = ? AND status = 'pending'", transfer.id).toArray().length > 0;
          if (!still) return;
          this.expireDue(Date.now());
          this.sql.exec("UPDATE transfers SET status = 'done', qty = ? WHERE id = ?", answer.granted, transfer.id);
          // An answer can only retire this shard: one that arrives after a retire (K went down
          // meanwhile) must not bring it back into service; only enable() does that.
          this.sql.exec("UPDATE shard SET shards = ?, retired = max(retired, ?)", answer.shards, answer.inService ? 0 : 1);
          if (answer.granted > 0) {
            this.sql.exec("UPDATE shard SET quota = quota + ?", answer.granted);
            this.append("quota_received", Date.now(), { transferId: transfer.id, qty: answer.granted });
          }
        });
        // Units granted to a shard that is no longer in service (K went down meanwhile) go back.
        if (!answer.inService && answer.granted > 0) await this.returnIdle();
      } finally {
        this.refilling = null;
      }
    })();
    return this.refilling;
  }

  private async sendPendingReturns(): Promise<void> {
    const { sku, region, index } = this.identity!;
    const pending = this.sql.exec<Transfer>("SELECT id, kind, qty FROM transfers WHERE kind = 'return' AND status = 'pending' ORDER BY created_at").toArray();
    for (const t of pending) {
      try {
        const answer = await this.main().returnQuota(sku, region, index, t.id, t.qty);
        this.sql.exec("UPDATE transfers SET status = 'done' WHERE id = ?", t.id);
        this.sql.exec("UPDATE shard SET shards = ?", answer.shards);
      } catch (err) {
        // The units are already out of this quota and still lent in the main object: nothing can
        // oversell meanwhile, they are just unavailable until the alarm sends this again.
        await this.scheduleAlarm(Date.now() + OUTBOX_RETRY_MS);
        throw err;
      }
    }
  }

  // ------------------------------------------------------------------ the books

  private tryHold(holdId: string, qty: number, expiresAt: number): ShardHoldResult {
    const now = Date.now();
    this.expireDue(now);
    const existing = this.findHold(holdId);
    if (existing) {
      if (existing.status === "held") return { ok: true, holdId, qty: existing.qty, expiresAt: existing.expires_at, version: this.version(), shards: this.shards() };
      if (existing.status === "expired") return { ok: false, code: "hold_expired" };
      if (existing.status === "released") return { ok: false, code: "hold_released" };
      return { ok: false, code: "already_confirmed" };
    }
    const totals = this.totals();
    const retired = this.isRetired();
    if (retired || totals.available < qty) {
      return { ok: false, code: "insufficient_stock", available: retired ? 0 : totals.available, version: this.version(), shards: this.shards(), retired };
    }
    this.sql.exec("INSERT INTO holds (id, qty, status, expires_at, updated_at) VALUES (?, ?, 'held', ?, ?)", holdId, qty, expiresAt, now);
    this.sql.exec("UPDATE shard SET held = held + ?", qty);
    const version = this.append("hold_placed", now, { holdId, qty, expiresAt });
    return { ok: true, holdId, qty, expiresAt, version, shards: this.shards() };
  }

  /** `null`: as the shard's log has them (due holds count until their own hold_expired event). */
  private totals(now: number | null = Date.now()): ShardTotals {
    const row = this.sql
      .exec<{ quota: number; held: number; transferring: number }>(
        `SELECT r.quota, r.transferring,
           r.held - (SELECT coalesce(sum(qty), 0) FROM holds WHERE status = 'held' AND expires_at <= ?) AS held
         FROM shard r`,
        now ?? -1,
      )
      .toArray()[0] ?? { quota: 0, held: 0, transferring: 0 };
    return { ...row, available: Math.max(0, row.quota - row.held - row.transferring) };
  }

  private expireDue(now: number): void {
    const due = this.sql.exec<HoldRow>("SELECT id, qty, status, expires_at, prepared FROM holds WHERE status = 'held' AND expires_at <= ? ORDER BY expires_at, id", now).toArray();
    for (const hold of due) {
      this.setStatus(hold, "expired", now);
      this.append("hold_expired", now, { holdId: hold.id, qty: hold.qty });
    }
  }

  private setStatus(hold: HoldRow, status: HoldStatus, now: number): void {
    this.sql.exec("UPDATE holds SET status = ?, updated_at = ? WHERE id = ?", status, now, hold.id);
    const delta = (s: HoldStatus) => (status === s ? hold.qty : 0) - (hold.status === s ? hold.qty : 0);
    this.sql.exec("UPDATE shard SET held = held + ?, transferring = transferring + ?", delta("held"), delta("transferring"));
    hold.status = status;
  }

  private append(type: ShardEventType, at: number, payload: ShardEvent["payload"]): number {
    const seq = this.version() + 1;
    this.sql.exec("INSERT INTO events (seq, type, at, payload) VALUES (?, ?, ?, ?)", seq, type, at, JSON.stringify({ ...payload, after: this.totals(null) }));
    this.sql.exec("UPDATE shard SET version = ?", seq);
    return seq;
  }

  private findHold(id: string): HoldRow | undefined {
    return this.sql.exec<HoldRow>("SELECT id, qty, status, expires_at, prepared FROM holds WHERE id = ?", id).toArray()[0];
  }

  private pendingGrant(): Transfer | undefined {
    return this.sql.exec<Transfer>("SELECT id, kind, qty FROM transfers WHERE kind = 'grant' AND status = 'pending' LIMIT 1").toArray()[0];
  }

  private version(): number {
    return this.sql.exec<{ v: number | null }>("SELECT max(version) AS v FROM shard").one().v ?? 0;
  }

  private shards(): number {
    return this.sql.exec<{ k: number | null }>("SELECT max(shards) AS k FROM shard").one().k ?? 1;
  }

  private isRetired(): boolean {
    return this.sql.exec<{ r: number | null }>("SELECT max(retired) AS r FROM shard").one().r === 1;
  }

  private setRetired(retired: boolean): void {
    this.ctx.storage.transactionSync(() => {
      if (this.isRetired() === retired) return;
      this.expireDue(Date.now());
      this.sql.exec("UPDATE shard SET retired = ?", retired ? 1 : 0);
      this.append(retired ? "retired" : "enabled", Date.now(), {});
    });
  }

  /** Stores the shard's own name on first use: ctx.id.name is not there when an alarm wakes it. */
  private claim(sku: string, region: string, index: number): void {
    if (this.identity) {
      if (this.identity.sku !== sku || this.identity.region !== region || this.identity.index !== index) {
        throw new Error(`shard ${this.name()} was called as ${shardName(region, sku, index)}`);
      }
      return;
    }
    this.sql.exec("INSERT INTO shard (id, sku, region, shard_index) VALUES (1, ?, ?, ?)", sku, region, index);
    this.identity = { sku, region, index };
  }

  private name(): string {
    return this.identity ? shardName(this.identity.region, this.identity.sku, this.identity.index) : "(unnamed)";
  }

  private nextDeadline(): number | null {
    const row = this.sql
      .exec<{ hold: number | null; terminal: number | null; busy: number }>(
        `SELECT (SELECT min(expires_at) FROM holds WHERE status = 'held') AS hold,
                (SELECT min(updated_at) FROM holds WHERE status IN ('released', 'expired', 'transferred')) AS terminal,
                (SELECT count(*) FROM holds WHERE status = 'transferring') + (SELECT count(*) FROM transfers WHERE status = 'pending') AS busy`,
      )
      .one();
    const candidates = [
      row.busy > 0 ? Date.now() + OUTBOX_RETRY_MS : null,
      row.hold,
      row.terminal === null ? null : row.terminal + TERMINAL_HOLD_RETENTION_MS,
    ].filter((t): t is number => t !== null);
    return candidates.length ? Math.min(...candidates) : null;
  }

  private async scheduleAlarm(at: number): Promise<void> {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    const when = Math.max(at, Date.now() + 1);
    this.alarmAt = when;
    await this.ctx.storage.setAlarm(when);
  }
}

publishAfter(StockShard, ["hold", "confirm", "release", "returnIdle", "retire", "enable", "topUp", "state", "alarm"], (s) => s.readModelPart());
failDuringOutage(StockShard, ["hold", "confirm", "release", "returnIdle", "retire", "enable", "topUp", "state", "alarm"]);
meterCalls(StockShard, ["hold", "confirm", "release", "returnIdle", "retire", "enable", "topUp", "holdStatus", "state", "events", "alarm"]);
