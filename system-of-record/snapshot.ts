// Projection snapshots and event retention in Postgres. A snapshot is a consistent copy of every
// projection table (stream positions included) taken in one repeatable-read transaction; a
// rebuild starts from it and replays only the events after each stream's snapshot position, so its
// time follows the tail, not the history. Events a snapshot covers and older than the retention
// can then be pruned from inventory_events: they live on in the snapshot, and in the stock
// objects or their R2 archive (docs/data-over-time.md).
import { getTableConfig } from "drizzle-orm/pg-core";
import { sql } from "drizzle-orm";
import { projectionTables } from "../schema/tables";
import { rows, type Db } from "./projection";

export const SNAPSHOT_SUFFIX = "_snapshot";
const META = "projection_snapshot";
const LEDGER_RETENTION = "ledger_retention";


export interface SnapshotSummary {
  takenAt: Date;
  streams: number;
  rows: Record<string, number>;
  ms: number;
}

/** Runs a DELETE and says how many rows it removed. */
async function countDeleted(db: Db, del: ReturnType<typeof sql>): Promise<number> {
  const [gone] = await rows<{ n: number }>(db, sql`WITH gone AS (${del} RETURNING 1) SELECT count(*)::int AS n FROM gone`);
  return gone!.n;
}

export function projectionTableNames(): string[] {
  return Object.values(projectionTables()).map((t) => getTableConfig(t).name);
}

/** Replaces the snapshot with a consistent copy of the live projection. */
export async function takeSnapshot(db: Db): Promise<SnapshotSummary> {
  const started = Date.now();
  const counts: Record<string, number> = {};
  let takenAt = new Date();
  await db.transaction(
    async (tx) => {
      for (const name of projectionTableNames()) {
        await tx.execute(sql.raw(`DROP TABLE IF EXISTS ${name}${SNAPSHOT_SUFFIX}`));
        await tx.execute(sql.raw(`CREATE TABLE ${name}${SNAPSHOT_SUFFIX} (LIKE ${name} INCLUDING ALL)`));
        await tx.execute(sql.raw(`INSERT INTO ${name}${SNAPSHOT_SUFFIX} SELECT * FROM ${name}`));
        counts[name] = (await rows<{ n: number }>(tx, sql.raw(`SELECT count(*)::int AS n FROM ${name}${SNAPSHOT_SUFFIX}`)))[0]!.n;
      }
      // pruned_at: when events the snapshot covers were first deleted (a rebuild from scratch is impossible since).
      await tx.execute(sql.raw(`CREATE TABLE IF NOT EXISTS ${META} (id int PRIMARY KEY CHECK (id = 1), taken_at timestamptz NOT NULL, streams int NOT NULL, pruned_at timestamptz)`));
      takenAt = (await rows<{ now: Date }>(tx, sql`SELECT now() AS now`))[0]!.now;
      await tx.execute(sql.raw(`INSERT INTO ${META} (id, taken_at, streams) VALUES (1, now(), ${counts["stream_positions"] ?? 0})
                                ON CONFLICT (id) DO UPDATE SET taken_at = excluded.taken_at, streams = excluded.streams`));
    },
    { isolationLevel: "repeatable read" },
  );
  return { takenAt: new Date(takenAt), streams: counts["stream_positions"] ?? 0, rows: counts, ms: Date.now() - started };
}

/** When events were first pruned behind a snapshot, or null when never. */
export async function prunedSince(db: Db): Promise<Date | null> {
  if (!(await snapshotTakenAt(db))) return null;
  const [meta] = await rows<{ pruned_at: Date | null }>(db, sql.raw(`SELECT pruned_at FROM ${META} WHERE id = 1`));
  return meta?.pruned_at ? new Date(meta.pruned_at) : null;
}

/** The newest snapshot's time, or null when there is none. */
export async function snapshotTakenAt(db: Db): Promise<Date | null> {
  const exists = await rows<{ t: string | null }>(db, sql`SELECT to_regclass(${META})::text AS t`);
  if (!exists[0]?.t) return null;
  const [meta] = await rows<{ taken_at: Date }>(db, sql.raw(`SELECT taken_at FROM ${META} WHERE id = 1`));
  return meta ? new Date(meta.taken_at) : null;
}

export interface PruneSummary {
  deleted: number;
  keptAfterSnapshot: number;
  /** Month partitions dropped whole (every event in them covered by the snapshot and older than the cutoff). */
  droppedPartitions: string[];
}

/**
 * Deletes events the snapshot covers (seq <= the stream's snapshot position) that occurred more
 * than `keepMs` ago; `region` limits it to one region. A month partition wholly before the cutoff
 * whose every event the snapshot covers is dropped at once (no dead rows, no index to vacuum); what
 * is left is deleted row by row. Without a snapshot nothing is deleted.
 */
