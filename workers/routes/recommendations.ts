// Recommendations at the edge: blended from KV lists, filtered by live availability. And the admin
// side: run a build now (what `npm run recs:build` calls; the cron trigger runs the same build).
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { desc, eq } from "drizzle-orm";
import type { Context } from "hono";
import { BuildSummary, LIMITS_RECS, MARKET_PATTERN, RecommendationsQuery, RecommendationsResponse, RegionParams, SKU_PATTERN, UserId } from "../../schema/contracts";
import { recommendationBuilds } from "../../schema/tables";
import { BuildTooLarge, buildRecommendations, type BuildPhase, MAX_KEYS_PER_WORKER_BUILD } from "../../recommendations/build";
import { type ErasureFeed, listsOf } from "../../recommendations/list-cache";
import { erasedLately, erasureDigest } from "../../recommendations/store";
import { MARKETS, REGION_MARKETS } from "../../recommendations/markets";
import { AnswerMemo, maxAvailabilityChecks, recommendTextAtOnce } from "../../recommendations/serve";
import { adminToken, knownRegion, storefrontKey } from "../auth";
import { connect } from "../db";
import type { AppEnv, Env } from "../env";
import { CONSENT_HEADER, hasConsent, pseudonymAtOnce, pseudonymise, SHOPPER_ID_HEADER } from "../privacy";
import { Problem } from "../problems";
import { availabilityOf, unitsInMemory, type WaitUntil } from "../snapshot-cache";
import { checkedAs, queryObject, validationHook } from "../validation";
import { databaseUnavailable } from "./catalog";
import { AdminHeaders, stockStatus, StorefrontHeaders } from "./common";
import { ADMIN_PROBLEMS, adminAccess, problems, STOREFRONT_PROBLEMS, storefrontAccess } from "./contract";
import { warn } from "../../observability/log";
import { record } from "../../observability/metrics";

/** This isolate's answers that are not personalised (recommendations/serve.ts). */
export const answerMemo = new AnswerMemo();

/** Erasures through other isolates, as the lists' namespace announces them (recommendations/list-cache.ts), made once per binding. */
let feed: { kv: KVNamespace; feed: ErasureFeed } | undefined;
function erasureFeed(kv: KVNamespace): ErasureFeed {
  if (feed?.kv !== kv) feed = { kv, feed: { erased: (region) => erasedLately(kv, region), digest: erasureDigest } };
  return feed.feed;
}

/** Availability reads a request may spend before it answers unfiltered, marked `availability: "unknown"`. */
export const SNAPSHOT_BUDGET_MS = 300;

const RecommendationHeaders = StorefrontHeaders.extend({
  [CONSENT_HEADER]: z.string().optional().openapi({ description: "`granted` allows user-level personalisation", example: "granted" }),
  [SHOPPER_ID_HEADER]: UserId.optional().openapi({ description: "The storefront's shopper id; pseudonymised at the edge, used only with consent" }),
  "accept-language": z.string().max(500).optional().openapi({ example: "fr-CH, fr;q=0.9, en;q=0.5" }),
});

