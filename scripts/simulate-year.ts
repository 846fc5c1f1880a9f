// npm run simulate:year [-- --day-ms 1500 --days 364 --drop 200 --catalogue 20] (-- --help lists them)
// A year of one hot SKU-region and a small catalogue at accelerated time, twice in one run: with
// log compaction on and off. Every simulated day shoppers hold and give back units of the hot SKU
// and of the catalogue; every seventh day is a drop (restock, a burst of holds that sells out). The
// worker runs in workerd (miniflare, the bench's runner) with its queue consumers writing to a
// throwaway database on the machine's PostgreSQL. Beside the traffic, each simulated day reconcile
// tells the objects how far Postgres is (what compaction waits for) and, with compaction on, the projection is
// snapshotted and events, and ledger rows of holds that ended unsold, older than 90 simulated days
// are pruned (the nightly maintenance), as docs/data-over-time.md says.
// Retention is 30 simulated days: EVENT_RETENTION_DAYS is scaled to the simulated day's length.
// Reports, per simulated month, the hot object's database size and events held, the archive,
// Postgres table sizes; and the rebuild time after week 1 and after the year.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { drizzle } from "drizzle-orm/node-postgres";
import { createRequire } from "node:module";
import { buildWorker } from "../bench/lib/build.mjs";
import { miniflareRunner } from "../bench/lib/runner-miniflare.mjs";
import { renderTable } from "../bench/lib/table.mjs";
import { rebuildProjections } from "../system-of-record/rebuild";
import type { Db } from "../system-of-record/projection";
import { maintainSystemOfRecord } from "../system-of-record/snapshot";
import { createDatabase, dropDatabase, migrateDatabase } from "./db-migrate.mjs";
import { startBridge } from "./pg-bridge.mjs";

const require = createRequire(import.meta.url);
const pg = require("pg") as typeof import("pg");

// The defaults are the run docs/data-over-time.md reports. A shorter day outruns the local queue
// (miniflare delivers one consumer batch at a time, about 125 events a second here), and objects
// then hold events Postgres does not have yet, which compaction must wait for.
const OPTIONS = {
  "day-ms": { type: "string", default: "1500", help: "real milliseconds per simulated day (below ~1,000 the local queue falls behind)" },
  days: { type: "string", default: "364", help: "simulated days per run (each run: days x day-ms of real time, twice: compaction on and off)" },
  drop: { type: "string", default: "200", help: "units restocked for each weekly drop of the hot SKU" },
  catalogue: { type: "string", default: "20", help: "catalogue SKUs with everyday sales beside the hot SKU" },
  help: { type: "boolean", default: false, help: "this text" },
} as const;
function usage(): string {
  const lines = Object.entries(OPTIONS).map(([name, o]) => `  --${name.padEnd(10)} ${o.help}${o.type === "string" ? ` (default ${o.default})` : ""}`);
  return `npm run simulate:year [-- options]: a year of drops at accelerated time, compaction on and off\n${lines.join("\n")}\n`;
}
let parsed;
try {
  parsed = parseArgs({ options: OPTIONS });
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n\n${usage()}`);
  process.exit(2);
}
const values = parsed.values;
if (values.help) {
  process.stdout.write(usage());
  process.exit(0);
}
const numbers = { "day-ms": 50, days: 8, drop: 1, catalogue: 1 } as const; // the least each may be
for (const [name, least] of Object.entries(numbers)) {
  const n = Number(values[name as keyof typeof numbers]);
  if (!Number.isInteger(n) || n < least) {
    process.stderr.write(`--${name} must be a whole number of at least ${least}, not "${values[name as keyof typeof numbers]}"\n\n${usage()}`);
    process.exit(2);
  }
}
const DAY_MS = Number(values["day-ms"]);
const DAYS = Number(values.days);
const DROP = Number(values.drop);
const CATALOGUE = Number(values.catalogue);
const RETENTION_DAYS = 30;
const PRUNE_KEEP_DAYS = 90;
const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const KEY = "sim-key";
const TOKEN = "sim-admin";
const HOT = "SIM-HOT-LTD";
const progress = (text: string) => process.stderr.write(`${text}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Sample { day: number; hotBytes: number; hotEvents: number; archivedThrough: number; archiveBytes: number; pgEventsBytes: number; pgEventRows: number; pgLedgerBytes: number; pgLedgerRows: number; pgBehind: number }
interface Run { compaction: boolean; samples: Sample[]; rebuildWeek: number; rebuildYear: number; rebuildYearFrom: string; lagDays: number; realDayMs: number; maintenanceFailures: number }

// Stopped with Ctrl-C: the throwaway database goes too.
let current: string | null = null;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    progress(`[simulate] ${signal}: stopping`);
    void (current ? dropDatabase(ADMIN_URL, current).catch(() => {}) : Promise.resolve()).then(() => process.exit(130));
  });
}