export async function pruneEvents(db: Db, opts: { keepMs: number; region?: string }): Promise<PruneSummary> {
  if (!(await snapshotTakenAt(db))) return { deleted: 0, keptAfterSnapshot: 0, droppedPartitions: [] };
  const cutoff = new Date(Date.now() - opts.keepMs);
  const region = opts.region ?? null;
  const positions = sql.raw(`stream_positions${SNAPSHOT_SUFFIX}`);
  const droppedPartitions: string[] = [];
  let deleted = 0;
  if (region === null) {
    for (const month of await eventPartitions(db)) {
      if (month.to > cutoff) continue;
      const table = sql.raw(`"${month.name}"`);
      const [check] = await rows<{ total: number; uncovered: number }>(
        db,
        sql`SELECT count(*)::int AS total,
                   count(*) FILTER (WHERE s.applied_seq IS NULL OR e.seq > s.applied_seq)::int AS uncovered
              FROM ${table} e LEFT JOIN ${positions} s ON s.region = e.region AND s.sku = e.sku`,
      );
      if (check!.uncovered > 0) continue; // the row-by-row delete below takes what it covers
      await db.execute(sql`DROP TABLE ${table}`);
      droppedPartitions.push(month.name);
      deleted += check!.total;
    }
  }
  deleted += await countDeleted(
    db,
    sql`DELETE FROM inventory_events e
         USING ${positions} s
         WHERE e.region = s.region AND e.sku = s.sku AND e.seq <= s.applied_seq AND e.occurred_at < ${cutoff}
           AND (${region}::text IS NULL OR e.region = ${region})`,
  );
  if (deleted > 0) await db.execute(sql.raw(`UPDATE ${META} SET pruned_at = coalesce(pruned_at, now()) WHERE id = 1`));
  const kept = await rows<{ n: number }>(db, sql`SELECT count(*)::int AS n FROM inventory_events WHERE ${region}::text IS NULL OR region = ${region}`);
  return { deleted, keptAfterSnapshot: kept[0]!.n, droppedPartitions };
}

// ------------------------------------------------------------------ the reservation ledger over time

/** Ledger statuses of holds that ended without becoming a sale: what the ledger's retention removes. */
export const UNSOLD_ENDED = ["released", "expired", "reverted"] as const;

/**
 * Deletes ledger rows of holds that ended unsold more than `keepMs` ago and that the snapshot covers
 * (from the live ledger and from the snapshot's copy alike, so a rebuild does not bring them back).
 * Sales stay whatever their age: the ledger grows with what was sold, not with every hold a flash
 * sale placed. The holds' history stays in their objects' events and the R2 archive. Reconcile
 * knows the cutoff (ledgerPrunedBefore) and does not miss such rows.
 */
export async function pruneLedger(db: Db, opts: { keepMs: number; region?: string }): Promise<number> {
  if (!(await snapshotTakenAt(db))) return 0;
  const cutoff = new Date(Date.now() - opts.keepMs);
  const region = opts.region ?? null;
  const unsold = sql.raw(UNSOLD_ENDED.map((s) => `'${s}'`).join(", "));
  const positions = sql.raw(`stream_positions${SNAPSHOT_SUFFIX}`);
  // First the cutoff, per region, so a reconcile running meanwhile already expects the gaps.
  await db.execute(sql.raw(`CREATE TABLE IF NOT EXISTS ${LEDGER_RETENTION} (region text PRIMARY KEY, pruned_before timestamptz NOT NULL)`));
  await db.execute(sql`INSERT INTO ${sql.raw(LEDGER_RETENTION)} (region, pruned_before)
                       SELECT DISTINCT region, ${cutoff}::timestamptz FROM ${positions} WHERE ${region}::text IS NULL OR region = ${region}
                       ON CONFLICT (region) DO UPDATE SET pruned_before = greatest(${sql.raw(LEDGER_RETENTION)}.pruned_before, excluded.pruned_before)`);
  const unsoldBehind = (table: string) =>
    countDeleted(
      db,
      sql`DELETE FROM ${sql.raw(table)} l
           USING ${positions} s
           WHERE l.region = s.region AND l.sku = s.sku AND l.last_seq <= s.applied_seq
             AND l.status IN (${unsold}) AND l.ended_at < ${cutoff}
             AND (${region}::text IS NULL OR l.region = ${region})`,
    );
  const deleted = await unsoldBehind("reservation_ledger");
  await unsoldBehind(`reservation_ledger${SNAPSHOT_SUFFIX}`);
  return deleted;
}

/** In `region`, holds that ended unsold before this may be missing from the ledger (0: none were pruned). */
export async function ledgerPrunedBefore(db: Db, region: string): Promise<number> {
  const exists = await rows<{ t: string | null }>(db, sql`SELECT to_regclass(${LEDGER_RETENTION})::text AS t`);
  if (!exists[0]?.t) return 0;
  const [row] = await rows<{ before: Date }>(db, sql`SELECT pruned_before AS before FROM ${sql.raw(LEDGER_RETENTION)} WHERE region = ${region}`);
  return row ? new Date(row.before).getTime() : 0;
}

