// A tiny client for the edge API as storefronts and operators call it, over the real worker.
// Every answer is checked against /openapi.json (test/contract.ts) before a test sees it.
import { exports } from "cloudflare:workers";
import { checkAgainstContract, checked } from "./contract";
import { digest } from "../workers/auth";
import { hex } from "../workers/hex";
import { requestHash } from "../workers/routes/common";
import { signWebhook } from "../warehouses/signing";
import { PUBLISH_WINDOW_MS } from "../durable-objects/availability-publisher";
import { forgetAllPages } from "../workers/snapshot-cache";


export const STOREFRONT_KEY = "test-storefront-key";
export const ADMIN_TOKEN = "test-admin-token";
const BASE = "http://edge.test";

export interface Sent {
  status: number;
  body: any;
  headers: Headers;
}

/** A client address of its own per call (as if each came from another shopper), unless a test sets one. */
const someAddress = () => `2001:db8::${crypto.randomUUID().slice(0, 4)}:${crypto.randomUUID().slice(0, 4)}`;

export async function call(method: string, path: string, init: { headers?: Record<string, string>; body?: unknown; raw?: string } = {}): Promise<Sent> {
  const headers: Record<string, string> = { "cf-connecting-ip": someAddress(), ...init.headers };
  let body: string | undefined = init.raw;
  if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers["content-type"] ??= "application/json";
  }
  const res = await exports.default.fetch(`${BASE}${path}`, { method, headers, body });
  const text = await res.text();
  await checkAgainstContract(method, `${BASE}${path}`, res.status, res.headers, text);
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON: keep the text */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** The Worker's fetch for tests that need the raw Response (streams, exact bytes), checked like call(). */
export async function fetchWorker(input: string | Request, init?: RequestInit): Promise<Response> {
  const request = new Request(input, init);
  return checked(request, await exports.default.fetch(request));
}

export const storefront = (extra: Record<string, string> = {}) => ({ "x-api-key": STOREFRONT_KEY, ...extra });
export const adminHeaders = (extra: Record<string, string> = {}) => ({ authorization: `Bearer ${ADMIN_TOKEN}`, ...extra });

let counter = 0;
/** SKUs unique to this test run, so tests never see each other's stock. */
export function uniqueSku(prefix = "SKU"): string {
  return `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}-${crypto.randomUUID().slice(0, 6)}`.toUpperCase();
}

export function setStock(region: string, sku: string, body: Record<string, unknown>, extra: Record<string, string> = {}) {
  return call("PUT", `/v1/admin/${region}/stock/${sku}`, { headers: adminHeaders(extra), body });
}

export function stockState(region: string, sku: string) {
  return call("GET", `/v1/admin/${region}/stock/${sku}`, { headers: adminHeaders() });
}

export async function events(region: string, sku: string, after = 0, limit = 500) {
  return call("GET", `/v1/admin/${region}/stock/${sku}/events?after=${after}&limit=${limit}`, { headers: adminHeaders() });
}

export function reserve(region: string, lines: { sku: string; qty: number }[], opts: { key?: string; ttlSeconds?: number } = {}) {
  const key = opts.key ?? crypto.randomUUID();
  return call("POST", `/v1/${region}/reservations`, {
    headers: storefront({ "idempotency-key": key }),
    body: { lines, ...(opts.ttlSeconds !== undefined && { ttlSeconds: opts.ttlSeconds }) },
  });
}

export function confirm(region: string, id: string, token: string, key = crypto.randomUUID()) {
  return call("POST", `/v1/${region}/reservations/${id}/confirm`, {
    headers: storefront({ "x-reservation-token": token, "idempotency-key": key }),
  });
}

export function release(region: string, id: string, token: string) {
  return call("POST", `/v1/${region}/reservations/${id}/release`, { headers: storefront({ "x-reservation-token": token }) });
}

export function getReservation(region: string, id: string, token: string) {
  return call("GET", `/v1/${region}/reservations/${id}`, { headers: storefront({ "x-reservation-token": token }) });
}

/**
 * Availability once the read model has heard of every write made so far: the writers' publish
 * window, then a fresh page (as a storefront sees it at most 2 s later; `availabilityNow` reads
 * what the edge answers at this very moment).
 */
export async function availability(region: string, skus: string[]) {
  await readModelSettled();
  return availabilityNow(region, skus);
}

export function availabilityNow(region: string, skus: string[]) {
  return call("GET", `/v1/${region}/availability?skus=${skus.join(",")}`, { headers: storefront() });
}

/** Waits out the writers' publish window, then makes this isolate read its pages afresh. */
export async function readModelSettled(): Promise<void> {
  await new Promise((r) => setTimeout(r, PUBLISH_WINDOW_MS + 250));
  forgetAllPages();
}

/** The id a reservation made with this Idempotency-Key gets, derived as the route derives it. */
export async function reservationIdFor(region: string, key: string, storefrontKey = STOREFRONT_KEY): Promise<string> {
  const scope = hex(await digest(storefrontKey)).slice(0, 16);
  return requestHash(`${region}:${scope}:${key}`);
}

/** The signing secret the test configuration gives warehouse `id` (vitest.config.ts). */
export const warehouseSecret = (id: string) => `whsec_${btoa(`test-secret-for-${id}-0001`)}`;

/** Posts a warehouse event the way a warehouse does: signed with its secret, under event id `id`. */
export async function fromWarehouse(warehouseId: string, body: unknown, id = `evt_${crypto.randomUUID()}`): Promise<Sent> {
  const timestamp = Math.floor(Date.now() / 1000);
  const payload = JSON.stringify(body);
  const signature = await signWebhook(warehouseSecret(warehouseId), id, timestamp, payload);
  return call("POST", `/v1/warehouses/${warehouseId}/events`, {
    headers: { "content-type": "application/json", "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": signature },
    raw: payload,
  });
}
