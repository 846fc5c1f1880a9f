// Runs a wrangler-built bundle in workerd through miniflare's Node API: the same runtime as
// production Workers, with SQLite-backed Durable Objects, and none of `wrangler dev`'s proxy
// worker, file watching or per-request logging.
//
// Bindings come from wrangler.toml through wrangler's own translation
// (unstable_getMiniflareWorkerOptions, which the vitest plugin also uses), so Durable Objects
// (SQLite-backed per [[migrations]]), queues and whatever is added later are bound as in
// `wrangler dev`. Plain-text bindings are wrangler.toml's [vars] plus the caller's overrides
// (secrets): .dev.vars is not used. Queue consumers are off unless asked for: the benchmark
// measures the request path, and a consumer would compete with it for workerd's thread.
//
// By default requests go to a direct socket on the user worker (miniflare's `unsafeDirectSockets`),
// so nothing sits between the load generator and the worker. `viaEntry: true` uses miniflare's
// main port instead, which passes every request through its internal entry worker (request.cf
// set-up, pretty error pages, response compression if asked for) first.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { probeFsyncTrace, writeFsyncTraceWrapper } from "./costs.mjs";
import { findDescendants, threadCount } from "./proc.mjs";

// The miniflare (and so the workerd) that the project's wrangler uses, not whichever copy npm
// hoisted to node_modules/miniflare (other packages, e.g. the vitest plugin, bring their own).
const fromWrangler = createRequire(createRequire(import.meta.url).resolve("wrangler/package.json"));
const miniflarePkgPath = fromWrangler.resolve("miniflare/package.json");
const fromMiniflare = createRequire(miniflarePkgPath);
const { Log, LogLevel, Miniflare, convertV4MiniflareOptions } = await import(pathToFileURL(fromWrangler.resolve("miniflare")).href);

/** The workerd binary miniflare would run (its own, or MINIFLARE_WORKERD_PATH). */
function workerdBinary() {
  return process.env.MINIFLARE_WORKERD_PATH || fromMiniflare("workerd").default;
}

