// Recommendations at the edge: blended from KV lists, filtered by live availability. And the admin
// side: run a build now (what `npm run recs:build` calls; the cron trigger runs the same build).
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { desc, eq } from "drizzle-orm";
import { BuildSummary, RecommendationsQuery, RecommendationsResponse, RegionParams } from "../../schema/contracts";
import { recommendationBuilds } from "../../schema/tables";
import { buildRecommendations, type BuildPhase } from "../../recommendations/build";
import { pick, rankCandidates } from "../../recommendations/blend";
import { readLists } from "../../recommendations/store";
import { adminToken, knownRegion, storefrontKey } from "../auth";
import { connect } from "../db";
import type { AppEnv } from "../env";
import { CONSENT_HEADER, hasConsent, pseudonymise } from "../privacy";
import { Problem } from "../problems";
import { readSnapshot } from "../snapshot-cache";
import { validationHook } from "../validation";
import { databaseUnavailable } from "./catalog";
import { AdminHeaders, stockStatus, StorefrontHeaders } from "./common";
import { ADMIN_PROBLEMS, adminAccess, problems, STOREFRONT_PROBLEMS, storefrontAccess } from "./contract";

const getRecommendations = createRoute({
  method: "get",
  path: "/v1/{region}/recommendations",
  operationId: "getRecommendations",
  tags: ["storefront"],
  security: storefrontAccess,
  summary: "Products to show next: bought together with the context, for this shopper (with consent), popular in the category",
  description:
    "Send `Personalization-Consent: granted` only when the shopper agreed to personalised recommendations; without it " +
    "`user` is ignored and only the context and popular lists are used. Items the region does not sell, cannot sell " +
    "right now, or that are already in the context are left out; a brand fills at most a third of the list.",
  middleware: [storefrontKey(), knownRegion()] as const,
  request: {
    params: RegionParams,
    query: RecommendationsQuery,
    headers: StorefrontHeaders.extend({
      [CONSENT_HEADER]: z.string().optional().openapi({ description: "`granted` allows user-level personalisation", example: "granted" }),
    }),
  },
  responses: {
    200: { description: "Up to `limit` items, best first, each with its reason", content: { "application/json": { schema: RecommendationsResponse } } },
    ...problems(...STOREFRONT_PROBLEMS, "recommendations_unavailable", "setting_missing", "try_again"),
  },
});

const startBuild = createRoute({
  method: "post",
  path: "/v1/admin/{region}/recommendations/builds",
  operationId: "buildRecommendations",
  tags: ["admin"],
  security: adminAccess,
  summary: "Build the region's recommendation lists now and switch readers to them",
  description:
    "Answers with the summary once the new version is live. With `Accept: application/x-ndjson` it streams progress lines " +
    "(`{\"progress\":{phase,done,total}}`) and ends with `{\"summary\":...}` or `{\"error\":...}`.",
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: RegionParams, headers: AdminHeaders.extend({ accept: z.string().optional() }) },
  responses: {
    200: {
      description: "With Accept: application/x-ndjson: progress lines, then the summary (or the error)",
      content: { "application/x-ndjson": { schema: z.string() } },
    },
    201: { description: "The build is live", content: { "application/json": { schema: BuildSummary } } },
    ...problems(...ADMIN_PROBLEMS, "database_unavailable", "setting_missing"),
  },
});

const listBuilds = createRoute({
  method: "get",
  path: "/v1/admin/{region}/recommendations/builds",
  operationId: "listRecommendationBuilds",
  tags: ["admin"],
  security: adminAccess,
  summary: "Recent recommendation builds, newest first",
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: RegionParams, headers: AdminHeaders },
  responses: {
    200: {
      description: "Builds",
      content: {
        "application/json": {
          schema: z.object({
            region: z.string(),
            builds: z.array(
              z.object({ version: z.string(), startedAt: z.string(), swappedAt: z.string().nullable(), deletedAt: z.string().nullable(), summary: z.unknown() }),
            ),
          }),
        },
      },
    },
    ...problems(...ADMIN_PROBLEMS, "database_unavailable", "setting_missing"),
  },
});

