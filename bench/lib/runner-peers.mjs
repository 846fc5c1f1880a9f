// Runners for the alternatives the benchmark compares against: the same HTTP API on Node (Hono,
// one process, no cluster) over
//   - Redis + Lua: a redis-server of its own (free port, temp dir, AOF with appendfsync always,
//     no RDB snapshots), never the machine's Redis on 6379;
//   - Postgres: the machine's server, in a throwaway database that is dropped afterwards, with
//     the server's own durability settings (read back and stated: synchronous_commit, fsync).
// Each runner has the shape of runner-miniflare.mjs: { id, label, description, durability, meta,
// start() -> { url, pids, stop } }, and start() gives a fresh, empty store.
import { execFileSync, fork, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { findByName } from "./proc.mjs";

const PEERS = fileURLToPath(new URL("../peers/", import.meta.url));

export const DEFAULT_PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres";

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Forks a peer server (under tsx, for its TypeScript imports) and waits for its port. */
async function startPeer(script, env) {
  const child = fork(join(PEERS, script), [], {
    execArgv: ["--import", "tsx"],
    env: { ...process.env, PORT: "0", ...env },
    stdio: ["ignore", "inherit", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
    process.stderr.write(d);
  });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start within 20 s:\n${stderr}`)), 20_000);
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`${script} exited with code ${code} before listening:\n${stderr}`)));
    child.on("message", (m) => {
      if (m?.type === "listening") {
        clearTimeout(timer);
        resolve(m.port);
      }
    });
  });
  child.removeAllListeners("exit");
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  };
  return { url: `http://127.0.0.1:${port}`, pid: child.pid, stop };
}

function findRedisServer(explicit) {
  if (explicit) return existsSync(explicit) ? explicit : null;
  const candidates = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"];
  for (const c of candidates) if (existsSync(c)) return c;
  try {
    return execFileSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" }).trim() || null;
  } catch {
    return null;
  }
}

/**
 * options: { secrets: { STOREFRONT_KEYS, ADMIN_TOKEN }, redisServer?: path, fsync?: "always" | "everysec" }
 */
export function redisRunner(options) {
  const bin = findRedisServer(options.redisServer);
  if (!bin) {
    throw new Error(`redis-server not found${options.redisServer ? ` at ${options.redisServer}` : ""}. Install it (apt-get install redis-server; on the dev machine it is /usr/bin/redis-server) or pass --redis-server <path>, or leave redis out with --runners ours,postgres`);
  }
  const version = /v=(\S+)/.exec(execFileSync(bin, ["--version"], { encoding: "utf8" }))?.[1] ?? "?";
  const fsync = options.fsync ?? "always";
  const durability = `AOF, appendfsync ${fsync}`;
  return {
    id: "redis",
    label: "node + redis/lua",
    durability,
    description: `Hono on Node (1 process) + ioredis (auto-pipelining, 1 connection) -> redis-server ${version} of its own (${durability}, no RDB snapshots, files in a temp dir)`,
    meta: { redisVersion: version, appendfsync: fsync, bin },

    async start() {
      const dir = mkdtempSync(join(tmpdir(), "bench-redis-"));
      const port = await freePort();
      const redis = spawn(
        bin,
        ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes", "--appendfsync", fsync, "--save", "", "--logfile", join(dir, "redis.log"), "--daemonize", "no"],
        { stdio: "ignore" },
      );
      const stopRedis = async () => {
        if (redis.exitCode === null && redis.signalCode === null) {
          const exited = new Promise((resolve) => redis.once("exit", resolve));
          redis.kill("SIGTERM");
          const timer = setTimeout(() => redis.kill("SIGKILL"), 5_000);
          await exited;
          clearTimeout(timer);
        }
        rmSync(dir, { recursive: true, force: true });
      };
      try {
        await waitForRedis(port, redis, dir);
        const peer = await startPeer("redis-server.mjs", { REDIS_URL: `redis://127.0.0.1:${port}`, ...options.secrets });
        return {
          url: peer.url,
          pids: { peer: peer.pid, "redis-server": redis.pid },
          tempDirs: [dir],
          /** Recommendation lists under the Worker's KV keys, one string each. */
          async seedLists(entries) {
            const { default: Redis } = await import("ioredis");
            const client = new Redis({ port, host: "127.0.0.1" });
            try {
              for (let i = 0; i < entries.length; i += 500) await client.mset(...entries.slice(i, i + 500).flat());
            } finally {
              client.disconnect();
            }
          },
          stop: async () => {
            await peer.stop();
            await stopRedis();
          },
        };
      } catch (err) {
        await stopRedis();
        throw err;
      }
    },
  };
}

async function waitForRedis(port, child, dir) {
  const { default: Redis } = await import("ioredis");
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      const log = existsSync(join(dir, "redis.log")) ? readFileSync(join(dir, "redis.log"), "utf8") : "";
      throw new Error(`redis-server exited with code ${child.exitCode}:\n${log}`);
    }
    const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on("error", () => {});
    try {
      await client.connect();
      if ((await client.ping()) === "PONG") return;
    } catch {
      // not up yet
    } finally {
      client.disconnect();
    }
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within 10 s`);
    await sleep(50);
  }
}

/**
 * options: { secrets, adminUrl?: string, poolSize?: number }
 * Call check() once before start(): it fails early with what to do when Postgres is not reachable.
 */
export function postgresRunner(options) {
  const adminUrl = options.adminUrl ?? DEFAULT_PG_ADMIN_URL;
  const poolSize = options.poolSize ?? 16;
  const runner = {
    id: "postgres",
    label: "node + postgres",
    durability: "?",
    description: "?",
    meta: { poolSize },

    /** Reads the server's version and durability settings. */
    async check() {
      const client = new pg.Client({ connectionString: adminUrl });
      try {
        await client.connect();
      } catch (err) {
        throw new Error(`cannot reach Postgres at ${adminUrl} (${err.message}). Start it (e.g. service postgresql start), set BENCH_PG_ADMIN_URL, or leave postgres out with --runners ours,redis`);
      }
      try {
        const setting = async (name) => (await client.query(`SHOW ${name}`)).rows[0][name];
        const version = (await client.query("SHOW server_version")).rows[0].server_version.split(" ")[0];
        const [sync, fsync, walSync] = [await setting("synchronous_commit"), await setting("fsync"), await setting("wal_sync_method")];
        runner.durability = `synchronous_commit=${sync}, fsync=${fsync}`;
        runner.description = `Hono on Node (1 process) + pg Pool (max ${poolSize}) -> PostgreSQL ${version} on this machine (throwaway database; synchronous_commit=${sync}, fsync=${fsync}, wal_sync_method=${walSync})`;
        Object.assign(runner.meta, { version, synchronousCommit: sync, fsync, walSyncMethod: walSync });
      } finally {
        await client.end();
      }
    },

    async start() {
      const name = `bench_peer_${process.pid}_${Date.now().toString(36)}`;
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      const drop = async () => {
        const c = new pg.Client({ connectionString: adminUrl });
        await c.connect();
        try {
          await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        } finally {
          await c.end();
        }
      };
      try {
        const peer = await startPeer("postgres-server.mjs", { DATABASE_URL: url.href, PG_POOL_SIZE: String(poolSize), ...options.secrets });
        return {
          url: peer.url,
          pids: { peer: peer.pid },
          // Every process of the server, looked up when a measurement starts (the pool opens its
          // connections lazily): its backends, WAL writer and checkpointer all do the work.
          watchPids: () => ({ peer: peer.pid, postgres: findByName("postgres") }),
          database: name,
          /** Recommendation lists under the Worker's KV keys, a row each (the peer made the table). */
          async seedLists(entries) {
            const client = new pg.Client({ connectionString: url.href });
            await client.connect();
            try {
              await client.query(
                "INSERT INTO recs_lists (key, value) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [entries.map((e) => e[0]), entries.map((e) => e[1])],
              );
            } finally {
              await client.end();
            }
          },
          stop: async () => {
            await peer.stop();
            await drop();
          },
        };
      } catch (err) {
        await drop().catch(() => {});
        throw err;
      }
    },
  };
  return runner;
}
