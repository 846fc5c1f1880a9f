// Pseudonyms are HMAC-SHA256 under a key derived per region (workers/privacy.ts), computed in
// JavaScript so that the recommendation route awaits no promise for them. Every pseudonym the build
// wrote, the queue carried and Postgres holds was made with WebCrypto: the two must agree, for any
// id, secret and region, or a shopper would lose their lists and history (and escape erasure).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { pseudonymise, pseudonymOf } from "../workers/privacy";

const encoder = new TextEncoder();

/** The pseudonym as first written, with crypto.subtle: the oracle. */
async function withWebCrypto(secret: string, region: string, userId: string): Promise<string> {
  const hmacKey = (raw: BufferSource) => crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const regionKey = await crypto.subtle.sign("HMAC", await hmacKey(encoder.encode(secret)), encoder.encode(`user-id-key:${region}`));
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(regionKey), encoder.encode(userId));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, 32);
}

describe("pseudonyms", () => {
  it("equal WebCrypto's HMAC-SHA256 for any id, secret and region", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 200, unit: "grapheme" }), fc.string({ minLength: 1, maxLength: 100 }), fc.constantFrom("eu", "us", "apac"), async (userId, secret, region) => {
        const expected = await withWebCrypto(secret, region, userId);
        expect(pseudonymOf({ USER_ID_SECRET: secret }, region, userId)).toBe(expected);
        // Twice: the kept per-region state is cloned, never consumed.
        expect(pseudonymOf({ USER_ID_SECRET: secret }, region, userId)).toBe(expected);
        expect(await pseudonymise({ USER_ID_SECRET: secret }, region, userId)).toBe(expected);
      }),
      { numRuns: 200 },
    );
  });

  it("differ per region and per secret, and need a secret", () => {
    const id = "shopper-1";
    expect(pseudonymOf({ USER_ID_SECRET: "s" }, "eu", id)).not.toBe(pseudonymOf({ USER_ID_SECRET: "s" }, "us", id));
    expect(pseudonymOf({ USER_ID_SECRET: "s" }, "eu", id)).not.toBe(pseudonymOf({ USER_ID_SECRET: "t" }, "eu", id));
    expect(pseudonymOf({ USER_ID_SECRET: "s" }, "eu", id)).toMatch(/^[0-9a-f]{32}$/);
    expect(() => pseudonymOf({ USER_ID_SECRET: "" }, "eu", id)).toThrow(/USER_ID_SECRET/);
  });
});