async function simulate(compaction: boolean, build: { main: string }): Promise<Run> {
  const name = `simulate_year_${process.pid}_${compaction ? "on" : "off"}`;
  const url = await createDatabase(ADMIN_URL, name);
  current = name;
  await migrateDatabase(url);
  const bridge = await startBridge(0);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const db = drizzle(pool) as unknown as Db;
  const retentionDays = compaction ? (RETENTION_DAYS * DAY_MS) / 86_400_000 : 1_000_000;
  const runner = await miniflareRunner({
    scriptPath: build.main,
    configPath: join(process.cwd(), "wrangler.toml"),
    env: "",
    bindings: {
      REGIONS: "eu", STOREFRONT_KEYS: KEY, ADMIN_TOKEN: TOKEN, USER_ID_SECRET: "sim",
      DATABASE_URL: url, PG_BRIDGE: `127.0.0.1:${bridge.port}`, EVENT_RETENTION_DAYS: String(retentionDays),
      // The objects' real-time retentions (idempotency 48 h, ended holds 8 days) age at the simulated pace.
      RETENTION_TIME_SCALE: String(86_400_000 / DAY_MS),
    },
    queueConsumers: true,
  });
  const instance = await runner.start();
  const base = instance.url;
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}/v1/admin/eu/${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, ...(body !== undefined && { body: JSON.stringify(body) }) });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json as any;
  };
  let n = 0;
  const holdAndRelease = async (sku: string) => {
    const res = await fetch(`${base}/v1/eu/reservations`, {
      method: "POST",
      headers: { "x-api-key": KEY, "content-type": "application/json", "idempotency-key": `sim-${n++}` },
      body: JSON.stringify({ lines: [{ sku, qty: 1 }] }),
    });
    const body = (await res.json()) as any;
    if (res.status !== 201) return;
    await fetch(`${base}/v1/eu/reservations/${body.id}/release`, { method: "POST", headers: { "x-api-key": KEY, "x-reservation-token": body.token } }).then((r) => r.text());
  };
  const inParallel = async (count: number, fn: (i: number) => Promise<void>, width = 24) => {
    let next = 0;
    await Promise.all(Array.from({ length: width }, async () => {
      while (next < count) await fn(next++);
    }));
  };
  const pgSize = async () => {
    // inventory_events is partitioned by month: its size is its partitions'.
    const r = (await pool.query(`SELECT (SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits WHERE inhparent = 'inventory_events'::regclass)::bigint AS e,
                                        pg_total_relation_size('reservation_ledger')::bigint AS l,
                                        (SELECT count(*) FROM inventory_events)::int AS n, (SELECT count(*) FROM reservation_ledger)::int AS lr`)).rows[0];
    return { pgEventsBytes: Number(r.e), pgLedgerBytes: Number(r.l), pgEventRows: r.n, pgLedgerRows: r.lr };
  };
  const sample = async (day: number): Promise<Sample> => {
    const state = await admin("GET", `stock/${HOT}`);
    const archive = await admin("GET", `stock/${HOT}/archive`);
    const archiveBytes = archive.chunks.reduce((sum: number, c: { bytes: number }) => sum + c.bytes, 0);
    const applied = (await pool.query("SELECT applied_seq FROM stream_positions WHERE region = 'eu' AND sku = $1", [HOT])).rows[0]?.applied_seq ?? 0;
    return { day, hotBytes: state.storage.databaseBytes, hotEvents: state.storage.eventsHeld, archivedThrough: state.storage.archivedThrough, archiveBytes, pgBehind: state.version - applied, ...(await pgSize()) };
  };
  const timeRebuild = async () => {
    const started = Date.now();
    const summary = await rebuildProjections(db);
    return { ms: Date.now() - started, from: summary.from };
  };

  try {
    await admin("PUT", `stock/${HOT}`, { warehouse: "eu-ams", onHand: DROP });
    for (let i = 0; i < CATALOGUE; i++) await admin("PUT", `stock/SIM-CAT-${i}`, { warehouse: "eu-ams", onHand: 1_000 });
    const samples: Sample[] = [];
    let rebuildWeek = 0;
    const started = Date.now();
    // The simulated clock is the real one (day d is [started + (d-1) x DAY_MS, started + d x DAY_MS)),
    // because the objects' retentions run on the real clock. Maintenance runs beside the traffic, as
    // the crons do in production: each simulated day reconcile tells the objects how far Postgres is
    // (what compaction waits for), and with compaction on, the nightly maintenance (month partitions,
    // snapshot, events and unsold ledger rows older than 90 days pruned) follows.
    let running = true;
    let maintenanceFailures = 0;
    const maintenance = (async () => {
      for (let day = 1; running; day++) {
        try {
          await admin("GET", "reconcile?graceSeconds=3600");
          if (compaction) await maintainSystemOfRecord(db, { keepDays: (PRUNE_KEEP_DAYS * DAY_MS) / 86_400_000 });
        } catch (err) {
          // As a failed cron run: the next day's run does what this one did not.
          maintenanceFailures++;
          progress(`[simulate] day ${day}: maintenance failed (${(err as Error).message.slice(0, 160)}); the next run retries`);
        }
        const wait = started + day * DAY_MS - Date.now();
        if (wait > 0 && running) await sleep(wait);
      }
    })();
    try {
      for (let day = 1; day <= DAYS; day++) {
        const dayStarts = started + (day - 1) * DAY_MS;
        if (Date.now() < dayStarts) await sleep(dayStarts - Date.now());
        if (day % 7 === 0) {
          // Drop day: restock, then a burst of shoppers that sells it out (refusals write nothing).
          await admin("PUT", `stock/${HOT}`, { warehouse: "eu-ams", onHand: DROP });
          await inParallel(Math.round(DROP * 1.2), () => holdAndRelease(HOT));
        } else {
          await inParallel(10, () => holdAndRelease(HOT), 4);
        }
        await inParallel(20, () => holdAndRelease(`SIM-CAT-${Math.floor(Math.random() * CATALOGUE)}`), 4);
        if (day === 7) rebuildWeek = (await timeRebuild()).ms;
        if (day % 28 === 0 || day === DAYS) {
          const s = await sample(day);
          samples.push(s);
          progress(`[simulate] compaction ${compaction ? "on " : "off"} day ${day}/${DAYS}: hot object ${(s.hotBytes / 1e6).toFixed(2)} MB, ${s.hotEvents} events held (archived 1..${s.archivedThrough}), Postgres ${s.pgBehind} events behind it; archive ${(s.archiveBytes / 1e6).toFixed(2)} MB, Postgres ${s.pgEventRows} event rows, ${s.pgLedgerRows} ledger rows`);
        }
      }
    } finally {
      running = false;
      await maintenance;
    }
    // If the traffic could not keep the pace, simulated days lasted longer than DAY_MS of real time.
    const realDayMs = (Date.now() - started) / DAYS;
    const lagDays = (Date.now() - started) / DAY_MS - DAYS;
    const year = await timeRebuild();
    return { compaction, samples, rebuildWeek, rebuildYear: year.ms, rebuildYearFrom: year.from, lagDays, realDayMs, maintenanceFailures };
  } finally {
    await instance.stop();
    await pool.end();
    await bridge.close();
    await dropDatabase(ADMIN_URL, name).catch(() => {});
    current = null;
  }
}

