import type { MiddlewareHandler } from "hono";
import type { AppEnv, Env } from "./env";
import { RESERVED_REGION_NAMES, servedRegions } from "./openapi";
import { hex } from "./hex";
import { Problem } from "./problems";
import { authFailed, limitStorefront, refuseIfBlocked } from "./rate-limits";

const encoder = new TextEncoder();

export async function digest(value: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(value));
}

// What this isolate knows of a setting's secrets, worked out once per isolate and setting rather
// than per request. Keyed by what the setting is for and its value (`storefront:k1,k2`,
// `admin:<token>`): a changed setting is a new entry, so nothing learnt under the old one counts.
interface KnownSecrets {
  digests: Promise<(ArrayBuffer | null)[]>;
  /**
   * Given values that matched, with their key ids: a storefront's next requests skip the digest and
   * the comparison (a digest is an async call into the runtime). Only values that matched are kept,
   * at most as many as the setting lists, so made-up keys fill nothing and every unknown key still
   * takes the constant-time path. A lookup hashes the whole given string and compares strings only
   * on an equal hash, so a guess cannot be told apart by how many of its first bytes are right.
   */
  matched: Map<string, string>;
}
const knownSecrets = new Map<string, KnownSecrets>();

function secretsOf(setting: string, secrets: () => string[]): KnownSecrets {
  let known = knownSecrets.get(setting);
  if (!known) {
    known = { digests: Promise.all(secrets().map((secret) => (secret ? digest(secret) : null))), matched: new Map() };
    knownSecrets.set(setting, known);
    if (knownSecrets.size > 16) knownSecrets.delete(knownSecrets.keys().next().value!);
  }
  return known;
}

/** Constant-time membership test of a digest: compares digests of equal length, every one of them. */
async function matchesOneOf(givenDigest: ArrayBuffer, known: KnownSecrets): Promise<number> {
  let match = -1;
  for (const [i, secret] of (await known.digests).entries()) {
    if (secret && crypto.subtle.timingSafeEqual(givenDigest, secret)) match = i;
  }
  return match;
}

export function storefrontKey(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set("storefrontKeyId", await storefrontKeyId(c.env, c.req.raw));
    await next();
  };
}

/**
 * The id of the request's storefront key (what Idempotency-Keys are scoped by), once the key is
 * known and within its rate limits; else the 401 or 429 is thrown.
 */
export async function storefrontKeyId(env: Env, req: Request): Promise<string> {
  refuseIfBlocked(req);
  const given = req.headers.get("x-api-key");
  if (!given) throw new Problem("unauthorized", "Send your storefront key in the X-Api-Key header");
  const setting = env.STOREFRONT_KEYS ?? "";
  const known = secretsOf(`storefront:${setting}`, () => setting.split(",").map((k) => k.trim()));
  let keyId = known.matched.get(given);
  if (keyId === undefined) {
    const givenDigest = await digest(given);
    if ((await matchesOneOf(givenDigest, known)) < 0) await authFailed(env, req, new Problem("unauthorized", "The X-Api-Key is not a known storefront key"));
    // Idempotency-Keys are scoped per storefront key, so two storefronts cannot collide.
    keyId = hex(givenDigest, 8);
    known.matched.set(given, keyId);
  }
  await limitStorefront(env, req, keyId);
  return keyId;
}

export function adminToken(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    refuseIfBlocked(c.req.raw);
    const header = c.req.header("authorization") ?? "";
    // RFC 7235: the scheme is case-insensitive ("bearer" is as good as "Bearer").
    const match = /^Bearer +(.+)$/i.exec(header);
    if (!match) throw new Problem("unauthorized", "Send Authorization: Bearer <admin token>");
    if (!c.env.ADMIN_TOKEN || (await matchesOneOf(await digest(match[1]!), secretsOf(`admin:${c.env.ADMIN_TOKEN}`, () => [c.env.ADMIN_TOKEN!]))) < 0) {
      await authFailed(c.env, c.req.raw, new Problem("unauthorized", "The admin token is wrong"));
    }
    await next();
  };
}

/** Rejects regions this deployment does not serve, before anything touches storage. */
export function knownRegion(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const region = c.req.param("region") ?? "";
    const refused = regionRefusal(c.env, region);
    if (refused) throw refused;
    c.set("region", region);
    await next();
  };
}

/** Why this deployment cannot serve `region` (404, or the 503 of a misconfigured REGIONS); null when it can. */
export function regionRefusal(env: Env, region: string): Problem | null {
  const served = servedRegions(env);
  // A region named like a route word would make /v1/{region}/... and /v1/admin/... the same URL.
  const clash = served.find((r) => (RESERVED_REGION_NAMES as readonly string[]).includes(r));
  if (clash) return new Problem("setting_missing", `REGIONS lists '${clash}', a word the routes use after /v1/; rename that region`, { setting: "REGIONS" });
  if (!served.includes(region)) return new Problem("unknown_region", `Region '${region}' is not served here; served: ${served.join(", ")}`);
  return null;
}

/** Bodies must be UTF-8 JSON: anything else is refused before it is parsed. */
export function jsonBody(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const type = c.req.header("content-type") ?? "";
    if (!/^application\/json\b/i.test(type)) {
      throw new Problem("unsupported_media_type", "Set Content-Type: application/json");
    }
    // JSON is UTF-8 (RFC 8259); a body declared in another charset would be read wrongly.
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(type)?.[1];
    if (charset && !/^utf-?8$/i.test(charset)) {
      throw new Problem("unsupported_media_type", `Send the body as UTF-8 JSON (charset=${charset} is not accepted)`);
    }
    await next();
  };
}
