// npm run db:snapshot            copy the live projection into the snapshot tables (consistent)
// npm run db:prune -- --keep-days 90 [--region eu]
//                                delete events the snapshot covers that are older than that
// npm run db:maintain [-- --keep-days 90]
//                                what the nightly cron does: month partitions ahead, snapshot, prune
// A rebuild (npm run db:rebuild) starts from the newest snapshot and replays only later events.
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { drizzle } from "drizzle-orm/node-postgres";
import type { Db } from "../system-of-record/projection";
import { DEFAULT_KEEP_DAYS, maintainSystemOfRecord, pruneEvents, snapshotTakenAt, takeSnapshot } from "../system-of-record/snapshot";
import { redact } from "./db-migrate.mjs";

const require = createRequire(import.meta.url);
const pg = require("pg") as typeof import("pg");

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { "keep-days": { type: "string" }, region: { type: "string" } },
});
const command = positionals[0] ?? "snapshot";
const droppedText = (months: string[]) => (months.length ? ` (${months.length} whole month partition(s) dropped: ${months.join(", ")})` : "");
const url = process.env.DATABASE_URL;
if (!url) {
  console.error(`DATABASE_URL is not set. Example: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run db:${command}`);
  process.exit(2);
}
const pool = new pg.Pool({ connectionString: url, max: 2 });
const db = drizzle(pool) as unknown as Db;
try {
  if (command === "snapshot") {
    console.log(`taking a projection snapshot in ${redact(url)} ...`);
    const s = await takeSnapshot(db);
    console.log(`✓ snapshot of ${s.streams} SKU-regions at ${s.takenAt.toISOString()} in ${(s.ms / 1000).toFixed(1)} s (${Object.entries(s.rows).map(([t, n]) => `${t} ${n}`).join(", ")} rows)`);
  } else if (command === "prune") {
    const days = Number(values["keep-days"] ?? "NaN");
    if (!Number.isFinite(days) || days < 0) {
      console.error("usage: npm run db:prune -- --keep-days <days, e.g. 90> [--region eu]");
      process.exit(2);
    }
    const taken = await snapshotTakenAt(db);
    if (!taken) {
      console.error("there is no projection snapshot, so nothing can be pruned: run npm run db:snapshot first");
      process.exit(1);
    }
    const p = await pruneEvents(db, { keepMs: days * 86_400_000, ...(values.region && { region: values.region }) });
    console.log(`✓ pruned ${p.deleted} events covered by the snapshot of ${taken.toISOString()} and older than ${days} days${droppedText(p.droppedPartitions)}; ${p.keptAfterSnapshot} events remain${values.region ? ` in ${values.region}` : ""}`);
  } else if (command === "maintain") {
    const days = Number(values["keep-days"] ?? DEFAULT_KEEP_DAYS);
    if (!Number.isFinite(days) || days < 0) {
      console.error("usage: npm run db:maintain [-- --keep-days <days, default 90>]");
      process.exit(2);
    }
    console.log(`maintaining ${redact(url)}: month partitions, snapshot, prune behind it (keep ${days} days) ...`);
    const m = await maintainSystemOfRecord(db, { keepDays: days });
    console.log(`✓ ${m.partitionsCreated.length ? `created ${m.partitionsCreated.join(", ")}; ` : ""}snapshot of ${m.snapshot.streams} SKU-regions; pruned ${m.prune.deleted} events${droppedText(m.prune.droppedPartitions)}; ${m.prune.keptAfterSnapshot} events kept; ${(m.ms / 1000).toFixed(1)} s`);
  } else {
    console.error(`unknown command '${command}': snapshot, prune or maintain`);
    process.exit(2);
  }
} catch (err) {
  console.error(`db:${command} failed, nothing changed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await pool.end();
}
