// A typed storefront client for the edge API, with the retry rules a storefront needs in a drop:
//   - a reservation (and a confirm) keeps one Idempotency-Key across all its attempts, so a retry
//     after a lost answer finds the same reservation instead of holding twice;
//   - 503 (a stock object busy or down) and network failures are retried with backoff, waiting at
//     least what Retry-After says; 429 waits Retry-After, then tries again;
//   - 409 and 422 (and every other 4xx) are answers, never retried: insufficient stock, a drop
//     rule, a key reused with another body;
//   - a wait longer than `maxWaitSeconds` is not slept through: the answer goes back to the caller.
// Types come from the same zod schemas the routes are defined with (schema/contracts.ts). No
// runtime dependencies: it runs in Workers, Node >= 22 (type stripping) and browsers.
import type { z } from "@hono/zod-openapi";
import type {
  AvailabilityResponse, CreateReservationBody, CreatedReservation, Problem as ProblemSchema, Reservation,
} from "../schema/contracts";

export type ReservationRequest = z.input<typeof CreateReservationBody>;
export type HeldReservation = z.infer<typeof CreatedReservation>;
export type ReservationState = z.infer<typeof Reservation>;
export type Availability = z.infer<typeof AvailabilityResponse>;
/** An error answer (application/problem+json), with the HTTP status. */
export type Problem = z.infer<typeof ProblemSchema> & { status: number; [extra: string]: unknown };

export type Result<T> = { ok: true; value: T; attempts: number } | { ok: false; problem: Problem; attempts: number };

export interface ClientOptions {
  baseUrl: string;
  apiKey: string;
  region: string;
  /** Default: globalThis.fetch. */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** Attempts per call, the first included (default 5). */
  maxAttempts?: number;
  /** The longest single wait the client sleeps through (default 15 s); longer waits are returned. */
  maxWaitSeconds?: number;
  /** Headers added to every request (e.g. a request id). */
  headers?: Record<string, string>;
  /** Default: setTimeout. Tests pass their own to see the waits. */
  sleep?: (ms: number) => Promise<void>;
  /** Told about each retry (for progress output or logs). */
  onRetry?: (info: { attempt: number; status: number | null; waitMs: number; code?: string }) => void;
}

const RETRIED = new Set([429, 503]);

export class StorefrontClient {
  private readonly o: Required<Omit<ClientOptions, "onRetry" | "headers">> & Pick<ClientOptions, "onRetry" | "headers">;

  constructor(options: ClientOptions) {
    this.o = {
      fetch: (input, init) => globalThis.fetch(input, init),
      maxAttempts: 5,
      maxWaitSeconds: 15,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      ...options,
      baseUrl: options.baseUrl.replace(/\/$/, ""),
    };
  }

  /** Holds every line or none. `idempotencyKey`: pass your own to retry across processes. */
  reserve(request: ReservationRequest, idempotencyKey: string = crypto.randomUUID()): Promise<Result<HeldReservation>> {
    return this.send("POST", `/v1/${this.o.region}/reservations`, { "idempotency-key": idempotencyKey }, request);
  }

  confirm(id: string, token: string, idempotencyKey: string = `confirm-${id}`): Promise<Result<ReservationState>> {
    return this.send("POST", `/v1/${this.o.region}/reservations/${encodeURIComponent(id)}/confirm`, { "x-reservation-token": token, "idempotency-key": idempotencyKey });
  }

  /** Idempotent: releasing twice answers the same. */
  release(id: string, token: string): Promise<Result<ReservationState>> {
    return this.send("POST", `/v1/${this.o.region}/reservations/${encodeURIComponent(id)}/release`, { "x-reservation-token": token });
  }

  get(id: string, token: string): Promise<Result<ReservationState>> {
    return this.send("GET", `/v1/${this.o.region}/reservations/${encodeURIComponent(id)}`, { "x-reservation-token": token });
  }

  availability(skus: string[]): Promise<Result<Availability>> {
    return this.send("GET", `/v1/${this.o.region}/availability?skus=${skus.map(encodeURIComponent).join(",")}`, {});
  }

  /**
   * One request with the retry rules above. Every attempt sends the same headers and body, so a
   * retried create or confirm carries the same Idempotency-Key.
   */
  private async send<T>(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Result<T>> {
    const init: RequestInit = {
      method,
      headers: { ...this.o.headers, "x-api-key": this.o.apiKey, ...headers, ...(body !== undefined && { "content-type": "application/json" }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    };
    let last: Problem | null = null;
    for (let attempt = 1; ; attempt++) {
      let res: Response | null = null;
      try {
        res = await this.o.fetch(`${this.o.baseUrl}${path}`, init);
      } catch (err) {
        // The answer was lost: the request may or may not have been applied. The same key finds out.
        last = { type: "about:blank", title: "No answer", status: 0, code: "network_error", detail: String(err) };
      }
      if (res) {
        const parsed = await readBody(res);
        if (res.ok) return { ok: true, value: parsed as T, attempts: attempt };
        last = toProblem(res.status, parsed);
        if (!RETRIED.has(res.status)) return { ok: false, problem: last, attempts: attempt };
      }
      if (attempt >= this.o.maxAttempts) return { ok: false, problem: last!, attempts: attempt };
      const waitMs = this.waitBefore(attempt, res);
      if (waitMs > this.o.maxWaitSeconds * 1000) return { ok: false, problem: last!, attempts: attempt };
      this.o.onRetry?.({ attempt, status: res?.status ?? null, waitMs, ...(last?.code !== undefined && { code: String(last.code) }) });
      await this.o.sleep(waitMs);
    }
  }

  /** Retry-After when the server gave one; else doubling from 200 ms, with jitter (50-100 %). */
  private waitBefore(attempt: number, res: Response | null): number {
    const header = res?.headers.get("retry-after");
    const seconds = header !== null && header !== undefined && /^\d+$/.test(header.trim()) ? Number(header) : null;
    const backoff = Math.min(10_000, 200 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
    return seconds !== null ? Math.max(seconds * 1000, res!.status === 503 ? backoff : 0) : Math.round(backoff);
  }
}

async function readBody(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
}

function toProblem(status: number, body: unknown): Problem {
  if (body && typeof body === "object" && "code" in body) return { ...(body as Problem), status };
  return { type: "about:blank", title: `HTTP ${status}`, status, code: "unexpected_answer", detail: typeof body === "string" ? body.slice(0, 200) : undefined };
}
