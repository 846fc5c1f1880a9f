// npm run recs:offline-build -- --region eu [--database URL] [--sink count|cloudflare] [--page 200000]
//                                  [--dense-max 3000]
// The recommendation build for catalogues and histories beyond what one Worker invocation can do
// (docs/recommendations.md, "Scale"): in Node, against the region's Postgres, reading the order
// history through a cursor a page at a time and keeping only pair counts (memory by catalogue, not
// by history); the per-shopper lists from a second cursor ordered by shopper, one shopper at a time; every key written through KV's bulk REST API
// (10,000 pairs per request) under a new version; then the pointer, alone and last, so readers
// switch atomically, exactly like the Worker build (recommendations/build.ts).
//
// Sinks: `cloudflare` writes to a real namespace (CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_API_TOKEN,
// KV_NAMESPACE_ID); `count` writes nothing and counts the requests, pairs and bytes it would send
// (for measuring here, where there is no Cloudflare account or network).
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import pg from "pg";
import { byScore, type Scored, together } from "../recommendations/co-purchase";
import { listsFromCounts, PairCounts } from "../recommendations/offline";
import { LIST_LENGTH, SHIPPED_MODEL } from "../recommendations/shipped";
import { type Card, categoryKey, ERASED_FEED_TTL_S, erasedKey, type ItemEntry, itemKey, newVersion, pointerKey, popularKey, userKey } from "../recommendations/store";
import { progressBar } from "./progress.mjs";

const usage = "usage: npm run recs:offline-build -- --region R [--database URL] [--sink count|cloudflare] [--page 200000] [--dense-max 3000]";
const { values } = parseArgs({
  options: {
    region: { type: "string" },
    database: { type: "string", default: process.env.DATABASE_URL },
    sink: { type: "string", default: "count" },
    page: { type: "string", default: "200000" },
    "dense-max": { type: "string", default: "3000" },
  },
});
const page = Number(values.page);
const denseMax = Number(values["dense-max"]);
if (!values.region || !values.database || ![page, denseMax].every((x) => Number.isInteger(x) && x > 0) || !["count", "cloudflare"].includes(values.sink!)) {
  console.error(usage);
  process.exit(2);
}
const region = values.region;
const UNDONE = ["reverted", "rejected", "timed_out"];
const TTL_SECONDS = 30 * 24 * 3600;

// ------------------------------------------------------------------ KV bulk writes

/** A key to write; `ttl` in seconds (default TTL_SECONDS). */
interface Pair {
  key: string;
  value: string;
  ttl?: number;
}

interface Sink {
  put(pairs: Pair[]): Promise<void>;
  delete(keys: string[]): Promise<void>;
  stats: { requests: number; pairs: number; bytes: number; deletes: number };
}

function countingSink(): Sink {
  const stats = { requests: 0, pairs: 0, bytes: 0, deletes: 0 };
  return {
    stats,
    async put(pairs) {
      stats.requests++;
      stats.pairs += pairs.length;
      for (const p of pairs) stats.bytes += p.key.length + Buffer.byteLength(p.value);
    },
    async delete(keys) {
      if (!keys.length) return;
      stats.requests++;
      stats.deletes += keys.length;
    },
  };
}

function cloudflareSink(): Sink {
  const { CLOUDFLARE_ACCOUNT_ID: account, CLOUDFLARE_API_TOKEN: token, KV_NAMESPACE_ID: namespace } = process.env;
  if (!account || !token || !namespace) {
    console.error("--sink cloudflare needs CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_API_TOKEN and KV_NAMESPACE_ID");
    process.exit(2);
  }
  const url = `https://api.cloudflare.com/client/v4/accounts/${account}/storage/kv/namespaces/${namespace}/bulk`;
  const stats = { requests: 0, pairs: 0, bytes: 0, deletes: 0 };
  const send = async (method: "PUT" | "DELETE", body: unknown) => {
    for (let attempt = 1; ; attempt++) {
      stats.requests++;
      const res = await fetch(method === "PUT" ? url : `${url}/delete`, {
        method: method === "PUT" ? "PUT" : "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (res.ok) return;
      if ((res.status === 429 || res.status >= 500) && attempt < 6) {
        await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
        continue;
      }
      throw new Error(`KV bulk ${method}: ${res.status} ${await res.text()}`);
    }
  };
  return {
    stats,
    async put(pairs) {
      await send("PUT", pairs.map(({ key, value, ttl }) => ({ key, value, expiration_ttl: ttl ?? TTL_SECONDS })));
      stats.pairs += pairs.length;
      for (const p of pairs) stats.bytes += p.key.length + Buffer.byteLength(p.value);
    },
    async delete(keys) {
      if (!keys.length) return;
      await send("DELETE", keys);
      stats.deletes += keys.length;
    },
  };
}

/** Collects pairs into requests of at most 10,000 pairs and 90 MB (the API allows 100 MB). */
function batcher(sink: Sink) {
  let pending: Pair[] = [];
  let size = 0;
  const flush = async () => {
    if (!pending.length) return;
    const batch = pending;
    pending = [];
    size = 0;
    await sink.put(batch);
  };
  return {
    async add(key: string, value: string) {
      pending.push({ key, value });
      size += key.length + value.length;
      if (pending.length >= 10_000 || size >= 90 * 1024 * 1024) await flush();
    },
    flush,
  };
}

// ------------------------------------------------------------------ the build

const sink = values.sink === "cloudflare" ? cloudflareSink() : countingSink();
// Two connections: one holds the read-only snapshot and its cursors, the other records the build.
const db = new pg.Client({ connectionString: values.database });
const writer = new pg.Client({ connectionString: values.database });
await db.connect();
await writer.connect();
const phases: [string, number][] = [];
let peakRss = 0;
const sample = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200);
let phaseStart = Date.now();
const phase = (name: string) => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  phases.push([name, Date.now() - phaseStart]);
  phaseStart = Date.now();
};
const started = Date.now();
const version = newVersion();