const outdir = mkdtempSync(join(tmpdir(), "simulate-year-"));
try {
  progress(`[simulate] building the worker; a simulated day is ${DAY_MS} ms, a year ${(DAYS * DAY_MS / 1000).toFixed(0)} s per run`);
  const build = await buildWorker({ projectRoot: process.cwd(), outdir });
  const runs: Run[] = [];
  for (const compaction of [true, false]) runs.push(await simulate(compaction, build));
  const mb = (b: number) => (b / 1e6).toFixed(2);
  for (const run of runs) {
    const effective = run.compaction && run.lagDays > 1 ? `, effectively ${((30 * DAY_MS) / run.realDayMs).toFixed(1)} simulated days: the traffic could not keep the pace, a simulated day took ${run.realDayMs.toFixed(0)} ms` : "";
    console.log(`\ncompaction ${run.compaction ? `on (retention 30 days${effective}; snapshot + prune 90 days daily)` : "off"}; the run fell ${run.lagDays.toFixed(1)} simulated days behind real time; ${run.maintenanceFailures} daily maintenance run(s) failed and were retried the next day`);
    console.log(renderTable(
      [
        { header: "day", value: (s: Sample) => s.day },
        { header: "hot object MB", value: (s: Sample) => mb(s.hotBytes) },
        { header: "events held", value: (s: Sample) => s.hotEvents },
        { header: "archived through", value: (s: Sample) => s.archivedThrough },
        { header: "Postgres behind", value: (s: Sample) => s.pgBehind },
        { header: "archive MB", value: (s: Sample) => mb(s.archiveBytes) },
        { header: "PG events MB", value: (s: Sample) => mb(s.pgEventsBytes) },
        { header: "PG event rows", value: (s: Sample) => s.pgEventRows },
        { header: "PG ledger MB", value: (s: Sample) => mb(s.pgLedgerBytes) },
        { header: "PG ledger rows", value: (s: Sample) => s.pgLedgerRows },
      ],
      run.samples,
    ));
  }
  console.log(`\n${renderTable(
    [
      { header: "compaction", align: "left", value: (r: Run) => (r.compaction ? "on" : "off") },
      { header: "hot object MB, end", value: (r: Run) => mb(r.samples.at(-1)!.hotBytes) },
      { header: "largest MB", value: (r: Run) => mb(Math.max(...r.samples.map((s) => s.hotBytes))) },
      { header: "rebuild after week 1, s", value: (r: Run) => (r.rebuildWeek / 1000).toFixed(2) },
      { header: "rebuild after the year, s", value: (r: Run) => (r.rebuildYear / 1000).toFixed(2) },
      { header: "rebuilt from", align: "left", value: (r: Run) => r.rebuildYearFrom },
    ],
    runs,
  )}`);
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
