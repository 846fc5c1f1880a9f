#!/usr/bin/env node
// `npm run bench:drop`: a limited-edition drop with bots. One SKU with little stock; honest
// shoppers (an account and an address each) arrive over a few seconds, hold one unit with the
// typed storefront client and confirm it; a bot with a handful of accounts and addresses opens
// carts with fresh Idempotency-Keys as fast as it can, never confirming (hoarding) and never
// honouring Retry-After. Run twice in the same runtime, with the drop rules off and on; the rate
// limits are wrangler.toml's own in both (this is the one bench that measures them, not capacity).
// Reports the share of units honest shoppers got, what refused the bot, and checks nothing oversold.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { StorefrontClient } from "../client/index.ts";
import { parseArgs, usage } from "./lib/args.mjs";
import { buildWorker } from "./lib/build.mjs";
import { cleanupOnExit } from "./lib/cleanup.mjs";
import { gitInfo } from "./lib/results.mjs";
import { miniflareRunner } from "./lib/runner-miniflare.mjs";
import { int, pct, renderTable } from "./lib/table.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const REGION = "eu";
const STOREFRONT_KEY = "bench-key";
const ADMIN_TOKEN = "bench-admin";

const SPEC = {
  stock: { env: "DROP_STOCK", type: "int", default: 100, help: "units of the limited edition" },
  honest: { env: "DROP_HONEST", type: "int", default: 300, help: "honest shoppers, one unit each" },
  arrival: { env: "DROP_ARRIVAL", type: "number", default: 2, help: "seconds over which honest shoppers arrive" },
  "bot-head-start": { env: "DROP_BOT_HEAD_START", type: "number", default: 0.5, help: "seconds the bot fires before the first honest shopper arrives (bots know the drop time to the millisecond)" },
  "bot-accounts": { env: "DROP_BOT_ACCOUNTS", type: "int", default: 8, help: "shopper accounts the bot controls" },
  "bot-addresses": { env: "DROP_BOT_ADDRESSES", type: "int", default: 4, help: "client addresses the bot sends from" },
  "bot-parallel": { env: "DROP_BOT_PARALLEL", type: "int", default: 16, help: "bot requests in flight at once" },
  "max-units": { env: "DROP_MAX_UNITS", type: "int", default: 1, help: "drop rule maxUnitsPerShopper (rules-on run)" },
  "max-holds": { env: "DROP_MAX_HOLDS", type: "int", default: 1, help: "drop rule maxHoldsPerShopper (rules-on run)" },
  "max-ttl": { env: "DROP_MAX_TTL", type: "int", default: 300, help: "drop rule maxHoldTtlSeconds (rules-on run)" },
};

