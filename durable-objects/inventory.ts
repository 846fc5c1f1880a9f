// The single writer for one SKU in one region. Every change runs in one synchronous SQLite
// transaction that first materialises due expiries, then checks the invariant
//   held + confirmed <= onHand - safetyStock
// changes state and appends its event. Nothing in the critical section awaits anything; queue
// sends happen after the commit, from the outbox, coalesced over a short window.
//
// The common case comes first: a single-line reservation (most of a flash sale) is kept by this
// object itself, in its hold row, with its token and request hash: decided, recorded and answered
// in one transaction, with no coordinator. A refusal writes nothing. Cart lines come from a
// coordinator (reservation.ts) and are confirmed in two steps, prepare then commit, so nothing
// leaves for a warehouse until the whole cart is a sale.
import { DurableObject } from "cloudflare:workers";
import type { WarehouseEvent } from "../warehouses/contracts";
import type { Env } from "../workers/env";
import {
  applyWarehouseEvent,
  markDispatched,
  recordDispatchFailure,
  startAllocation,
  timeOutAllocations,
  type WarehouseEventOutcome,
} from "./allocation-saga";
import { Escrow, MAX_SHARDS, shardName, type GrantResult, type ShardConfirmResult } from "./escrow";
import { meterCalls, meterStorage } from "./cost-meter";
import { checkShopper, clampExpiry, hasRules, readRules, writeRules, type DropRefusal, type DropRules } from "./drop-rules";
import { publishAfter, type Published } from "./availability-publisher";
import { failDuringOutage } from "./fault-injection";
import { INVENTORY_MIGRATIONS, migrate } from "./inventory-schema";
import {
  archiveChunk, CHUNK_EVENTS, CHUNKS_PER_RUN, EMPTY_AGGREGATE, foldLog, retentionMs, retentionScale, type LogAggregate,
} from "./log-compaction";
import { Outbox } from "./outbox";
import {
  CONFIRM_GRACE_MS, randomToken, sameSecret, singleLineId, type CreateOutcome, type ReservationOutcome, type ReservationView,
} from "./reservation-contract";
import { StockLedger, type EventType, type HoldRow, type Snapshot, type StoredEvent, type Totals } from "./stock-ledger";
import { error, warn } from "../observability/log";

export type { EventType, Snapshot, StoredEvent, Totals } from "./stock-ledger";
export type { WarehouseEventOutcome } from "./allocation-saga";
export type { GrantResult, ShardConfirmResult } from "./escrow";

export interface StockState extends Snapshot {
  warehouses: { warehouse: string; onHand: number; updatedAt: number }[];
  activeHolds: number;
  nextDeadline: number | null;
  /** Sales an operator must look at (e.g. allocated by a warehouse after we gave the units back). */
  attention: { holdId: string; reason: string; seq: number; at: number }[];
  dropRules: DropRules;
  /** The object's database: its size, and the events it holds (the rest is archived). */
  storage: { databaseBytes: number; eventsHeld: number; archivedThrough: number };
}

/** `shards` (when the SKU-region is sharded) and `lentTo` (shards holding lent units) let the
 * reservation coordinator route later holds and pull idle quota back before it refuses one. */
export type HoldResult =
  | { ok: true; holdId: string; qty: number; expiresAt: number; version: number; shards?: number }
  | { ok: false; code: "insufficient_stock"; available: number; version: number; shards?: number; lentTo?: number[] }
  | { ok: false; code: "hold_conflict" | "hold_released" | "hold_expired" | "already_confirmed" | "idempotency_key_reused" }
  | DropRefusal;

export type ConfirmResult =
  | { ok: true; version: number }
  | { ok: false; code: "hold_expired" | "hold_released" | "hold_not_found" };

export type ReleaseResult = { ok: true; version: number } | { ok: false; code: "already_confirmed" };

export interface ReserveRequest {
  /** The reservation's digest (region, storefront, Idempotency-Key): the hold's id here. */
  digest: string;
  requestHash: string;
  qty: number;
  ttlSeconds: number;
  /** The storefront making it (a digest of its key): only that storefront may read or change it. */
  storefront?: string;
  /** Who is making it (a key derived from the shopper's pseudonym), for the drop rules. */
  shopper?: string;
  /** The request's traceparent: its hold and events carry it to the queues and Postgres. */
  trace?: string;
}

/** `sharded`: this SKU-region sells from several objects; the caller goes through a coordinator. */
export type ReserveOutcome = CreateOutcome | { ok: false; code: "sharded"; shards: number };

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
  trace?: string;
}

/** How soon the alarm retries events that the queue refused. */
export const OUTBOX_RETRY_MS = 5_000;
/**
 * After every write the alarm is due within this, unless it already is: the safety net that sends
 * events if this process dies between a commit and its send (which normally follows within
 * SEND_WINDOW_MS). A busy object sets it once per window, not once per write.
 */
export const OUTBOX_SAFETY_MS = 30_000;
export const DEFAULT_ALLOCATION_TIMEOUT_SECONDS = 900;
/** A compaction whose archive write failed is tried again this much later. */
const COMPACTION_RETRY_MS = 5 * 60_000;
const IDEMPOTENCY_RETENTION_MS = 48 * 3600_000; // the API promises at least 24 h
const TERMINAL_HOLD_RETENTION_MS = 8 * 24 * 3600_000; // outlives the reservation records (7 days)
const TERMINAL = "('released', 'expired', 'reverted', 'shipped')";

