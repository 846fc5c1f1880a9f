// Peer for the benchmark: the edge API on Node (Hono) over Postgres with a `pg` Pool, the way a
// team would build it with a relational database:
//   - a reservation is one transaction: per line (in SKU order, so carts cannot deadlock each
//     other) a conditional `UPDATE stock SET held = held + qty WHERE ... AND on_hand - held -
//     confirmed - safety >= qty`; if any line matches no row, the transaction rolls back (all
//     or nothing) and a cart's 409 is recorded under the idempotency key instead (a single
//     line's is not: a retry is decided again, as the API promises);
//   - the idempotency key is the primary key of a table, written in the same transaction as the
//     holds (INSERT ... ON CONFLICT DO NOTHING): a concurrent or later retry replays the answer;
//   - expiry: each line's UPDATE first marks that SKU's due holds expired and gives their units
//     back (same statement), reads subtract due holds, and a sweeper does the rest once a second;
//   - confirm/release lock the reservation row, check the token in Node (constant time), and move
//     the units in one statement.
// Durability is the server's (synchronous_commit and fsync are read back and stated by the bench).
// Deadlocks or serialization failures are retried a few times, as production code would.
//
// Env: DATABASE_URL, PG_POOL_SIZE (default 16), PORT (0 = any), STOREFRONT_KEYS, ADMIN_TOKEN,
// USER_ID_SECRET, REGIONS (default eu,us,apac), LOW_STOCK_THRESHOLD (default 5).
import pg from "pg";
import { createApp, readerStatus, sameSecret } from "./api.mjs";
import { servePeer } from "./serve.mjs";

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS stock (
  region text NOT NULL,
  sku text NOT NULL,
  on_hand integer NOT NULL DEFAULT 0,
  held integer NOT NULL DEFAULT 0 CHECK (held >= 0),
  confirmed integer NOT NULL DEFAULT 0 CHECK (confirmed >= 0),
  safety integer NOT NULL DEFAULT 0,
  version bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (region, sku)
);
CREATE TABLE IF NOT EXISTS warehouse_stock (
  region text NOT NULL,
  sku text NOT NULL,
  warehouse text NOT NULL,
  on_hand integer NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (region, sku, warehouse)
);
CREATE TABLE IF NOT EXISTS reservations (
  id text PRIMARY KEY,
  region text NOT NULL,
  token text NOT NULL,
  lines json NOT NULL,
  status text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  confirmed_at timestamptz,
  released_at timestamptz
);
CREATE TABLE IF NOT EXISTS holds (
  reservation_id text NOT NULL,
  region text NOT NULL,
  sku text NOT NULL,
  qty integer NOT NULL,
  expires_at timestamptz NOT NULL,
  status text NOT NULL,
  PRIMARY KEY (reservation_id, sku)
);
CREATE INDEX IF NOT EXISTS holds_due_per_sku ON holds (region, sku, expires_at) WHERE status = 'held';
CREATE INDEX IF NOT EXISTS holds_due ON holds (expires_at) WHERE status = 'held';
CREATE TABLE IF NOT EXISTS idempotency (
  key text PRIMARY KEY,
  request_hash text NOT NULL,
  response jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- Recommendation lists under the Worker's KV keys (recommendations/store.ts), a JSON text each.
CREATE TABLE IF NOT EXISTS recs_lists (
  key text PRIMARY KEY,
  value text NOT NULL
);
`;

// Gives back the units of a SKU's due holds; $1 region, $2 sku. Used as a prefix by the statements
// that then change the stock row.
const FREE_DUE = `
WITH due AS (
  UPDATE holds SET status = 'expired'
  WHERE region = $1 AND sku = $2 AND status = 'held' AND expires_at <= now()
  RETURNING qty
), freed AS (SELECT coalesce(sum(qty), 0)::int AS qty, count(*)::int AS n FROM due)`;

const HOLD_LINE = `${FREE_DUE}
UPDATE stock s SET held = s.held - freed.qty + $3, version = s.version + freed.n + 1
FROM freed
WHERE s.region = $1 AND s.sku = $2 AND s.on_hand - (s.held - freed.qty) - s.confirmed - s.safety >= $3
RETURNING s.held`;

const SWEEP_SKU = `${FREE_DUE}
UPDATE stock s SET held = s.held - freed.qty, version = s.version + freed.n
FROM freed WHERE s.region = $1 AND s.sku = $2 AND freed.n > 0`;

// Stock rows with the units of due holds not counted as held.
const CURRENT = `
SELECT s.sku, s.region, s.on_hand, s.held - coalesce(d.qty, 0) AS held, s.confirmed, s.safety, s.version
FROM stock s
LEFT JOIN LATERAL (
  SELECT sum(h.qty)::int AS qty FROM holds h
  WHERE h.region = s.region AND h.sku = s.sku AND h.status = 'held' AND h.expires_at <= now()
) d ON true
WHERE s.region = $1 AND s.sku = ANY($2::text[])`;

const CREATE_RESERVATION = `
WITH idem AS (
  INSERT INTO idempotency (key, request_hash, response) VALUES ($1, $2, '{"ok": true}')
  ON CONFLICT (key) DO NOTHING RETURNING key
), r AS (
  INSERT INTO reservations (id, region, token, lines, status, created_at, expires_at)
  SELECT $1, $3, $4, $5::json, 'held', now(), now() + $6 * interval '1 second' FROM idem
  RETURNING created_at, expires_at
), h AS (
  INSERT INTO holds (reservation_id, region, sku, qty, expires_at, status)
  SELECT $1, $3, l.sku, l.qty, r.expires_at, 'held' FROM r, json_to_recordset($5::json) AS l(sku text, qty int)
)
SELECT created_at, expires_at FROM r`;

// $1 reservation id, $2 the holds' new status, $3 1 to count the units as confirmed (a sale).
const SETTLE = `
WITH c AS (
  UPDATE holds SET status = $2 WHERE reservation_id = $1 AND status = 'held' RETURNING region, sku, qty
), s AS (
  UPDATE stock SET held = stock.held - c.qty, confirmed = stock.confirmed + c.qty * $3, version = stock.version + 1
  FROM c WHERE stock.region = c.region AND stock.sku = c.sku
  RETURNING 1
), r AS (
  UPDATE reservations SET status = $2,
    confirmed_at = CASE WHEN $2 = 'confirmed' THEN now() ELSE confirmed_at END,
    released_at = CASE WHEN $2 = 'released' THEN now() ELSE released_at END
  WHERE id = $1 RETURNING confirmed_at, released_at
)
SELECT (SELECT count(*)::int FROM c) AS n, (SELECT count(*)::int FROM s) AS stock_rows, r.confirmed_at, r.released_at FROM r`;

const RETRYABLE = new Set(["40P01", "40001"]); // deadlock, serialization failure

class Rollback {
  constructor(value) {
    this.value = value;
  }
}

function snapshotOf(region, sku, row) {
  if (!row) return { sku, region, onHand: 0, held: 0, confirmed: 0, safetyStock: 0, available: 0, version: 0 };
  const available = Math.max(0, row.on_hand - row.held - row.confirmed - row.safety);
  return { sku, region, onHand: row.on_hand, held: row.held, confirmed: row.confirmed, safetyStock: row.safety, available, version: Number(row.version) };
}

function reservationOf(row) {
  const expiresAt = row.expires_at.getTime();
  return {
    id: row.id,
    region: row.region,
    status: readerStatus(row.status, expiresAt),
    lines: row.lines,
    createdAt: row.created_at.getTime(),
    expiresAt,
    ...(row.confirmed_at && { confirmedAt: row.confirmed_at.getTime() }),
    ...(row.released_at && { releasedAt: row.released_at.getTime() }),
  };
}

export function postgresStore(pool, { sweepEveryMs = 1000 } = {}) {
  async function tx(fn) {
    for (let attempt = 1; ; attempt++) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const value = await fn(client);
        if (value instanceof Rollback) {
          await client.query("ROLLBACK");
          return value.value;
        }
        await client.query("COMMIT");
        return value;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {});
        if (attempt < 5 && RETRYABLE.has(err.code)) continue;
        throw err;
      } finally {
        client.release();
      }
    }
  }

  async function replay(id, requestHash, lines) {
    const seen = (await pool.query("SELECT request_hash, response FROM idempotency WHERE key = $1", [id])).rows[0];
    if (!seen) throw new Error(`idempotency key ${id} vanished`);
    if (seen.request_hash !== requestHash) return { ok: false, code: "idempotency_key_reused" };
    if (!seen.response.ok) return { ok: false, code: "insufficient_stock", lines: seen.response.lines };
    const row = (await pool.query("SELECT * FROM reservations WHERE id = $1", [id])).rows[0];
    const reservation = reservationOf(row);
    return { ok: true, reservation: { ...reservation, status: readerStatus("held", reservation.expiresAt) }, token: row.token, lines };
  }

  async function settle(action, region, id, token) {
    return tx(async (c) => {
      const row = (await c.query("SELECT *, expires_at <= now() AS past FROM reservations WHERE id = $1 AND region = $2 FOR UPDATE", [id, region])).rows[0];
      if (!row) return new Rollback({ ok: false, code: "reservation_not_found" });
      if (!sameSecret(row.token, token)) return new Rollback({ ok: false, code: "invalid_token" });
      let status = row.status;
      if (status === "held" && row.past) {
        // Past its expiry: give the units back now rather than waiting for the sweeper.
        await c.query(SETTLE, [id, "expired", 0]);
        status = "expired";
      }
      let settled = null;
      if (status === "held") {
        const target = action === "confirm" ? "confirmed" : "released";
        settled = (await c.query(SETTLE, [id, target, target === "confirmed" ? 1 : 0])).rows[0];
        // A line's hold was expired by another transaction a moment ago: the sale cannot be whole.
        if (settled.n !== row.lines.length) return new Rollback({ ok: false, code: "hold_expired", reservation: { ...reservationOf(row), status: "expired" } });
        status = target;
      }
      const reservation = { ...reservationOf({ ...row, ...(settled && { confirmed_at: settled.confirmed_at, released_at: settled.released_at }) }), status };
      if (action === "confirm") {
        if (status === "confirmed") return { ok: true, reservation };
        if (status === "released") return { ok: false, code: "reservation_released" };
        return { ok: false, code: "hold_expired", reservation };
      }
      if (status === "confirmed") return { ok: false, code: "already_confirmed" };
      return { ok: true, reservation };
    });
  }

  let sweeping = false;
  const sweeper = setInterval(async () => {
    if (sweeping) return;
    sweeping = true;
    try {
      const due = await pool.query("SELECT DISTINCT region, sku FROM holds WHERE status = 'held' AND expires_at <= now() LIMIT 100");
      for (const { region, sku } of due.rows) await pool.query(SWEEP_SKU, [region, sku]);
    } catch (err) {
      console.warn("postgres peer: sweep failed, next round retries", err.message);
    } finally {
      sweeping = false;
    }
  }, sweepEveryMs);
  sweeper.unref();

  return {
    async setStock({ region, sku, warehouse, onHand, safetyStock, expectedVersion }) {
      const result = await tx(async (c) => {
        await c.query("INSERT INTO stock (region, sku) VALUES ($1, $2) ON CONFLICT DO NOTHING", [region, sku]);
        await c.query(SWEEP_SKU, [region, sku]);
        const { version } = (await c.query("SELECT version FROM stock WHERE region = $1 AND sku = $2 FOR UPDATE", [region, sku])).rows[0];
        if (expectedVersion !== undefined && expectedVersion !== Number(version)) {
          return new Rollback({ ok: false, code: "version_conflict", currentVersion: Number(version) });
        }
        const old = (await c.query("SELECT on_hand FROM warehouse_stock WHERE region = $1 AND sku = $2 AND warehouse = $3", [region, sku, warehouse])).rows[0];
        await c.query(
          `INSERT INTO warehouse_stock (region, sku, warehouse, on_hand, updated_at) VALUES ($1, $2, $3, $4, now())
           ON CONFLICT (region, sku, warehouse) DO UPDATE SET on_hand = excluded.on_hand, updated_at = excluded.updated_at`,
          [region, sku, warehouse, onHand],
        );
        await c.query(
          "UPDATE stock SET on_hand = on_hand - $3 + $4, safety = coalesce($5, safety), version = version + 1 WHERE region = $1 AND sku = $2",
          [region, sku, old?.on_hand ?? 0, onHand, safetyStock ?? null],
        );
        return { ok: true };
      });
      if (!result.ok) return result;
      return { ok: true, snapshot: snapshotOf(region, sku, (await pool.query(CURRENT, [region, [sku]])).rows[0]) };
    },

    async state(region, sku) {
      const [current, warehouses, holds] = await Promise.all([
        pool.query(CURRENT, [region, [sku]]),
        pool.query("SELECT warehouse, on_hand, updated_at FROM warehouse_stock WHERE region = $1 AND sku = $2 ORDER BY warehouse", [region, sku]),
        pool.query(
          `SELECT count(*) FILTER (WHERE expires_at > now())::int AS active, min(expires_at) AS next
           FROM holds WHERE region = $1 AND sku = $2 AND status = 'held'`,
          [region, sku],
        ),
      ]);
      return {
        ...snapshotOf(region, sku, current.rows[0]),
        warehouses: warehouses.rows.map((w) => ({ warehouse: w.warehouse, onHand: w.on_hand, updatedAt: w.updated_at.getTime() })),
        activeHolds: holds.rows[0].active,
        nextDeadline: holds.rows[0].next ? holds.rows[0].next.getTime() : null,
      };
    },

    async availability(region, skus) {
      const rows = new Map((await pool.query(CURRENT, [region, skus])).rows.map((r) => [r.sku, r]));
      return skus.map((sku) => {
        const s = snapshotOf(region, sku, rows.get(sku));
        return { sku, available: s.available, version: s.version };
      });
    },

    async reserve({ id, region, requestHash, token, lines, ttlSeconds }) {
      const sorted = [...lines].sort((a, b) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0));
      const outcome = await tx(async (c) => {
        for (const line of sorted) {
          const held = await c.query(HOLD_LINE, [region, line.sku, line.qty]);
          if (held.rowCount === 0) {
            const rows = new Map((await c.query(CURRENT, [region, lines.map((l) => l.sku)])).rows.map((r) => [r.sku, r]));
            const short = lines
              .map((l) => ({ sku: l.sku, requested: l.qty, available: snapshotOf(region, l.sku, rows.get(l.sku)).available }))
              .filter((l) => l.available < l.requested);
            return new Rollback({ ok: false, code: "insufficient_stock", lines: short });
          }
        }
        const created = await c.query(CREATE_RESERVATION, [id, requestHash, region, token, JSON.stringify(lines), ttlSeconds]);
        if (created.rowCount === 0) return new Rollback({ ok: false, code: "replay" }); // the key was used before
        const { created_at, expires_at } = created.rows[0];
        return { ok: true, token, reservation: { id, region, status: "held", lines, createdAt: created_at.getTime(), expiresAt: expires_at.getTime() } };
      });
      if (outcome.ok) return outcome;
      // As the API promises, a refused single line is not stored (a retry is decided again); it
      // may still be the retry of a create that held, which replays.
      if (outcome.code === "insufficient_stock" && lines.length === 1) {
        const seen = await pool.query("SELECT 1 FROM idempotency WHERE key = $1", [id]);
        return seen.rowCount ? replay(id, requestHash, lines) : outcome;
      }
      if (outcome.code === "insufficient_stock") {
        // Record a cart's refusal under the key, so a retry is refused the same way (or gets what won).
        const stored = await pool.query(
          "INSERT INTO idempotency (key, request_hash, response) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING RETURNING key",
          [id, requestHash, JSON.stringify({ ok: false, lines: outcome.lines })],
        );
        if (stored.rowCount === 1) return outcome;
      }
      return replay(id, requestHash, lines);
    },

    async view(region, id, token) {
      const row = (await pool.query("SELECT * FROM reservations WHERE id = $1 AND region = $2", [id, region])).rows[0];
      if (!row) return { ok: false, code: "reservation_not_found" };
      if (!sameSecret(row.token, token)) return { ok: false, code: "invalid_token" };
      return { ok: true, reservation: reservationOf(row) };
    },

    confirm: (region, id, token) => settle("confirm", region, id, token),
    release: (region, id, token) => settle("release", region, id, token),

    /** Recommendation lists: a bulk read of text, as from KV (recommendations/list-cache.ts reads through it). */
    lists: {
      async get(keys) {
        const rows = (await pool.query("SELECT key, value FROM recs_lists WHERE key = ANY($1)", [keys])).rows;
        const found = new Map(rows.map((r) => [r.key, r.value]));
        return new Map(keys.map((k) => [k, found.get(k) ?? null]));
      },
    },

    async close() {
      clearInterval(sweeper);
      await pool.end();
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (!process.env.DATABASE_URL) {
    console.error("DATABASE_URL is not set. Example: DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench node --import tsx bench/peers/postgres-server.mjs");
    process.exit(2);
  }
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.PG_POOL_SIZE ?? 16) });
  await pool.query(SCHEMA);
  const store = postgresStore(pool);
  const app = createApp({
    store,
    storefrontKeys: (process.env.STOREFRONT_KEYS ?? "").split(",").map((k) => k.trim()),
    adminToken: process.env.ADMIN_TOKEN ?? "",
    userIdSecret: process.env.USER_ID_SECRET,
    regions: (process.env.REGIONS ?? "eu,us,apac").split(",").map((r) => r.trim()),
    lowStockThreshold: Number(process.env.LOW_STOCK_THRESHOLD ?? 5),
  });
  servePeer(app, { name: "postgres peer", close: () => store.close() });
}