const progress = (text) => process.stderr.write(`${text}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function admin(url, method, path, body) {
  const res = await fetch(`${url}/v1/admin/${REGION}/stock/${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const answer = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(answer)}`);
  return answer;
}

/** One drop: stock the SKU, set (or not) its rules, run honest shoppers and the bot together. */
async function runDrop(url, opts, rulesOn) {
  const sku = `DROP-${rulesOn ? "RULES" : "OPEN"}-${Date.now().toString(36)}`.toUpperCase();
  await admin(url, "PUT", sku, { warehouse: "eu-ams", onHand: opts.stock });
  if (rulesOn) await admin(url, "PUT", `${sku}/drop-rules`, { maxUnitsPerShopper: opts["max-units"], maxHoldsPerShopper: opts["max-holds"], maxHoldTtlSeconds: opts["max-ttl"] });
  const stats = { honestUnits: 0, honestRefused: {}, honest429: 0, honest503: 0, botUnits: 0, botRequests: 0, botAnswers: {} };
  const count = (bag, key) => (bag[key] = (bag[key] ?? 0) + 1);

  let botRunning = true;
  const bot = async (lane) => {
    for (let n = lane; botRunning; n += opts["bot-parallel"]) {
      const res = await fetch(`${url}/v1/${REGION}/reservations`, {
        method: "POST",
        headers: {
          "x-api-key": STOREFRONT_KEY, "content-type": "application/json", "idempotency-key": crypto.randomUUID(),
          "cf-connecting-ip": `203.0.113.${1 + (n % opts["bot-addresses"])}`,
        },
        body: JSON.stringify({ lines: [{ sku, qty: 1 }], ttlSeconds: 3600, shopper: { id: `bot-${n % opts["bot-accounts"]}`, consent: false } }),
      }).catch(() => null);
      stats.botRequests++;
      if (!res) continue;
      const body = await res.json().catch(() => ({}));
      count(stats.botAnswers, res.status === 201 ? "201" : `${res.status} ${body.code ?? ""}`.trim());
      if (res.status === 201) stats.botUnits++;
      else await sleep(2); // a bot does not wait Retry-After; it only yields the event loop
    }
  };

  const shopper = async (i) => {
    await sleep((opts["bot-head-start"] + Math.random() * opts.arrival) * 1000);
    const client = new StorefrontClient({
      baseUrl: url, apiKey: STOREFRONT_KEY, region: REGION, maxWaitSeconds: 10,
      headers: { "cf-connecting-ip": `198.18.${i >> 8}.${i & 255}` },
      onRetry: ({ status }) => (status === 429 ? stats.honest429++ : status === 503 ? stats.honest503++ : null),
    });
    const held = await client.reserve({ lines: [{ sku, qty: 1 }], ttlSeconds: 300, shopper: { id: `fan-${i}`, consent: false } });
    if (!held.ok) return count(stats.honestRefused, `${held.problem.status} ${held.problem.code}`);
    await sleep(200 + Math.random() * 300); // checkout
    const confirmed = await client.confirm(held.value.id, held.value.token);
    if (confirmed.ok) stats.honestUnits++;
    else count(stats.honestRefused, `confirm ${confirmed.problem.status} ${confirmed.problem.code}`);
  };

  const started = Date.now();
  const bots = Array.from({ length: opts["bot-parallel"] }, (_, lane) => bot(lane));
  await Promise.all(Array.from({ length: opts.honest }, (_, i) => shopper(i)));
  botRunning = false;
  await Promise.all(bots);
  const seconds = (Date.now() - started) / 1000;
  const state = await admin(url, "GET", sku);
  return { sku, rulesOn, seconds, state, ...stats };
}

async function main() {
  const { help, values: opts } = parseArgs(SPEC);
  if (help) {
    console.log(usage("npm run bench:drop --", SPEC));
    return;
  }
  const { defer, cleanup, onExit } = cleanupOnExit({ onSignal: (signal) => progress(`[drop] ${signal}: stopping`) });
  try {
    const outdir = mkdtempSync(join(tmpdir(), "bench-drop-build-"));
    onExit.dirs.add(outdir);
    defer(() => rmSync(outdir, { recursive: true, force: true }));
    progress("[drop] building the worker (wrangler deploy --dry-run) ...");
    const build = await buildWorker({ projectRoot: ROOT, outdir });
    const runner = await miniflareRunner({
      scriptPath: build.main,
      configPath: join(ROOT, "wrangler.toml"),
      env: "",
      bindings: { REGIONS: "eu,us,apac", STOREFRONT_KEYS: STOREFRONT_KEY, ADMIN_TOKEN, USER_ID_SECRET: "bench-user-id-secret" },
      queueConsumers: false,
      rateLimits: "config",
    });
    progress(`[drop] runner: ${runner.description}`);
    const results = [];
    for (const rulesOn of [false, true]) {
      const instance = await runner.start();
      for (const pid of Object.values(instance.pids)) onExit.pids.add(pid);
      onExit.dirs.add(instance.persistDir);
      try {
        progress(`[drop] drop rules ${rulesOn ? "on" : "off"}: ${opts.stock} units, ${opts.honest} honest shoppers over ${opts.arrival} s, a bot with ${opts["bot-accounts"]} accounts on ${opts["bot-addresses"]} addresses ...`);
        results.push(await runDrop(instance.url, opts, rulesOn));
      } finally {
        await instance.stop();
        for (const pid of Object.values(instance.pids)) onExit.pids.delete(pid);
        onExit.dirs.delete(instance.persistDir);
      }
    }
    const git = gitInfo(ROOT);
    console.log(`\nDrop with bots, commit ${git?.commit?.slice(0, 7) ?? "?"}${git?.dirty ? " (uncommitted changes)" : ""}: ${opts.stock} units; ${opts.honest} honest shoppers (1 unit each, own account and address, typed client); a bot with ${opts["bot-accounts"]} accounts, ${opts["bot-addresses"]} addresses, ${opts["bot-parallel"]} requests in flight, starting ${opts["bot-head-start"]} s before the shoppers, TTL 3600 s, never confirms. Rate limits as in wrangler.toml. Rules on: maxUnitsPerShopper ${opts["max-units"]}, maxHoldsPerShopper ${opts["max-holds"]}, maxHoldTtlSeconds ${opts["max-ttl"]}.\n`);
    const answers = (bag) => Object.entries(bag).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${int(v)}`).join(", ") || "-";
    console.log(renderTable(
      [
        { header: "drop rules", align: "left", value: (r) => (r.rulesOn ? "on" : "off") },
        { header: "units sold or held", value: (r) => int(r.state.held + r.state.confirmed) },
        { header: "honest got", value: (r) => int(r.honestUnits) },
        { header: "bot got", value: (r) => int(r.state.held + r.state.confirmed - r.honestUnits) },
        { header: "honest share", value: (r) => pct(r.honestUnits / Math.max(1, r.state.held + r.state.confirmed)) },
        { header: "bot requests", value: (r) => int(r.botRequests) },
        { header: "429 to bot", value: (r) => int(Object.entries(r.botAnswers).filter(([k]) => k.startsWith("429")).reduce((n, [, v]) => n + v, 0)) },
        { header: "429/503 retried by honest", value: (r) => `${int(r.honest429)}/${int(r.honest503)}` },
        { header: "oversold", value: (r) => int(Math.max(0, r.state.held + r.state.confirmed - r.state.onHand)) },
        { header: "s", value: (r) => r.seconds.toFixed(1) },
      ],
      results,
    ));
    for (const r of results) {
      console.log(`\nrules ${r.rulesOn ? "on" : "off"}: bot answers: ${answers(r.botAnswers)}`);
      console.log(`rules ${r.rulesOn ? "on" : "off"}: honest shoppers refused: ${answers(r.honestRefused)}`);
    }
    const oversold = results.some((r) => r.state.held + r.state.confirmed > r.state.onHand);
    if (oversold) process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  console.error(`[drop] failed: ${err?.stack ?? err}`);
  process.exit(1);
});
