// The operator's side of recommendations: a build switches every reader to a new version at once,
// readers never see two versions mixed, old versions are deleted, progress streams, and the cron
// trigger runs the same build.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../workers/index";
import { pointerKey, versionPrefix } from "../recommendations/store";
import { ADMIN_TOKEN, adminHeaders, call, fetchWorker } from "./client";
import { checkedFetch } from "./contract";
import { build, ordered, recommend, sandboxRegion, sell } from "./recs";

async function keysOf(region: string, version: string): Promise<number> {
  return (await env.RECOMMENDATIONS.list({ prefix: versionPrefix(region, version) })).keys.length;
}

describe("switching versions", () => {
  it("serves each read wholly from one version while a new build swaps in", async () => {
    const region = sandboxRegion("build");
    await sell(region, [{ sku: "BASE" }, { sku: "OLD", brand: "Brand B" }, { sku: "NEW", brand: "Brand C" }]);
    await ordered(region, [{ skus: ["BASE", "OLD"], times: 3 }]);
    const first = await build(region);
    // Later orders make NEW the better companion; OLD stays in both versions.
    await ordered(region, [{ skus: ["BASE", "NEW"], times: 12 }]);
    const expected: Record<string, string> = { [first.version]: "OLD" };
    const reads: { version: string; top: string }[] = [];
    let building = true;
    const readers = Array.from({ length: 4 }, async () => {
      while ((building || reads.length < 8) && reads.length < 500) {
        const res = await recommend(region, { context: ["BASE"], limit: 2 });
        expect(res.status).toBe(200);
        reads.push({ version: res.body.listsVersion, top: res.body.items[0].sku });
        // A storefront's pace, not a spin: four unpaced loops in the one local isolate starve the
        // build's Postgres connection (locally only; production spreads them over isolates).
        await new Promise((r) => setTimeout(r, 10));
      }
    });
    const second = await build(region).finally(() => {
      building = false;
    });
    await Promise.all(readers);
    expected[second.version] = "NEW";
    for (const read of reads) expect(read.top).toBe(expected[read.version]);
    const after = await recommend(region, { context: ["BASE"], limit: 2 });
    expect(after.body).toMatchObject({ listsVersion: second.version, items: [{ sku: "NEW" }, { sku: "OLD" }] });
    const pointer = await env.RECOMMENDATIONS.get<{ version: string }>(pointerKey(region), "json");
    expect(pointer!.version).toBe(second.version);
  });

  it("keeps the previous version one build longer for readers in flight, and deletes older ones", async () => {
    const region = sandboxRegion("build");
    await sell(region, [{ sku: "X" }, { sku: "Y", brand: "Brand B" }]);
    await ordered(region, [{ skus: ["X", "Y"] }]);
    const v1 = await build(region);
    const v2 = await build(region);
    expect(v2.deletedVersions).toEqual([]);
    expect(await keysOf(region, v1.version)).toBeGreaterThan(0);
    const v3 = await build(region);
    expect(v3.deletedVersions).toEqual([v1.version]);
    expect(await keysOf(region, v1.version)).toBe(0);
    expect(await keysOf(region, v2.version)).toBe(v2.keys);
    expect(await keysOf(region, v3.version)).toBe(v3.keys);
  });

  it("summarises what it built", async () => {
    const region = sandboxRegion("build");
    await sell(region, [{ sku: "S1" }, { sku: "S2", brand: "Brand B", category: "serum" }, { sku: "S3", brand: "Brand C" }]);
    await ordered(region, [{ skus: ["S1", "S2"], user: "u1" }, { skus: ["S1", "S3"], user: "u2" }, { skus: ["S3"] }]);
    const summary = await build(region);
    expect(summary).toMatchObject({
      region,
      baskets: 3,
      users: 2,
      items: 3,
      model: "blend",
      lists: { boughtTogether: 3, forYou: 2, popular: 2 },
      // best-sellers, 2 categories, 3 item entries (card and bought-together list), 2 for-you lists
      keys: 1 + 2 + 3 + 2,
    });
    expect(summary.bytes).toBeGreaterThan(0);
  });
});

describe("the Worker's KV budget", () => {
  it("refuses a build whose lists need more keys than one invocation may write, writing nothing, and points offline", async () => {
    const region = sandboxRegion("build");
    await sell(region, [{ sku: "K1" }, { sku: "K2", brand: "Brand B" }, { sku: "K3", brand: "Brand C" }]);
    await ordered(region, [{ skus: ["K1", "K2", "K3"], times: 2 }]);
    const tight = { ...env, RECS_MAX_KEYS_PER_BUILD: "4" }; // this region needs 1 + 1 category + 3 SKUs = 5
    const ctx = createExecutionContext();
    const buildRequest = new Request(`http://edge.test/v1/admin/${region}/recommendations/builds`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const res = await checkedFetch(buildRequest, (request) => worker.fetch(request as never, tight as never, ctx));
    await waitOnExecutionContext(ctx);
    const body = (await res.json()) as any;
    expect(res.status).toBe(422);
    expect(body.code).toBe("build_too_large");
    expect(body.detail).toContain("needs 5 KV keys");
    expect(body.detail).toContain("recs:offline-build");
    expect((await env.RECOMMENDATIONS.list({ prefix: `recs:${region}:` })).keys).toEqual([]);
    const builds = await call("GET", `/v1/admin/${region}/recommendations/builds`, { headers: adminHeaders() });
    expect(builds.body.builds).toEqual([]);
    // Within the budget the same region builds.
    expect((await build(region)).keys).toBe(5);
  });
});

describe("progress and the cron trigger", () => {
  it("streams progress lines and ends with the summary when asked for NDJSON", async () => {
    const region = sandboxRegion("build");
    await sell(region, [{ sku: "P1" }, { sku: "P2", brand: "Brand B" }]);
    await ordered(region, [{ skus: ["P1", "P2"], times: 2 }]);
    const res = await fetchWorker(`http://edge.test/v1/admin/${region}/recommendations/builds`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, accept: "application/x-ndjson" },
    });
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
    const phases = [...new Set(lines.filter((l) => l.progress).map((l) => l.progress.phase))];
    expect(phases).toEqual(["reading", "computing", "writing", "switching", "cleaning"]);
    expect(lines.at(-1).summary).toMatchObject({ region, baskets: 2 });
  });

  it("builds every served region from the scheduled handler", async () => {
    const region = sandboxRegion("build");
    await sell(region, [{ sku: "C1" }, { sku: "C2", brand: "Brand B" }]);
    await ordered(region, [{ skus: ["C1", "C2"] }]);
    expect(await env.RECOMMENDATIONS.get(pointerKey(region))).toBeNull();
    const ctx = createExecutionContext();
    await worker.scheduled!(createScheduledController({ cron: "17 * * * *", scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await env.RECOMMENDATIONS.get(pointerKey(region))).not.toBeNull();
    expect((await recommend(region, { context: ["C1"] })).body.items[0]).toMatchObject({ sku: "C2", reason: "bought_together" });
  });
});