export const recommendations = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(getRecommendations, async (c) => {
    const { region } = c.req.valid("param");
    const { user, context, limit } = c.req.valid("query");
    const consent = hasConsent(c.req.valid("header")[CONSENT_HEADER]);
    const shopper = consent && user ? await pseudonymise(c.env, region, user) : undefined;
    const uniqueContext = [...new Set(context)];
    let lists: Awaited<ReturnType<typeof readLists>>;
    try {
      lists = await readLists(c.env.RECOMMENDATIONS, region, { shopper, context: uniqueContext });
    } catch (err) {
      console.warn("recommendations: KV read failed", err);
      throw new Problem("recommendations_unavailable");
    }
    const ranked = rankCandidates({ ...lists, context: uniqueContext });
    const status = new Map<string, number>();
    const chosen = await pick(ranked, lists.catalog, limit, async (skus) => {
      const reads = await Promise.all(skus.map((sku) => readSnapshot(c.env, c.executionCtx, region, sku)));
      for (const r of reads) status.set(r.snapshot.sku, r.snapshot.available);
      return new Set(reads.filter((r) => r.snapshot.available > 0).map((r) => r.snapshot.sku));
    });
    c.header("cache-control", "private, no-store");
    return c.json(
      {
        region,
        personalised: Boolean(lists.forUser?.length),
        listsVersion: lists.version,
        items: chosen.map((r) => {
          const [name, brand, category] = lists.catalog[r.sku]!;
          return { ...r, name, brand, category, status: stockStatus(status.get(r.sku) ?? 0, c.env) };
        }),
      },
      200,
    );
  })
  .openapi(startBuild, async (c) => {
    const { region } = c.req.valid("param");
    const { db, close } = connect(c.env);
    if (!/application\/x-ndjson/.test(c.req.valid("header").accept ?? "")) {
      try {
        return c.json(await buildRecommendations(db, c.env.RECOMMENDATIONS, region), 201);
      } catch (err) {
        throw databaseUnavailable(err);
      } finally {
        c.executionCtx.waitUntil(close());
      }
    }
    // Streamed: one JSON line per progress step (at most every 100 ms per phase), then the summary.
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    const encoder = new TextEncoder();
    const send = (line: unknown) => writer.write(encoder.encode(`${JSON.stringify(line)}\n`)).catch(() => undefined);
    let last = { phase: "" as BuildPhase | "", at: 0 };
    const run = buildRecommendations(db, c.env.RECOMMENDATIONS, region, (progress) => {
      const now = Date.now();
      if (progress.phase === last.phase && now - last.at < 100 && progress.done < progress.total) return;
      last = { phase: progress.phase, at: now };
      void send({ progress });
    })
      .then((summary) => send({ summary }))
      .catch((err) => {
        console.warn("recommendation build failed", err);
        return send({ error: { code: "build_failed", detail: String((err as Error)?.message ?? err) } });
      })
      .finally(async () => {
        await writer.close().catch(() => undefined);
        await close();
      });
    c.executionCtx.waitUntil(run);
    const stream = new Response(readable, { headers: { "content-type": "application/x-ndjson", "cache-control": "no-store" } });
    // Hono's typed responses have no streaming body; this is the 200 documented above.
    return stream as never;
  })
  .openapi(listBuilds, async (c) => {
    const { region } = c.req.valid("param");
    const { db, close } = connect(c.env);
    try {
      const rows = await db
        .select()
        .from(recommendationBuilds)
        .where(eq(recommendationBuilds.region, region))
        .orderBy(desc(recommendationBuilds.startedAt))
        .limit(20);
      const iso = (d: Date | null) => (d ? d.toISOString() : null);
      return c.json(
        {
          region,
          builds: rows.map((b) => ({ version: b.version, startedAt: b.startedAt.toISOString(), swappedAt: iso(b.swappedAt), deletedAt: iso(b.deletedAt), summary: b.summary })),
        },
        200,
      );
    } catch (err) {
      throw databaseUnavailable(err);
    } finally {
      c.executionCtx.waitUntil(close());
    }
  });