// ------------------------------------------------------------------ month partitions of inventory_events

export interface EventPartition {
  name: string;
  from: Date;
  to: Date;
}

/** The month partitions of inventory_events (not the default one), oldest first. */
export async function eventPartitions(db: Db): Promise<EventPartition[]> {
  const parts = await rows<{ name: string; bound: string }>(
    db,
    sql`SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'inventory_events'::regclass`,
  );
  return parts
    .map((p) => {
      const m = /FROM \('([^']+)'\) TO \('([^']+)'\)/.exec(p.bound);
      return m ? { name: p.name, from: new Date(m[1]!), to: new Date(m[2]!) } : null;
    })
    .filter((p): p is EventPartition => p !== null)
    .sort((a, b) => a.from.getTime() - b.from.getTime());
}

const monthStart = (d: Date, add = 0) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + add, 1));
const monthName = (d: Date) => `inventory_events_${d.getUTCFullYear()}_${String(d.getUTCMonth() + 1).padStart(2, "0")}`;

/**
 * Makes sure a partition exists for every month from the oldest event in the default partition (if
 * any landed there) through `monthsAhead` months after now; rows that landed in the default
 * partition move into their month. Returns the partitions it created.
 */
export async function ensureEventPartitions(db: Db, opts: { monthsAhead?: number; now?: Date } = {}): Promise<string[]> {
  const now = opts.now ?? new Date();
  const existing = new Set((await eventPartitions(db)).map((p) => p.name));
  const [strays] = await rows<{ oldest: Date | null }>(db, sql`SELECT min(occurred_at) AS oldest FROM inventory_events_default`);
  const first = monthStart(strays?.oldest ? new Date(Math.min(new Date(strays.oldest).getTime(), now.getTime())) : now);
  const last = monthStart(now, opts.monthsAhead ?? 2);
  const created: string[] = [];
  for (let month = first; month <= last; month = monthStart(month, 1)) {
    const name = monthName(month);
    if (existing.has(name)) continue;
    const next = monthStart(month, 1);
    // A new month may not overlap rows in the default partition: move them into it as it is made.
    await db.transaction(async (tx) => {
      await tx.execute(sql.raw(`CREATE TABLE "${name}" (LIKE inventory_events INCLUDING DEFAULTS)`));
      await tx.execute(sql`WITH moved AS (DELETE FROM inventory_events_default WHERE occurred_at >= ${month} AND occurred_at < ${next} RETURNING *)
                           INSERT INTO ${sql.raw(`"${name}"`)} SELECT * FROM moved`);
      // DDL takes no parameters: the bounds are dates this function made.
      await tx.execute(sql.raw(`ALTER TABLE inventory_events ATTACH PARTITION "${name}" FOR VALUES FROM ('${month.toISOString()}') TO ('${next.toISOString()}')`));
    });
    created.push(name);
  }
  return created;
}

export const DEFAULT_KEEP_DAYS = 90;

export interface MaintenanceSummary {
  partitionsCreated: string[];
  snapshot: SnapshotSummary;
  prune: PruneSummary;
  ledgerPruned: number;
  ms: number;
}

/**
 * The nightly maintenance of a region's database (the daily cron, `npm run db:maintain`): month
 * partitions ahead, a fresh projection snapshot, then events older than `keepDays` that the
 * snapshot covers pruned, and the ledger rows of holds that ended unsold before then (pruneLedger). A
 * rebuild afterwards replays at most a day plus what arrives during it.
 */
export async function maintainSystemOfRecord(db: Db, opts: { keepDays?: number; now?: Date } = {}): Promise<MaintenanceSummary> {
  const started = Date.now();
  const partitionsCreated = await ensureEventPartitions(db, { now: opts.now });
  const snapshot = await takeSnapshot(db);
  const keepMs = (opts.keepDays ?? DEFAULT_KEEP_DAYS) * 86_400_000;
  const prune = await pruneEvents(db, { keepMs });
  const ledgerPruned = await pruneLedger(db, { keepMs });
  // What the deletes freed is reused by tomorrow's rows only once vacuumed; autovacuum would get
  // there too, but not on a server where it is off (this development machine's is). Pages nothing
  // changed in are skipped (visibility map), so a quiet night costs little.
  await db.execute(sql.raw("VACUUM (ANALYZE) inventory_events, reservation_ledger"));
  return { partitionsCreated, snapshot, prune, ledgerPruned, ms: Date.now() - started };
}

/** EVENT_KEEP_DAYS: how long Postgres keeps events behind the snapshot (default 90). */
export function keepDays(env: { EVENT_KEEP_DAYS?: string }): number {
  const days = Number(env.EVENT_KEEP_DAYS);
  return env.EVENT_KEEP_DAYS && Number.isFinite(days) && days >= 0 ? days : DEFAULT_KEEP_DAYS;
}
