// The books of one SKU-region, over its SQLite tables: totals, holds, the append-only event log
// and its outbox. Every method is synchronous and meant to run inside the object's
// transactionSync, so a change, its event and its outbox rows commit together or not at all.

export type EventType =
  | "stock_set"
  | "stock_counted"
  | "stock_received"
  | "stock_damaged"
  | "hold_placed"
  // A cart line that is confirmed only once every line of its cart is (prepare, then commit):
  // it counts as sold, but nothing leaves for a warehouse until its hold_confirmed.
  | "hold_prepared"
  | "hold_confirmed"
  | "hold_released"
  | "hold_expired"
  | "confirmation_reverted"
  | "dispatched"
  | "dispatch_failed"
  | "allocation_confirmed"
  | "allocation_rejected"
  | "allocation_timed_out"
  | "sale_released"
  | "shipped"
  | "reconciliation_required"
  // Stock shards (durable-objects/escrow.ts): units lent to and returned by the other shards.
  | "shards_set"
  | "quota_granted"
  | "quota_returned"
  // Drop rules (drop-rules.ts) changed by an operator.
  | "drop_rules_set";

export interface Totals {
  onHand: number;
  held: number;
  confirmed: number;
  safetyStock: number;
  available: number;
  /** Units lent to stock shards; only present while the SKU-region is sharded or has units lent. */
  granted?: number;
}

export interface Snapshot extends Totals {
  sku: string;
  region: string;
  version: number;
  /** How many objects sell this SKU-region (this one is shard 0); only present when sharded. */
  shards?: number;
}

export type EventValue = string | number | boolean | null | Totals;

export interface StoredEvent {
  seq: number;
  type: EventType;
  at: number;
  /** What happened, plus `after`: the totals once it had happened. */
  payload: { [key: string]: EventValue };
}

/**
 * held -> confirmed -> shipped, or released | expired | reverted. A cart line goes
 * held -> prepared -> confirmed (its cart committed) or prepared -> reverted (its cart did not).
 */
export type HoldStatus = "held" | "prepared" | "confirmed" | "shipped" | "released" | "expired" | "reverted";

/** Statuses whose units count as sold (`confirmed` in the totals). */
const SOLD: readonly HoldStatus[] = ["prepared", "confirmed"];
/** Where a confirmed sale is with its warehouse. */
export type Allocation = "dispatched" | "dispatch_failed" | "allocated" | "rejected" | "timed_out";

export type HoldRow = {
  id: string;
  qty: number;
  status: HoldStatus;
  expires_at: number;
  warehouse: string | null;
  allocation: Allocation | null;
  allocation_due_at: number | null;
  /** A single-line reservation kept by this object itself: the shopper's token and request. */
  token: string | null;
  request_hash: string | null;
  /** The stock shard a sale was handed over from (null: held here). */
  shard: number | null;
  /** The traceparent of the request that placed it (null: untraced, or placed before tracing). */
  trace: string | null;
  /** The storefront that made a single-line reservation (a digest of its key). */
  storefront: string | null;
  /** Who holds it, for the drop rules' per-shopper limits (a key derived from the pseudonym). */
  shopper: string | null;
  confirmed_at: number | null;
  created_at: number;
  updated_at: number;
};

/** What a single-line reservation (or a shard's sale) adds to its hold row. */
export interface HoldOrigin {
  token?: string;
  requestHash?: string;
  storefront?: string;
  shard?: number;
  shopper?: string;
}

const HOLD_COLUMNS = "id, qty, status, expires_at, warehouse, allocation, allocation_due_at, token, request_hash, storefront, shopper, shard, trace, confirmed_at, created_at, updated_at";

export class StockLedger {
  identity: { sku: string; region: string } | null;
  /**
   * The traceparent of the request whose transaction is running (set by the object around one
   * synchronous transaction, see InventoryObject.traced): its events and new holds carry it.
   */
  trace: string | null = null;

  /**
   * `sendPosition`: how far the outbox has sent; stored with every event appended, so moving it
   * costs no commit of its own.
   */
  constructor(
    private readonly sql: SqlStorage,
    private readonly sendPosition: { sent: number } = { sent: 0 },
  ) {
    this.identity = sql.exec<{ sku: string; region: string }>("SELECT sku, region FROM sku_region").toArray()[0] ?? null;
  }

