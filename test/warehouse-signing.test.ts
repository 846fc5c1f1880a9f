// A warehouse and we sign every webhook the Standard Webhooks way; a message that is forged, altered,
// replayed late or sent without its headers is refused with a reason.
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { secretBytes, signWebhook, verifyWebhook } from "../warehouses/signing";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET = "whsec_c2VjcmV0LW9mLWFub3RoZXItd2FyZWhvdXNl";
const ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
const BODY = '{"type":"stock.counted","sku":"LIP-ROUGE-01","onHand":12,"sequence":7}';
const now = () => Math.floor(Date.now() / 1000);

async function signed(secret = SECRET, timestamp = now(), body = BODY) {
  return { id: ID, timestamp: String(timestamp), signature: await signWebhook(secret, ID, timestamp, body) };
}

describe("signWebhook and verifyWebhook", () => {
  it("verify what they sign", async () => {
    const t = now();
    const headers = await signed(SECRET, t);
    expect(headers.signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(await verifyWebhook(SECRET, headers, BODY, t)).toEqual({ ok: true });
  });

  it("sign deterministically over id, timestamp and body", async () => {
    const a = await signWebhook(SECRET, ID, 1674087231, BODY);
    expect(await signWebhook(SECRET, ID, 1674087231, BODY)).toBe(a);
    expect(await signWebhook(SECRET, `${ID}x`, 1674087231, BODY)).not.toBe(a);
    expect(await signWebhook(SECRET, ID, 1674087232, BODY)).not.toBe(a);
    expect(await signWebhook(SECRET, ID, 1674087231, `${BODY} `)).not.toBe(a);
  });

  it("accept the secret with or without the whsec_ prefix", async () => {
    const t = now();
    const headers = await signed(SECRET, t);
    expect(await verifyWebhook(SECRET.slice("whsec_".length), headers, BODY, t)).toEqual({ ok: true });
    expect(secretBytes(SECRET)).toEqual(secretBytes(SECRET.slice("whsec_".length)));
  });

  it("sign bodies with non-ASCII text as UTF-8", async () => {
    const body = '{"reason":"Fond de teint abîmé — 破損"}';
    const t = now();
    const signature = await signWebhook(SECRET, ID, t, body);
    expect(new Webhook(SECRET).verify(body, { "webhook-id": ID, "webhook-timestamp": String(t), "webhook-signature": signature })).toEqual(
      JSON.parse(body),
    );
  });

  it("refuse a secret that is not base64", async () => {
    await expect(signWebhook("whsec_not base64!", ID, now(), BODY)).rejects.toThrow(/whsec_/);
    await expect(verifyWebhook("whsec_", await signed(), BODY, now())).rejects.toThrow(/whsec_/);
  });
});

describe("interoperability with the standardwebhooks package", () => {
  it("our verifier accepts what the package signs", async () => {
    const sentAt = new Date();
    const signature = new Webhook(SECRET).sign(ID, sentAt, BODY);
    const timestamp = String(Math.floor(sentAt.getTime() / 1000));
    expect(await verifyWebhook(SECRET, { id: ID, timestamp, signature }, BODY, now())).toEqual({ ok: true });
  });

  it("the package accepts what we sign", async () => {
    const headers = await signed();
    const parsed = new Webhook(SECRET).verify(BODY, {
      "webhook-id": headers.id,
      "webhook-timestamp": headers.timestamp,
      "webhook-signature": headers.signature,
    });
    expect(parsed).toEqual(JSON.parse(BODY));
  });

  it("the package refuses what we sign with another secret", async () => {
    const headers = await signed(OTHER_SECRET);
    expect(() =>
      new Webhook(SECRET).verify(BODY, {
        "webhook-id": headers.id,
        "webhook-timestamp": headers.timestamp,
        "webhook-signature": headers.signature,
      }),
    ).toThrow(/No matching signature/);
  });
});

describe("verifyWebhook refuses", () => {
  it("a message signed with another warehouse's secret", async () => {
    const t = now();
    const result = await verifyWebhook(SECRET, await signed(OTHER_SECRET, t), BODY, t);
    expect(result).toEqual({ ok: false, reason: "no webhook-signature matches this message" });
  });

  it("a body changed after signing", async () => {
    const t = now();
    const result = await verifyWebhook(SECRET, await signed(SECRET, t), BODY.replace("12", "9999"), t);
    expect(result).toEqual({ ok: false, reason: "no webhook-signature matches this message" });
  });

  it("a signature moved to another message id", async () => {
    const t = now();
    const headers = { ...(await signed(SECRET, t)), id: "msg_other" };
    expect((await verifyWebhook(SECRET, headers, BODY, t)).ok).toBe(false);
  });

  it("a timestamp changed after signing, even inside the tolerance", async () => {
    const t = now();
    const headers = { ...(await signed(SECRET, t)), timestamp: String(t - 10) };
    expect(await verifyWebhook(SECRET, headers, BODY, t)).toEqual({ ok: false, reason: "no webhook-signature matches this message" });
  });

  it("a message older than the tolerance (a replay)", async () => {
    const t = now();
    const headers = await signed(SECRET, t - 301);
    expect(await verifyWebhook(SECRET, headers, BODY, t)).toEqual({
      ok: false,
      reason: "webhook-timestamp is 301s old, more than the 300s allowed",
    });
    expect(await verifyWebhook(SECRET, headers, BODY, t, 600)).toEqual({ ok: true });
  });

  it("a message from further in the future than the tolerance", async () => {
    const t = now();
    const headers = await signed(SECRET, t + 301);
    expect(await verifyWebhook(SECRET, headers, BODY, t)).toEqual({
      ok: false,
      reason: "webhook-timestamp is 301s in the future, more than the 300s allowed",
    });
  });

  it("but accepts one exactly at the edge of the tolerance, either side", async () => {
    const t = now();
    expect(await verifyWebhook(SECRET, await signed(SECRET, t - 300), BODY, t)).toEqual({ ok: true });
    expect(await verifyWebhook(SECRET, await signed(SECRET, t + 300), BODY, t)).toEqual({ ok: true });
  });

  it.each([
    ["webhook-id", { id: undefined }],
    ["webhook-id", { id: "" }],
    ["webhook-timestamp", { timestamp: null }],
    ["webhook-signature", { signature: null }],
    ["webhook-signature", { signature: "" }],
  ])("a message without its %s header (%o)", async (header, missing) => {
    const t = now();
    const headers = { ...(await signed(SECRET, t)), ...missing };
    expect(await verifyWebhook(SECRET, headers, BODY, t)).toEqual({ ok: false, reason: `missing ${header} header` });
  });

  it.each(["soon", "1e9", "-5", "1674087231.5", " 1674087231", "0x63c8b3df"])("a non-numeric timestamp %j", async (timestamp) => {
    const t = now();
    const headers = { ...(await signed(SECRET, t)), timestamp };
    expect(await verifyWebhook(SECRET, headers, BODY, t)).toEqual({
      ok: false,
      reason: "webhook-timestamp is not whole seconds since the epoch",
    });
  });

  it("a signature header with no v1 entry", async () => {
    const t = now();
    const good = await signed(SECRET, t);
    const headers = { ...good, signature: good.signature.replace("v1,", "v2,") };
    expect(await verifyWebhook(SECRET, headers, BODY, t)).toEqual({ ok: false, reason: "webhook-signature has no v1 signature" });
  });

  it("a signature that is not base64", async () => {
    const t = now();
    const headers = { ...(await signed(SECRET, t)), signature: "v1,%%%not-base64%%%" };
    expect((await verifyWebhook(SECRET, headers, BODY, t)).ok).toBe(false);
  });

  it("a truncated signature", async () => {
    const t = now();
    const good = await signed(SECRET, t);
    const headers = { ...good, signature: good.signature.slice(0, 20) };
    expect((await verifyWebhook(SECRET, headers, BODY, t)).ok).toBe(false);
  });
});

describe("several signatures in one header (secret rotation)", () => {
  it("pass when repeated headers were merged with commas on the way", async () => {
    const t = now();
    const ours = (await signed(SECRET, t)).signature;
    const theirs = (await signed(OTHER_SECRET, t)).signature;
    expect(await verifyWebhook(SECRET, { id: ID, timestamp: String(t), signature: `${theirs}, ${ours}` }, BODY, t)).toEqual({ ok: true });
  });


  it("pass when any v1 entry matches, whatever its position", async () => {
    const t = now();
    const ours = (await signed(SECRET, t)).signature;
    const theirs = (await signed(OTHER_SECRET, t)).signature;
    const asymmetric = "v1a,aGVsbG8gd29ybGQ=";
    for (const signature of [`${theirs} ${ours}`, `${ours} ${theirs}`, `${asymmetric} ${theirs}  ${ours}`]) {
      expect(await verifyWebhook(SECRET, { id: ID, timestamp: String(t), signature }, BODY, t)).toEqual({ ok: true });
    }
  });

  it("fail when none matches", async () => {
    const t = now();
    const theirs = (await signed(OTHER_SECRET, t)).signature;
    const signature = `${theirs} v1,${btoa("x".repeat(32))}`;
    expect(await verifyWebhook(SECRET, { id: ID, timestamp: String(t), signature }, BODY, t)).toEqual({
      ok: false,
      reason: "no webhook-signature matches this message",
    });
  });
});
