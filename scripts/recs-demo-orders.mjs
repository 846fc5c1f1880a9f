#!/usr/bin/env node
// npm run recs:demo-orders [-- --orders 150 --region eu]
// Gives the local demo an order history: shoppers place and confirm carts through the storefront
// API (real reservations, real stock), two in three of them consenting to personalisation. Carts
// follow simple routines (serum with moisturiser, lipstick with gloss, ...) so bought-together
// lists have something to find. Then run npm run recs:build.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { BASE, devVars, ensureServer } from "./local-api.mjs";
import { progressBar } from "./progress.mjs";

const { values } = parseArgs({ options: { orders: { type: "string", default: "150" }, region: { type: "string", default: "eu" } } });
const count = Number(values.orders);
const region = values.region;
const catalog = JSON.parse(readFileSync(new URL("./demo-catalog.json", import.meta.url), "utf8"));
const sold = catalog.skus.filter((s) => s.stock[region]);
const byCategory = Map.groupBy(sold, (s) => s.category);
const ROUTINES = [
  ["serum", "moisturiser"],
  ["cleanser", "serum", "moisturiser"],
  ["lipstick", "lip gloss"],
  ["foundation", "blush"],
  ["mascara", "eye palette", "brow"],
  ["sunscreen", "moisturiser"],
  ["fragrance"],
];
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];

await ensureServer();
const { storefrontKey } = devVars();
const bar = progressBar("orders");
let placed = 0;
let refused = 0;
for (let n = 0; n < count; n++) {
  const routine = pick(ROUTINES).filter((c) => byCategory.has(c));
  const lines = [...new Set(routine.filter(() => Math.random() < 0.8).map((c) => pick(byCategory.get(c)).sku))].map((sku) => ({ sku, qty: 1 }));
  if (!lines.length) continue;
  const user = `shopper-${1 + Math.floor(Math.random() * 40)}`;
  const headers = { "x-api-key": storefrontKey, "content-type": "application/json", "idempotency-key": `demo-${Date.now()}-${n}` };
  const res = await fetch(`${BASE}/v1/${region}/reservations`, {
    method: "POST",
    headers,
    body: JSON.stringify({ lines, shopper: { id: user, consent: Number(user.split("-")[1]) % 3 !== 0 } }),
  });
  const body = await res.json();
  if (res.status !== 201) {
    refused++;
  } else {
    const ok = await fetch(`${BASE}/v1/${region}/reservations/${body.id}/confirm`, {
      method: "POST",
      headers: { "x-api-key": storefrontKey, "x-reservation-token": body.token, "idempotency-key": `confirm-${body.id}` },
    });
    if (ok.ok) placed++;
    else refused++;
  }
  bar.update(n + 1, count, `${placed} confirmed, ${refused} refused`);
}
bar.done();
console.log(`✓ ${placed} confirmed orders in ${region} (${refused} refused: out of stock). Give the queue a second, then: npm run recs:build`);
