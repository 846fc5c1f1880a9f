// The scenarios of `npm run bench`, written once against the HTTP API so that every runner (the
// Worker in workerd, the Node peers) is set up, loaded and checked by the very same requests.
// Each scenario has: setup(api) before the run, workload(...) for the load generator (see
// workloads.mjs), and verify(api, result) after it, which reads the stock back through
// GET /v1/admin/{region}/stock/{sku} and checks that nothing was oversold.
import { stalenessProbe } from "./staleness.mjs";
import { skuName, TURN_ORDER } from "./workloads.mjs";

export const REGION = "eu";
export const STOREFRONT_KEY = "bench-key";
export const ADMIN_TOKEN = "bench-admin";
export const USER_ID_SECRET = "bench-user-id-secret";

/** OUTBOX_SAFETY_MS of durable-objects/inventory.ts: every stock write sets its object's alarm this far ahead. */
export const SETUP_ALARM_DELAY_MS = 30_000;
/**
 * After a set-up's last stock write, how long until its objects are quiet: their safety alarms,
 * then workerd freeing each object about 10 s after its last call. Freeing closes its SQLite
 * database (a WAL checkpoint and an fsync) on workerd's one thread: after the reads set-up's 1,000
 * stock writes, about 20 ms of every second of the measured run went to closing objects the run
 * never touched (perf, 2026-12-01). npm run bench and bench:profile wait this out.
 */
export const SETUP_SETTLED_MS = SETUP_ALARM_DELAY_MS + 12_000 + 2_000;
const WAREHOUSE = "eu-ams"; // configured for eu in wrangler.toml (ours accepts no other)
const TTL_SECONDS = 300; // the API's default: nothing expires during a run

/** Admin calls against one runner's URL. */
export function adminApi(url) {
  async function call(method, sku, body) {
    const res = await fetch(`${url}/v1/admin/${REGION}/stock/${sku}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body && { "content-type": "application/json" }) },
      ...(body && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${method} /v1/admin/${REGION}/stock/${sku} answered ${res.status}: ${text.slice(0, 500)}`);
    return JSON.parse(text);
  }
  return {
    url,
    setStock: (sku, onHand, safetyStock = 0) => call("PUT", sku, { warehouse: WAREHOUSE, onHand, safetyStock }),
    state: (sku) => call("GET", sku),
    /** The recommendations part of GET /v1/admin/{region}/metrics over the server's life; null where there is no such route (the Node peers). */
    async recommendationMetrics() {
      const res = await fetch(`${url}/v1/admin/${REGION}/metrics?minutes=60`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).catch(() => null);
      if (res?.status !== 200) return null;
      return (await res.json()).recommendations ?? null;
    },
    /** Runs fn over items, `concurrency` at a time; returns the results in order. */
    async each(items, fn, concurrency = 16) {
      const out = new Array(items.length);
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(concurrency, items.length) }, async () => {
          while (next < items.length) {
            const i = next++;
            out[i] = await fn(items[i], i);
          }
        }),
      );
      return out;
    },
  };
}

const oversoldOf = (s) => Math.max(0, s.held + s.confirmed - (s.onHand - s.safetyStock));
const count = (kind, status) => kind?.statusCounts?.[status] ?? 0;

