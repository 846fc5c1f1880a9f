// User ids are pseudonymised here, at the edge, before they go anywhere: the queue, Postgres, KV
// and logs only ever see HMAC-SHA256(region key, user id). Each region keys with its own secret
// (USER_ID_SECRET, a per-env secret), and locally, where one secret serves every region, with a key
// derived per region, so the same shopper has unrelated pseudonyms in different regions.
import type { Env } from "./env";
import { hex } from "./hex";
import { MissingSetting } from "./problems";

const encoder = new TextEncoder();
const regionKeys = new Map<string, Promise<CryptoKey>>();

function hmacKey(raw: BufferSource): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}

function regionKey(secret: string, region: string): Promise<CryptoKey> {
  const id = `${region}:${secret}`;
  let key = regionKeys.get(id);
  if (!key) {
    key = hmacKey(encoder.encode(secret))
      .then((root) => crypto.subtle.sign("HMAC", root, encoder.encode(`user-id-key:${region}`)))
      .then(hmacKey);
    regionKeys.set(id, key);
  }
  return key;
}

/** The pseudonym of `userId` in `region`: 32 hex characters, stable for as long as the secret is. */
export async function pseudonymise(env: Pick<Env, "USER_ID_SECRET">, region: string, userId: string): Promise<string> {
  if (!env.USER_ID_SECRET) throw new MissingSetting("USER_ID_SECRET", "wrangler secret put USER_ID_SECRET --env <region> (locally: .dev.vars)");
  const mac = await crypto.subtle.sign("HMAC", await regionKey(env.USER_ID_SECRET, region), encoder.encode(userId));
  const pseudonym = hex(mac).slice(0, 32);
  rememberPseudonym(env.USER_ID_SECRET, region, userId, pseudonym);
  return pseudonym;
}

// Pseudonyms worked out lately in this isolate: a shopper's pages come seconds apart, and an HMAC
// with its awaits costs more than the rest of a recommendation. Only in memory (never logged,
// never written), for one secret at a time, and at most PSEUDONYMS_KEPT shoppers before it starts
// again. An erasure has nothing to reach here: the same id always gives the same pseudonym.
export const PSEUDONYMS_KEPT = 10_000;
const recent = { secret: "", byShopper: new Map<string, string>() };

function rememberPseudonym(secret: string, region: string, userId: string, pseudonym: string) {
  if (recent.secret !== secret || recent.byShopper.size >= PSEUDONYMS_KEPT) {
    recent.secret = secret;
    recent.byShopper = new Map();
  }
  recent.byShopper.set(`${region}\n${userId}`, pseudonym);
}

/** `pseudonymise` at once when this isolate worked it out lately; undefined when it has to be worked out. */
export function pseudonymAtOnce(env: Pick<Env, "USER_ID_SECRET">, region: string, userId: string): string | undefined {
  return env.USER_ID_SECRET && env.USER_ID_SECRET === recent.secret ? recent.byShopper.get(`${region}\n${userId}`) : undefined;
}

export { erasureDigest } from "../recommendations/store";

/**
 * The documented consent header: `Personalization-Consent: granted` allows user-level
 * personalisation for this request; anything else, or no header, does not.
 */
export const CONSENT_HEADER = "personalization-consent";
/** Where a storefront sends the shopper's id: a header, never the URL (URLs land in logs and traces). */
export const SHOPPER_ID_HEADER = "shopper-id";
export const hasConsent = (value: string | undefined) => value?.trim().toLowerCase() === "granted";
