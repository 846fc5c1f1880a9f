// The part of a dispatch both adapters share: sign the body with the warehouse's secret, POST it
// within the warehouse's time limit, and decide from the HTTP status whether a retry can help.
import type { DispatchResult, WarehouseConfig } from "../contracts";
import { signWebhook } from "../signing";

export type Answer = { status: number; body: string };
export type Fetcher = typeof fetch;

/** POSTs a signed body; a network error or no answer in time is a retryable failure, not an Answer. */
export async function postSigned(
  config: WarehouseConfig,
  secret: string,
  deliveryId: string,
  body: string,
  headers: Record<string, string>,
  fetcher: Fetcher,
): Promise<Answer | DispatchResult> {
  const timestamp = Math.floor(Date.now() / 1000);
  const signature = await signWebhook(secret, deliveryId, timestamp, body);
  try {
    const response = await fetcher(config.url, {
      method: "POST",
      headers: {
        ...headers,
        "webhook-id": deliveryId,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signature,
      },
      body,
      // A redirect would carry a signed dispatch somewhere the configuration never named.
      redirect: "manual",
      signal: AbortSignal.timeout(config.timeoutMs),
    });
    return { status: response.status, body: await response.text() };
  } catch (err) {
    const name = (err as Error)?.name;
    if (name === "TimeoutError" || name === "AbortError") {
      return { ok: false, retryable: true, reason: `warehouse ${config.id} did not answer within ${config.timeoutMs}ms` };
    }
    return { ok: false, retryable: true, reason: `network error reaching warehouse ${config.id}: ${(err as Error)?.message ?? err}` };
  }
}

/**
 * 2xx: taken. 409: the warehouse already has this delivery (a retry of one it took), also taken.
 * 408, 429, 5xx: try again later. Other 3xx/4xx: the request itself is wrong; retrying repeats it.
 */
export function resultOfStatus(answer: Answer): DispatchResult {
  const { status } = answer;
  if ((status >= 200 && status < 300) || status === 409) return { ok: true, status };
  const reason = `HTTP ${status}${excerpt(answer.body)}`;
  if (status === 408 || status === 429 || status >= 500) return { ok: false, retryable: true, reason };
  if (status >= 300 && status < 500) return { ok: false, retryable: false, reason };
  return { ok: false, retryable: true, reason };
}

export function isAnswer(sent: Answer | DispatchResult): sent is Answer {
  return "status" in sent && !("ok" in sent);
}

function excerpt(body: string): string {
  const line = body.replace(/\s+/g, " ").trim();
  return line === "" ? "" : `: ${line.length > 200 ? `${line.slice(0, 200)}…` : line}`;
}
