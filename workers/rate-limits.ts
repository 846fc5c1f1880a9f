// Rate limits at the edge, on Workers Rate Limiting bindings (wrangler.toml [[ratelimits]], one
// set per environment; `wrangler dev` and the tests run the same bindings locally). Each binding
// counts per key within one Cloudflare location and a period of 10 or 60 s, so the limits are
// about abuse (a bot, a leaked key, a token guesser), not about capacity: the stock objects shed
// load themselves (503 try_again) and the drop rules decide what one shopper may hold.
//
//   STOREFRONT_LIMITER  every storefront request, per storefront key
//   CLIENT_LIMITER      every storefront request, per storefront key and client address
//   RESERVE_LIMITER     reservation creates, per storefront key and client address
//   AUTH_LIMITER        failed admin or storefront authentication, per client address; once over,
//                       the address is refused (429) for the period without its credentials
//                       being checked, so guessing gets no answers
// A binding that is not configured does not limit (and says so once in the log).
import type { MiddlewareHandler } from "hono";
import type { AppEnv, Env } from "./env";
import { Problem } from "./problems";
import { warn } from "../observability/log";

export type LimiterName = "STOREFRONT_LIMITER" | "CLIENT_LIMITER" | "RESERVE_LIMITER" | "AUTH_LIMITER";

/** The period each binding is configured with in wrangler.toml (Retry-After is at most this). */
export const LIMIT_PERIOD_SECONDS: Record<LimiterName, number> = {
  STOREFRONT_LIMITER: 10,
  CLIENT_LIMITER: 10,
  RESERVE_LIMITER: 10,
  AUTH_LIMITER: 60,
};

const warned = new Set<string>();
/** Addresses over the auth-failure limit in this isolate, until when. */
const blockedUntil = new Map<string, number>();

/** The client's address as Cloudflare saw it (absent only in local tools that do not set it). */
export function clientAddress(req: Request): string {
  return req.headers.get("cf-connecting-ip") ?? "unknown";
}

/** True when the binding is not configured (so it does not limit); says so once per isolate. */
function unbound(env: Env, name: LimiterName): boolean {
  if (env[name]) return false;
  if (!warned.has(name)) warn("rate_limit_unbound", { limit: name, detail: "that rate limit is off (see wrangler.toml [[ratelimits]])" });
  warned.add(name);
  return true;
}

async function allowed(env: Env, name: LimiterName, key: string): Promise<boolean> {
  return unbound(env, name) || (await env[name]!.limit({ key })).success;
}

function tooMany(name: LimiterName, what: string): Problem {
  const seconds = LIMIT_PERIOD_SECONDS[name];
  return new Problem("rate_limited", `Too many ${what}; retry after ${seconds} s`, { limit: name, retryAfter: seconds });
}

/** Every storefront request: per storefront key, and per storefront key and client address. */
export async function limitStorefront(env: Env, req: Request, keyId: string): Promise<void> {
  // Both off (the capacity benches): nothing to count, and no promises to make for it.
  const perKeyOff = unbound(env, "STOREFRONT_LIMITER");
  if (unbound(env, "CLIENT_LIMITER") && perKeyOff) return;
  const checks: [LimiterName, string, string][] = [
    ["STOREFRONT_LIMITER", keyId, "requests with this storefront key"],
    ["CLIENT_LIMITER", `${keyId}:${clientAddress(req)}`, "requests from this address"],
  ];
  const results = await Promise.all(checks.map(([name, key]) => allowed(env, name, key)));
  const over = results.findIndex((ok) => !ok);
  if (over >= 0) throw tooMany(checks[over]![0], checks[over]![2]);
}

/** Reservation creates: a tighter limit per storefront key and client address. */
export function reservationRate(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const address = `${c.get("storefrontKeyId")}:${clientAddress(c.req.raw)}`;
    if (!(await allowed(c.env, "RESERVE_LIMITER", address))) throw tooMany("RESERVE_LIMITER", "reservations from this address");
    await next();
  };
}

/** Before checking credentials: an address that failed too often waits, whatever it sends now. */
export function refuseIfBlocked(req: Request): void {
  const address = clientAddress(req);
  const until = blockedUntil.get(address);
  if (until === undefined) return;
  if (Date.now() < until) throw tooMany("AUTH_LIMITER", "failed authentications from this address");
  blockedUntil.delete(address);
}

/** After credentials failed: count it; over the limit, the address is refused for the period. */
export async function authFailed(env: Env, req: Request, problem: Problem): Promise<never> {
  const address = clientAddress(req);
  if (!(await allowed(env, "AUTH_LIMITER", address))) {
    blockedUntil.set(address, Date.now() + LIMIT_PERIOD_SECONDS.AUTH_LIMITER * 1000);
    if (blockedUntil.size > 10_000) blockedUntil.delete(blockedUntil.keys().next().value!);
    throw tooMany("AUTH_LIMITER", "failed authentications from this address");
  }
  throw problem;
}
