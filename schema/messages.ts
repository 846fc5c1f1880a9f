// What travels on the inventory-events queue: one event of one SKU-region object.
import { z } from "zod";

/**
 * The W3C traceparent of the request that caused the message (observability/trace.ts). Optional:
 * messages sent before tracing carry none; a malformed one is ignored, never a reason to refuse.
 */
const Trace = z.string().max(512).optional().catch(undefined);

export const InventoryEventMessage = z.object({
  region: z.string(),
  sku: z.string(),
  seq: z.number().int().positive(),
  type: z.string(),
  at: z.number().int(),
  payload: z.record(z.string(), z.unknown()),
  trace: Trace,
});
export type InventoryEventMessage = z.infer<typeof InventoryEventMessage>;

// What travels on the warehouse-dispatch queue: one confirmed sale line for one warehouse.
export const DispatchMessage = z.object({
  region: z.string(),
  sku: z.string(),
  /** The hold_confirmed event's sequence: with region and sku, the stable delivery id. */
  seq: z.number().int().positive(),
  reservationId: z.string(),
  qty: z.number().int().positive(),
  warehouse: z.string().nullable(),
  confirmedAt: z.number().int(),
  trace: Trace,
});
export type DispatchMessage = z.infer<typeof DispatchMessage>;
/**
 * What travels on the shopper-orders queue: a reservation made by a known shopper. `shopper` is
 * already pseudonymised (workers/privacy.ts); the raw user id never leaves the request.
 */
export const ShopperOrderMessage = z.object({
  region: z.string(),
  reservationId: z.string(),
  shopper: z.string(),
  consent: z.boolean(),
  at: z.number().int(),
  trace: Trace,
});
export type ShopperOrderMessage = z.infer<typeof ShopperOrderMessage>;
