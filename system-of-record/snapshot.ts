// Projection snapshots and event retention in Postgres. A snapshot is a consistent copy of every
// projection table (stream positions included) taken in one repeatable-read transaction; a
// rebuild starts from it and replays only the events after each stream's snapshot position, so its
// time follows the tail, not the history. Events a snapshot covers and older than the retention
// can then be pruned from inventory_events: they live on in the snapshot, and in the stock
// objects or their R2 archive (docs/data-over-time.md).
import { getTableConfig } from "drizzle-orm/pg-core";
import { sql } from "drizzle-orm";
import { projectionTables } from "../schema/tables";
import type { Db } from "./projection";

export const SNAPSHOT_SUFFIX = "_snapshot";
const META = "projection_snapshot";

const rows = async <T>(db: Db, query: ReturnType<typeof sql>) => ((await db.execute(query)) as unknown as { rows: T[] }).rows;

export interface SnapshotSummary {
  takenAt: Date;
  streams: number;
  rows: Record<string, number>;
  ms: number;
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
      await tx.execute(sql.raw(`CREATE TABLE IF NOT EXISTS ${META} (id int PRIMARY KEY CHECK (id = 1), taken_at timestamptz NOT NULL, streams int NOT NULL)`));
      takenAt = (await rows<{ now: Date }>(tx, sql`SELECT now() AS now`))[0]!.now;
      await tx.execute(sql.raw(`INSERT INTO ${META} (id, taken_at, streams) VALUES (1, now(), ${counts["stream_positions"] ?? 0})
                                ON CONFLICT (id) DO UPDATE SET taken_at = excluded.taken_at, streams = excluded.streams`));
    },
    { isolationLevel: "repeatable read" },
  );
  return { takenAt: new Date(takenAt), streams: counts["stream_positions"] ?? 0, rows: counts, ms: Date.now() - started };
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
}

/**
 * Deletes events the snapshot covers (seq <= the stream's snapshot position) that occurred more
 * than `keepMs` ago; `region` limits it to one region. Without a snapshot nothing is deleted.
 */
export async function pruneEvents(db: Db, opts: { keepMs: number; region?: string }): Promise<PruneSummary> {
  if (!(await snapshotTakenAt(db))) return { deleted: 0, keptAfterSnapshot: 0 };
  const cutoff = new Date(Date.now() - opts.keepMs);
  const region = opts.region ?? null;
  const deleted = await rows<{ n: number }>(
    db,
    sql`WITH gone AS (
          DELETE FROM inventory_events e
           USING ${sql.raw(`stream_positions${SNAPSHOT_SUFFIX}`)} s
           WHERE e.region = s.region AND e.sku = s.sku AND e.seq <= s.applied_seq AND e.occurred_at < ${cutoff}
             AND (${region}::text IS NULL OR e.region = ${region})
          RETURNING 1)
        SELECT count(*)::int AS n FROM gone`,
  );
  const kept = await rows<{ n: number }>(db, sql`SELECT count(*)::int AS n FROM inventory_events WHERE ${region}::text IS NULL OR region = ${region}`);
  return { deleted: deleted[0]!.n, keptAfterSnapshot: kept[0]!.n };
}
