// A Postgres for `npm start` that needs nothing installed: PGlite (Postgres compiled to WASM),
// its data in .data/pglite (git-ignored), served on a local TCP port by pglite-socket, with the
// project's migrations applied. With DATABASE_URL set, that server is used instead.
import { mkdirSync } from "node:fs";
import { migrateDatabase, redact } from "./db-migrate.mjs";


/** Resolves to { url, embedded, stop() }. */
export async function startLocalPostgres({ dataDir = ".data/pglite", port = 0 } = {}) {
  if (process.env.DATABASE_URL) {
    await migrateDatabase(process.env.DATABASE_URL);
    return { url: process.env.DATABASE_URL, embedded: false, label: redact(process.env.DATABASE_URL), stop: async () => {} };
  }
  const { PGlite } = await import("@electric-sql/pglite");
  const { PGLiteSocketServer } = await import("@electric-sql/pglite-socket");
  mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);
  // PGlite is a single connection. pglite-socket can multiplex clients onto it, but interleaved
  // transactions from several clients mix up (electric-sql/pglite#1046): one client at a time,
  // the others wait their turn (the bridge queues them: see startBridge`s exclusive mode).
  const server = new PGLiteSocketServer({ db, port, host: "127.0.0.1", maxConnections: 2 }); // 2: the next client may connect before the last one is fully gone
  await server.start();
  // getServerConn() answers "host:port" once listening (the real port when 0 was asked for).
  const actualPort = Number(server.getServerConn().split(":").at(-1));
  const url = `postgres://postgres@127.0.0.1:${actualPort}/postgres`;
  await migrateDatabase(url);
  return {
    url,
    embedded: true,
    label: `embedded PGlite in ${dataDir} (${url})`,
    stop: async () => {
      await server.stop();
      await db.close();
    },
  };
}

