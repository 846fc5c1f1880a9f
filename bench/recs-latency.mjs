#!/usr/bin/env node
// node bench/recs-latency.mjs: a quick side-by-side of read paths against the reservation path on
// the running `npm start` server (wrangler dev; its proxy caps a server near 1k req/s, so compare
// the rows with each other, not with production). 10 connections, 10 s per route.
import autocannon from "autocannon";
import { BASE, devVars, ensureServer } from "../scripts/local-api.mjs";

await ensureServer();
const { storefrontKey, adminToken } = devVars();
const sku = `BENCH-${Date.now().toString(36)}`.toUpperCase();
await fetch(`${BASE}/v1/admin/eu/stock/${sku}`, {
  method: "PUT",
  headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
  body: JSON.stringify({ warehouse: "eu-ams", onHand: 1_000_000 }),
});
const key = { "x-api-key": storefrontKey };
let n = 0;
const routes = [
  ["GET  /v1/eu/recommendations (context, consented user)", { path: "/v1/eu/recommendations?context=SERUM-VITC-30,LIP-ROUGE-01&limit=10", headers: { ...key, "personalization-consent": "granted", "shopper-id": "shopper-2" } }],
  ["GET  /v1/eu/availability (3 SKUs, cached)", { path: "/v1/eu/availability?skus=LIP-ROUGE-01,SERUM-VITC-30,FDN-SKIN-420", headers: key }],
  [`POST /v1/eu/reservations (hot SKU, qty 1)`, {
    method: "POST",
    path: "/v1/eu/reservations",
    headers: { ...key, "content-type": "application/json" },
    body: JSON.stringify({ lines: [{ sku, qty: 1 }], ttlSeconds: 60 }),
    setupRequest: (req) => ({ ...req, headers: { ...req.headers, "idempotency-key": `bench-${sku}-${n++}` } }),
  }],
];
const rows = [];
for (const [name, request] of routes) {
  process.stderr.write(`${name} ...\n`);
  const r = await autocannon({ url: BASE, connections: 10, duration: 10, requests: [request] });
  rows.push([name, r.requests.total, Math.round(r.requests.average), r.latency.p50, r.latency.p99, r.non2xx + r.errors]);
}
const head = ["route", "requests", "req/s", "p50 ms", "p99 ms", "errors"];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
const line = (r) => r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join("  ");
console.log([line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n"));
