// What travels on the inventory-events queue: one event of one SKU-region object.
import { z } from "zod";

export const InventoryEventMessage = z.object({
  region: z.string(),
  sku: z.string(),
  seq: z.number().int().positive(),
  type: z.string(),
  at: z.number().int(),
  payload: z.record(z.string(), z.unknown()),
});
export type InventoryEventMessage = z.infer<typeof InventoryEventMessage>;
