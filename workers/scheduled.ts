// The cron triggers: every 10 minutes, repair the system of record of every served region
// (system-of-record/repair.ts); nightly, maintain its database (month partitions, a projection
// snapshot, events pruned behind it: system-of-record/snapshot.ts); hourly, rebuild every served
// region's recommendation lists.
import { buildRecommendations } from "../recommendations/build";
import { repairRegion } from "../system-of-record/repair";
import { keepDays, maintainSystemOfRecord } from "../system-of-record/snapshot";
import { connect } from "./db";
import type { Env } from "./env";

/** Must match a cron in wrangler.toml (every env); scripts/start.mjs runs it locally on the same schedule. */
export const REPAIR_CRON = "*/10 * * * *";
/** Must match a cron in wrangler.toml (every env): after the night's quietest hour in every region's market. */
export const MAINTENANCE_CRON = "40 3 * * *";

const servedRegions = (env: Env) => env.REGIONS.split(",").map((r) => r.trim()).filter(Boolean);

export async function onSchedule(env: Env, cron: string): Promise<void> {
  if (cron === REPAIR_CRON) return repairEveryRegion(env, cron);
  if (cron === MAINTENANCE_CRON) return maintainDatabase(env, cron);
  return buildEveryRegion(env, cron);
}

export async function repairEveryRegion(env: Env, cron: string): Promise<void> {
  const graceMs = Number(env.RECONCILE_GRACE_SECONDS ?? "60") * 1000;
  for (const region of servedRegions(env)) {
    const { db, close } = connect(env);
    try {
      const s = await repairRegion(db, env.INVENTORY, region, { graceMs });
      const line = { event: "repair", cron, region, checked: s.checked, ok: s.ok, lagging: s.lagging, resent: s.resent, drift: s.drift.map((d) => d.sku), raised: s.raised, pages: s.pages, ms: s.ms };
      if (s.drift.length) console.warn(JSON.stringify({ level: "warn", ...line }));
      else console.log(JSON.stringify({ level: "info", ...line }));
    } catch (err) {
      // One region failing must not keep the others unrepaired; the next run retries.
      console.error(JSON.stringify({ level: "error", event: "repair_failed", cron, region, error: String((err as Error)?.message ?? err) }));
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
    console.log(JSON.stringify({
      level: "info", event: "maintenance", cron, partitionsCreated: s.partitionsCreated, snapshotStreams: s.snapshot.streams,
      pruned: s.prune.deleted, droppedPartitions: s.prune.droppedPartitions, eventsKept: s.prune.keptAfterSnapshot, ms: s.ms,
    }));
  } catch (err) {
    // Nothing is lost by a missed night: the next run snapshots and prunes what this one did not.
    console.error(JSON.stringify({ level: "error", event: "maintenance_failed", cron, error: String((err as Error)?.message ?? err) }));
  } finally {
    await close();
  }
}

export async function buildEveryRegion(env: Env, cron: string): Promise<void> {
  for (const region of servedRegions(env)) {
    const { db, close } = connect(env);
    try {
      const s = await buildRecommendations(db, env.RECOMMENDATIONS, region);
      console.log(
        `recommendations ${region} (${cron}): ${s.version}, ${s.baskets} baskets, ${s.users} users, ${s.items} items, ${s.keys} keys, ${s.bytes} bytes, ${s.ms} ms`,
      );
    } catch (err) {
      // One region failing must not keep the others on stale lists; the next run retries.
      console.error(`recommendations ${region}: build failed`, err);
    } finally {
      await close();
    }
  }
}