const getRecommendations = createRoute({
  method: "get",
  path: "/v1/{region}/recommendations",
  operationId: "getRecommendations",
  tags: ["storefront"],
  security: storefrontAccess,
  summary: "Products to show next: bought together with the context, for this shopper (with consent), popular in the category",
  description:
    "Send the shopper id in the `Shopper-Id` header (never in the URL) and `Personalization-Consent: granted` only when " +
    "the shopper agreed to personalised recommendations; without consent the id is ignored and only the context and popular " +
    "lists are used. Items the region does not sell, cannot sell right now, or that are already in the context are left " +
    "out; a brand fills at most a third of the list. Names follow Accept-Language, then the market's language; prices " +
    "are the market's. With no context and no shopper, the region's best-sellers by baskets.",
  request: {
    params: RegionParams,
    query: RecommendationsQuery,
    headers: RecommendationHeaders,
  },
  responses: {
    200: { description: "Up to `limit` items, best first, each with its reason", content: { "application/json": { schema: RecommendationsResponse } } },
    ...problems(...STOREFRONT_PROBLEMS, "recommendations_unavailable", "setting_missing", "try_again", "shopper_id_in_url"),
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
    ...problems(...ADMIN_PROBLEMS, "database_unavailable", "setting_missing", "build_too_large"),
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

// Declared in the document as above, but served without the generic validators (as the availability
// route is): a request is checked in one pass, and only one that fails it goes through zod
// (RecommendationsQuery and the declared headers), which then answers exactly as the validators would.
export const recommendations = new OpenAPIHono<AppEnv>();
recommendations.openAPIRegistry.registerPath(getRecommendations);
recommendations.get("/v1/:region/recommendations", storefrontKey(), knownRegion(), async (c) =>
  recommendationsResponse(c.env, c.executionCtx, c.get("region"), await recommendationsRequest(c), c.get("trace").traceId),
);

/** What a recommendation request asks for, once checked. */
export interface RecommendationsAsk {
  context: string[];
  limit: number;
  market?: string;
  shopperId?: string;
  consent?: string;
  acceptLanguage?: string;
}

/** The answer to a checked request: what GET /v1/{region}/recommendations sends, through the router or not. */
export async function recommendationsResponse(env: Env, ctx: WaitUntil, region: string, ask: RecommendationsAsk, traceId: string): Promise<Response> {
  const started = Date.now();
  const { context, limit, market: asked, shopperId, consent, acceptLanguage } = ask;
  const market = asked ?? REGION_MARKETS[region]?.[0] ?? null;
  if (market && !MARKETS[market]) throw new Problem("invalid_request", `Unknown market ${market}; known: ${Object.keys(MARKETS).join(", ")}`);
  const shopper = hasConsent(consent) && shopperId ? (pseudonymAtOnce(env, region, shopperId) ?? (await pseudonymise(env, region, shopperId))) : undefined;
  let body: string;
  let cacheHit = false;
  let fromMemo = false;
  const budget = availabilityBudget();
  // Lists from this isolate's memory, KV for what it does not hold; a shopper's list is kept while
  // the region's erasure feed names nobody (recommendations/list-cache.ts).
  const lists = listsOf(env.RECOMMENDATIONS, erasureFeed(env.RECOMMENDATIONS));
  if (shopper !== undefined) lists.lookIfDue(region, ctx);
  try {
    const answer = recommendTextAtOnce(
      { region, context, limit, market, shopper, acceptLanguage },
      {
        lists,
        // One read-model lookup per page of SKUs (workers/snapshot-cache.ts), not one per candidate,
        // within the request's budget.
        available: async (skus) => (await budget.within(availabilityOf(env, ctx, region, skus)))?.items ?? null,
        // Pages this isolate holds fresh answer at once, with no promise and no timer.
        unitsInMemory: (skus) => unitsInMemory(env, ctx, region, skus),
        maxChecks: maxAvailabilityChecks(limit),
        status: (available) => stockStatus(available, env),
        cacheHit: (hit) => (cacheHit = hit),
        // Answers that are not personalised, served again while the version and the statuses of the units they saw hold.
        memo: answerMemo,
        fromMemo: () => (fromMemo = true),
      },
    );
    // Text at once when nothing had to be read; a promise otherwise.
    body = typeof answer === "string" ? answer : await answer;
  } catch (err) {
    warn("recommendations_kv_read_failed", { region, error: err, trace: traceId });
    throw new Problem("recommendations_unavailable");
  } finally {
    budget.done();
  }
  record(env, (p) => ctx.waitUntil(p), region, { kind: "recommendation", ms: Date.now() - started, cacheHit, fromMemo });
  // Made here rather than through c.header() and c.json(), which build a Headers object of their
  // own and copy it into the Response's.
  return new Response(body, {
    status: 200,
    headers: { "content-type": "application/json", "cache-control": "private, no-store", vary: "accept-language" },
  });
}

/**
 * The request checked in one pass over its query (as parsed, name -> values) and headers; undefined
 * when it is not plainly valid (the route then lets zod word the 400). A shopper id in the URL is
 * never plainly valid.
 */
export function plainAsk(query: Readonly<Record<string, string[]>>, header: (name: string) => string | null | undefined): RecommendationsAsk | undefined {
  if (query.user) return undefined;
  const shopperId = header(SHOPPER_ID_HEADER) ?? undefined;
  const acceptLanguage = header("accept-language") ?? undefined;
  const consent = header(CONSENT_HEADER) ?? undefined;
  const one = (name: string) => query[name]?.[0];
  let valid = (shopperId === undefined || (shopperId.length >= 1 && shopperId.length <= 200)) && (acceptLanguage === undefined || acceptLanguage.length <= 500);
  for (const name in query) valid &&= query[name]!.length === 1;
  const market = one("market");
  valid &&= market === undefined || MARKET_PATTERN.test(market);
  const given = one("limit");
  const limit = given === undefined ? LIMITS_RECS.defaultLimit : /^[0-9]{1,2}$/.test(given) ? Number(given) : NaN;
  valid &&= limit >= 1 && limit <= LIMITS_RECS.maxLimit;
  const text = one("context");
  const context = text ? text.split(",") : [];
  valid &&= context.length <= LIMITS_RECS.maxContext;
  for (let i = 0; valid && i < context.length; i++) valid = SKU_PATTERN.test((context[i] = context[i]!.trim()));
  return valid ? { context, limit, market, shopperId, consent, acceptLanguage } : undefined;
}

/** What a recommendation request asks for, checked in one pass; zod decides (and words the 400) for the rest. */
async function recommendationsRequest(c: Context<AppEnv>): Promise<RecommendationsAsk> {
  const query = c.req.queries();
  // The shopper id once came as `?user=`; a URL lands in logs and traces, so it is refused there.
  if (query.user) throw new Problem("shopper_id_in_url", `Send the shopper id in the ${SHOPPER_ID_HEADER} header, never in the URL`, { header: SHOPPER_ID_HEADER });
  const plain = plainAsk(query, (name) => c.req.header(name));
  if (plain) return plain;
  // The rare path: the declared schemas, with the messages the generic validators would give.
  const parsed = await checkedAs(RecommendationsQuery, "query", queryObject(query));
  await checkedAs(RecommendationHeaders, "header", c.req.header());
  return { ...parsed, shopperId: c.req.header(SHOPPER_ID_HEADER), consent: c.req.header(CONSENT_HEADER), acceptLanguage: c.req.header("accept-language") };
}

export const recommendationAdmin = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(startBuild, async (c) => {
    const { region } = c.req.valid("param");
    const { db, close } = connect(c.env);
    if (!/application\/x-ndjson/.test(c.req.valid("header").accept ?? "")) {
      try {
        return c.json(await buildRecommendations(db, c.env.RECOMMENDATIONS, region, undefined, maxKeysPerBuild(c.env)), 201);
      } catch (err) {
        if (err instanceof BuildTooLarge) throw new Problem("build_too_large", err.message);
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
    const run = buildRecommendations(
      db,
      c.env.RECOMMENDATIONS,
      region,
      (progress) => {
      const now = Date.now();
      if (progress.phase === last.phase && now - last.at < 100 && progress.done < progress.total) return;
      last = { phase: progress.phase, at: now };
      void send({ progress });
      },
      maxKeysPerBuild(c.env),
    )
      .then((summary) => send({ summary }))
      .catch((err) => {
        warn("recommendations_build_failed", { region, error: err, trace: c.get("trace").traceId });
        return send({ error: { code: err instanceof BuildTooLarge ? "build_too_large" : "build_failed", detail: String((err as Error)?.message ?? err) } });
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

/**
 * Runs the availability reads of one request within SNAPSHOT_BUDGET_MS in all: a read that fails, or
 * does not finish before the budget runs out, gives null. One timer per request, not per read.
 */
function availabilityBudget() {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let late: Promise<null> | undefined;
  return {
    async within<T>(reads: Promise<T>): Promise<T | null> {
      late ??= new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), SNAPSHOT_BUDGET_MS)));
      reads.catch(() => undefined); // a read that fails after the budget ran out has nobody to tell
      try {
        return await Promise.race([reads, late]);
      } catch (err) {
        warn("recommendations_availability_unknown", { error: err, detail: "answering unfiltered" });
        return null;
      }
    },
    // Most requests never started the timer (their availability was in memory): nothing to clear.
    done: () => timer !== undefined && clearTimeout(timer),
  };
}

/** `RECS_MAX_KEYS_PER_BUILD` lowers the budget (tests, or a tighter account); it cannot raise it. */
function maxKeysPerBuild(env: { RECS_MAX_KEYS_PER_BUILD?: string }): number {
  const n = Number(env.RECS_MAX_KEYS_PER_BUILD);
  return Number.isInteger(n) && n > 0 ? Math.min(n, MAX_KEYS_PER_WORKER_BUILD) : MAX_KEYS_PER_WORKER_BUILD;
}
