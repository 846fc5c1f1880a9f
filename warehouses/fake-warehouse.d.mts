// Types for fake-warehouse.mjs, so test/global-setup.ts and scripts can import it from TypeScript.
export type WarehouseFlavour = "json" | "soap";

export interface FakeWarehouseOptions {
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** The warehouse's signing secret, whsec_<base64>: checks our dispatches and signs its callbacks. */
  secret: string;
  flavour?: WarehouseFlavour;
  /** Delay before answering a dispatch, and again before the allocation callback. */
  latencyMs?: number;
  /** Share of new dispatches answered 503 (JSON) or a Server fault (SOAP), and not taken. */
  failureRate?: number;
  /** Share of new dispatches taken but never answered: the sender times out and must retry. */
  timeoutRate?: number;
  /** Share of taken dispatches whose allocation callback is allocation.rejected. */
  rejectRate?: number;
  /** Share of callbacks sent a second time with the same webhook-id. */
  duplicateRate?: number;
  /** When set, about half the shipments are reported before their allocation.confirmed. */
  outOfOrder?: boolean;
  /** Our base URL, e.g. http://127.0.0.1:8787; callbacks go to {callbackUrl}/v1/warehouses/{warehouseId}/events (or /soap). */
  callbackUrl?: string;
  warehouseId?: string;
  autoCallback?: boolean;
  /** Delay between the allocation callback and shipment.shipped. */
  shipAfterMs?: number;
  /** Tries per callback (network error, 408, 429, 5xx other than a Client fault), backing off from 250 ms. */
  callbackAttempts?: number;
  /** Replace Math.random for deterministic tests. */
  random?: () => number;
  /** One line per dispatch and callback; defaults to console.log. */
  log?: (line: string) => void;
}

export interface FakeDelivery {
  deliveryId: string;
  warehouseId?: string;
  region: string;
  sku: string;
  reservationId: string;
  qty: number;
  confirmedAt: string;
  webhookId: string | null;
  receivedAt: string;
  /** 1 + the duplicates received for the same deliveryId. */
  attempts: number;
  allocation: "pending" | "confirmed" | "rejected";
  trackingId: string | null;
  /** The shop's trace as the dispatch carried it (SOAP header block, or HTTP header); sent back on callbacks. */
  traceparent?: string;
  /** Where it was read: the SOAP Traceparent header block, or the HTTP traceparent header. */
  traceFrom?: "soap-header" | "http-header";
}

export interface FakeRequest {
  at: string;
  webhookId: string | null;
  deliveryId: string | null;
  outcome: string;
}

export interface FakeCallback {
  at: string;
  id: string;
  type: string;
  attempt: number;
  duplicate: boolean;
  status?: number;
  error?: string;
}

export type CallbackOutcome = { status: number; body?: string; error?: string };

export interface FakeWarehouse {
  url: string;
  port: number;
  /** Each delivery taken, once, in arrival order. */
  deliveries(): FakeDelivery[];
  /** Every dispatch request, including refused, failed, duplicate and unanswered ones. */
  requests(): FakeRequest[];
  /** Every callback attempt to the shop. */
  callbacks(): FakeCallback[];
  /** Sends any warehouse event now (needs callbackUrl and warehouseId). */
  sendEvent(event: { type: string; [field: string]: unknown }, options?: { id?: string; traceparent?: string }): Promise<CallbackOutcome>;
  /** Resolves when every scheduled callback has been delivered or given up on. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

export declare function startFakeWarehouse(options: FakeWarehouseOptions): Promise<FakeWarehouse>;

/** POSTs a Standard Webhooks signed body; resolves to the fetch Response. */
export declare function signedPost(
  url: string,
  secret: string,
  body: string,
  options?: { id?: string; contentType?: string; soapAction?: string; traceparent?: string; timestamp?: number; signal?: AbortSignal },
): Promise<Response>;

/** The webhook-signature header value (v1,<base64>) for one message. */
export declare function signatureFor(secret: string, id: string, timestampSeconds: number | string, body: string): string;

/** null when the headers sign the body with the secret, else why not. */
export declare function checkSignature(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  body: string,
  nowSeconds?: number,
): string | null;
