// Runs a wrangler-built bundle in workerd through miniflare's Node API: the same runtime as
// production Workers, with SQLite-backed Durable Objects, and none of `wrangler dev`'s proxy
// worker, file watching or per-request logging.
//
// By default requests go to a direct socket on the user worker (miniflare's `unsafeDirectSockets`),
// so nothing sits between the load generator and the worker. `viaEntry: true` uses miniflare's
// main port instead, which passes every request through its internal entry worker (request.cf
// set-up, pretty error pages, response compression if asked for) first.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Log, LogLevel, Miniflare, convertV4MiniflareOptions } from "miniflare";
import { findDescendants, threadCount } from "./proc.mjs";

const require = createRequire(import.meta.url);

function packageVersion(name, from) {
  try {
    const path = createRequire(from).resolve(`${name}/package.json`);
    return JSON.parse(readFileSync(path, "utf8")).version;
  } catch {
    return "unknown";
  }
}

export function miniflareVersions() {
  const miniflarePkg = require.resolve("miniflare/package.json");
  return { miniflare: packageVersion("miniflare", import.meta.url), workerd: packageVersion("workerd", miniflarePkg) };
}

/**
 * options:
 *   scriptPath          the bundled entry module (from bench/lib/build.mjs)
 *   compatibilityDate
 *   durableObjects      { BINDING: "ClassName" } (all SQLite-backed)
 *   bindings            plain-text vars and secrets
 *   storage             "disk" (default: SQLite files in a temp dir, removed on stop) | "memory"
 *   viaEntry            true to go through miniflare's entry worker (see above)
 */
export function miniflareRunner(options) {
  const versions = miniflareVersions();
  const storage = options.storage ?? "disk";
  const path = options.viaEntry ? "miniflare entry worker -> worker" : "direct socket to the worker (no miniflare entry worker)";
  return {
    id: "workerd-miniflare",
    versions,
    description:
      `workerd ${versions.workerd} via miniflare ${versions.miniflare} Node API; ${path}; ` +
      `Durable Objects on SQLite (${storage === "disk" ? "files in a temp dir" : "in memory"}); request logging off`,
    meta: { storage, viaEntry: Boolean(options.viaEntry), compatibilityDate: options.compatibilityDate, ...versions },

    async start() {
      const persistDir = mkdtempSync(join(tmpdir(), "bench-reserve-do-"));
      const durableObjects = Object.fromEntries(
        Object.entries(options.durableObjects).map(([binding, className]) => [binding, { className, useSQLite: true }]),
      );
      const mf = new Miniflare(
        convertV4MiniflareOptions({
          host: "127.0.0.1",
          port: 0,
          logRequests: false,
          log: new Log(LogLevel.WARN),
          cf: false, // placeholder request.cf; true would try to fetch one from Cloudflare
          resourcePersistencePath: persistDir,
          modules: true,
          modulesRoot: dirname(options.scriptPath),
          scriptPath: options.scriptPath,
          compatibilityDate: options.compatibilityDate,
          durableObjects,
          bindings: options.bindings,
          ...(storage === "memory" && { unsafeEphemeralDurableObjects: true }),
          ...(!options.viaEntry && { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] }),
        }),
      );
      let stopped = false;
      const stop = async () => {
        if (stopped) return;
        stopped = true;
        try {
          await mf.dispose();
        } finally {
          rmSync(persistDir, { recursive: true, force: true });
        }
      };
      try {
        const entryUrl = await mf.ready;
        const url = options.viaEntry ? entryUrl : await mf.unsafeGetDirectURL();
        const workerd = findDescendants(process.pid, "workerd")[0] ?? null;
        return {
          url: url.href.replace(/\/$/, ""),
          pids: workerd === null ? {} : { workerd },
          threads: workerd === null ? null : threadCount(workerd),
          persistDir,
          stop,
        };
      } catch (err) {
        await stop().catch(() => {});
        throw err;
      }
    },
  };
}
