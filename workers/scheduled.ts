// The cron triggers: every 10 minutes, repair the system of record of every served region
// (system-of-record/repair.ts); nightly, maintain its database (month partitions, a projection
// snapshot, events pruned behind it: system-of-record/snapshot.ts); hourly, rebuild every served
// region's recommendation lists.
import { buildRecommendations } from "../recommendations/build";
import { repairRegion } from "../system-of-record/repair";
import { keepDays, maintainSystemOfRecord } from "../system-of-record/snapshot";
import { connect } from "./db";
import type { Env } from "./env";
import { servedRegions } from "./openapi";
import { error, info, log } from "../observability/log";
import { record } from "../observability/metrics";

/** Must match a cron in wrangler.toml (every env); scripts/start.mjs runs it locally on the same schedule. */
export const REPAIR_CRON = "*/10 * * * *";
/** Must match a cron in wrangler.toml (every env): after the night's quietest hour in every region's market. */
export const MAINTENANCE_CRON = "40 3 * * *";


/** `waitUntil`: keeps the metrics hand-over alive after the run (the drift each repair found). */
export async function onSchedule(env: Env, cron: string, waitUntil: (p: Promise<unknown>) => void = () => {}): Promise<void> {
  if (cron === REPAIR_CRON) return repairEveryRegion(env, cron, waitUntil);
  if (cron === MAINTENANCE_CRON) return maintainDatabase(env, cron);
  return buildEveryRegion(env, cron);
}

export async function repairEveryRegion(env: Env, cron: string, waitUntil: (p: Promise<unknown>) => void = () => {}): Promise<void> {
  const graceMs = Number(env.RECONCILE_GRACE_SECONDS ?? "60") * 1000;
  for (const region of servedRegions(env)) {
    const { db, close } = connect(env);
    try {
      const s = await repairRegion(db, env.INVENTORY, region, { graceMs });
      const line = { cron, region, checked: s.checked, ok: s.ok, lagging: s.lagging, resent: s.resent, drift: s.drift.map((d) => d.sku), raised: s.raised, pages: s.pages, durationMs: s.ms };
      log(s.drift.length ? "warn" : "info", "repair", line);
      record(env, waitUntil, region, { kind: "reconcile_drift", drift: s.drift.length });
    } catch (err) {
      // One region failing must not keep the others unrepaired; the next run retries.
      error("repair_failed", { cron, region, error: err });
    } finally {
      await close();
    }
  }
}

/** One database per environment (its DATABASE_URL), whatever regions it serves: maintained once. */
export async function maintainDatabase(env: Env, cron: string): Promise<void> {
  const { db, close } = connect(env);
  try {
    const s = await maintainSystemOfRecord(db, { keepDays: keepDays(env) });
    info("maintenance", {
      cron, partitionsCreated: s.partitionsCreated, snapshotStreams: s.snapshot.streams, pruned: s.prune.deleted,
      droppedPartitions: s.prune.droppedPartitions, eventsKept: s.prune.keptAfterSnapshot, ledgerPruned: s.ledgerPruned, durationMs: s.ms,
    });
  } catch (err) {
    // Nothing is lost by a missed night: the next run snapshots and prunes what this one did not.
    error("maintenance_failed", { cron, error: err });
  } finally {
    await close();
  }
}

export async function buildEveryRegion(env: Env, cron: string): Promise<void> {
  for (const region of servedRegions(env)) {
    const { db, close } = connect(env);
    try {
      const s = await buildRecommendations(db, env.RECOMMENDATIONS, region);
      info("recommendations_built", { cron, region, version: s.version, baskets: s.baskets, users: s.users, items: s.items, keys: s.keys, bytes: s.bytes, durationMs: s.ms });
    } catch (err) {
      // One region failing must not keep the others on stale lists; the next run retries.
      error("recommendations_build_failed", { cron, region, error: err });
    } finally {
      await close();
    }
  }
}