try {
  // One consistent snapshot for the catalogue and both passes (baskets, then shoppers).
  await db.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  // 1. The catalogue: one row per SKU.
  const catalogue = (
    await db.query<{ sku: string; name: string; brand: string; category: string; names: Record<string, string>; prices: Card["prices"] }>(
      "SELECT sku, name, brand, category, names, prices FROM catalog_items WHERE region = $1 ORDER BY sku",
      [region],
    )
  ).rows;
  const skus = catalogue.map((c) => c.sku);
  const index = new Map(skus.map((s, i) => [s, i]));
  phase("catalogue");

  // 2. The baskets, a page of lines at a time (keyset on the primary key), into pair counts.
  const counts = new PairCounts(skus.length);
  const total = Number((await db.query("SELECT count(*) AS n FROM reservation_ledger WHERE region = $1", [region])).rows[0].n);
  const bar = progressBar(`${region} baskets`);
  let basket: number[] = [];
  let basketId = "";
  let lines = 0;
  await db.query(
    `DECLARE lines NO SCROLL CURSOR FOR
     SELECT reservation_id, sku FROM reservation_ledger
     WHERE region = $1 AND confirmed_at IS NOT NULL AND status <> ALL($2)
     ORDER BY reservation_id`,
    [region, UNDONE],
  );
  for (;;) {
    const rows = (await db.query<{ reservation_id: string; sku: string }>(`FETCH ${page} FROM lines`)).rows;
    for (const r of rows) {
      if (r.reservation_id !== basketId) {
        if (basket.length) counts.add(basket);
        basket = [];
        basketId = r.reservation_id;
      }
      const i = index.get(r.sku);
      if (i !== undefined) basket.push(i); // only what the region sells is counted
      lines++;
    }
    bar.update(Math.min(lines, total), total, "lines");
    if (rows.length < page) break;
  }
  await db.query("CLOSE lines");
  if (basket.length) counts.add(basket);
  bar.done();
  phase("reading baskets");

  // 3. The model and the best-sellers.
  const { lists: itemLists, model } = listsFromCounts(counts, skus, { ...SHIPPED_MODEL, params: { ...SHIPPED_MODEL.params, neighbours: LIST_LENGTH.boughtTogether } } as typeof SHIPPED_MODEL, denseMax);
  const ranked: Scored[] = skus.map((sku, i) => ({ sku, score: counts.counts[i]! })).filter((s) => s.score > 0).sort(byScore);
  const byCategory: Record<string, Scored[]> = {};
  for (const s of ranked) {
    const list = (byCategory[catalogue[index.get(s.sku)!]!.category] ??= []);
    if (list.length < LIST_LENGTH.popularInCategory) list.push(s);
  }
  phase(`model (${model})`);

  // 4. Record the version (so an erasure can find it), then every list but the shoppers'.
  await writer.query("INSERT INTO recommendation_builds (region, version, started_at) VALUES ($1, $2, $3)", [region, version, new Date(started)]);
  const out = batcher(sink);
  await out.add(popularKey(region, version), JSON.stringify(ranked.slice(0, LIST_LENGTH.popular)));
  for (const [category, list] of Object.entries(byCategory)) await out.add(categoryKey(region, version, category), JSON.stringify(list));
  for (const c of catalogue) {
    const card: Card = { name: c.name, brand: c.brand, category: c.category, ...(Object.keys(c.names).length && { names: c.names }), ...(Object.keys(c.prices ?? {}).length && { prices: c.prices }) };
    const entry: ItemEntry = { card, together: itemLists.get(c.sku) ?? [] };
    await out.add(itemKey(region, version, c.sku), JSON.stringify(entry));
  }
  phase("writing item entries (card + list)");

  // 5. One list per consenting shopper, a page of shoppers at a time.
  const shoppersTotal = Number((await db.query("SELECT count(DISTINCT shopper) AS n FROM shopper_orders WHERE region = $1", [region])).rows[0].n);
  const shopperBar = progressBar(`${region} shoppers`);
  const written: string[] = [];
  let seen = 0;
  await db.query(
    `DECLARE histories NO SCROLL CURSOR FOR
     SELECT so.shopper, rl.sku
     FROM shopper_orders so JOIN reservation_ledger rl ON rl.region = so.region AND rl.reservation_id = so.reservation_id
     WHERE so.region = $1 AND rl.confirmed_at IS NOT NULL AND rl.status <> ALL($2)
     ORDER BY so.shopper`,
    [region, UNDONE],
  );
  let current = "";
  let history = new Map<string, number>();
  const finish = async () => {
    seen++;
    const list = together(itemLists, [...history].map(([sku, weight]) => ({ sku, weight })), LIST_LENGTH.forYou);
    if (!list.length) return;
    await out.add(userKey(region, version, current), JSON.stringify(list.map(({ sku, score }) => ({ sku, score }))));
    written.push(current);
  };
  for (;;) {
    const rows = (await db.query<{ shopper: string; sku: string }>(`FETCH ${page} FROM histories`)).rows;
    for (const r of rows) {
      if (r.shopper !== current) {
        if (history.size) await finish();
        current = r.shopper;
        history = new Map();
      }
      if (index.has(r.sku)) history.set(r.sku, (history.get(r.sku) ?? 0) + 1);
    }
    shopperBar.update(seen, shoppersTotal, "shoppers");
    if (rows.length < page) break;
  }
  if (history.size) await finish();
  await db.query("COMMIT");
  shopperBar.done();
  await out.flush();
  phase("writing shopper lists");

  // 6. The pointer, alone and last: readers switch to the complete version at once.
  const previous = (
    await db.query<{ version: string }>(
      "SELECT version FROM recommendation_builds WHERE region = $1 AND swapped_at IS NOT NULL AND deleted_at IS NULL ORDER BY swapped_at DESC LIMIT 1",
      [region],
    )
  ).rows[0]?.version;
  await sink.put([{ key: pointerKey(region), value: JSON.stringify({ version, builtAt: new Date().toISOString() }) }]);
  // Shoppers erased while this build ran: their lists go now (tombstones hold a digest only).
  const erased = new Set(
    (await db.query<{ d: string }>("SELECT shopper_digest AS d FROM shopper_erasures WHERE region = $1 AND erased_at >= $2", [region, new Date(started)])).rows.map((r) => r.d),
  );
  const digestOf = (s: string) => createHash("sha256").update(`erased:${s}`).digest("hex");
  const gone = erased.size ? written.filter((s) => erased.has(digestOf(s))) : [];
  for (let i = 0; i < gone.length; i += 10_000) await sink.delete(gone.slice(i, i + 10_000).map((s) => userKey(region, version, s)));
  // Announced again (the erasure's own announcement may have expired during the build), so that an
  // isolate that read one of those lists since the switch forgets it (recommendations/list-cache.ts).
  const announcedAt = new Date().toISOString();
  for (let i = 0; i < gone.length; i += 10_000) {
    await sink.put(gone.slice(i, i + 10_000).map((s) => ({ key: erasedKey(region, digestOf(s)), value: announcedAt, ttl: ERASED_FEED_TTL_S })));
  }
  const summary = {
    region,
    version,
    model,
    sink: values.sink,
    baskets: counts.baskets,
    lines,
    users: written.length - gone.length,
    items: skus.length,
    lists: { boughtTogether: itemLists.size, forYou: written.length - gone.length, popular: Object.keys(byCategory).length },
    keys: sink.stats.pairs,
    bytes: sink.stats.bytes,
    kvRequests: sink.stats.requests,
    previous: previous ?? null,
    ms: Date.now() - started,
  };
  await writer.query("UPDATE recommendation_builds SET swapped_at = now(), summary = $3 WHERE region = $1 AND version = $2", [region, version, summary]);
  phase("switching");
  clearInterval(sample);

  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;
  // Workers KV list prices (Workers Paid): $5.00 per million writes, $0.50 per GB-month stored.
  const writeCost = (sink.stats.pairs / 1e6) * 5;
  const storageCost = (sink.stats.bytes / 1e9) * 0.5;
  console.log(
    [
      "",
      `offline recommendation build: ${region}, version ${version}${values.sink === "count" ? " (sink: count — nothing written to KV)" : ""}`,
      `  model      : ${model}`,
      `  catalogue  : ${skus.length.toLocaleString("en")} SKUs`,
      `  history    : ${lines.toLocaleString("en")} order lines in ${counts.baskets.toLocaleString("en")} baskets, read in pages of ${page.toLocaleString("en")}`,
      `  shoppers   : ${summary.users.toLocaleString("en")} lists`,
      `  KV         : ${sink.stats.pairs.toLocaleString("en")} keys, ${mb(sink.stats.bytes)}, ${sink.stats.requests.toLocaleString("en")} bulk requests (pointer last)`,
      `  cost       : $${writeCost.toFixed(2)} of KV writes per build, $${storageCost.toFixed(3)} per month of storage per live version`,
      `  peak memory: ${mb(peakRss)} RSS`,
      ...phases.map(([name, ms]) => `  ${name.padEnd(36)} ${(ms / 1000).toFixed(1).padStart(7)} s`),
      `  total${" ".repeat(36)}${((Date.now() - started) / 1000).toFixed(1).padStart(7)} s`,
    ].join("\n"),
  );
} finally {
  clearInterval(sample);
  await db.end();
  await writer.end();
}