/** What one compaction run did (see log-compaction.ts). */
export interface CompactionResult {
  archived: number;
  chunks: string[];
  archivedThrough: number;
  /** Why it stopped before the retention window's end, if it did. */
  stopped?: string;
}

/** A page of the event log as this object still holds it, and where older events went. */
export interface EventLogPage {
  events: StoredEvent[];
  /** Events 1..archivedThrough were archived to R2 and dropped here (0: none). */
  archivedThrough: number;
  snapshot: LogAggregate | null;
}

export function inventoryName(region: string, sku: string): string {
  return `${region}:${sku}`;
}

export class InventoryObject extends DurableObject<Env> {
  private sql: SqlStorage;
  private ledger!: StockLedger;
  private escrow!: Escrow;
  private outbox: Outbox;
  private sendPosition = { sent: 0 };
  private alarmAt: number | null = null;
  private compacting: Promise<CompactionResult> | null = null;
  /** After a compaction that could not archive, the next try waits until then. */
  private compactionRetryAt = 0;
  private readonly idempotencyRetention: number;
  private readonly endedHoldRetention: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = meterStorage(ctx.storage);
    this.idempotencyRetention = IDEMPOTENCY_RETENTION_MS / retentionScale(env);
    this.endedHoldRetention = TERMINAL_HOLD_RETENTION_MS / retentionScale(env);
    this.outbox = new Outbox(
      this.sql,
      { events: env.INVENTORY_EVENTS, dispatch: env.WAREHOUSE_DISPATCH },
      () => this.ledger?.identity ?? null,
      (p) => ctx.waitUntil(p),
      this.sendPosition,
      () => void this.scheduleAlarm(Date.now() + OUTBOX_RETRY_MS),
    );
    ctx.blockConcurrencyWhile(async () => {
      migrate(this.sql, INVENTORY_MIGRATIONS);
      this.ledger = new StockLedger(this.sql, this.sendPosition);
      this.escrow = new Escrow(this.sql, this.ledger);
      this.alarmAt = await ctx.storage.getAlarm();
      // Events committed before a restart but never sent go out now (the alarm would also get them).
      void this.outbox.flush();
    });
  }

  // ------------------------------------------------------------------ single-line reservations

  /**
   * A shopper holds `qty` units: decided, recorded (hold row with token and request hash, event)
   * and answered here in one transaction. A retry with the same digest and request replays the
   * reservation; another request under the same digest is refused. A refusal writes nothing.
   */
  async reserve(sku: string, region: string, req: ReserveRequest): Promise<ReserveOutcome> {
    let placed = false;
    const id = singleLineId(req.digest, sku);
    const outcome = this.traced(req.trace, (): ReserveOutcome => {
      const refused = (available: number): ReserveOutcome => ({ ok: false, code: "insufficient_stock", lines: [{ sku, requested: req.qty, available }] });
      // A SKU never stocked here is simply unavailable; asking must not create the SKU-region.
      if (!this.ledger.identity) return refused(0);
      this.ledger.claimIdentity(sku, region);
      const existing = this.ledger.findHold(id);
      if (existing) {
        if (existing.request_hash !== req.requestHash) return { ok: false, code: "idempotency_key_reused" };
        return { ok: true, reservation: { ...this.viewOf(existing), status: "held" }, token: existing.token! };
      }
      // The same key already holds a line of a cart here: not this request's reservation.
      if (this.ledger.findHold(req.digest)) return { ok: false, code: "idempotency_key_reused" };
      const shards = this.ledger.shardCount();
      if (shards > 1) return { ok: false, code: "sharded", shards };
      const now = Date.now();
      // The drop's rules first: a shopper over their limit is refused whatever the stock.
      const rules = readRules(this.sql);
      const breach = checkShopper(this.sql, rules, req.shopper, req.qty, now);
      if (breach) return { ...breach, sku };
      // Holds past their expiry no longer count (totals(now)); they are recorded by the next write.
      const { available } = this.ledger.totals(now);
      if (available < req.qty) return refused(available);
      this.ledger.expireDue(now);
      const expiresAt = clampExpiry(rules, now, now + req.ttlSeconds * 1000);
      const token = randomToken();
      this.ledger.insertHold(id, req.qty, "held", expiresAt, now, { token, requestHash: req.requestHash, storefront: req.storefront, shopper: req.shopper });
      this.ledger.append("hold_placed", now, { holdId: id, qty: req.qty, expiresAt });
      placed = true;
      return { ok: true, reservation: this.viewOf(this.ledger.findHold(id)!), token };
    });
    if (placed && outcome.ok) await this.afterWrite(outcome.reservation.expiresAt);
    return outcome;
  }

  async reservation(id: string, token: string, storefront?: string): Promise<ReservationOutcome> {
    const hold = this.ledger.findHold(id);
    const denied = this.checkToken(hold, token, storefront);
    return denied ?? { ok: true, reservation: this.viewOf(hold!) };
  }

  /** The hold becomes a sale and its warehouse is told (through the outbox), in one transaction. */
  async confirmReservation(id: string, token: string, storefront?: string, trace?: string): Promise<ReservationOutcome> {
    return this.changeReservation(id, token, storefront, trace, (hold, now) => {
      if (hold.confirmed_at !== null) return { ok: true, reservation: this.viewOf(hold) };
      if (hold.status === "expired") return { ok: false, code: "hold_expired", reservation: this.viewOf(hold) };
      if (hold.status !== "held") return { ok: false, code: "reservation_released" };
      this.sell(hold, now);
      return { ok: true, reservation: this.viewOf(hold) };
    });
  }

  async releaseReservation(id: string, token: string, storefront?: string, trace?: string): Promise<ReservationOutcome> {
    return this.changeReservation(id, token, storefront, trace, (hold, now) => {
      if (hold.confirmed_at !== null) return { ok: false, code: "already_confirmed" };
      if (hold.status === "held") {
        this.ledger.setHoldStatus(hold, "released", now);
        this.ledger.append("hold_released", now, { holdId: id, qty: hold.qty });
      }
      return { ok: true, reservation: this.viewOf(hold) };
    });
  }

  /**
   * Checks the caller may change single-line reservation `id`, then runs `change` on its hold in
   * one transaction, after due expiries are recorded (so a lapsed hold reads as expired).
   */
  private async changeReservation(
    id: string, token: string, storefront: string | undefined, trace: string | undefined, change: (hold: HoldRow, now: number) => ReservationOutcome,
  ): Promise<ReservationOutcome> {
    let denied = false;
    const outcome = this.traced(trace, (): ReservationOutcome => {
      const refusal = this.checkToken(this.ledger.findHold(id), token, storefront);
      if (refusal) {
        denied = true;
        return refusal;
      }
      const now = Date.now();
      this.ledger.expireDue(now);
      return change(this.ledger.findHold(id)!, now);
    });
    if (!denied) await this.afterWrite();
    return outcome;
  }

  // ------------------------------------------------------------------ cart lines (from a coordinator)

  /** `shopper`: who makes the cart (for the drop rules); the answer's expiresAt may be shorter. */
  async hold(sku: string, region: string, holdId: string, qty: number, requestedExpiry: number, shopper?: string, trace?: string): Promise<HoldResult> {
    let expiresAt = requestedExpiry;
    const result = this.traced(trace, (): HoldResult => {
      const now = Date.now();
      // A SKU never stocked here is simply unavailable; holding it must not create the SKU-region.
      if (!this.ledger.identity) return { ok: false, code: "insufficient_stock", available: 0, version: 0 };
      this.ledger.claimIdentity(sku, region);
      this.ledger.expireDue(now);
      const existing = this.ledger.findHold(holdId);
      // The same Idempotency-Key made a single-line reservation of this SKU: not this cart's hold.
      if (this.ledger.findHold(singleLineId(holdId, sku))) return { ok: false, code: "idempotency_key_reused" };
      if (existing) return this.replayHold(existing);
      const rules = readRules(this.sql);
      const breach = checkShopper(this.sql, rules, shopper, qty, now);
      if (breach) return breach;
      expiresAt = clampExpiry(rules, now, requestedExpiry, CONFIRM_GRACE_MS);
      const totals = this.ledger.totals(now);
      const shards = this.ledger.shardCount();
      const routing = shards > 1 ? { shards } : {};
      if (totals.available < qty) {
        const lentTo = totals.granted ? { lentTo: this.escrow.lentTo() } : {};
        return { ok: false, code: "insufficient_stock", available: totals.available, version: this.ledger.version(), ...routing, ...lentTo };
      }
      this.ledger.insertHold(holdId, qty, "held", expiresAt, now, { shopper });
      const version = this.ledger.append("hold_placed", now, { holdId, qty, expiresAt });
      return { ok: true, holdId, qty, expiresAt, version, ...routing };
    });
    if (result.ok) await this.afterWrite(expiresAt);
    return result;
  }

  /** A one-line cart's confirm (a sharded SKU's line, through a coordinator): a sale at once. */
  async confirm(holdId: string, trace?: string): Promise<ConfirmResult> {
    return this.advanceLine(holdId, "confirmed", trace);
  }

  /**
   * First step of a cart's confirm: the line counts as sold from now on, but nothing leaves for a
   * warehouse, and the line can still be reverted, until its coordinator commits the cart.
   */
  async prepare(holdId: string, trace?: string): Promise<ConfirmResult> {
    return this.advanceLine(holdId, "prepared", trace);
  }

  /** Second step: every line of the cart is prepared, so this one is a sale; its warehouse is told. */
  async commit(holdId: string, trace?: string): Promise<ConfirmResult> {
    const result = this.traced(trace, (): ConfirmResult => {
      const now = Date.now();
      this.ledger.expireDue(now);
      const hold = this.ledger.findHold(holdId);
      if (hold?.confirmed_at != null) return { ok: true, version: this.ledger.version() };
      // Only a prepared line can be committed; the coordinator never commits anything else.
      if (!hold || hold.status !== "prepared") return { ok: false, code: hold?.status === "expired" ? "hold_expired" : "hold_not_found" };
      return { ok: true, version: this.sell(hold, now) };
    });
    await this.afterWrite();
    return result;
  }

  async release(holdId: string, trace?: string): Promise<ReleaseResult> {
    const result = this.traced(trace, (): ReleaseResult => {
      const now = Date.now();
      this.ledger.expireDue(now);
      const hold = this.ledger.findHold(holdId);
      if (!hold) {
        // The hold may still be in flight from a caller that gave up: make sure it can never land.
        this.ledger.insertHold(holdId, 0, "released", now, now);
        return { ok: true, version: this.ledger.version() };
      }
      if (hold.status === "confirmed" || hold.status === "shipped" || hold.status === "prepared") return { ok: false, code: "already_confirmed" };
      // A single-line reservation under the same id is not a cart's line: a cart never releases it.
      if (hold.status !== "held" || hold.token !== null) return { ok: true, version: this.ledger.version() };
      this.ledger.setHoldStatus(hold, "released", now);
      return { ok: true, version: this.ledger.append("hold_released", now, { holdId, qty: hold.qty }) };
    });
    await this.afterWrite();
    return result;
  }

  /** A cart line held here moves on: prepared (a cart's first step) or confirmed (a sale). */
  private async advanceLine(holdId: string, to: "prepared" | "confirmed", trace: string | undefined): Promise<ConfirmResult> {
    const result = this.traced(trace, (): ConfirmResult => {
      const now = Date.now();
      this.ledger.expireDue(now);
      const hold = this.ledger.findHold(holdId);
      if (!hold || hold.token !== null) return { ok: false, code: "hold_not_found" };
      if (hold.confirmed_at !== null || hold.status === to) return { ok: true, version: this.ledger.version() };
      if (hold.status === "expired") return { ok: false, code: "hold_expired" };
      if (hold.status !== "held") return { ok: false, code: "hold_released" };
      if (to === "confirmed") return { ok: true, version: this.sell(hold, now) };
      this.ledger.setHoldStatus(hold, "prepared", now);
      return { ok: true, version: this.ledger.append("hold_prepared", now, { holdId, qty: hold.qty }) };
    });
    await this.afterWrite();
    return result;
  }

  /**
   * The hold becomes a sale: its warehouse is chosen, its allocation clock starts, and
   * `hold_confirmed` puts it in the dispatch outbox. Returns the event's sequence number.
   */
  private sell(hold: HoldRow, now: number): number {
    this.ledger.setHoldStatus(hold, "confirmed", now);
    const saga = startAllocation(this.ledger, hold, now, this.allocationTimeoutMs());
    return this.ledger.append("hold_confirmed", now, { holdId: hold.id, qty: hold.qty, ...(hold.shard !== null && { shard: hold.shard }), ...saga });
  }

  /**
   * A cart that will not be a sale: a prepared line goes back on sale (nothing of it ever left for
   * a warehouse). A committed sale is never reverted.
   */
  async revertConfirmation(holdId: string, trace?: string): Promise<{ ok: boolean }> {
    const result = this.traced(trace, () => {
      const now = Date.now();
      this.ledger.expireDue(now);
      const hold = this.ledger.findHold(holdId);
      if (!hold || hold.status !== "prepared") return { ok: hold?.status === "reverted" };
      this.ledger.setHoldStatus(hold, "reverted", now);
      this.ledger.setAllocation(hold, null, null);
      this.ledger.append("confirmation_reverted", now, { holdId, qty: hold.qty });
      return { ok: true };
    });
    await this.afterWrite();
    return result;
  }

  // ------------------------------------------------------------------ operator and warehouse writes

  async setStock(req: SetStockRequest): Promise<SetStockResult> {
    const result = this.traced(req.trace, (): SetStockResult => {
      const now = Date.now();
      if (req.idempotencyKey) {
        const seen = this.ledger.seen<SetStockResult>(`admin:${req.idempotencyKey}`, req.requestHash ?? "");
        if (seen) return "reused" in seen ? { ok: false, code: "idempotency_key_reused" } : seen.replay;
      }
      this.ledger.claimIdentity(req.sku, req.region);
      // The version a caller could have read: holds that lapsed since are recorded after the check.
      const version = this.ledger.version();
      let result: SetStockResult;
      if (req.expectedVersion !== undefined && req.expectedVersion !== version) {
        result = { ok: false, code: "version_conflict", currentVersion: version };
      } else {
        this.ledger.expireDue(now);
        this.ledger.setOnHand(req.warehouse, req.onHand, now);
        if (req.safetyStock !== undefined) this.sql.exec("UPDATE sku_region SET safety_stock = ?", req.safetyStock);
        const safetyStock = this.sql.exec<{ s: number }>("SELECT safety_stock AS s FROM sku_region").one().s;
        this.ledger.append("stock_set", now, { warehouse: req.warehouse, onHand: req.onHand, safetyStock });
        result = { ok: true, snapshot: this.ledger.snapshot(now) };
      }
      // Operators' keys and warehouses' event ids ("warehouse:<id>:<event>") never share a name.
      if (req.idempotencyKey) this.ledger.remember(`admin:${req.idempotencyKey}`, req.requestHash ?? "", result, now);
      return result;
    });
    await this.afterWrite();
    this.reclaimIfOverLent();
    return result;
  }

  /**
   * A warehouse's report (count, receipt, damage, allocation, shipment), applied exactly once: its
   * event id is remembered in the same transaction as the change it makes.
   */
  async warehouseEvent(
    sku: string, region: string, warehouse: string, eventId: string, event: WarehouseEvent, trace?: string,
  ): Promise<WarehouseEventOutcome & { duplicate?: boolean }> {
    const result = this.traced(trace, (): WarehouseEventOutcome & { duplicate?: boolean } => {
      const now = Date.now();
      const key = `warehouse:${warehouse}:${eventId}`;
      const requestHash = JSON.stringify(event);
      const seen = this.ledger.seen<WarehouseEventOutcome>(key, requestHash);
      if (seen) return "reused" in seen ? { ok: true, result: "ignored", detail: "event id reused with another body", version: this.ledger.version(), duplicate: true } : { ...seen.replay, duplicate: true };
      this.ledger.claimIdentity(sku, region);
      this.ledger.expireDue(now);
      const outcome = applyWarehouseEvent(this.ledger, warehouse, event, now);
      if (outcome.ok) this.ledger.remember(key, requestHash, outcome, now);
      return outcome;
    });
    await this.afterWrite();
    this.reclaimIfOverLent();
    return result;
  }

  async markDispatched(holdId: string, deliveryId: string, trace?: string): Promise<void> {
    this.traced(trace, () => markDispatched(this.ledger, holdId, deliveryId, Date.now()));
    await this.afterWrite();
  }

  async dispatchFailed(holdId: string, reason: string, trace?: string): Promise<void> {
    this.traced(trace, () => recordDispatchFailure(this.ledger, holdId, reason, Date.now()));
    await this.afterWrite();
  }

  /**
   * Sets the drop rules (null: no such rule). Refused while the SKU-region is split into shards.
   * Holds already placed stay as they are; the rules apply to every hold placed from now on.
   */
  async setDropRules(sku: string, region: string, rules: DropRules): Promise<{ ok: true; rules: DropRules; version: number } | { ok: false; code: "sharded"; shards: number }> {
    const result = this.ctx.storage.transactionSync(() => {
      this.ledger.claimIdentity(sku, region);
      const shards = this.ledger.shardCount();
      if (shards > 1 && hasRules(rules)) return { ok: false as const, code: "sharded" as const, shards };
      writeRules(this.sql, rules);
      const version = this.ledger.append("drop_rules_set", Date.now(), { ...rules });
      return { ok: true as const, rules, version };
    });
    await this.afterWrite();
    return result;
  }

  // ------------------------------------------------------------------ stock shards (escrow.ts)

  /** Splits the SKU-region into `k` sellers (1 = this object alone). See applyShardCount. */
  async setShards(sku: string, region: string, k: number, cause: "operator" | "overload" = "operator", ifCurrent?: number) {
    if (!Number.isInteger(k) || k < 1 || k > MAX_SHARDS) throw new RangeError(`shards must be 1..${MAX_SHARDS}, got ${k}`);
    const result = this.ctx.storage.transactionSync(() => {
      this.ledger.claimIdentity(sku, region);
      // Shards would each count only their own holds against the drop rules: a SKU-region with
      // rules stays one object (the admin route refuses; an overload does not split it).
      if (k > 1 && hasRules(readRules(this.sql))) {
        const previous = this.ledger.shardCount();
        return { shards: previous, previous, changed: false };
      }
      this.ledger.expireDue(Date.now());
      return this.escrow.setShards(k, Date.now(), cause, ifCurrent);
    });
    await this.afterWrite();
    return result;
  }

  async grantQuota(sku: string, region: string, shard: number, transferId: string, want: number, exact = false): Promise<GrantResult> {
    const result = this.ctx.storage.transactionSync((): GrantResult => {
      if (!this.ledger.identity) return { granted: 0, shards: 1, inService: false };
      this.ledger.claimIdentity(sku, region);
      return this.escrow.grant(shard, transferId, Math.max(0, Math.floor(want)), exact, Date.now());
    });
    if (result.granted > 0) await this.afterWrite();
    return result;
  }

  async returnQuota(sku: string, region: string, shard: number, transferId: string, qty: number) {
    const result = this.ctx.storage.transactionSync(() => {
      this.ledger.claimIdentity(sku, region);
      this.ledger.expireDue(Date.now());
      return this.escrow.takeBack(shard, transferId, qty, Date.now());
    });
    await this.afterWrite();
    return result;
  }

  /** A shard hands over a sale (`prepared`: a cart line, committed later like any other). */
  async confirmFromShard(
    sku: string, region: string, shard: number, holdId: string, qty: number, prepared = false, trace?: string,
  ): Promise<ShardConfirmResult> {
    const result = this.traced(trace, () => {
      this.ledger.claimIdentity(sku, region);
      const now = Date.now();
      this.ledger.expireDue(now);
      return this.escrow.confirmSale(shard, holdId, qty, now, this.allocationTimeoutMs(), prepared);
    });
    if (!result.ok) error("shard_sale_refused", { region, sku, shard, reservation: holdId, detail: result.detail, trace });
    await this.afterWrite();
    return result;
  }

  /**
   * After the warehouse's stock fell below what is held, sold and lent: ask the shards for their
   * idle units back, after the commit and without holding up the caller (like the outbox).
   */
  private reclaimIfOverLent(): void {
    const id = this.ledger.identity;
    const shards = id ? this.escrow.overLentTo(Date.now()) : [];
    if (!id || shards.length === 0) return;
    const calls = shards.map((i) => this.env.STOCK_SHARDS.get(this.env.STOCK_SHARDS.idFromName(shardName(id.region, id.sku, i))).returnIdle());
    this.ctx.waitUntil(Promise.allSettled(calls).then((settled) => {
      const failed = settled.filter((s) => s.status === "rejected").length;
      if (failed) warn("shards_kept_idle_units", { region: id.region, sku: id.sku, shards: failed, retry: "the next stock write or alarm asks again" });
    }));
  }

  /** Units lent to each shard (for operators and tests). */
  async quotaGrants(): Promise<{ shards: number; granted: number; grants: { shard: number; granted: number }[] }> {
    const granted = this.sql.exec<{ g: number | null }>("SELECT granted AS g FROM sku_region").toArray()[0]?.g ?? 0;
    return { shards: this.ledger.shardCount(), granted, grants: this.escrow.grants() };
  }

  // ------------------------------------------------------------------ reads

  async snapshot(sku: string, region: string): Promise<Snapshot> {
    if (!this.ledger.identity) return { sku, region, onHand: 0, held: 0, confirmed: 0, safetyStock: 0, available: 0, version: 0 };
    return this.ledger.snapshot(Date.now());
  }

  /** This SKU-region's entry in the read model (availability-publisher.ts); null if never stocked. */
  readModelPart(): Published | null {
    const id = this.ledger.identity;
    if (!id) return null;
    const now = Date.now();
    const s = this.ledger.snapshot(now);
    return { region: id.region, part: { sku: id.sku, part: 0, available: s.available, version: s.version, shards: s.shards ?? 1, at: now } };
  }

  async state(sku: string, region: string): Promise<StockState> {
    const now = Date.now();
    const snapshot = await this.snapshot(sku, region);
    const warehouses = this.sql
      .exec<{ warehouse: string; on_hand: number; updated_at: number }>("SELECT warehouse, on_hand, updated_at FROM warehouse_stock ORDER BY warehouse")
      .toArray()
      .map((w) => ({ warehouse: w.warehouse, onHand: w.on_hand, updatedAt: w.updated_at }));
    const activeHolds = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM holds WHERE status = 'held' AND expires_at > ?", now).one().n;
    const attention = this.sql
      .exec<{ hold_id: string; reason: string; seq: number; at: number }>("SELECT hold_id, reason, seq, at FROM attention ORDER BY seq")
      .toArray()
      .map((a) => ({ holdId: a.hold_id, reason: a.reason, seq: a.seq, at: a.at }));
    const log = this.sql.exec<{ n: number; a: number | null }>("SELECT (SELECT count(*) FROM events) AS n, (SELECT max(archived_seq) FROM sku_region) AS a").one();
    const storage = { databaseBytes: this.ctx.storage.sql.databaseSize, eventsHeld: log.n, archivedThrough: log.a ?? 0 };
    return { ...snapshot, warehouses, activeHolds, nextDeadline: this.nextDeadline(), attention, dropRules: readRules(this.sql), storage };
  }

  /** Whether this object has a hold (or its tombstone) under `holdId`, and in what status. */
  async holdStatus(holdId: string): Promise<string | null> {
    return this.ledger.findHold(holdId)?.status ?? null;
  }

  /**
   * One sale line as the saga sees it (for the dispatch consumer, operators and tests). `stands`:
   * it is a committed sale that its warehouse still has to allocate or ship.
   */
  async sale(holdId: string): Promise<(Pick<HoldRow, "id" | "qty" | "status" | "warehouse" | "allocation" | "allocation_due_at"> & { stands: boolean }) | null> {
    const hold = this.ledger.findHold(holdId);
    if (!hold) return null;
    const stands = hold.status === "confirmed";
    return { id: hold.id, qty: hold.qty, status: hold.status, warehouse: hold.warehouse, allocation: hold.allocation, allocation_due_at: hold.allocation_due_at, stands };
  }

  /** Sends every event after `after` to the system of record again (duplicates are skipped there). */
  async resend(after: number): Promise<{ queued: number }> {
    const queued = this.ctx.storage.transactionSync(() => this.outbox.requeue(after));
    await this.afterWrite();
    return { queued };
  }

  /**
   * Reconcile found Postgres disagreeing with this object: listed in `attention` for operators, once
   * per reason (no event: nothing in this object changed). Returns whether it was new.
   */
  async raiseAttention(reason: string, holdId = ""): Promise<boolean> {
    if (this.sql.exec("SELECT 1 FROM attention WHERE hold_id = ? AND reason = ?", holdId, reason).toArray().length) return false;
    this.ctx.storage.transactionSync(() => this.ledger.needsAttention(holdId, reason, this.ledger.version(), Date.now()));
    return true;
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
    // The caller read the projection at `projectedVersion`: events up to it are in Postgres, which
    // is what log compaction waits for.
    if (this.ledger.identity && projectedVersion > 0) {
      this.sql.exec("UPDATE sku_region SET projected_seq = ? WHERE projected_seq < ?", projectedVersion, projectedVersion);
      const due = this.compactionDue();
      if (due !== null) await this.scheduleAlarm(due);
    }
    const last = this.sql.exec<{ seq: number; payload: string }>("SELECT seq, payload FROM events ORDER BY seq DESC LIMIT 1").toArray()[0];
    const next = this.sql.exec<{ at: number }>("SELECT at FROM events WHERE seq = ?", projectedVersion + 1).toArray()[0];
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

  /** The log from `after` on, as far as it is still held here, and where the older part went. */
  async eventLog(after: number, limit: number): Promise<EventLogPage> {
    const archivedThrough = this.sql.exec<{ a: number | null }>("SELECT max(archived_seq) AS a FROM sku_region").one().a ?? 0;
    const snapshot = this.sql.exec<{ state: string }>("SELECT state FROM log_snapshot").toArray()[0];
    return { events: await this.events(Math.max(after, archivedThrough), limit), archivedThrough, snapshot: snapshot ? (JSON.parse(snapshot.state) as LogAggregate) : null };
  }

  /**
   * Archives and drops events older than `retention` (default EVENT_RETENTION_DAYS) that Postgres
   * and the outbox are past, in chunks, keeping the last event. Runs from the alarm; operators and
   * tests may run it now. Without an ARCHIVE bucket nothing is dropped.
   */
  async compact(retention = retentionMs(this.env), chunkEvents = CHUNK_EVENTS): Promise<CompactionResult> {
    this.compacting ??= this.compactChunks(retention, chunkEvents).finally(() => (this.compacting = null));
    return this.compacting;
  }

  async events(after: number, limit: number): Promise<StoredEvent[]> {
    return this.sql
      .exec<{ seq: number; type: EventType; at: number; payload: string }>("SELECT seq, type, at, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?", after, limit)
      .toArray()
      .map((e) => ({ seq: e.seq, type: e.type, at: e.at, payload: JSON.parse(e.payload) }));
  }

  // ------------------------------------------------------------------ alarm

  private async compactChunks(retention: number, chunkEvents: number): Promise<CompactionResult> {
    const archived = () => this.sql.exec<{ a: number | null }>("SELECT max(archived_seq) AS a FROM sku_region").one().a ?? 0;
    const result: CompactionResult = { archived: 0, chunks: [], archivedThrough: archived() };
    const id = this.ledger.identity;
    if (!id) return result;
    if (!this.env.ARCHIVE) return { ...result, stopped: "no ARCHIVE bucket is bound: events are kept" };
    for (let run = 0; run < CHUNKS_PER_RUN; run++) {
      const from = archived();
      const limit = this.compactableThrough();
      const cutoff = Date.now() - retention;
      const candidates = await this.events(from, Math.min(chunkEvents, Math.max(0, limit - from)));
      const old = candidates.findIndex((e) => e.at > cutoff);
      const chunk = old < 0 ? candidates : candidates.slice(0, old);
      if (chunk.length === 0) break;
      const written = await archiveChunk(this.env.ARCHIVE, id.region, id.sku, chunk);
      if (!written.ok) {
        error("archive_failed", { region: id.region, sku: id.sku, detail: written.reason, retry: `in ${COMPACTION_RETRY_MS / 60_000} minutes` });
        this.compactionRetryAt = Date.now() + COMPACTION_RETRY_MS;
        return { ...result, stopped: written.reason };
      }
      this.ctx.storage.transactionSync(() => {
        // The chunk is in the archive and in Postgres: keep its aggregate, drop its events.
        const previous = this.sql.exec<{ state: string }>("SELECT state FROM log_snapshot").toArray()[0];
        const aggregate = foldLog(previous ? (JSON.parse(previous.state) as LogAggregate) : EMPTY_AGGREGATE, chunk);
        const to = chunk.at(-1)!.seq;
        this.sql.exec(
          "INSERT INTO log_snapshot (id, seq, at, state, archive_key) VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, at = excluded.at, state = excluded.state, archive_key = excluded.archive_key",
          to, aggregate.at, JSON.stringify(aggregate), written.key,
        );
        this.sql.exec("DELETE FROM events WHERE seq <= ?", to);
        this.sql.exec("UPDATE sku_region SET archived_seq = ?", to);
      });
      result.archived += chunk.length;
      result.chunks.push(written.key);
      result.archivedThrough = chunk.at(-1)!.seq;
      if (old >= 0) break; // the rest is younger than the retention window
    }
    return result;
  }

  /** The last event that may leave: in Postgres, sent, and not the newest (it carries the version). */
  private compactableThrough(): number {
    const row = this.sql
      .exec<{ projected: number; sent: number; version: number }>("SELECT projected_seq AS projected, sent_seq AS sent, version FROM sku_region")
      .toArray()[0];
    if (!row) return 0;
    return Math.min(row.projected, Math.max(row.sent, this.sendPosition.sent), row.version - 1);
  }

  /** When the oldest event that may leave is past the retention window (null: none may, or no archive). */
  private compactionDue(): number | null {
    if (!this.env.ARCHIVE) return null;
    const limit = this.compactableThrough();
    const next = this.sql.exec<{ at: number }>("SELECT at FROM events WHERE seq = (SELECT archived_seq + 1 FROM sku_region) AND seq <= ?", limit).toArray()[0];
    return next ? Math.max(next.at + retentionMs(this.env), this.compactionRetryAt) : null;
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      this.outbox.persistPosition();
      this.ledger.expireDue(now);
      const overdue = this.ledger.holdsWithAllocationDue(now);
      timeOutAllocations(this.ledger, overdue, now);
      this.sql.exec("DELETE FROM idempotency WHERE created_at <= ?", now - this.idempotencyRetention);
      this.escrow.forgetOldTransfers(now);
      this.sql.exec(`DELETE FROM holds WHERE status IN ${TERMINAL} AND updated_at <= ?`, now - this.endedHoldRetention);
    });
    await this.outbox.flush();
    // An idle object stores how far it sent now (a busy one does so with its next write).
    this.outbox.persistPosition();
    this.reclaimIfOverLent();
    const compactAt = this.compactionDue();
    if (compactAt !== null && compactAt <= Date.now()) await this.compact();
    const next = this.nextDeadline();
    if (next !== null) await this.scheduleAlarm(next);
  }

  // ------------------------------------------------------------------ internals

  /** A single-line reservation kept here, as its shopper sees it. */
  private viewOf(hold: HoldRow): ReservationView {
    const { sku, region } = this.ledger.identity!;
    let status: ReservationView["status"];
    if (hold.confirmed_at !== null) status = "confirmed";
    else if (hold.status === "released") status = "released";
    else if (hold.status === "held" && Date.now() < hold.expires_at) status = "held";
    else status = "expired";
    return {
      id: hold.id, // the reservation's id: its digest, a dot and this SKU
      region,
      status,
      lines: [{ sku, qty: hold.qty }],
      createdAt: hold.created_at,
      expiresAt: hold.expires_at,
      ...(hold.confirmed_at !== null && { confirmedAt: hold.confirmed_at }),
      ...(status === "released" && { releasedAt: hold.updated_at }),
    };
  }

  /** Another storefront's reservation does not exist for the caller, token or not. */
  private checkToken(hold: HoldRow | undefined, token: string, storefront?: string): Extract<ReservationOutcome, { ok: false }> | null {
    if (!hold || hold.token === null) return { ok: false, code: "reservation_not_found" };
    if (storefront !== undefined && hold.storefront !== null && hold.storefront !== storefront) return { ok: false, code: "reservation_not_found" };
    return sameSecret(hold.token, token) ? null : { ok: false, code: "invalid_token" };
  }

  private replayHold(hold: HoldRow): HoldResult {
    switch (hold.status) {
      case "held":
        return { ok: true, holdId: hold.id, qty: hold.qty, expiresAt: hold.expires_at, version: this.ledger.version() };
      case "prepared":
      case "confirmed":
      case "shipped":
        return { ok: false, code: "already_confirmed" };
      case "expired":
        return { ok: false, code: "hold_expired" };
      default:
        return { ok: false, code: "hold_released" };
    }
  }

  private allocationTimeoutMs(): number {
    const seconds = Number(this.env.ALLOCATION_TIMEOUT_SECONDS ?? DEFAULT_ALLOCATION_TIMEOUT_SECONDS);
    return (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_ALLOCATION_TIMEOUT_SECONDS) * 1000;
  }

  private nextDeadline(): number | null {
    const row = this.sql
      .exec<{ hold: number | null; allocation: number | null; idem: number | null; terminal: number | null }>(
        `SELECT
           (SELECT min(expires_at) FROM holds WHERE status = 'held') AS hold,
           (SELECT min(allocation_due_at) FROM holds) AS allocation,
           (SELECT min(created_at) FROM idempotency) AS idem,
           (SELECT min(updated_at) FROM holds WHERE status IN ${TERMINAL}) AS terminal`,
      )
      .one();
    const candidates = [
      this.outbox.hasUnsent() ? Date.now() + OUTBOX_RETRY_MS : null,
      this.compactionDue(),
      row.hold,
      row.allocation,
      row.idem === null ? null : row.idem + this.idempotencyRetention,
      row.terminal === null ? null : row.terminal + this.endedHoldRetention,
    ].filter((t): t is number => t !== null);
    return candidates.length ? Math.min(...candidates) : null;
  }

  /**
   * After a commit: make sure the alarm fires by `deadline` (a hold's expiry) and by the outbox's
   * safety net, rewriting it only when that is earlier than it already is; then send, coalesced.
   * The alarm recomputes every later deadline when it fires.
   */
  private async afterWrite(deadline = Infinity): Promise<void> {
    await this.scheduleAlarm(Math.min(deadline, Date.now() + OUTBOX_SAFETY_MS));
    this.outbox.flushSoon();
  }

  /**
   * One synchronous transaction on behalf of the request traced by `trace`: the events it appends
   * and the holds it places carry that traceparent. Synchronous, so no other request can interleave.
   */
  private traced<T>(trace: string | undefined, fn: () => T): T {
    this.ledger.trace = trace ?? null;
    try {
      return this.ctx.storage.transactionSync(fn);
    } finally {
      this.ledger.trace = null;
    }
  }

  /** One alarm per object, always at the earliest deadline; only storage calls here. */
  private async scheduleAlarm(at: number): Promise<void> {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    const when = Math.max(at, Date.now() + 1);
    this.alarmAt = when;
    await this.ctx.storage.setAlarm(when);
  }
}

// The read model hears of every committed change (and of reads that wake an object it may not know).
publishAfter(InventoryObject, [
  "reserve", "confirmReservation", "releaseReservation", "hold", "confirm", "prepare", "commit", "release",
  "revertConfirmation", "setStock", "warehouseEvent", "markDispatched", "dispatchFailed", "setShards",
  "grantQuota", "returnQuota", "confirmFromShard", "snapshot", "recordedState", "alarm",
], (o) => o.readModelPart());
failDuringOutage(InventoryObject, [
  "reserve", "reservation", "confirmReservation", "releaseReservation", "hold", "confirm", "prepare", "commit",
  "release", "revertConfirmation", "setStock", "warehouseEvent", "snapshot", "state", "alarm",
]);

meterCalls(InventoryObject, [
  "reserve", "reservation", "confirmReservation", "releaseReservation",
  "hold", "confirm", "prepare", "commit", "release", "revertConfirmation",
  "setStock", "setDropRules", "warehouseEvent", "markDispatched", "dispatchFailed",
  "setShards", "grantQuota", "returnQuota", "confirmFromShard", "quotaGrants",
  "snapshot", "state", "sale", "holdStatus", "resend", "recordedState", "events", "eventLog", "compact", "alarm",
]);
