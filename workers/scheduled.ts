// The cron triggers: every 10 minutes, repair the system of record of every served region
// (system-of-record/repair.ts); hourly, rebuild every served region's recommendation lists.
import { buildRecommendations } from "../recommendations/build";
import { repairRegion } from "../system-of-record/repair";
import { connect } from "./db";
import type { Env } from "./env";
import { error, info, log } from "../observability/log";
import { record } from "../observability/metrics";

/** Must match a cron in wrangler.toml (every env); scripts/start.mjs runs it locally on the same schedule. */
export const REPAIR_CRON = "*/10 * * * *";

const servedRegions = (env: Env) => env.REGIONS.split(",").map((r) => r.trim()).filter(Boolean);

/** `waitUntil`: keeps the metrics hand-over alive after the run (the drift each repair found). */
export async function onSchedule(env: Env, cron: string, waitUntil: (p: Promise<unknown>) => void = () => {}): Promise<void> {
  if (cron === REPAIR_CRON) return repairEveryRegion(env, cron, waitUntil);
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
