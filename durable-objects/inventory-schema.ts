// SQLite schema of one SKU-region object. Migrations are append-only: add a new entry, never edit
// an old one (PRAGMA user_version is not available to Durable Objects, so we keep our own table).
export const INVENTORY_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE sku_region (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sku TEXT NOT NULL,
    region TEXT NOT NULL,
    safety_stock INTEGER NOT NULL DEFAULT 0 CHECK (safety_stock >= 0),
    version INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE warehouse_stock (
    warehouse TEXT PRIMARY KEY,
    on_hand INTEGER NOT NULL CHECK (on_hand >= 0),
    updated_at INTEGER NOT NULL
  );
  -- One row per reservation that touched this SKU. status: held | confirmed | released | expired | reverted.
  -- A release of an unknown id leaves a qty-0 'released' tombstone so a late hold with that id is refused.
  CREATE TABLE holds (
    id TEXT PRIMARY KEY,
    qty INTEGER NOT NULL CHECK (qty >= 0),
    status TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX holds_by_status_expiry ON holds (status, expires_at);
  CREATE INDEX holds_by_status_updated ON holds (status, updated_at);
  -- Append-only, gap-free: seq is the SKU-region's version. Never updated, never deleted.
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    at INTEGER NOT NULL,
    payload TEXT NOT NULL
  );
  CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX idempotency_by_age ON idempotency (created_at);
  `,
  // Transactional outbox: an event's row is written in the event's own transaction and deleted
  // once the queue has accepted it, so an event is never lost between commit and send.
  `
  CREATE TABLE outbox (seq INTEGER PRIMARY KEY);
  INSERT INTO outbox (seq) SELECT seq FROM events;
  `,
  // Running totals of units held and confirmed, kept in the same transactions as the holds, so a
  // hold costs the same with ten thousand holds outstanding as with none.
  `
  ALTER TABLE sku_region ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE sku_region ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0;
  UPDATE sku_region SET
    held = (SELECT coalesce(sum(qty), 0) FROM holds WHERE status = 'held'),
    confirmed = (SELECT coalesce(sum(qty), 0) FROM holds WHERE status = 'confirmed');
  `,
  // The allocation saga: which warehouse ships a confirmed sale, where it stands with that
  // warehouse and by when it must answer; the warehouse's own count sequence; the dispatch outbox
  // (confirmed sales on their way to the warehouse queue); and what operators must look at.
  `
  ALTER TABLE holds ADD COLUMN warehouse TEXT;
  ALTER TABLE holds ADD COLUMN allocation TEXT;
  ALTER TABLE holds ADD COLUMN allocation_due_at INTEGER;
  CREATE INDEX holds_allocation_due ON holds (allocation_due_at) WHERE allocation_due_at IS NOT NULL;
  ALTER TABLE warehouse_stock ADD COLUMN counted_sequence INTEGER;
  CREATE TABLE dispatch_outbox (seq INTEGER PRIMARY KEY);
  CREATE TABLE attention (hold_id TEXT NOT NULL, reason TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL);
  `,
  // Stock shards (escrow): how many objects sell this SKU-region (this one is shard 0), the units
  // lent to the other shards in total and per shard, and each quota transfer by its id, so a
  // retried grant or return is applied once.
  `
  ALTER TABLE sku_region ADD COLUMN shards INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE sku_region ADD COLUMN granted INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE quota_grants (shard INTEGER PRIMARY KEY, granted INTEGER NOT NULL CHECK (granted >= 0));
  CREATE TABLE quota_transfers (
    id TEXT PRIMARY KEY,
    shard INTEGER NOT NULL,
    kind TEXT NOT NULL,
    qty INTEGER NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE INDEX quota_transfers_by_age ON quota_transfers (at);
  `,
  // Reservation path v2. A single-line reservation lives in its SKU object's hold row (token and
  // request hash), with no coordinator. A sale handed over by a stock shard remembers the shard,
  // so the same id held elsewhere is a conflict, not a duplicate. The outbox becomes a position
  // in the event log (every event after it is still to send): no row per event.
  `
  ALTER TABLE holds ADD COLUMN token TEXT;
  ALTER TABLE holds ADD COLUMN request_hash TEXT;
  ALTER TABLE holds ADD COLUMN shard INTEGER;
  ALTER TABLE holds ADD COLUMN confirmed_at INTEGER;
  ALTER TABLE sku_region ADD COLUMN sent_seq INTEGER NOT NULL DEFAULT 0;
  UPDATE sku_region SET sent_seq = coalesce((SELECT min(seq) - 1 FROM outbox), (SELECT max(seq) FROM events), 0);
  DROP TABLE outbox;
  `,
  // The storefront (a digest of its key) that made a single-line reservation: only it may see it.
  `
  ALTER TABLE holds ADD COLUMN storefront TEXT;
  `,
  // Drop rules (drop-rules.ts): per-shopper limits and the longest hold; the shopper (a key derived
  // from the edge's pseudonym) on each hold, so the limits are counted where the holds are.
  `
  ALTER TABLE sku_region ADD COLUMN max_units_per_shopper INTEGER;
  ALTER TABLE sku_region ADD COLUMN max_holds_per_shopper INTEGER;
  ALTER TABLE sku_region ADD COLUMN max_hold_ttl_seconds INTEGER;
  ALTER TABLE holds ADD COLUMN shopper TEXT;
  CREATE INDEX holds_by_shopper ON holds (shopper, status) WHERE shopper IS NOT NULL;
  `,
  // Log compaction (log-compaction.ts): how far the system of record has projected the log, how
  // far the log has been archived to R2 and dropped here, and the aggregate at that point.
  `
  ALTER TABLE sku_region ADD COLUMN projected_seq INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE sku_region ADD COLUMN archived_seq INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE log_snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    state TEXT NOT NULL,
    archive_key TEXT NOT NULL
  );
  `,
  // Tracing (observability/trace.ts): the traceparent of the request that caused each event, and
  // of the request that placed each hold (so its expiry or time-out keeps that trace). Null before.
  `
  ALTER TABLE events ADD COLUMN trace TEXT;
  ALTER TABLE holds ADD COLUMN trace TEXT;
  `,
];

export function migrate(sql: SqlStorage, migrations: readonly string[]): void {
  sql.exec("CREATE TABLE IF NOT EXISTS _migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
  const applied = sql.exec<{ v: number | null }>("SELECT max(version) AS v FROM _migrations").one().v ?? 0;
  for (let version = applied + 1; version <= migrations.length; version++) {
    sql.exec(migrations[version - 1]!);
    sql.exec("INSERT INTO _migrations (version, applied_at) VALUES (?, ?)", version, Date.now());
  }
}
