#!/usr/bin/env node
// npm run recs:demo-orders [-- --orders 150 --region eu]
// Gives the local demo an order history: shoppers place and confirm carts through the storefront
// API (real reservations, real stock), two in three of them consenting to personalisation. Carts
// follow simple routines (serum with moisturiser, lipstick with gloss, ...) so bought-together
// lists have something to find. Then run npm run recs:build.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { StorefrontClient } from "../client/index.ts";
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
let waiting = "";
// One client per shopper: each shopper has an address of its own, as on a real storefront, so the
// per-address rate limits see forty shoppers, not one script. A 429 or 503 is waited out as the
// client's Retry-After rules say, and the same Idempotency-Key is sent again.
const clients = new Map();
const clientOf = (user) => {
  if (!clients.has(user)) {
    clients.set(user, new StorefrontClient({
      baseUrl: BASE, apiKey: storefrontKey, region,
      headers: { "cf-connecting-ip": `2001:db8:de30::${user.split("-")[1]}` },
      onRetry: ({ status, waitMs }) => (waiting = ` (waiting ${Math.ceil(waitMs / 1000)} s after ${status ?? "no answer"})`),
    }));
  }
  return clients.get(user);
};
let placed = 0;
let refused = 0;
for (let n = 0; n < count; n++) {
  const routine = pick(ROUTINES).filter((c) => byCategory.has(c));
  const lines = [...new Set(routine.filter(() => Math.random() < 0.8).map((c) => pick(byCategory.get(c)).sku))].map((sku) => ({ sku, qty: 1 }));
  if (!lines.length) continue;
  const user = `shopper-${1 + Math.floor(Math.random() * 40)}`;
  const client = clientOf(user);
  waiting = "";
  const held = await client.reserve({ lines, shopper: { id: user, consent: Number(user.split("-")[1]) % 3 !== 0 } }, `demo-${Date.now()}-${n}`);
  if (!held.ok) {
    refused++;
    if (held.problem.status !== 409) console.warn(`\n  order ${n + 1}: ${held.problem.status} ${held.problem.code}: ${held.problem.detail ?? ""}`);
  } else {
    const confirmed = await client.confirm(held.value.id, held.value.token);
    if (confirmed.ok) placed++;
    else refused++;
  }
  bar.update(n + 1, count, `${placed} confirmed, ${refused} refused${waiting}`);
}
bar.done();
console.log(`✓ ${placed} confirmed orders in ${region} (${refused} refused: out of stock). Give the queue a second, then: npm run recs:build`);
