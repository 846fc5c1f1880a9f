// npm run db:rebuild: replays the Postgres event log into shadow projection tables and swaps them
// in with one transaction. Safe while consumers run: they wait for the swap, then carry on.
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { drizzle } from "drizzle-orm/node-postgres";
import { rebuildProjections } from "../system-of-record/rebuild";
import type { Db } from "../system-of-record/projection";
import { redact } from "./db-migrate.mjs";
import { progressBar } from "./progress.mjs";

const require = createRequire(import.meta.url);
const pg = require("pg") as typeof import("pg");

const { values } = parseArgs({ options: { from: { type: "string" } } });
if (values.from !== undefined && values.from !== "snapshot" && values.from !== "scratch") {
  console.error("--from is snapshot (the default when there is one: replay only what came after it) or scratch (every event)");
  process.exit(2);
}
const url = process.env.DATABASE_URL;
if (!url) {
  console.error("DATABASE_URL is not set. Example: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run db:rebuild");
  process.exit(2);
}

const pool = new pg.Pool({ connectionString: url, max: 2 });
const bars = { build: progressBar("replaying "), "catch-up": progressBar("catching up") };
let phase = null as keyof typeof bars | null;
try {
  console.log(`rebuilding projections in ${redact(url)}`);
  const summary = await rebuildProjections(drizzle(pool) as unknown as Db, (p) => {
    if (phase && phase !== p.phase) bars[phase].done();
    phase = p.phase;
    bars[p.phase].update(p.done, p.total, `SKU-regions, ${p.events} events`);
  }, values.from ? { from: values.from as "snapshot" | "scratch" } : {});
  if (phase) bars[phase].done();
  console.log(
    [
      "rebuild complete",
      `  started from         : ${summary.from === "snapshot" ? `the snapshot of ${summary.snapshotTakenAt!.toISOString()}` : "the first event"}`,
      `  SKU-regions replayed : ${summary.streams}`,
      `  events applied       : ${summary.events} (${summary.caughtUp} arrived during the rebuild)`,
      `  tables swapped in    : ${summary.tables.join(", ")}`,
      `  took                 : ${(summary.ms / 1000).toFixed(1)} s`,
    ].join("\n"),
  );
} catch (err) {
  console.error(`\nrebuild failed, the live projection is untouched: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await pool.end();
}
