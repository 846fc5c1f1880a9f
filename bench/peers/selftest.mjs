#!/usr/bin/env node
// `npm run bench:selftest`: the benchmark's peers must be correct before their numbers mean
// anything. Starts each runner briefly (by default ours in workerd too, so the answers are
// compared with the Worker's) and tells the same shopper stories to each:
// a hold within stock is 201 and over stock 409; a cart is all or nothing; a retry with the same
// Idempotency-Key replays the answer (and a different body is 422); confirm and release need the
// token; a hold that expires gives its units back; availability and admin state add up.
// Usage: npm run bench:selftest [-- --runners redis,postgres]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "../lib/args.mjs";
import { buildWorker } from "../lib/build.mjs";
import { miniflareRunner } from "../lib/runner-miniflare.mjs";
import { postgresRunner, redisRunner, DEFAULT_PG_ADMIN_URL } from "../lib/runner-peers.mjs";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const KEY = "selftest-key";
const ADMIN = "selftest-admin";
const secrets = { STOREFRONT_KEYS: KEY, ADMIN_TOKEN: ADMIN };

const RESERVATION_KEYS = ["createdAt", "expiresAt", "id", "lines", "region", "status"];
/** What ours' stock state adds for operators (its drop rules and its storage use); the peers have neither. */
const OURS_ONLY_STATE_KEYS = ["dropRules", "storage"];
const STATE_KEYS = ["activeHolds", "attention", "available", "confirmed", "held", "nextDeadline", "onHand", "region", "safetyStock", "sku", "status", "version", "warehouses"];

function client(url, run) {
  const call = async (method, path, { body, headers = {} } = {}) => {
    const res = await fetch(url + path, {
      method,
      headers: { ...(body !== undefined && { "content-type": "application/json" }), ...headers },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, type: res.headers.get("content-type") ?? "", body: text ? JSON.parse(text) : null };
  };
  const sku = (name) => `ST-${run}-${name}`;
  return {
    sku,
    setStock: (s, onHand, safetyStock = 0) => call("PUT", `/v1/admin/eu/stock/${s}`, { body: { warehouse: "eu-ams", onHand, safetyStock }, headers: { authorization: `Bearer ${ADMIN}` } }),
    state: (s) => call("GET", `/v1/admin/eu/stock/${s}`, { headers: { authorization: `Bearer ${ADMIN}` } }),
    reserve: (key, lines, ttlSeconds) =>
      call("POST", "/v1/eu/reservations", { body: { lines, ...(ttlSeconds && { ttlSeconds }) }, headers: { "x-api-key": KEY, "idempotency-key": `${run}-${key}` } }),
    confirm: (r, token = r.token) => call("POST", `/v1/eu/reservations/${r.id}/confirm`, { headers: { "x-api-key": KEY, "x-reservation-token": token, "idempotency-key": `c-${r.id}` } }),
    release: (r, token = r.token) => call("POST", `/v1/eu/reservations/${r.id}/release`, { headers: { "x-api-key": KEY, "x-reservation-token": token } }),
    availability: (skus) => call("GET", `/v1/eu/availability?skus=${skus.join(",")}`, { headers: { "x-api-key": KEY } }),
    raw: call,
  };
}

class Failure extends Error {}
function expect(what, actual, expected) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Failure(`${what}: expected ${e}, got ${a}`);
}
const keysOf = (o) => Object.keys(o ?? {}).sort();

