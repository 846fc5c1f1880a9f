// Peer for the benchmark: the edge API on Node (Hono) over Redis, the way a team would build it
// without Durable Objects. Every decision is one Lua script, so it is atomic on the Redis thread:
//   - stock per SKU-region in a hash (onHand, held, confirmed, safety, version, per-warehouse
//     on-hand), holds in a sorted set per SKU-region scored by expiry. Each script first drops
//     the holds that are due and gives their units back: expiry needs no sweeper.
//   - a reservation of any number of lines is one script: all lines are checked, then all held,
//     or nothing is written (all or nothing).
//   - the create outcome is stored under the idempotency key with SET NX + TTL, so a retry gets
//     the same answer (a refused single line is not stored, a refused cart for 15 minutes, as the
//     API promises); the reservation itself is a hash with a TTL.
//   - confirm/release check the token in Node (constant time), then run a script that re-checks
//     the state and moves the units.
// Durability is whatever the redis-server was started with; the benchmark starts one with
// `--appendonly yes --appendfsync always`. Standalone Redis only: the scripts touch keys of
// several SKUs, which a Redis Cluster would refuse unless they shared a hash slot.
//
// Env: REDIS_URL (default redis://127.0.0.1:6379), PORT (0 = any), STOREFRONT_KEYS, ADMIN_TOKEN,
// USER_ID_SECRET, REGIONS (default eu,us,apac), LOW_STOCK_THRESHOLD (default 5).
import Redis from "ioredis";
import { createApp, readerStatus, sameSecret } from "./api.mjs";
import { servePeer } from "./serve.mjs";

const IDEMPOTENCY_TTL_MS = 48 * 3600_000; // the API promises at least 24 h
const RESERVATION_TTL_MS = 7 * 24 * 3600_000;

const key = {
  stock: (region, sku) => `stock:${region}:${sku}`,
  holds: (region, sku) => `holds:${region}:${sku}`,
  reservation: (region, id) => `res:${region}:${id}`,
  idempotency: (region, id) => `idem:${region}:${id}`,
};

