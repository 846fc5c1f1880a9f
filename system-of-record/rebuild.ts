// Rebuilds every projection from the event log into shadow tables, then swaps them in within one
// transaction. Readers see the old projection until the swap and the new one after it, never a
// half-built one. Consumers keep writing to the live tables during the build; the swap locks the
// stream positions, applies what arrived meanwhile to the shadow, and renames.
import { sql } from "drizzle-orm";
import { getTableConfig } from "drizzle-orm/pg-core";
import { projectionTables } from "../schema/tables";
import { applyPending, lockPositions, rows, type Db } from "./projection";
import { prunedSince, SNAPSHOT_SUFFIX, snapshotTakenAt } from "./snapshot";

const SUFFIX = "_rebuild";

export interface RebuildProgress {
  phase: "build" | "catch-up";
  done: number;
  total: number;
  events: number;
}

export interface RebuildSummary {
  /** Where the replay started: the newest projection snapshot, or the first event. */
  from: "snapshot" | "scratch";
  snapshotTakenAt: Date | null;
  streams: number;
  events: number;
  caughtUp: number;
  tables: string[];
  ms: number;
}

// Both drivers (pg in Node, Neon at the edge) return node-postgres style results.

/**
 * `from`: "snapshot" (the default when one exists) starts each stream at its snapshot position and
 * replays only what came after; "scratch" replays every event, and refuses when events were
 * pruned (a stream whose first event in Postgres is not 1).
 */
export async function rebuildProjections(
  db: Db, onProgress: (p: RebuildProgress) => void = () => {}, opts: { from?: "snapshot" | "scratch" } = {},
): Promise<RebuildSummary> {
  const started = Date.now();
  const takenAt = await snapshotTakenAt(db);
  const from = opts.from ?? (takenAt ? "snapshot" : "scratch");
  if (from === "snapshot" && !takenAt) throw new Error("there is no projection snapshot: take one with npm run db:snapshot, or rebuild --from scratch");
  if (from === "scratch") {
    const pruned = await prunedSince(db);
    if (pruned) throw new Error(`events were pruned behind the snapshot (first at ${pruned.toISOString()}): rebuild from the snapshot instead`);
  }
  const live = projectionTables();
  const shadow = projectionTables(SUFFIX);
  const names = Object.values(live).map((t) => getTableConfig(t).name);

  for (const name of names) {
    await db.execute(sql.raw(`DROP TABLE IF EXISTS ${name}${SUFFIX}`));
    await db.execute(sql.raw(`CREATE TABLE ${name}${SUFFIX} (LIKE ${name} INCLUDING ALL)`));
    if (from === "snapshot") await db.execute(sql.raw(`INSERT INTO ${name}${SUFFIX} SELECT * FROM ${name}${SNAPSHOT_SUFFIX}`));
  }

  // Only streams with events after their (snapshot) position need replaying.
  const streams = await rows<{ region: string; sku: string }>(
    db,
    sql.raw(`SELECT DISTINCT e.region, e.sku FROM inventory_events e
               LEFT JOIN stream_positions${SUFFIX} p ON p.region = e.region AND p.sku = e.sku
              WHERE e.seq > coalesce(p.applied_seq, 0)
              ORDER BY e.region, e.sku`),
  );
  let events = 0;
  const STREAMS_PER_TX = 50;
  for (let i = 0; i < streams.length; i += STREAMS_PER_TX) {
    const slice = streams.slice(i, i + STREAMS_PER_TX);
    await db.transaction(async (tx) => {
      for (const s of slice) events += (await applyPending(tx, shadow, s.region, s.sku)).applied;
    });
    onProgress({ phase: "build", done: Math.min(i + STREAMS_PER_TX, streams.length), total: streams.length, events });
  }

  let caughtUp = 0;
  await db.transaction(async (tx) => {
    await lockPositions(tx, "stream_positions");
    const behind = await rows<{ region: string; sku: string }>(
      tx,
      sql.raw(`SELECT e.region, e.sku
                 FROM (SELECT region, sku, max(seq) AS last FROM inventory_events GROUP BY region, sku) e
                 LEFT JOIN stream_positions${SUFFIX} s ON s.region = e.region AND s.sku = e.sku
                WHERE s.applied_seq IS NULL OR s.applied_seq < e.last`),
    );
    for (const [i, s] of behind.entries()) {
      caughtUp += (await applyPending(tx, shadow, s.region, s.sku)).applied;
      onProgress({ phase: "catch-up", done: i + 1, total: behind.length, events: events + caughtUp });
    }
    for (const name of names) {
      // Secondary indexes by their columns, to give the shadow's the live names after the swap.
      const indexesOf = (table: string) =>
        rows<{ name: string; columns: string }>(
          tx,
          sql`SELECT c.relname AS name, i.indkey::text AS columns FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE i.indrelid = ${table}::regclass AND NOT i.indisprimary`,
        );
      const liveIndexes = await indexesOf(name);
      const shadowIndexes = await indexesOf(name + SUFFIX);
      const [livePk] = await rows<{ conname: string }>(
        tx,
        sql`SELECT conname FROM pg_constraint WHERE conrelid = ${name}::regclass AND contype = 'p'`,
      );
      const [shadowPk] = await rows<{ conname: string }>(
        tx,
        sql`SELECT conname FROM pg_constraint WHERE conrelid = ${name + SUFFIX}::regclass AND contype = 'p'`,
      );
      await tx.execute(sql.raw(`ALTER TABLE ${name} RENAME TO ${name}_old`));
      await tx.execute(sql.raw(`ALTER TABLE ${name}${SUFFIX} RENAME TO ${name}`));
      await tx.execute(sql.raw(`DROP TABLE ${name}_old`));
      // Keep the constraint names drizzle-kit generated, so later migrations still find them.
      if (livePk && shadowPk) {
        await tx.execute(sql.raw(`ALTER TABLE ${name} RENAME CONSTRAINT "${shadowPk.conname}" TO "${livePk.conname}"`));
      }
      for (const index of shadowIndexes) {
        const live = liveIndexes.find((l) => l.columns === index.columns);
        if (live && live.name !== index.name) await tx.execute(sql.raw(`ALTER INDEX "${index.name}" RENAME TO "${live.name}"`));
      }
    }
  });
  return { from, snapshotTakenAt: takenAt, streams: streams.length, events: events + caughtUp, caughtUp, tables: names, ms: Date.now() - started };
}