  /** Stores the object's own name on first write: ctx.id.name is not there when an alarm wakes it. */
  claimIdentity(sku: string, region: string): void {
    if (this.identity) {
      if (this.identity.sku !== sku || this.identity.region !== region) {
        throw new Error(`object for ${this.identity.region}:${this.identity.sku} was called as ${region}:${sku}`);
      }
      return;
    }
    this.sql.exec("INSERT INTO sku_region (id, sku, region) VALUES (1, ?, ?)", sku, region);
    this.identity = { sku, region };
  }

  version(): number {
    return this.sql.exec<{ v: number | null }>("SELECT max(version) AS v FROM sku_region").one().v ?? 0;
  }

  /**
   * `now`: holds past their expiry stop counting, even before an event records it. `null`: the
   * totals as the event log has them (due holds still count until their hold_expired event).
   */
  totals(now: number | null = Date.now()): Totals {
    const row = this.sql
      .exec<{ on_hand: number; held: number; confirmed: number; safety_stock: number; granted: number; shards: number }>(
        `SELECT
           (SELECT coalesce(sum(on_hand), 0) FROM warehouse_stock) AS on_hand,
           coalesce(r.held, 0) - (SELECT coalesce(sum(qty), 0) FROM holds WHERE status = 'held' AND expires_at <= ?) AS held,
           coalesce(r.confirmed, 0) AS confirmed,
           coalesce(r.safety_stock, 0) AS safety_stock,
           coalesce(r.granted, 0) AS granted,
           coalesce(r.shards, 1) AS shards
         FROM (SELECT 1) LEFT JOIN sku_region r ON r.id = 1`,
        now ?? -1,
      )
      .one();
    const available = Math.max(0, row.on_hand - row.held - row.confirmed - row.granted - row.safety_stock);
    const totals: Totals = { onHand: row.on_hand, held: row.held, confirmed: row.confirmed, safetyStock: row.safety_stock, available };
    // Unsharded SKU-regions keep exactly the totals (and event payloads) they always had.
    if (row.shards > 1 || row.granted > 0) totals.granted = row.granted;
    return totals;
  }

  /** How many objects sell this SKU-region: 1 unless it is split into stock shards. */
  shardCount(): number {
    return this.sql.exec<{ k: number | null }>("SELECT shards AS k FROM sku_region").toArray()[0]?.k ?? 1;
  }

  snapshot(now: number): Snapshot {
    const { sku, region } = this.identity!;
    const shards = this.shardCount();
    const totals = this.totals(now);
    return { sku, region, ...totals, version: this.version(), ...((shards > 1 || totals.granted !== undefined) && { shards }) };
  }

  /** Appends an event (the next version); the outbox sends every event past its position. */
  append(type: EventType, at: number, payload: { [key: string]: EventValue }, trace = this.trace): number {
    const seq = this.version() + 1;
    // What the log says after this event: a hold that is due but not yet expired by an event of
    // its own still counts (expireDue appends those one by one).
    const after = this.totals(null);
    this.sql.exec("INSERT INTO events (seq, type, at, payload, trace) VALUES (?, ?, ?, ?, ?)", seq, type, at, JSON.stringify({ ...payload, after }), trace);
    this.sql.exec("UPDATE sku_region SET version = ?, sent_seq = max(sent_seq, ?) WHERE id = 1", seq, this.sendPosition.sent);
    // A confirmed sale also goes to the warehouse that will ship it.
    if (type === "hold_confirmed") this.sql.exec("INSERT INTO dispatch_outbox (seq) VALUES (?)", seq);
    return seq;
  }

  /** Holds stop counting at their expiry; inside a write we also record that as events. */
  expireDue(now: number): void {
    const due = this.sql
      .exec<HoldRow>(`SELECT ${HOLD_COLUMNS} FROM holds WHERE status = 'held' AND expires_at <= ? ORDER BY expires_at, id`, now)
      .toArray();
    for (const hold of due) {
      this.setHoldStatus(hold, "expired", now);
      // Time caused it, but it belongs to the reservation that placed the hold: that trace.
      this.append("hold_expired", now, { holdId: hold.id, qty: hold.qty }, hold.trace);
    }
  }

  holdsWithAllocationDue(now: number): HoldRow[] {
    return this.sql.exec<HoldRow>(`SELECT ${HOLD_COLUMNS} FROM holds WHERE allocation_due_at <= ? ORDER BY allocation_due_at`, now).toArray();
  }

  findHold(id: string): HoldRow | undefined {
    return this.sql.exec<HoldRow>(`SELECT ${HOLD_COLUMNS} FROM holds WHERE id = ?`, id).toArray()[0];
  }