/** A live (not zombie) workerd process with this pid? */
function isWorkerd(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    return comm === "workerd" && stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

export function miniflareVersions() {
  const version = (path) => JSON.parse(readFileSync(path, "utf8")).version;
  return { miniflare: version(miniflarePkgPath), workerd: version(fromMiniflare.resolve("workerd/package.json")) };
}

/** wrangler.toml -> miniflare (v4-style) worker options, as `wrangler dev` would bind them. */
async function workerOptionsFromConfig(configPath, env) {
  const saved = process.env.WRANGLER_LOG;
  process.env.WRANGLER_LOG = "error"; // wrangler otherwise logs which .dev.vars it read
  try {
    const wrangler = await import("wrangler");
    const config = wrangler.unstable_readConfig({ config: configPath, env: env || undefined });
    const { workerOptions } = wrangler.unstable_getMiniflareWorkerOptions(configPath, env ?? "");
    return { workerOptions, vars: { ...config.vars }, compatibilityDate: config.compatibility_date };
  } finally {
    if (saved === undefined) delete process.env.WRANGLER_LOG;
    else process.env.WRANGLER_LOG = saved;
  }
}

function describeBindings(o) {
  const parts = [];
  for (const [name, d] of Object.entries(o.durableObjects ?? {})) {
    parts.push(`${name} (Durable Object ${typeof d === "string" ? d : d.className}${d.useSQLite ? ", SQLite" : ", KV storage"})`);
  }
  for (const name of Object.keys(o.queueProducers ?? {})) parts.push(`${name} (queue producer)`);
  const others = ["kvNamespaces", "r2Buckets", "d1Databases", "hyperdrives", "serviceBindings", "workflows"]
    .flatMap((k) => Object.keys(o[k] ?? {}).map((n) => `${n} (${k})`));
  return [...parts, ...others, ...Object.keys(o.bindings ?? {}).map((n) => `${n} (text)`)];
}

/**
 * options:
 *   scriptPath          the bundled entry module (from bench/lib/build.mjs)
 *   configPath          wrangler.toml
 *   env                 the wrangler environment ("" = top level)
 *   bindings            text bindings set on top of [vars] (secrets, overrides)
 *   queueConsumers      true to run the config's queue consumers too (default false)
 *   storage             where the Durable Objects' SQLite files go (a fresh directory, removed on
 *                       stop): "disk" (default: the OS temp dir) or "tmpfs" (/dev/shm: no disk
 *                       I/O). workerd's in-memory Durable Objects cannot use SQLite, so there is
 *                       no "memory" option.
 *   viaEntry            true to go through miniflare's entry worker (see above)
 *   assets              true to serve wrangler.toml's [assets] (public/: the /docs script, the /ops
 *                       console) as `wrangler dev` does; implies viaEntry (the asset router sits there)
 *   inspectorPort       a port for workerd's V8 inspector (bench/profile.mjs takes CPU profiles
 *                       through it); none by default
 *   rateLimits          "off" (default): the [[ratelimits]] bindings are left out (the code does not
 *                       limit without them). miniflare emulates each limiter call as a call to a
 *                       worker of its own, about 1.5 ms of workerd's one thread per call here (a
 *                       storefront request makes two or three), where production's is a counter in
 *                       the data centre; the capacity benches measure without it. "raised": bound
 *                       and called, limits out of reach; "config": exactly as wrangler.toml sets them
 *   workerLogs          "warn" (default): the worker's console.warn and console.error lines are
 *                       printed (on stderr), its info and debug lines dropped here, in this process
 *                       (the worker still writes them; production sends them to Workers Logs).
 *                       A flash sale logs a line per reservation, thousands a second, which would
 *                       bury a run's progress and tables and cost this process CPU. "all": every line.
 *   traceFsyncs         true to run workerd under strace, logging its fsync/fdatasync calls (with
 *                       strace's seccomp filter, so nothing else stops it); start() then returns
 *                       fsyncLog: { ok, path } or { ok: false, reason } (see costs.mjs). If strace
 *                       is missing or cannot trace, workerd runs as usual and the reason is given.
 */
export async function miniflareRunner(options) {
  const versions = miniflareVersions();
  const storage = options.storage ?? "disk";
  const { workerOptions, vars, compatibilityDate } = await workerOptionsFromConfig(options.configPath, options.env ?? "");
  // Static assets (the /docs page's script) are left out unless asked for (assets: true): locally they put miniflare's asset router in
  // front of every request (about a fifth of the no-op route's throughput here); in production the
  // asset lookup is part of Cloudflare's routing, and no benchmarked route serves an asset.
  const { modulesRules: _rules, rootPath: _root, assets, ...bindingOptions } = workerOptions;
  const viaEntry = Boolean(options.viaEntry || options.assets);
  const rateLimits = options.rateLimits ?? "off";
  const ratelimits = rateLimits === "config"
    ? workerOptions.ratelimits
    : rateLimits === "off"
      ? {}
      : Object.fromEntries(Object.entries(workerOptions.ratelimits ?? {}).map(([name, r]) => [name, { ...r, simple: { ...r.simple, limit: 1_000_000_000 } }]));
  const worker = {
    ...bindingOptions,
    ...(ratelimits && { ratelimits }),
    ...(options.assets && { assets }),
    bindings: { ...vars, ...options.bindings },
    ...(!options.queueConsumers && { queueConsumers: {} }),
    modules: true,
    modulesRoot: dirname(options.scriptPath),
    scriptPath: options.scriptPath,
    compatibilityDate: workerOptions.compatibilityDate ?? compatibilityDate,
  };
  const allLogs = (options.workerLogs ?? "warn") === "all";
  const workerLog = ({ level, message }) => {
    if (level === "error" || level === "warn") console.error(message);
    else if (allLogs) console.log(message);
  };
  let fsyncTrace = options.traceFsyncs ? probeFsyncTrace() : { ok: false, reason: "not counted" };
  const consumers = Object.keys(workerOptions.queueConsumers ?? {});
  const path = viaEntry ? "miniflare entry worker -> worker" : "direct socket to the worker (no miniflare entry worker)";
  const where = storage === "tmpfs" ? "files on tmpfs /dev/shm" : `files in ${tmpdir()}`;
  return {
    id: "workerd-miniflare",
    versions,
    description:
      `workerd ${versions.workerd} via miniflare ${versions.miniflare} Node API; ${path}; ` +
      `Durable Objects on SQLite (${where}); request logging off; ${options.assets ? "static assets served" : "static assets not served"}; rate limits ${rateLimits === "config" ? "as in wrangler.toml" : rateLimits === "off" ? "off (bindings left out)" : "raised out of reach (bindings still called)"}` +
      (consumers.length ? `; queue consumers ${options.queueConsumers ? "on" : "off"}` : ""),
    bindings: describeBindings(worker),
    meta: {
      storage,
      rateLimits,
      viaEntry,
      compatibilityDate: worker.compatibilityDate,
      queueConsumers: options.queueConsumers ? consumers : [],
      bindings: describeBindings(worker),
      ...versions,
    },
    /** Whether workerd runs under strace to count fsyncs, and if not, why. */
    get fsyncTrace() {
      return fsyncTrace.ok ? { ok: true } : { ok: false, reason: fsyncTrace.reason };
    },

    async start() {
      if (!fsyncTrace.ok) return startOnce(null);
      const trace = writeFsyncTraceWrapper({ strace: fsyncTrace.strace, workerd: workerdBinary() });
      try {
        return await startOnce(trace);
      } catch (err) {
        // Never let the fsync count cost the run: say why once, and run workerd as usual.
        fsyncTrace = { ok: false, reason: `workerd did not start under strace: ${String(err?.message ?? err).split("\n")[0]}` };
        return startOnce(null);
      }
    },
  };

  /** trace: null, or { dir, wrapper, log } from writeFsyncTraceWrapper. */
  async function startOnce(trace) {
    const persistDir = mkdtempSync(join(storage === "tmpfs" ? "/dev/shm" : tmpdir(), "bench-reserve-do-"));
    // miniflare reads MINIFLARE_WORKERD_PATH when it spawns workerd, during `ready`.
    const savedWorkerdPath = process.env.MINIFLARE_WORKERD_PATH;
    if (trace) process.env.MINIFLARE_WORKERD_PATH = trace.wrapper;
    const mf = new Miniflare(
      convertV4MiniflareOptions({
        host: "127.0.0.1",
        port: 0,
        logRequests: false,
        log: new Log(LogLevel.WARN),
        handleStructuredLogs: workerLog,
        cf: false, // placeholder request.cf; true would try to fetch one from Cloudflare
        resourcePersistencePath: persistDir,
        ...worker,
        ...(!viaEntry && { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] }),
        ...(options.inspectorPort && { inspectorPort: options.inspectorPort }),
      }),
    );
    let workerd = null;
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      // Looked up before dispose(): afterwards an untraced workerd is gone, a traced one orphaned.
      if (trace && workerd === null) workerd = findDescendants(process.pid, "workerd")[0] ?? null;
      try {
        await mf.dispose();
      } finally {
        // Under strace, miniflare's SIGKILL reaches strace, not workerd (strace sets no exit-kill
        // on the process it started): workerd is stopped here, by its pid. Not before dispose(),
        // or miniflare would take workerd's exit for a crash and restart it.
        if (trace && workerd !== null && isWorkerd(workerd)) {
          try {
            process.kill(workerd, "SIGKILL");
          } catch {
            // already gone
          }
          for (let i = 0; i < 100 && isWorkerd(workerd); i++) await new Promise((r) => setTimeout(r, 20));
        }
        rmSync(persistDir, { recursive: true, force: true });
        if (trace) rmSync(trace.dir, { recursive: true, force: true });
      }
    };
    try {
      let entryUrl;
      try {
        entryUrl = await mf.ready;
      } finally {
        if (trace) {
          if (savedWorkerdPath === undefined) delete process.env.MINIFLARE_WORKERD_PATH;
          else process.env.MINIFLARE_WORKERD_PATH = savedWorkerdPath;
        }
      }
      const url = viaEntry ? entryUrl : await mf.unsafeGetDirectURL();
      workerd = findDescendants(process.pid, "workerd")[0] ?? null;
      // Under strace, workerd's parent is the strace that logs its fsyncs.
      const tracer = trace && workerd !== null ? parentPid(workerd) : null;
      return {
        url: url.href.replace(/\/$/, ""),
        pids: workerd === null ? {} : { workerd },
        tracerPid: tracer,
        threads: workerd === null ? null : threadCount(workerd),
        persistDir,
        tempDirs: trace ? [trace.dir] : [],
        fsyncLog: trace ? { ok: true, path: trace.log } : { ok: false, reason: fsyncTrace.reason },
        /** Writes recommendation lists into the RECOMMENDATIONS namespace, as a build would. */
        async seedLists(entries) {
          const kv = await mf.getKVNamespace("RECOMMENDATIONS");
          let next = 0;
          await Promise.all(Array.from({ length: 16 }, async () => {
            while (next < entries.length) {
              const [key, value] = entries[next++];
              await kv.put(key, value);
            }
          }));
        },
        stop,
      };
    } catch (err) {
      await stop().catch(() => {});
      throw err;
    }
  }
}

function parentPid(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}
