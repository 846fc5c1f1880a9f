// What we say to warehouses and what they say to us, defined once. The JSON webhook, the SOAP
// endpoint, the adapters, the fake warehouse and the tests all speak these shapes.
import { z } from "zod";
import { RESERVATION_ID_PATTERN } from "../schema/contracts";

export const WAREHOUSE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** One warehouse of one region, from the WAREHOUSES configuration of the deployment. */
export const WarehouseConfig = z.object({
  id: z.string().regex(WAREHOUSE_ID),
  region: z.string(),
  adapter: z.enum(["json", "soap"]),
  /** Where dispatches go: the JSON webhook URL or the SOAP endpoint. */
  url: z.string().url(),
  timeoutMs: z.number().int().min(100).max(60_000).default(10_000),
  /** Dispatches sent to this warehouse at once by one consumer invocation (default and ceiling: 6, the limit of all). */
  concurrency: z.number().int().min(1).max(6).optional(),
});
export type WarehouseConfig = z.infer<typeof WarehouseConfig>;
export const WarehousesConfig = z.array(WarehouseConfig);

/** A confirmed sale line, sent to the warehouse that holds it. */
export interface DispatchOrder {
  /** Stable across retries: the warehouse dedupes on it. */
  deliveryId: string;
  warehouseId: string;
  region: string;
  sku: string;
  reservationId: string;
  qty: number;
  confirmedAt: string;
  /** The sale's trace (W3C traceparent): an HTTP header for JSON warehouses, a header block for SOAP ones. */
  traceparent?: string;
}

export type DispatchResult =
  | { ok: true; status: number }
  | { ok: false; retryable: boolean; reason: string };

const Sku = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/);
const ReservationId = z.string().regex(RESERVATION_ID_PATTERN);
const Units = z.number().int().min(1).max(10_000_000);

/** Events a warehouse reports to us (JSON body of POST /v1/warehouses/{id}/events, or SOAP). */
export const WarehouseEvent = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("stock.counted"),
    sku: Sku,
    onHand: z.number().int().min(0).max(10_000_000),
    /** The warehouse's own count sequence: a count older than the last one applied is ignored. */
    sequence: z.number().int().min(0),
  }),
  z.strictObject({ type: z.literal("stock.received"), sku: Sku, qty: Units }),
  z.strictObject({ type: z.literal("stock.damaged"), sku: Sku, qty: Units }),
  z.strictObject({ type: z.literal("allocation.confirmed"), sku: Sku, reservationId: ReservationId }),
  z.strictObject({
    type: z.literal("allocation.rejected"),
    sku: Sku,
    reservationId: ReservationId,
    reason: z.string().max(500).optional(),
  }),
  z.strictObject({
    type: z.literal("shipment.shipped"),
    sku: Sku,
    reservationId: ReservationId,
    trackingId: z.string().max(200).optional(),
  }),
]);
export type WarehouseEvent = z.infer<typeof WarehouseEvent>;
