// Pseudonyms are kept per isolate once worked out (workers/privacy.ts), so a shopper's next page
// costs no HMAC. What is kept must never answer for another secret or another region.
import { describe, expect, it } from "vitest";
import { pseudonymAtOnce, pseudonymise } from "../workers/privacy";

describe("pseudonyms kept per isolate", () => {
  it("answer at once only what was worked out, for that region and that secret", async () => {
    const a = { USER_ID_SECRET: "secret-a" };
    const b = { USER_ID_SECRET: "secret-b" };
    expect(pseudonymAtOnce(a, "eu", "kept-shopper-1")).toBeUndefined();
    const eu = await pseudonymise(a, "eu", "kept-shopper-1");
    expect(pseudonymAtOnce(a, "eu", "kept-shopper-1")).toBe(eu);
    expect(pseudonymAtOnce(a, "us", "kept-shopper-1")).toBeUndefined();
    expect(pseudonymAtOnce(a, "eu", "kept-shopper-2")).toBeUndefined();
    expect(pseudonymAtOnce(b, "eu", "kept-shopper-1")).toBeUndefined();
    // Another secret: another pseudonym, and the old one is not served for it.
    const rotated = await pseudonymise(b, "eu", "kept-shopper-1");
    expect(rotated).not.toBe(eu);
    expect(pseudonymAtOnce(b, "eu", "kept-shopper-1")).toBe(rotated);
    expect(pseudonymAtOnce(a, "eu", "kept-shopper-1")).toBeUndefined();
    expect(pseudonymAtOnce({ USER_ID_SECRET: "" }, "eu", "kept-shopper-1")).toBeUndefined();
  });

  it("are the pseudonyms worked out from scratch", async () => {
    const env = { USER_ID_SECRET: "secret-c" };
    const first = await pseudonymise(env, "us", "kept-shopper-3");
    expect(pseudonymAtOnce(env, "us", "kept-shopper-3")).toBe(first);
    expect(await pseudonymise(env, "us", "kept-shopper-3")).toBe(first);
    expect(first).toMatch(/^[0-9a-f]{32}$/);
  });
});
