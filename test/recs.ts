// Helpers for the recommendation stories: a region of the test's own, what it sells, its order
// history (written straight into the system of record), builds and reads.
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { reservationLedger, shopperOrders } from "../schema/tables";
import { pseudonymise } from "../workers/privacy";
import { inventoryName } from "../durable-objects/inventory";
import { adminHeaders, call, readModelSettled, storefront } from "./client";
import { database } from "./db";

const used = new Set<string>();
/** A test-only region (see vitest.config.ts) no other test uses. */
export function sandboxRegion(file: "recs" | "erase" | "build" | "rcache" | "fast"): string {
  for (const l of "abcdefghijklmnop") {
    const region = `${file}${l}`;
    if (!used.has(region)) {
      used.add(region);
      return region;
    }
  }
  throw new Error(`no ${file} sandbox regions left: add letters in vitest.config.ts`);
}

export interface Product {
  sku: string;
  brand?: string;
  category?: string;
  onHand?: number;
  names?: Record<string, string>;
  prices?: Record<string, { amount: number; currency: string }>;
}

/** The region sells these, with stock (10 units unless said otherwise). */
export async function sell(region: string, products: Product[]) {
  for (const p of products) {
    const res = await call("PUT", `/v1/admin/${region}/catalog/${p.sku}`, {
      headers: adminHeaders(),
      body: {
        name: `Product ${p.sku}`,
        brand: p.brand ?? "Brand A",
        category: p.category ?? "lipstick",
        ...(p.names && { names: p.names }),
        ...(p.prices && { prices: p.prices }),
      },
    });
    expect(res.status).toBe(200);
    // Straight to the object: a test-only region has no configured warehouses for the admin route.
    const stock = env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName(region, p.sku)));
    expect(await stock.setStock({ sku: p.sku, region, warehouse: `${region}-wh`, onHand: p.onHand ?? 10 })).toMatchObject({ ok: true });
  }
}

/** Confirmed orders as the system of record holds them; `shopper` links one to a consenting user. */
export async function ordered(region: string, orders: { skus: string[]; user?: string; times?: number }[]) {
  const { db, close } = database();
  try {
    for (const order of orders) {
      for (let n = 0; n < (order.times ?? 1); n++) {
        const reservationId = crypto.randomUUID();
        const now = new Date();
        await db.insert(reservationLedger).values(
          order.skus.map((sku, i) => ({
            region, reservationId, sku, qty: 1, status: "confirmed", heldAt: now, expiresAt: now, confirmedAt: now, lastSeq: i + 1,
          })),
        );
        if (order.user) {
          await db.insert(shopperOrders).values({ region, reservationId, shopper: await pseudonymise(env, region, order.user) });
        }
      }
    }
  } finally {
    await close();
  }
}

export async function build(region: string) {
  const res = await call("POST", `/v1/admin/${region}/recommendations/builds`, { headers: adminHeaders() });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

/** Recommendations once the read model has heard of every write so far (its availability filter). */
export async function recommend(
  region: string,
  q: { context?: string[]; user?: string; limit?: number; consent?: string; market?: string; language?: string },
) {
  await readModelSettled();
  const params = new URLSearchParams();
  if (q.context) params.set("context", q.context.join(","));
  if (q.limit) params.set("limit", String(q.limit));
  if (q.market) params.set("market", q.market);
  const headers = storefront({
    ...(q.consent && { "personalization-consent": q.consent }),
    ...(q.user && { "shopper-id": q.user }),
    ...(q.language && { "accept-language": q.language }),
  });
  return call("GET", `/v1/${region}/recommendations?${params}`, { headers });
}

export const skus = (res: { body: any }) => res.body.items.map((i: any) => i.sku);
