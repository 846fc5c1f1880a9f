// The main SKU-region object's side of stock shards (escrow). A hot SKU-region can be sold by K
// objects: this one (shard 0, still the authority for on-hand stock, safety stock and every
// confirmed sale) and K-1 StockShard objects, each selling from a quota of units lent to it here.
// Lent units count against availability like held ones (`granted`), so
//   held + confirmed + granted <= onHand - safetyStock
// is checked here exactly as before, and each shard checks held + confirming <= its quota.
// Grants and returns carry a transfer id and are applied once; a shard's confirmed sale moves its
// units from `granted` into a confirmed hold row here, so the allocation saga and the dispatch
// outbox treat it like any other sale. All functions run inside the object's transaction.
import { startAllocation } from "./allocation-saga";
import type { StockLedger } from "./stock-ledger";

export const MAX_SHARDS = 16;

/** The name of stock shard `index` (1..K-1) of a SKU-region; shard 0 is the main object. */
export function shardName(region: string, sku: string, index: number): string {
  return `${region}:${sku}#${index}`;
}
/** Grant ids (and return ids) are remembered this long; shards retry within minutes. */
export const TRANSFER_RETENTION_MS = 48 * 3600_000;

export type GrantResult = { granted: number; shards: number; inService: boolean };
export type ShardConfirmResult =
  | { ok: true; version: number }
  | { ok: false; code: "hold_conflict" | "quota_mismatch"; detail: string };

export class Escrow {
  constructor(
    private readonly sql: SqlStorage,
    private readonly ledger: StockLedger,
  ) {}

  grantedTo(shard: number): number {
    return this.sql.exec<{ g: number }>("SELECT granted AS g FROM quota_grants WHERE shard = ?", shard).toArray()[0]?.g ?? 0;
  }

  /** Shards that hold lent units (the ones worth asking for idle quota back). */
  lentTo(): number[] {
    return this.sql.exec<{ shard: number }>("SELECT shard FROM quota_grants WHERE granted > 0 ORDER BY shard").toArray().map((r) => r.shard);
  }

  grants(): { shard: number; granted: number }[] {
    return this.sql.exec<{ shard: number; granted: number }>("SELECT shard, granted FROM quota_grants WHERE granted > 0 ORDER BY shard").toArray();
  }

  /** Changes K; `ifCurrent` makes it a compare-and-set (automatic growth from several callers). */
  setShards(k: number, now: number, cause: "operator" | "overload", ifCurrent?: number): { shards: number; previous: number; changed: boolean } {
    const previous = this.ledger.shardCount();
    if (k === previous || (ifCurrent !== undefined && ifCurrent !== previous)) return { shards: previous, previous, changed: false };
    this.sql.exec("UPDATE sku_region SET shards = ?", k);
    this.ledger.append("shards_set", now, { shards: k, previous, cause });
    return { shards: k, previous, changed: true };
  }

  /**
   * Lends a shard up to `want` units, or (not `exact`) up to the larger of `want` and a fair share
   * (1/K) of what is free, so a shard that ran dry does not come back for every unit. Once per id.
   */
  grant(shard: number, transferId: string, want: number, exact: boolean, now: number): GrantResult {
    const shards = this.ledger.shardCount();
    const inService = shard >= 1 && shard < shards;
    const seen = this.sql.exec<{ qty: number }>("SELECT qty FROM quota_transfers WHERE id = ? AND kind = 'grant'", transferId).toArray()[0];
    if (seen) return { granted: seen.qty, shards, inService };
    if (!inService) return { granted: 0, shards, inService };
    this.ledger.expireDue(now);
    const { available } = this.ledger.totals(now);
    const qty = Math.min(available, exact ? want : Math.max(want, Math.ceil(available / shards)));
    // A zero answer is not remembered: a retry of this id may then be granted what is free by then.
    if (qty <= 0) return { granted: 0, shards, inService };
    this.lend(shard, qty);
    this.sql.exec("INSERT INTO quota_transfers (id, shard, kind, qty, at) VALUES (?, ?, 'grant', ?, ?)", transferId, shard, qty, now);
    this.ledger.append("quota_granted", now, { shard, transferId, qty, want });
    return { granted: qty, shards, inService };
  }