/** The scenarios, configured from the command line. */
export function scenarioCatalog(opts) {
  const skuList = (prefix, n) => Array.from({ length: n }, (_, i) => skuName(prefix, i));
  const common = { region: REGION, apiKey: STOREFRONT_KEY, ttlSeconds: TTL_SECONDS };

  const flash = {
    id: "flash",
    name: `flash sale: 1 SKU, stock ${opts.stock}, reserve 1 then ${Math.round(opts["confirm-ratio"] * 100)}% confirm / ${Math.round((1 - opts["confirm-ratio"]) * 100)}% release`,
    sku: "BENCH-FLASH",
    shardable: true,
    async setup(api) {
      await api.setStock(flash.sku, opts.stock);
      return { stock: opts.stock };
    },
    warmup: (keyPrefix) => ({ ...common, kind: "flash", sku: "BENCH-WARM-FLASH", keyPrefix, confirmRatio: opts["confirm-ratio"] }),
    async warmupSetup(api) {
      await api.setStock("BENCH-WARM-FLASH", 10_000_000);
    },
    workload: (keyPrefix) => ({ ...common, kind: "flash", sku: flash.sku, keyPrefix, confirmRatio: opts["confirm-ratio"] }),
    async verify(api, result) {
      const s = await api.state(flash.sku);
      const reserve = result.byKind.reserve;
      const holds = count(reserve, 201);
      const confirms = count(result.byKind.confirm, 200);
      const releases = count(result.byKind.release, 200);
      const failures = [];
      const warnings = [];
      const oversold = oversoldOf(s);
      if (oversold > 0) failures.push(`OVERSOLD by ${oversold}: held ${s.held} + confirmed ${s.confirmed} > onHand ${s.onHand} - safety ${s.safetyStock}`);
      if (s.confirmed !== confirms) failures.push(`confirmed ${s.confirmed} != ${confirms} confirms answered 200`);
      if (s.held !== holds - confirms - releases) {
        failures.push(`held ${s.held} != ${holds} holds (201) - ${confirms} confirms - ${releases} releases = ${holds - confirms - releases}`);
      }
      const sellable = s.onHand - s.safetyStock;
      if (s.held + s.confirmed < sellable) warnings.push(`did not sell out: ${s.held + s.confirmed} of ${sellable} units held or sold when the run ended`);
      return {
        ok: failures.length === 0,
        failures,
        warnings,
        oversold,
        units: s.held + s.confirmed,
        stock: sellable,
        detail: { onHand: s.onHand, safetyStock: s.safetyStock, held: s.held, confirmed: s.confirmed, available: s.available, activeHolds: s.activeHolds, holds201: holds, refused409: count(reserve, 409), confirms, releases },
      };
    },
  };

  const cartSkus = skuList("BENCH-CART-", opts["cart-skus"]);
  const carts = {
    id: "carts",
    name: `carts: ${opts["cart-lines"]}-line reservations over ${opts["cart-skus"]} SKUs (stock ${opts["cart-stock"]} each)`,
    async setup(api) {
      await api.each(cartSkus, (sku) => api.setStock(sku, opts["cart-stock"]));
      return { stock: opts["cart-stock"] * cartSkus.length };
    },
    async warmupSetup(api) {
      await api.each(skuList("BENCH-WARM-CART-", 50), (sku) => api.setStock(sku, 10_000_000));
    },
    warmup: (keyPrefix) => ({ ...common, kind: "carts", skuPrefix: "BENCH-WARM-CART-", skuCount: 50, lines: opts["cart-lines"], keyPrefix }),
    workload: (keyPrefix) => ({ ...common, kind: "carts", skuPrefix: "BENCH-CART-", skuCount: cartSkus.length, lines: opts["cart-lines"], keyPrefix }),
    async verify(api, result) {
      const states = await api.each(cartSkus, (sku) => api.state(sku));
      const holds = count(result.byKind.reserve, 201);
      const failures = [];
      const warnings = [];
      let held = 0;
      let confirmed = 0;
      let sellable = 0;
      let oversold = 0;
      const oversoldSkus = [];
      for (const s of states) {
        held += s.held;
        confirmed += s.confirmed;
        sellable += s.onHand - s.safetyStock;
        const o = oversoldOf(s);
        if (o > 0) oversoldSkus.push(`${s.sku} by ${o}`);
        oversold += o;
      }
      if (oversold > 0) failures.push(`OVERSOLD ${oversold} units on ${oversoldSkus.length} SKUs: ${oversoldSkus.slice(0, 5).join(", ")}`);
      const lines = opts["cart-lines"];
      if (held !== holds * lines) failures.push(`held ${held} units != ${holds} carts held (201) x ${lines} lines = ${holds * lines}`);
      const refused = count(result.byKind.reserve, 409);
      if (refused > 0) warnings.push(`${refused} carts refused (409): raise --cart-stock to measure holds only`);
      return { ok: failures.length === 0, failures, warnings, oversold, units: held + confirmed, stock: sellable, detail: { held, confirmed, holds201: holds, refused409: refused, skus: states.length } };
    },
  };

  const reads = {
    id: "reads",
    name: `availability reads: ${opts["read-skus"]} SKUs per request out of ${opts["cart-skus"]}`,
    async setup(api) {
      // Some held units, so the reads have something to subtract.
      await api.each(cartSkus, (sku, i) => api.setStock(sku, 100 + (i % 50)));
      return { stock: null };
    },
    async warmupSetup() {},
    warmup: () => ({ ...common, kind: "reads", skuPrefix: "BENCH-CART-", skuCount: cartSkus.length, perRequest: opts["read-skus"] }),
    workload: () => ({ ...common, kind: "reads", skuPrefix: "BENCH-CART-", skuCount: cartSkus.length, perRequest: opts["read-skus"] }),
    /** While the load runs: stock changes on 20 of the read SKUs, and answers checked against them. */
    during: (api, url) => stalenessProbe({ url, region: REGION, apiKey: STOREFRONT_KEY, api, skus: cartSkus.slice(0, 20) }),
    async verify(api, result, probe) {
      const failures = [];
      const warnings = [];
      if (result.badBodies > 0) failures.push(`${result.badBodies} availability answers did not list every SKU asked for`);
      if (probe) {
        if (probe.maxMs > opts["staleness-bound-ms"]) failures.push(`an answer was ${probe.maxMs} ms behind its stock object's own state (bound ${opts["staleness-bound-ms"]} ms)`);
        if (probe.failedReads || probe.failedWrites) warnings.push(`staleness probe: ${probe.failedReads} reads and ${probe.failedWrites} writes failed`);
      }
      return { ok: failures.length === 0, failures, warnings, oversold: null, units: null, stock: null, staleness: probe, detail: { badBodies: result.badBodies } };
    },
  };

  // A regional outage (ours only: the peers have no objects to take down). eu's objects and pages
  // hang for the whole measured run; us carries on. Reads and one-line reservations in both.
  const OUTAGE_SKUS = 200;
  const outageSkus = skuList("BENCH-OUT-", OUTAGE_SKUS);
  const admin = (url, method, path, body) =>
    fetch(`${url}/v1/admin/${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body && { "content-type": "application/json" }) },
      ...(body && { body: JSON.stringify(body) }),
    }).then(async (res) => {
      const text = await res.text();
      if (res.status !== 200) throw new Error(`${method} /v1/admin/${path} answered ${res.status}: ${text.slice(0, 300)}`);
      return JSON.parse(text);
    });
  const outageWorkload = (prefix, keyPrefix) => ({
    ...common, kind: "outage", regions: ["eu", "us"], skuPrefix: prefix, skuCount: prefix === "BENCH-OUT-" ? OUTAGE_SKUS : 50,
    perRequest: opts["read-skus"], readShare: 0.8, keyPrefix,
  });
  const outage = {
    id: "outage",
    name: `regional outage: every eu object hangs for the run; reads of ${opts["read-skus"]} SKUs (80%) and one-line reservations in eu and us`,
    oursOnly: true,
    needsFaultInjection: true,
    async setup(api) {
      const url = api.url;
      await api.each([...outageSkus.map((sku) => ["eu", "eu-ams", sku]), ...outageSkus.map((sku) => ["us", "us-nj", sku])], ([region, warehouse, sku]) =>
        admin(url, "PUT", `${region}/stock/${sku}`, { warehouse, onHand: 1_000_000 }));
      return { stock: null };
    },
    async warmupSetup(api) {
      const url = api.url;
      await api.each([...skuList("BENCH-WARM-OUT-", 50).map((sku) => ["eu", "eu-ams", sku]), ...skuList("BENCH-WARM-OUT-", 50).map((sku) => ["us", "us-nj", sku])], ([region, warehouse, sku]) =>
        admin(url, "PUT", `${region}/stock/${sku}`, { warehouse, onHand: 1_000_000 }));
    },
    warmup: (keyPrefix) => outageWorkload("BENCH-WARM-OUT-", keyPrefix),
    workload: (keyPrefix) => outageWorkload("BENCH-OUT-", keyPrefix),
    /** Reads eu once the set-up's publishes landed (so the edge holds pages with these SKUs), then takes eu down. */
    during(api, url) {
      const started = (async () => {
        const read = () => fetch(`${url}/v1/eu/availability?skus=${outageSkus.slice(0, 100).join(",")}`, { headers: { "x-api-key": STOREFRONT_KEY } }).then((r) => r.json());
        for (let i = 0; i < 50; i++) {
          await new Promise((r) => setTimeout(r, 200));
          if ((await read()).items.every((it) => it.available > 0)) break;
        }
        await admin(url, "PUT", "eu/outage", { mode: "hang" });
      })();
      return {
        ready: started,
        async stop() {
          await started;
          await admin(url, "PUT", "eu/outage", { mode: "none" });
          const endedAt = Date.now();
          // Recovery: the read model answers fresh and equal to the objects' own state again.
          const sample = outageSkus.slice(0, 20);
          for (;;) {
            const res = await fetch(`${url}/v1/eu/availability?skus=${sample.join(",")}`, { headers: { "x-api-key": STOREFRONT_KEY } });
            const body = res.status === 200 ? await res.json() : null;
            const own = await api.each(sample, (sku) => admin(url, "GET", `eu/stock/${sku}`));
            if (body && !body.stale && body.items.every((it, k) => it.available === own[k].available)) return { recoveredMs: Date.now() - endedAt };
            if (Date.now() - endedAt > 30_000) return { recoveredMs: null };
            await new Promise((r) => setTimeout(r, 100));
          }
        },
      };
    },
    async verify(api, result, probe) {
      const url = api.url;
      const failures = [];
      const warnings = [];
      const held = {};
      let oversold = 0;
      for (const region of ["eu", "us"]) {
        const states = await api.each(outageSkus, (sku) => admin(url, "GET", `${region}/stock/${sku}`));
        held[region] = states.reduce((n, s) => n + s.held, 0);
        oversold += states.reduce((n, s) => n + oversoldOf(s), 0);
        const holds = count(result.byKind[`reserve-${region}`], 201);
        if (held[region] !== holds) failures.push(`${region}: ${held[region]} units held != ${holds} reservations answered 201`);
      }
      const kinds = Object.entries(result.byKind);
      const share = (region) => {
        const mine = kinds.filter(([k]) => k.endsWith(`-${region}`));
        const all = mine.reduce((n, [, v]) => n + v.responses, 0);
        const ok = mine.reduce((n, [, v]) => n + Object.entries(v.statusCounts).filter(([st]) => Number(st) < 500).reduce((m, [, c]) => m + c, 0), 0);
        return all ? ok / all : null;
      };
      if (probe?.recoveredMs == null) failures.push("the read model did not catch up within 30 s of the recovery");
      const outageSummary = {
        availabilityDown: share("eu"),
        availabilityUp: share("us"),
        readsAnsweredDown: count(result.byKind["read-eu"], 200) / Math.max(1, result.byKind["read-eu"]?.responses ?? 0),
        staleReads: result.staleReads,
        recoveredMs: probe?.recoveredMs ?? null,
      };
      return { ok: failures.length === 0, failures, warnings, oversold, units: null, stock: null, outage: outageSummary, detail: { held } };
    },
  };

  // Recommendations: every runner gets the same lists (computed here by the Worker's own build code
  // from the committed Groceries baskets) written straight into its store, and the same stock.
  let fixture = null;
  const recs = {
    id: "recs",
    name: `recommendations: limit 10 next to 1-3 SKUs of a held-out basket, ${Math.round(opts["recs-consent"] * 100)}% from a consenting shopper, 169 SKUs (1 in 10 out of stock)`,
    async warmupSetup(api, instance) {
      if (!instance.seedLists) throw new Error("this runner cannot be given recommendation lists");
      if (!fixture) {
        const { tsImport } = await import("tsx/esm/api");
        const { recsFixture } = await tsImport("./recs-fixture.ts", import.meta.url);
        fixture = await recsFixture({ region: REGION, userIdSecret: USER_ID_SECRET, shoppers: opts["recs-shoppers"], contexts: opts["recs-contexts"] });
      }
      await api.each(fixture.stock, ([sku, onHand]) => api.setStock(sku, onHand));
      await instance.seedLists(fixture.entries);
    },
    async setup() {
      return { stock: null };
    },
    warmup: () => recsWorkload(),
    // Long enough for every consenting shopper's list to be read once (2,000 shoppers, about 1,000
    // consenting requests a second). After a 1 s warm-up the measured run was the cold start: up to
    // 2,000 list reads in 10 s, three times the steady rate (one per shopper per 30 s, what the
    // list cache keeps), and locally miniflare's KV serves each on workerd's one thread (0.56 against
    // 0.36 ms of CPU a request, one run each).
    minWarmupSec: 5,
    workload: () => recsWorkload(),
    async verify(api, result) {
      const failures = [];
      const warnings = [];
      if (result.badBodies > 0) failures.push(`${result.badBodies} answers listed no item`);
      if (result.outOfStockShown > 0) failures.push(`${result.outOfStockShown} answers showed an out-of-stock SKU`);
      if (result.unknownAvailability > 0) warnings.push(`${result.unknownAvailability} answers were not filtered by availability (read over its budget)`);
      // What the server counted (ours): answers served again from its memo, warm-up included.
      const counted = await api.recommendationMetrics?.();
      const memo = counted ? { answers: counted.requests, fromMemo: counted.fromMemo ?? 0 } : null;
      return { ok: failures.length === 0, failures, warnings, oversold: null, units: null, stock: null, memo, detail: { badBodies: result.badBodies, unknownAvailability: result.unknownAvailability, outOfStockShown: result.outOfStockShown } };
    },
  };
  const recsWorkload = () => ({
    ...common, kind: "recs", contexts: fixture.contexts, consentShare: opts["recs-consent"], shoppers: fixture.shoppers, outOfStock: fixture.outOfStock,
  });

  // Reads and recommendations on one server, taking turns (workloads.mjs, "turns"). The reads and
  // recs runs above are a minute apart, and this VM's speed moves by up to 2x within seconds (the
  // same reads run gave 3,343 and 7,056 req/s): enough to decide a comparison near 1x either way.
  // Here the two share every second, a b b a, so such a drift counts the same for both.
  const turnsWorkload = (durationSec) => ({ kind: "turns", sliceMs: TURN_SLICE_MS, durationSec, parts: [reads.workload(), recsWorkload()] });

  // Taking turns, each workload runs half the time: the warm-up is twice the recs scenario's, so
  // the recommendations get as many seconds of their own (their lists read once) as when alone.
  // With the recs scenario's 5 s, they had 2.5 s: the first half of a 10 s measured run was their
  // cold start, at about half the reads' rate; the last five blocks 0.75x-1.44x (docs/performance-log.md).
  const TURNS_WARMUP_SEC = 2 * recs.minWarmupSec;
  const storefront = {
    id: "storefront",
    name: `availability reads and recommendations taking turns on one server (the two workloads above, ${TURN_SLICE_MS} ms each, in the order a b b a)`,
    oursOnly: true,
    warmupSetup: (api, instance) => recs.warmupSetup(api, instance),
    setup: (api) => reads.setup(api),
    warmup: () => turnsWorkload(TURNS_WARMUP_SEC),
    minWarmupSec: TURNS_WARMUP_SEC,
    workload: () => turnsWorkload(opts.duration),
    during: (api, url) => reads.during(api, url),
    async verify(api, result, probe) {
      // One counter for both kinds' incomplete answers; each scenario's own check words it for its kind.
      const r = await reads.verify(api, { ...result, badBodies: 0 }, probe);
      const c = await recs.verify(api, { ...result, badBodies: 0 });
      const failures = [...r.failures, ...c.failures];
      if (result.badBodies > 0) failures.push(`${result.badBodies} answers were incomplete (an availability answer without every SKU asked for, or recommendations with no item)`);
      return { ok: failures.length === 0, failures, warnings: [...r.warnings, ...c.warnings], oversold: null, units: null, stock: null, staleness: r.staleness, turns: turnsSummary(result.turns), memo: c.memo, detail: { ...c.detail, badBodies: result.badBodies } };
    },
  };

  // What personalising costs, on one server: recommendations without a shopper (the memo's) and
  // from a consenting shopper with a list (worked out every time), taking turns a b b a as in the
  // storefront scenario, so the two share the isolate's heap, caches and the machine's drift. The
  // storefront scenario says how the mix compares with reads; this says which half of it to work on.
  const personalisation = {
    id: "personalisation",
    name: `recommendations without a shopper and from a consenting shopper taking turns on one server (the recs workload at 0% and 100% consent, ${TURN_SLICE_MS} ms each, in the order a b b a)`,
    oursOnly: true,
    warmupSetup: (api, instance) => recs.warmupSetup(api, instance),
    setup: () => recs.setup(),
    warmup: () => personalisationWorkload(TURNS_WARMUP_SEC),
    minWarmupSec: TURNS_WARMUP_SEC,
    workload: () => personalisationWorkload(opts.duration),
    async verify(api, result) {
      const c = await recs.verify(api, result);
      return { ...c, turns: turnsSummary(result.turns) };
    },
  };
  const personalisationWorkload = (durationSec) => ({
    kind: "turns",
    sliceMs: TURN_SLICE_MS,
    durationSec,
    parts: [
      { ...recsWorkload(), consentShare: 0, tag: "recommend-anonymous" },
      { ...recsWorkload(), consentShare: 1, tag: "recommend-personalised" },
    ],
  });

  return { flash, carts, reads, recs, outage, storefront, personalisation };
}

/** How long each kind's turn lasts in the storefront scenario: four turns (a b b a) make a one-second block. */
export const TURN_SLICE_MS = 250;

/**
 * What a run of taking turns says: each part's answers a second (of the time that was its turn),
 * the second part's over the first's for the whole run, and that ratio's spread over the blocks
 * (a 95 % bootstrap interval: blocks drawn with replacement, 2,000 times).
 */
export function turnsSummary(turns, random = Math.random) {
  if (!turns?.blocks?.length) return null;
  const { blocks, sliceMs, kinds } = turns;
  const sum = (bs, part) => bs.reduce((n, b) => n + b[part], 0);
  const ratioOf = (bs) => sum(bs, 1) / Math.max(1, sum(bs, 0));
  const resampled = Array.from({ length: 2000 }, () => ratioOf(blocks.map(() => blocks[Math.floor(random() * blocks.length)]))).sort((a, b) => a - b);
  const seconds = (blocks.length * 2 * sliceMs) / 1000;
  const perBlock = blocks.map((b) => b[1] / Math.max(1, b[0]));
  const perTurn = (turns.slices ?? []).map((answers, i) => ({ kind: kinds[TURN_ORDER[i % TURN_ORDER.length]], answers, serverCpuMs: turns.sliceCpuMs ? Math.round(turns.sliceCpuMs[i]) : null }));
  return {
    kinds,
    blocks: blocks.length,
    blockSec: (4 * sliceMs) / 1000,
    perSecond: [sum(blocks, 0) / seconds, sum(blocks, 1) / seconds],
    ratio: ratioOf(blocks),
    interval: [resampled[Math.floor(0.025 * resampled.length)], resampled[Math.ceil(0.975 * resampled.length) - 1]],
    blockRange: [Math.min(...perBlock), Math.max(...perBlock)],
    perBlock,
    // The server's CPU time over the answers, per part (null when it was not measured).
    cpuMsPerRequest: turns.cpuMs ? [0, 1].map((part) => sum(turns.cpuMs, part) / Math.max(1, sum(blocks, part))) : null,
    // Each turn in order (the kinds take turns a b b a): the answers that arrived in it and the
    // server's CPU time in it (ms; null when not measured). For the results file: a stall shows as
    // a turn with few answers, and its CPU says whether the server was busy or starved.
    turnMs: sliceMs,
    turns: perTurn,
    stalled: stalledTurns(perTurn),
  };
}

/**
 * Turns with under a third of their kind's median answers, in order, each with its number: a stall
 * that decides a block's ratio (and, at 10 blocks, moves the run's by several points). The server's
 * CPU in such a turn says whether it was busy (its own work) or starved (the machine's).
 */
export function stalledTurns(turns) {
  const median = (xs) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return sorted.length ? sorted[Math.floor(sorted.length / 2)] : 0;
  };
  const medians = new Map([...new Set(turns.map((t) => t.kind))].map((kind) => [kind, median(turns.filter((t) => t.kind === kind).map((t) => t.answers))]));
  return turns.map((t, turn) => ({ turn, ...t })).filter((t) => t.answers < medians.get(t.kind) / 3);
}

/** The no-op ceiling: GET /healthz through our runtime. */
export const ceilingWorkload = { kind: "get", path: "/healthz" };