/** The stories; each gets a fresh client with its own SKUs. */
const STORIES = {
  "a hold within stock is 201; over stock is 409 and says what is available": async (api) => {
    const s = api.sku("A");
    expect("set stock", (await api.setStock(s, 3, 1)).status, 200);
    const ok = await api.reserve("a1", [{ sku: s, qty: 2 }]);
    expect("status", ok.status, 201);
    expect("reservation shape", keysOf(ok.body).filter((k) => k !== "token"), RESERVATION_KEYS);
    expect("status field", ok.body.status, "held");
    const no = await api.reserve("a2", [{ sku: s, qty: 1 }]);
    expect("over stock", [no.status, no.type.split(";")[0], no.body.code, no.body.lines], [409, "application/problem+json", "insufficient_stock", [{ sku: s, requested: 1, available: 0 }]]);
    const st = await api.state(s);
    expect("state shape", keysOf(st.body).filter((k) => !OURS_ONLY_STATE_KEYS.includes(k)), STATE_KEYS);
    expect("state", [st.body.onHand, st.body.held, st.body.confirmed, st.body.safetyStock, st.body.available, st.body.activeHolds], [3, 2, 0, 1, 0, 1]);
  },
  "200 shoppers at once for 50 units: exactly 50 holds": async (api) => {
    const s = api.sku("F");
    await api.setStock(s, 50);
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => api.reserve(`f${i}`, [{ sku: s, qty: 1 }])));
    expect("201s and 409s", [answers.filter((a) => a.status === 201).length, answers.filter((a) => a.status === 409).length], [50, 150]);
    expect("held", (await api.state(s)).body.held, 50);
  },
  "carts over the same SKUs in opposite orders, at once: all or nothing, no deadlock": async (api) => {
    const [a, b] = [api.sku("DA"), api.sku("DB")];
    await api.setStock(a, 30);
    await api.setStock(b, 30);
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) => api.reserve(`d${i}`, i % 2 ? [{ sku: a, qty: 1 }, { sku: b, qty: 1 }] : [{ sku: b, qty: 1 }, { sku: a, qty: 1 }])),
    );
    expect("only 201 and 409", answers.every((x) => x.status === 201 || x.status === 409), true);
    const held = answers.filter((x) => x.status === 201).length;
    expect("units held on A and B", [(await api.state(a)).body.held, (await api.state(b)).body.held], [held, held]);
    expect("sold out", held, 30);
  },
  "a cart is all or nothing": async (api) => {
    const [a, b] = [api.sku("CA"), api.sku("CB")];
    await api.setStock(a, 5);
    await api.setStock(b, 1);
    const no = await api.reserve("c1", [{ sku: a, qty: 1 }, { sku: b, qty: 2 }]);
    expect("cart refused", [no.status, no.body.lines], [409, [{ sku: b, requested: 2, available: 1 }]]);
    expect("nothing held on A", (await api.state(a)).body.held, 0);
    expect("nothing held on B", (await api.state(b)).body.held, 0);
    const ok = await api.reserve("c2", [{ sku: a, qty: 1 }, { sku: b, qty: 1 }]);
    expect("cart held", ok.status, 201);
    expect("held on A and B", [(await api.state(a)).body.held, (await api.state(b)).body.held], [1, 1]);
  },
  "a retry with the same Idempotency-Key replays the answer": async (api) => {
    const s = api.sku("I");
    await api.setStock(s, 1);
    const first = await api.reserve("i1", [{ sku: s, qty: 1 }]);
    const again = await api.reserve("i1", [{ sku: s, qty: 1 }]);
    expect("replayed 201", [again.status, again.body.id, again.body.token], [201, first.body.id, first.body.token]);
    expect("held once", (await api.state(s)).body.held, 1);
    const other = await api.reserve("i1", [{ sku: s, qty: 1 }], 60);
    expect("same key, other body", [other.status, other.body.code], [422, "idempotency_key_reused"]);
    const t = api.sku("J");
    await api.setStock(t, 5);
    const refused = await api.reserve("i2", [{ sku: s, qty: 1 }]);
    expect("refused", refused.status, 409);
    const refusedCart = await api.reserve("i3", [{ sku: s, qty: 1 }, { sku: t, qty: 1 }]);
    expect("cart refused", refusedCart.status, 409);
    await api.release(first.body);
    const decidedAgain = await api.reserve("i2", [{ sku: s, qty: 1 }]);
    expect("a refused single line is decided again: stock is back", decidedAgain.status, 201);
    const cartAgain = await api.reserve("i3", [{ sku: s, qty: 1 }, { sku: t, qty: 1 }]);
    expect("a refused cart replays as a refusal, even with stock back", cartAgain.status, 409);
  },
  "confirm and release need the token; a sale cannot be released": async (api) => {
    const s = api.sku("T");
    await api.setStock(s, 2);
    const r = (await api.reserve("t1", [{ sku: s, qty: 1 }])).body;
    expect("wrong token", [(await api.confirm(r, "nope")).status, (await api.confirm(r, "nope")).body.code], [403, "invalid_token"]);
    const c = await api.confirm(r);
    expect("confirmed", [c.status, c.body.status, typeof c.body.confirmedAt], [200, "confirmed", "string"]);
    expect("confirm again", (await api.confirm(r)).status, 200);
    expect("release a sale", [(await api.release(r)).status, (await api.release(r)).body.code], [409, "already_confirmed"]);
    const r2 = (await api.reserve("t2", [{ sku: s, qty: 1 }])).body;
    const rel = await api.release(r2);
    expect("released", [rel.status, rel.body.status], [200, "released"]);
    expect("confirm after release", [(await api.confirm(r2)).status, (await api.confirm(r2)).body.code], [409, "reservation_released"]);
    const st = (await api.state(s)).body;
    expect("units", [st.held, st.confirmed, st.available], [0, 1, 1]);
    const unknown = await api.raw("POST", `/v1/eu/reservations/${"0".repeat(64)}/confirm`, { headers: { "x-api-key": KEY, "x-reservation-token": "x", "idempotency-key": "u" } });
    expect("unknown reservation", [unknown.status, unknown.body.code], [404, "reservation_not_found"]);
  },
  "a hold that expires gives its units back": async (api) => {
    const s = api.sku("E");
    await api.setStock(s, 1);
    const r = (await api.reserve("e1", [{ sku: s, qty: 1 }], 2)).body;
    expect("sold out while held", (await api.reserve("e2", [{ sku: s, qty: 1 }])).status, 409);
    await new Promise((resolve) => setTimeout(resolve, 4_500)); // 2 s TTL (+ the Worker's 2 s confirm grace)
    expect("available again", (await api.availability([s])).body.items[0].available, 1);
    const late = await api.confirm(r);
    expect("confirm after expiry", [late.status, late.body.code], [410, "hold_expired"]);
    expect("a new shopper gets it", (await api.reserve("e3", [{ sku: s, qty: 1 }])).status, 201);
    const st = (await api.state(s)).body;
    expect("units", [st.held, st.confirmed, st.activeHolds], [1, 0, 1]);
  },
  "availability lists every SKU asked for, unknown ones as out of stock": async (api) => {
    const [a, b] = [api.sku("V1"), api.sku("V2")];
    await api.setStock(a, 10);
    await api.reserve("v1", [{ sku: a, qty: 4 }]);
    const res = await api.availability([a, b]);
    expect("availability", [res.status, res.body.region, res.body.items.map((i) => [i.sku, i.available, i.status])], [200, "eu", [[a, 6, "in_stock"], [b, 0, "out_of_stock"]]]);
  },
  "bad input is a 4xx problem and changes nothing": async (api) => {
    const s = api.sku("B");
    await api.setStock(s, 1);
    const noKey = await api.raw("POST", "/v1/eu/reservations", { body: { lines: [{ sku: s, qty: 1 }] }, headers: { "x-api-key": KEY } });
    expect("no idempotency key", [noKey.status, noKey.body.code], [400, "idempotency_key_required"]);
    const bad = await api.reserve("b1", [{ sku: s, qty: 0 }]);
    expect("qty 0", [bad.status, bad.body.code], [400, "invalid_request"]);
    const noAuth = await api.raw("GET", `/v1/admin/eu/stock/${s}`);
    expect("no admin token", [noAuth.status, noAuth.body.code], [401, "unauthorized"]);
    const region = await api.raw("GET", `/v1/mars/availability?skus=${s}`, { headers: { "x-api-key": KEY } });
    expect("unknown region", [region.status, region.body.code], [404, "unknown_region"]);
    expect("nothing held", (await api.state(s)).body.held, 0);
  },
};

