// The storefront's two most frequent calls, GET /v1/{region}/availability and
// GET /v1/{region}/recommendations, answered without the router when the request is plain: a served
// region, nothing to decode in the URL, a query that passes the routes' one-pass checks, no body.
// Everything else (a bad query, an encoded URL, an unknown region, another method) goes to the
// router, which answers exactly as before; so does every route but these two.
//
// Why: on these calls Hono's dispatch, its context and the middleware chain cost as much CPU as the
// answer itself and a quarter of the bytes allocated per request (`npm run bench:profile`), and every
// allocated byte brings the next pause of the isolate's garbage collector closer, which is what a
// p99 at thousands of requests a second sees (docs/performance.md). The steps are the same ones, in
// the same order, as the routes' middlewares: trace, storefront key and rate limits, region, the
// route's own answer, then the traceparent header, the log line and the request metrics.
import { formatTraceparent, traceFrom } from "../observability/trace";
import { REGION_PATTERN } from "../schema/contracts";
import { regionRefusal, storefrontKeyId } from "./auth";
import type { Env } from "./env";
import { requestDone } from "./observe";
import { problemAnswer, problemFor } from "./problems";
import { availabilityResponse, plainSkus } from "./routes/availability";
import { plainAsk, recommendationsResponse } from "./routes/recommendations";

const AVAILABILITY = "/availability";
const RECOMMENDATIONS = "/recommendations";

/** The answer to a plain storefront read, or undefined for the router to answer. */
export function storefrontFastPath(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> | undefined {
  if (request.method !== "GET") return undefined;
  const url = request.url;
  const pathAt = url.indexOf("/", url.indexOf("//") + 2);
  if (pathAt === -1 || !url.startsWith("/v1/", pathAt)) return undefined;
  const regionEnd = url.indexOf("/", pathAt + 4);
  if (regionEnd === -1) return undefined;
  const queryAt = url.indexOf("?", regionEnd);
  const rest = url.slice(regionEnd, queryAt === -1 ? url.length : queryAt);
  if (rest !== AVAILABILITY && rest !== RECOMMENDATIONS) return undefined;
  const region = url.slice(pathAt + 4, regionEnd);
  if (!plainRegion(env, region)) return undefined;
  // A body on a GET goes to the router, whose body limit decides about it.
  const length = request.headers.get("content-length");
  if ((length !== null && length !== "0") || request.headers.has("transfer-encoding")) return undefined;
  if (rest === AVAILABILITY) {
    const skus = plainSkus(url);
    if (!skus) return undefined;
    return answer(request, env, ctx, region, rest, () => availabilityResponse(env, ctx, region, skus, request.headers.get("if-none-match")));
  }
  const query = queryAt === -1 ? {} : plainQuery(url.slice(queryAt + 1));
  const ask = query && plainAsk(query, (name) => request.headers.get(name));
  if (!ask) return undefined;
  return answer(request, env, ctx, region, rest, (traceId) => recommendationsResponse(env, ctx, region, ask, traceId));
}

/**
 * A region named as the contract names regions (REGION_PATTERN, which the router's availability
 * route checks) that the router's knownRegion() would let through.
 */
function plainRegion(env: Env, region: string): boolean {
  return REGION_PATTERN.test(region) && regionRefusal(env, region) === null;
}

/** `a=1&b=2` as name -> values, or undefined when anything would need decoding (or a name is empty). */
function plainQuery(text: string): Record<string, string[]> | undefined {
  const query: Record<string, string[]> = {};
  if (!text) return query;
  if (/[%+]/.test(text)) return undefined;
  for (const pair of text.split("&")) {
    const eq = pair.indexOf("=");
    const name = eq === -1 ? pair : pair.slice(0, eq);
    if (!name) return undefined;
    const value = eq === -1 ? "" : pair.slice(eq + 1);
    (query[name] ??= []).push(value);
  }
  return query;
}

/** The middlewares' steps around `respond`, in their order; `rest` is the path after the region. */
async function answer(
  request: Request,
  env: Env,
  ctx: ExecutionContext,
  region: string,
  rest: string,
  respond: (traceId: string) => Promise<Response>,
): Promise<Response> {
  const started = Date.now();
  const trace = traceFrom(request.headers.get("traceparent"));
  let response: Response;
  try {
    await storefrontKeyId(env, request);
    response = await respond(trace.traceId);
  } catch (err) {
    response = problemAnswer(problemFor(err, { method: request.method, path: `/v1/${region}${rest}`, traceId: trace.traceId }));
  }
  response.headers.set("traceparent", formatTraceparent(trace));
  requestDone(env, ctx, { method: request.method, route: () => `/v1/:region${rest}`, region }, response.status, started, trace);
  return response;
}
