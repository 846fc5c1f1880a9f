// Postgres for the edge: the Neon serverless driver over WebSockets, wrapped by drizzle. In
// production DATABASE_URL points at the region's Neon database. Locally PG_BRIDGE names a small
// WebSocket-to-TCP bridge (scripts/pg-bridge.mjs) in front of a plain Postgres, so the same driver
// code runs unchanged.
import { neonConfig, Pool } from "@neondatabase/serverless";
import { drizzle } from "drizzle-orm/neon-serverless";
import type { Env } from "./env";
import { MissingSetting } from "./problems";
import { warn } from "../observability/log";

export function connect(env: Pick<Env, "DATABASE_URL" | "PG_BRIDGE" | "PG_POOL_MAX">) {
  if (!env.DATABASE_URL) throw new MissingSetting("DATABASE_URL", "run `wrangler secret put DATABASE_URL --env <region>` (locally: .dev.vars)");
  if (env.PG_BRIDGE) {
    const bridge = env.PG_BRIDGE;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineConnect = false;
    neonConfig.pipelineTLS = false;
    neonConfig.wsProxy = (host, port) => `${bridge}/v1?address=${host}:${port}`;
  }
  // PG_POOL_MAX=1 locally with PGlite, which serves one connection at a time.
  const max = Number(env.PG_POOL_MAX ?? 10) || 10;
  // One connection at a time also means waiting longer for it.
  const pool = new Pool({ connectionString: env.DATABASE_URL, connectionTimeoutMillis: max === 1 ? 60_000 : 10_000, max });
  // A broken connection must fail the query that uses it, not crash the isolate. Once the pool is
  // being closed its idle connections' sockets go down with it ("Network connection lost", a few
  // a second from the queue consumers, which close a pool per batch): nothing is waiting on them,
  // so that is not worth a warning.
  let ending = false;
  pool.on("error", (err: Error) => {
    if (!ending) warn("postgres_pool_error", { error: err });
  });
  const close = () => {
    ending = true;
    return pool.end();
  };
  return { db: drizzle({ client: pool }), close };
}