  insertHold(id: string, qty: number, status: HoldStatus, expiresAt: number, now: number, origin: HoldOrigin = {}): void {
    this.sql.exec(
      "INSERT INTO holds (id, qty, status, expires_at, created_at, updated_at, token, request_hash, storefront, shopper, shard, trace, confirmed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      id, qty, status, expiresAt, now, now, origin.token ?? null, origin.requestHash ?? null, origin.storefront ?? null, origin.shopper ?? null, origin.shard ?? null, this.trace,
      status === "confirmed" ? now : null,
    );
    if (status === "held") this.sql.exec("UPDATE sku_region SET held = held + ?", qty);
    if (SOLD.includes(status)) this.sql.exec("UPDATE sku_region SET confirmed = confirmed + ?", qty);
  }

  /** Moves a hold to its next status and its units between the running totals. */
  setHoldStatus(hold: HoldRow, status: HoldStatus, now: number): void {
    const confirmedAt = status === "confirmed" && hold.confirmed_at === null ? now : hold.confirmed_at;
    this.sql.exec("UPDATE holds SET status = ?, updated_at = ?, confirmed_at = ? WHERE id = ?", status, now, confirmedAt, hold.id);
    hold.confirmed_at = confirmedAt;
    const held = (status === "held" ? hold.qty : 0) - (hold.status === "held" ? hold.qty : 0);
    const confirmed = (SOLD.includes(status) ? hold.qty : 0) - (SOLD.includes(hold.status) ? hold.qty : 0);
    if (held !== 0 || confirmed !== 0) this.sql.exec("UPDATE sku_region SET held = held + ?, confirmed = confirmed + ?", held, confirmed);
    hold.status = status;
    hold.updated_at = now;
  }

  setAllocation(hold: HoldRow, allocation: Allocation | null, dueAt: number | null, warehouse = hold.warehouse): void {
    this.sql.exec(
      "UPDATE holds SET allocation = ?, allocation_due_at = ?, warehouse = ? WHERE id = ?",
      allocation, dueAt, warehouse, hold.id,
    );
    hold.allocation = allocation;
    hold.allocation_due_at = dueAt;
    hold.warehouse = warehouse;
  }

  onHandAt(warehouse: string): { onHand: number; countedSequence: number | null } | undefined {
    const row = this.sql
      .exec<{ on_hand: number; counted_sequence: number | null }>(
        "SELECT on_hand, counted_sequence FROM warehouse_stock WHERE warehouse = ?", warehouse,
      )
      .toArray()[0];
    return row && { onHand: row.on_hand, countedSequence: row.counted_sequence };
  }

  setOnHand(warehouse: string, onHand: number, now: number, countedSequence?: number): void {
    this.sql.exec(
      `INSERT INTO warehouse_stock (warehouse, on_hand, updated_at, counted_sequence) VALUES (?, ?, ?, ?)
       ON CONFLICT (warehouse) DO UPDATE SET on_hand = excluded.on_hand, updated_at = excluded.updated_at,
         counted_sequence = coalesce(excluded.counted_sequence, warehouse_stock.counted_sequence)`,
      warehouse, onHand, now, countedSequence ?? null,
    );
  }

  /** The warehouse with the most units on hand ships a sale (ties: alphabetical). */
  fullestWarehouse(): string | null {
    return (
      this.sql
        .exec<{ warehouse: string }>("SELECT warehouse FROM warehouse_stock ORDER BY on_hand DESC, warehouse LIMIT 1")
        .toArray()[0]?.warehouse ?? null
    );
  }

  /** A stored answer for an idempotency key, or the key's misuse with another request. */
  seen<T>(key: string, requestHash: string): { replay: T } | { reused: true } | null {
    const row = this.sql
      .exec<{ request_hash: string; response: string }>("SELECT request_hash, response FROM idempotency WHERE key = ?", key)
      .toArray()[0];
    if (!row) return null;
    return row.request_hash === requestHash ? { replay: JSON.parse(row.response) as T } : { reused: true };
  }

  remember(key: string, requestHash: string, response: unknown, now: number): void {
    this.sql.exec(
      "INSERT INTO idempotency (key, request_hash, response, created_at) VALUES (?, ?, ?, ?)",
      key, requestHash, JSON.stringify(response), now,
    );
  }

  needsAttention(holdId: string, reason: string, seq: number, now: number): void {
    this.sql.exec("INSERT INTO attention (hold_id, reason, seq, at) VALUES (?, ?, ?, ?)", holdId, reason, seq, now);
  }
}
