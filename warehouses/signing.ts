// Standard Webhooks signatures (standardwebhooks.com), both ways: we sign dispatches to warehouses and
// verify what warehouses send us. HMAC-SHA256 over `${id}.${timestamp}.${body}`, header
// `webhook-signature: v1,<base64> [v1,<base64> ...]`. WebCrypto only, so it runs in workerd and Node.

export const DEFAULT_TOLERANCE_SECONDS = 300;

const SECRET_PREFIX = "whsec_";
/** A sender rotating secrets sends a few signatures; hundreds would only cost us HMACs. */
const MAX_SIGNATURES = 16;
const encoder = new TextEncoder();

export type WebhookHeaders = { id?: string | null; timestamp?: string | null; signature?: string | null };
export type Verification = { ok: true } | { ok: false; reason: string };

/** The `webhook-signature` header value (`v1,<base64>`) for one message. */
export async function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): Promise<string> {
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new RangeError("the webhook timestamp must be whole seconds since the epoch");
  }
  const key = await importSecret(secret);
  const mac = await crypto.subtle.sign("HMAC", key, signedContent(id, String(timestampSeconds), body));
  return `v1,${toBase64(new Uint8Array(mac))}`;
}

/**
 * Checks a message's Standard Webhooks headers against its raw body (the exact text received, before
 * any JSON or XML parsing). A wrong or malformed secret is our misconfiguration, not the sender's
 * fault, so it throws instead of answering ok:false.
 */
export async function verifyWebhook(
  secret: string,
  headers: WebhookHeaders,
  body: string,
  nowSeconds: number,
  toleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
): Promise<Verification> {
  const key = await importSecret(secret);
  const { id, timestamp, signature } = headers;
  if (!id) return { ok: false, reason: "missing webhook-id header" };
  if (!timestamp) return { ok: false, reason: "missing webhook-timestamp header" };
  if (!signature) return { ok: false, reason: "missing webhook-signature header" };
  if (!/^\d{1,15}$/.test(timestamp)) return { ok: false, reason: "webhook-timestamp is not whole seconds since the epoch" };

  const age = nowSeconds - Number(timestamp);
  if (age > toleranceSeconds) return { ok: false, reason: `webhook-timestamp is ${age}s old, more than the ${toleranceSeconds}s allowed` };
  if (-age > toleranceSeconds) return { ok: false, reason: `webhook-timestamp is ${-age}s in the future, more than the ${toleranceSeconds}s allowed` };

  // Space-separated per the spec; a proxy that merged repeated headers may have added commas.
  const candidates = signature
    .split(/\s+/)
    .map((entry) => entry.replace(/,$/, ""))
    .filter((entry) => entry.startsWith("v1,"))
    .slice(0, MAX_SIGNATURES)
    .map((entry) => fromBase64(entry.slice(3)))
    .filter((mac): mac is Uint8Array => mac !== null);
  if (candidates.length === 0) return { ok: false, reason: "webhook-signature has no v1 signature" };

  const content = signedContent(id, timestamp, body);
  for (const mac of candidates) {
    // subtle.verify compares in constant time, unlike comparing two strings.
    if (await crypto.subtle.verify("HMAC", key, mac, content)) return { ok: true };
  }
  return { ok: false, reason: "no webhook-signature matches this message" };
}

/** The HMAC key bytes of a `whsec_<base64>` secret (the prefix is optional). */
export function secretBytes(secret: string): Uint8Array {
  const trimmed = secret.trim();
  const encoded = trimmed.startsWith(SECRET_PREFIX) ? trimmed.slice(SECRET_PREFIX.length) : trimmed;
  const bytes = fromBase64(encoded);
  if (bytes === null || bytes.length === 0) {
    throw new TypeError("a webhook secret must be whsec_ followed by non-empty base64");
  }
  return bytes;
}

function importSecret(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", secretBytes(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

function signedContent(id: string, timestamp: string, body: string): Uint8Array {
  return encoder.encode(`${id}.${timestamp}.${body}`);
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Standard or URL-safe base64, padding optional; null when it is not base64 at all. */
function fromBase64(text: string): Uint8Array | null {
  const standard = text.replace(/-/g, "+").replace(/_/g, "/");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(standard)) return null;
  try {
    const binary = atob(standard);
    return Uint8Array.from(binary, (char) => char.charCodeAt(0));
  } catch {
    return null;
  }
}