async function main() {
  const { values: opts } = parseArgs({
    runners: { env: "BENCH_RUNNERS", type: "string", default: "ours,redis,postgres", help: "which runners to test" },
    "pg-admin-url": { env: "BENCH_PG_ADMIN_URL", type: "string", default: DEFAULT_PG_ADMIN_URL, help: "Postgres for the throwaway database" },
  });
  const ids = opts.runners.split(",").map((s) => s.trim()).filter(Boolean);
  const runners = [];
  let outdir = null;
  if (ids.includes("ours")) {
    outdir = mkdtempSync(join(tmpdir(), "bench-selftest-build-"));
    const build = await buildWorker({ projectRoot: ROOT, outdir });
    runners.push({ id: "ours", runner: await miniflareRunner({ scriptPath: build.main, configPath: join(ROOT, "wrangler.toml"), env: "", bindings: { REGIONS: "eu,us,apac", LOW_STOCK_THRESHOLD: "5", ...secrets } }) });
  }
  if (ids.includes("redis")) runners.push({ id: "redis", runner: redisRunner({ secrets }) });
  if (ids.includes("postgres")) {
    const r = postgresRunner({ secrets, adminUrl: opts["pg-admin-url"] });
    await r.check();
    runners.push({ id: "postgres", runner: r });
  }
  let passed = 0;
  let failed = 0;
  try {
    for (const { id, runner } of runners) {
      const instance = await runner.start();
      try {
        // Stories run concurrently: the expiry one waits a few seconds.
        const results = await Promise.allSettled(Object.entries(STORIES).map(([name, story], i) => story(client(instance.url, `${id}${i}${Date.now().toString(36)}`)).then(() => name, (err) => Promise.reject(Object.assign(err, { story: name })))));
        for (const r of results) {
          if (r.status === "fulfilled") {
            passed++;
            console.log(`ok   ${id}: ${r.value}`);
          } else {
            failed++;
            console.log(`FAIL ${id}: ${r.reason.story}\n     ${r.reason instanceof Failure ? r.reason.message : r.reason.stack}`);
          }
        }
      } finally {
        await instance.stop();
      }
    }
  } finally {
    if (outdir) rmSync(outdir, { recursive: true, force: true });
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`[selftest] ${err?.stack ?? err}`);
    process.exit(1);
  },
);