  /** Takes back idle units a shard gave up (it removed them from its quota first), once per id. */
  takeBack(shard: number, transferId: string, qty: number, now: number): { ok: true; shards: number; inService: boolean } {
    const shards = this.ledger.shardCount();
    const inService = shard >= 1 && shard < shards;
    const seen = this.sql.exec("SELECT 1 FROM quota_transfers WHERE id = ? AND kind = 'return'", transferId).toArray().length > 0;
    if (seen || qty <= 0) return { ok: true, shards, inService };
    // A shard never returns more than it was lent (its quota is at most its grant); clamp anyway
    // rather than let a bug lend out units twice.
    const returned = Math.min(qty, this.grantedTo(shard));
    this.lend(shard, -returned);
    this.sql.exec("INSERT INTO quota_transfers (id, shard, kind, qty, at) VALUES (?, ?, 'return', ?, ?)", transferId, shard, returned, now);
    this.ledger.append("quota_returned", now, { shard, transferId, qty: returned, ...(returned !== qty && { claimed: qty }) });
    return { ok: true, shards, inService };
  }

  /**
   * A shard's hold became a sale (`prepared`: a cart line, committed later by its coordinator):
   * its units move from the shard's grant to a hold row here that remembers the shard, and the
   * usual saga (warehouse, deadline, dispatch outbox) starts once it is confirmed. Idempotent by
   * (shard, hold id): the same id held or ended here for another reason is a conflict the shard
   * must resolve, never a duplicate to acknowledge.
   */
  confirmSale(shard: number, holdId: string, qty: number, now: number, allocationTimeoutMs: number, prepared = false): ShardConfirmResult {
    const existing = this.ledger.findHold(holdId);
    if (existing) {
      if (existing.shard === shard && existing.qty === qty) return { ok: true, version: this.ledger.version() };
      // A qty-0 tombstone was left by a release here of a line that was placed elsewhere.
      const tombstone = existing.status === "released" && existing.qty === 0 && existing.shard === null;
      if (!tombstone) {
        const where = existing.shard === null ? "in the main object" : `from shard ${existing.shard}`;
        return { ok: false, code: "hold_conflict", detail: `hold ${holdId} is ${existing.status} ${where}, not a sale of shard ${shard}` };
      }
      this.sql.exec("DELETE FROM holds WHERE id = ?", holdId);
    }
    if (this.grantedTo(shard) < qty) {
      return { ok: false, code: "quota_mismatch", detail: `shard ${shard} confirms ${qty} units but holds a grant of ${this.grantedTo(shard)}` };
    }
    this.lend(shard, -qty);
    this.ledger.insertHold(holdId, qty, prepared ? "prepared" : "confirmed", now, now, { shard });
    if (prepared) return { ok: true, version: this.ledger.append("hold_prepared", now, { holdId, qty, shard }) };
    const hold = this.ledger.findHold(holdId)!;
    const saga = startAllocation(this.ledger, hold, now, allocationTimeoutMs);
    return { ok: true, version: this.ledger.append("hold_confirmed", now, { holdId, qty, shard, ...saga }) };
  }

  /**
   * Shards to ask for their idle units when the warehouse's stock fell below what is lent out:
   * lent units stay committed (like holds) until they come back, so the sooner the better.
   */
  overLentTo(now: number): number[] {
    const t = this.ledger.totals(now);
    const lent = t.granted ?? 0;
    return lent > 0 && t.onHand - t.safetyStock - t.held - t.confirmed < lent ? this.lentTo() : [];
  }

  forgetOldTransfers(now: number): void {
    this.sql.exec("DELETE FROM quota_transfers WHERE at <= ?", now - TRANSFER_RETENTION_MS);
  }

  private lend(shard: number, qty: number): void {
    // SQLite checks the inserted row (granted >= 0) before an upsert resolves: take back by UPDATE.
    if (qty < 0) this.sql.exec("UPDATE quota_grants SET granted = granted + ? WHERE shard = ?", qty, shard);
    else {
      this.sql.exec(
        "INSERT INTO quota_grants (shard, granted) VALUES (?, ?) ON CONFLICT (shard) DO UPDATE SET granted = granted + excluded.granted",
        shard, qty,
      );
    }
    this.sql.exec("UPDATE sku_region SET granted = granted + ?", qty);
  }
}
