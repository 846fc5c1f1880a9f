import type { Context } from "hono";
import { z } from "@hono/zod-openapi";
import { Problem as ProblemSchema } from "../../schema/contracts";
import type { AppEnv, Env } from "../env";
import { digest } from "../auth";
import { hex } from "../hex";
import { Problem } from "../problems";
import { inventoryName } from "../../durable-objects/inventory";

export function problemContent(description: string) {
  return { description, content: { "application/problem+json": { schema: ProblemSchema } } };
}

export const AdminHeaders = z.object({
  authorization: z.string().openapi({ example: "Bearer dev-admin-token" }),
});

export const StorefrontHeaders = z.object({
  "x-api-key": z.string().openapi({ example: "dev-storefront-key" }),
});

export const IdempotencyHeader = z
  .string()
  .min(1)
  .max(255)
  .openapi({ description: "Unique per logical operation; a retry sends the same key", example: "cart-7f3a-attempt-1" });

export function idempotencyKey(c: Context<AppEnv>): string {
  const key = c.req.header("idempotency-key");
  if (!key) throw new Problem("idempotency_key_required", "Send an Idempotency-Key header, unique per operation; reuse it only to retry");
  if (key.length > 255) throw new Problem("invalid_request", "Idempotency-Key must be at most 255 characters");
  // Two Idempotency-Key headers arrive joined as "a, b": refuse them rather than guess which one.
  if (key.includes(",")) throw new Problem("invalid_request", "Send one Idempotency-Key header, without commas");
  return key;
}

export async function requestHash(value: unknown): Promise<string> {
  return hex(await digest(JSON.stringify(value)));
}

export function inventoryStub(env: Env, region: string, sku: string) {
  return env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName(region, sku)));
}

export function stockStatus(available: number, env: Env): "in_stock" | "low_stock" | "out_of_stock" {
  if (available <= 0) return "out_of_stock";
  return available <= Number(env.LOW_STOCK_THRESHOLD || "5") ? "low_stock" : "in_stock";
}

export const iso = (ms: number) => new Date(ms).toISOString();