// Shared by every script: the server's clock, and giving back the units of holds that are due.
// A hold is the member "<reservation id>:<qty>" of the SKU's sorted set, scored by its expiry.
const PRELUDE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function num(v) return tonumber(v) or 0 end
local function expire_due(stock, holds)
  local due = redis.call('ZRANGEBYSCORE', holds, '-inf', now)
  if #due == 0 then return end
  local freed = 0
  for _, m in ipairs(due) do freed = freed + tonumber(string.match(m, ':(%d+)$')) end
  redis.call('ZREMRANGEBYSCORE', holds, '-inf', now)
  redis.call('HINCRBY', stock, 'held', -freed)
  redis.call('HINCRBY', stock, 'version', #due)
end
local function available(stock)
  local v = redis.call('HMGET', stock, 'onHand', 'held', 'confirmed', 'safety')
  return num(v[1]) - num(v[2]) - num(v[3]) - num(v[4])
end
`;

const SCRIPTS = {
  // KEYS: idempotency, reservation, then stock_i, holds_i per line.
  // ARGV: id, requestHash, token, region, linesJson, ttlMs, idemTtlMs, resTtlMs, qty_1..qty_n
  reserve: `${PRELUDE}
local seen = redis.call('GET', KEYS[1])
if seen then return {'replay', seen} end
local id, hash = ARGV[1], ARGV[2]
local n = (#KEYS - 2) / 2
local short = {}
for i = 1, n do
  local stock, holds = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local qty = tonumber(ARGV[8 + i])
  local avail = 0
  if redis.call('EXISTS', stock) == 1 then
    expire_due(stock, holds)
    avail = available(stock)
  end
  if avail < qty then short[#short + 1] = {i, math.max(0, avail)} end
end
if #short > 0 then
  local outcome = cjson.encode({h = hash, ok = false, short = short})
  -- As the API promises: a refused single line is not stored (a retry is decided again), a
  -- refused cart is kept 15 minutes.
  if n > 1 then redis.call('SET', KEYS[1], outcome, 'NX', 'PX', 900000) end
  return {'short', outcome}
end
local expiresAt = now + tonumber(ARGV[6])
for i = 1, n do
  local stock, holds = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local qty = tonumber(ARGV[8 + i])
  redis.call('HINCRBY', stock, 'held', qty)
  redis.call('HINCRBY', stock, 'version', 1)
  redis.call('ZADD', holds, expiresAt, id .. ':' .. qty)
end
redis.call('HSET', KEYS[2], 'region', ARGV[4], 'token', ARGV[3], 'lines', ARGV[5], 'status', 'held', 'createdAt', now, 'expiresAt', expiresAt)
redis.call('PEXPIRE', KEYS[2], ARGV[8])
redis.call('SET', KEYS[1], cjson.encode({h = hash, ok = true}), 'NX', 'PX', ARGV[7])
return {'held', tostring(now), tostring(expiresAt)}
`,
  // KEYS: reservation, then stock_i, holds_i per line. ARGV: 'confirm' | 'release', id, qty_1..qty_n
  settle: `${PRELUDE}
local action, id = ARGV[1], ARGV[2]
local r = redis.call('HMGET', KEYS[1], 'status', 'expiresAt')
local status = r[1]
if not status then return {'reservation_not_found'} end
local n = (#KEYS - 1) / 2
local function members(fn)
  for i = 1, n do fn(KEYS[2 * i], KEYS[1 + 2 * i], tonumber(ARGV[2 + i]), id .. ':' .. ARGV[2 + i]) end
end
local function all_present()
  local present = true
  members(function(_, holds, _, m) if not redis.call('ZSCORE', holds, m) then present = false end end)
  return present
end
if status == 'held' and (now >= tonumber(r[2]) or not all_present()) then
  -- Past its expiry: the units go back now if no script has given them back yet.
  members(function(stock, holds, qty, m)
    if redis.call('ZREM', holds, m) == 1 then
      redis.call('HINCRBY', stock, 'held', -qty)
      redis.call('HINCRBY', stock, 'version', 1)
    end
  end)
  status = 'expired'
  redis.call('HSET', KEYS[1], 'status', status)
end
if status ~= 'held' then return {status} end
if action == 'confirm' then
  members(function(stock, holds, qty, m)
    redis.call('ZREM', holds, m)
    redis.call('HINCRBY', stock, 'held', -qty)
    redis.call('HINCRBY', stock, 'confirmed', qty)
    redis.call('HINCRBY', stock, 'version', 1)
  end)
  redis.call('HSET', KEYS[1], 'status', 'confirmed', 'confirmedAt', now)
  return {'confirmed', tostring(now)}
end
members(function(stock, holds, qty, m)
  redis.call('ZREM', holds, m)
  redis.call('HINCRBY', stock, 'held', -qty)
  redis.call('HINCRBY', stock, 'version', 1)
end)
redis.call('HSET', KEYS[1], 'status', 'released', 'releasedAt', now)
return {'released', tostring(now)}
`,
  // KEYS: stock, holds. ARGV: warehouse, onHand, safetyStock ('' = unchanged), expectedVersion ('' = none)
  setStock: `${PRELUDE}
expire_due(KEYS[1], KEYS[2])
local version = num(redis.call('HGET', KEYS[1], 'version'))
if ARGV[4] ~= '' and tonumber(ARGV[4]) ~= version then return {'conflict', version} end
local old = num(redis.call('HGET', KEYS[1], 'wh:' .. ARGV[1]))
redis.call('HINCRBY', KEYS[1], 'onHand', tonumber(ARGV[2]) - old)
for _, f in ipairs({'held', 'confirmed', 'safety'}) do redis.call('HSETNX', KEYS[1], f, 0) end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'safety', ARGV[3]) end
redis.call('HSET', KEYS[1], 'wh:' .. ARGV[1], ARGV[2], 'wu:' .. ARGV[1], now)
redis.call('HINCRBY', KEYS[1], 'version', 1)
return {'ok'}
`,
  // KEYS: stock, holds. The full state, after giving back what is due.
  state: `${PRELUDE}
if redis.call('EXISTS', KEYS[1]) == 1 then expire_due(KEYS[1], KEYS[2]) end
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {redis.call('HGETALL', KEYS[1]), redis.call('ZCARD', KEYS[2]), first[2] or false}
`,
  // KEYS: stock_i, holds_i per SKU. Read-only: units of due holds are not counted, nothing is written.
  availability: `${PRELUDE}
local out = {}
for i = 1, #KEYS / 2 do
  local stock, holds = KEYS[2 * i - 1], KEYS[2 * i]
  local v = redis.call('HMGET', stock, 'onHand', 'held', 'confirmed', 'safety', 'version')
  local dueQty = 0
  if v[1] then
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', holds, '-inf', now)) do dueQty = dueQty + tonumber(string.match(m, ':(%d+)$')) end
  end
  out[i] = {num(v[1]) - (num(v[2]) - dueQty) - num(v[3]) - num(v[4]), num(v[5])}
end
return out
`,
};

function snapshotOf(region, sku, h) {
  const onHand = Number(h.onHand ?? 0);
  const held = Number(h.held ?? 0);
  const confirmed = Number(h.confirmed ?? 0);
  const safetyStock = Number(h.safety ?? 0);
  return { sku, region, onHand, held, confirmed, safetyStock, available: Math.max(0, onHand - held - confirmed - safetyStock), version: Number(h.version ?? 0) };
}

function hashOf(flat) {
  const h = {};
  for (let i = 0; i < flat.length; i += 2) h[flat[i]] = flat[i + 1];
  return h;
}

function reservationOf(id, h) {
  const expiresAt = Number(h.expiresAt);
  return {
    id,
    region: h.region,
    status: readerStatus(h.status, expiresAt),
    lines: JSON.parse(h.lines),
    createdAt: Number(h.createdAt),
    expiresAt,
    ...(h.confirmedAt && { confirmedAt: Number(h.confirmedAt) }),
    ...(h.releasedAt && { releasedAt: Number(h.releasedAt) }),
  };
}

export function redisStore(redis) {
  for (const [name, lua] of Object.entries(SCRIPTS)) redis.defineCommand(name, { lua });
  const lineKeys = (region, lines) => lines.flatMap((l) => [key.stock(region, l.sku), key.holds(region, l.sku)]);

  async function load(region, id, token) {
    const h = await redis.hgetall(key.reservation(region, id));
    if (!h.status) return { ok: false, code: "reservation_not_found" };
    if (!sameSecret(h.token, token)) return { ok: false, code: "invalid_token" };
    return { ok: true, h };
  }

  // The script answers what the reservation is now: confirmed, released or expired (or gone).
  const OUTCOMES = {
    confirm: { confirmed: "ok", released: "reservation_released", expired: "hold_expired" },
    release: { released: "ok", expired: "ok", confirmed: "already_confirmed" },
  };

  async function settle(action, region, id, token) {
    const loaded = await load(region, id, token);
    if (!loaded.ok) return loaded;
    const lines = JSON.parse(loaded.h.lines);
    const keys = [key.reservation(region, id), ...lineKeys(region, lines)];
    const [status, at] = await redis.settle(keys.length, ...keys, action, id, ...lines.map((l) => l.qty));
    if (status === "reservation_not_found") return { ok: false, code: status };
    const reservation = { ...reservationOf(id, loaded.h), status };
    if (at && status === "confirmed") reservation.confirmedAt = Number(at);
    if (at && status === "released") reservation.releasedAt = Number(at);
    const code = OUTCOMES[action][status];
    if (code === "ok") return { ok: true, reservation };
    return code === "hold_expired" ? { ok: false, code, reservation } : { ok: false, code };
  }

  return {
    async setStock({ region, sku, warehouse, onHand, safetyStock, expectedVersion }) {
      const [result, version] = await redis.setStock(2, key.stock(region, sku), key.holds(region, sku), warehouse, onHand, safetyStock ?? "", expectedVersion ?? "");
      if (result === "conflict") return { ok: false, code: "version_conflict", currentVersion: Number(version) };
      return { ok: true, snapshot: snapshotOf(region, sku, await redis.hgetall(key.stock(region, sku))) };
    },

    async state(region, sku) {
      const [flat, activeHolds, first] = await redis.state(2, key.stock(region, sku), key.holds(region, sku));
      const h = hashOf(flat);
      const warehouses = Object.keys(h)
        .filter((f) => f.startsWith("wh:"))
        .sort()
        .map((f) => ({ warehouse: f.slice(3), onHand: Number(h[f]), updatedAt: Number(h[`wu:${f.slice(3)}`]) }));
      return { ...snapshotOf(region, sku, h), warehouses, activeHolds: Number(activeHolds), nextDeadline: first ? Number(first) : null };
    },

    async availability(region, skus) {
      const keys = skus.flatMap((sku) => [key.stock(region, sku), key.holds(region, sku)]);
      const rows = await redis.availability(keys.length, ...keys);
      return skus.map((sku, i) => ({ sku, available: Math.max(0, Number(rows[i][0])), version: Number(rows[i][1]) }));
    },

    async reserve({ id, region, requestHash, token, lines, ttlSeconds }) {
      const keys = [key.idempotency(region, id), key.reservation(region, id), ...lineKeys(region, lines)];
      const reply = await redis.reserve(
        keys.length, ...keys,
        id, requestHash, token, region, JSON.stringify(lines), ttlSeconds * 1000, IDEMPOTENCY_TTL_MS, RESERVATION_TTL_MS,
        ...lines.map((l) => l.qty),
      );
      if (reply[0] === "held") {
        const reservation = { id, region, status: "held", lines, createdAt: Number(reply[1]), expiresAt: Number(reply[2]) };
        return { ok: true, reservation, token };
      }
      const outcome = JSON.parse(reply[1]);
      if (outcome.h !== requestHash) return { ok: false, code: "idempotency_key_reused" };
      if (!outcome.ok) {
        const short = outcome.short.map(([i, available]) => ({ sku: lines[i - 1].sku, requested: lines[i - 1].qty, available }));
        return { ok: false, code: "insufficient_stock", lines: short };
      }
      // A replay of a create that held: answer with the reservation as it was made.
      const h = await redis.hgetall(key.reservation(region, id));
      const reservation = reservationOf(id, h);
      return { ok: true, reservation: { ...reservation, status: readerStatus("held", reservation.expiresAt) }, token: h.token };
    },

    async view(region, id, token) {
      const loaded = await load(region, id, token);
      if (!loaded.ok) return loaded;
      return { ok: true, reservation: reservationOf(id, loaded.h) };
    },

    confirm: (region, id, token) => settle("confirm", region, id, token),
    release: (region, id, token) => settle("release", region, id, token),

    /** Recommendation lists: a bulk read of text, as from KV (recommendations/list-cache.ts reads through it). */
    lists: {
      async get(keys) {
        const values = await redis.mget(...keys);
        return new Map(keys.map((k, i) => [k, values[i]]));
      },
    },

    close: () => redis.quit(),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { enableAutoPipelining: true, maxRetriesPerRequest: 1 });
  await redis.ping();
  const store = redisStore(redis);
  const app = createApp({
    store,
    storefrontKeys: (process.env.STOREFRONT_KEYS ?? "").split(",").map((k) => k.trim()),
    adminToken: process.env.ADMIN_TOKEN ?? "",
    userIdSecret: process.env.USER_ID_SECRET,
    regions: (process.env.REGIONS ?? "eu,us,apac").split(",").map((r) => r.trim()),
    lowStockThreshold: Number(process.env.LOW_STOCK_THRESHOLD ?? 5),
  });
  servePeer(app, { name: "redis peer", close: () => store.close() });
}
