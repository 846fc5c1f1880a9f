// User ids are pseudonymised here, at the edge, before they go anywhere: the queue, Postgres, KV
// and logs only ever see HMAC-SHA256(region key, user id). Each region keys with its own secret
// (USER_ID_SECRET, a per-env secret), and locally, where one secret serves every region, with a key
// derived per region, so the same shopper has unrelated pseudonyms in different regions.
import type { Env } from "./env";
import { hex } from "./hex";
import { MissingSetting } from "./problems";

import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";

const encoder = new TextEncoder();
type Mac = ReturnType<typeof hmac.create>;
const regionMacs = new Map<string, Mac>();

/**
 * HMAC keyed by the region's key, with the key already hashed in: each pseudonym clones it and
 * hashes only the id. Computed in JavaScript (@noble/hashes, audited) rather than with
 * crypto.subtle, which answers every call with a promise: the recommendation route pseudonymises
 * on every consenting request, and a promise cost it more than the two SHA-256 blocks do. Same
 * values as WebCrypto's HMAC-SHA256 (test/privacy-pseudonym.test.ts holds the two together).
 */
function regionMac(secret: string, region: string): Mac {
  const id = `${region}:${secret}`;
  let mac = regionMacs.get(id);
  if (!mac) {
    const regionKey = hmac(sha256, encoder.encode(secret), encoder.encode(`user-id-key:${region}`));
    regionMacs.set(id, (mac = hmac.create(sha256, regionKey)));
  }
  return mac;
}

/** The pseudonym of `userId` in `region`: 32 hex characters, stable for as long as the secret is. */
export function pseudonymOf(env: Pick<Env, "USER_ID_SECRET">, region: string, userId: string): string {
  if (!env.USER_ID_SECRET) throw new MissingSetting("USER_ID_SECRET", "wrangler secret put USER_ID_SECRET --env <region> (locally: .dev.vars)");
  return hex(regionMac(env.USER_ID_SECRET, region).clone().update(encoder.encode(userId)).digest(), 16);
}

/** `pseudonymOf`, for callers that await it. */
export async function pseudonymise(env: Pick<Env, "USER_ID_SECRET">, region: string, userId: string): Promise<string> {
  return pseudonymOf(env, region, userId);
}

/** What an erasure remembers of a pseudonym: enough to recognise a late message, not to look it up. */
export async function erasureDigest(pseudonym: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", encoder.encode(`erased:${pseudonym}`)));
}

/**
 * The documented consent header: `Personalization-Consent: granted` allows user-level
 * personalisation for this request; anything else, or no header, does not.
 */
export const CONSENT_HEADER = "personalization-consent";
/** Where a storefront sends the shopper's id: a header, never the URL (URLs land in logs and traces). */
export const SHOPPER_ID_HEADER = "shopper-id";
export const hasConsent = (value: string | undefined) => value?.trim().toLowerCase() === "granted";
