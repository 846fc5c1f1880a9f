// The cron trigger: rebuild every served region's recommendation lists from Postgres.
import { buildRecommendations } from "../recommendations/build";
import { connect } from "./db";
import type { Env } from "./env";

export async function buildEveryRegion(env: Env, cron: string): Promise<void> {
  for (const region of env.REGIONS.split(",").map((r) => r.trim()).filter(Boolean)) {
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
