// What a request costs in our runner, beside how fast it is answered: object (RPC) calls, storage
// commits and SQLite rows written, from the Worker's own counters (GET /v1/admin/{region}/costs),
// and fsyncs, counted by strace on workerd as a physical cross-check of the commits.
//
// The Worker's counters are cumulative per isolate; locally every object shares the one isolate,
// so the difference between a read just before and one just after a measured run is what that
// run cost. The bench's own set-up and check requests happen outside that window. The peers
// (Node + Redis, Node + Postgres) have no such counters.
//
// fsyncs, two ways (--fsyncs):
// - launch (default): workerd is started under `strace -f --seccomp-bpf -e trace=fsync,fdatasync
//   -o <log>` (see runner-miniflare.mjs). With the seccomp filter only fsync and fdatasync stop
//   workerd, so the run is not slowed down; the calls logged between the start and the end of the
//   measured run are counted.
// - attach: `strace -f -c -e trace=fsync,fdatasync -p <workerd>` for the measured run, stopped
//   with SIGINT, its summary parsed. An attached strace cannot use the seccomp filter: it stops
//   workerd on every system call, and cuts its throughput several times over. A cross-check only.
//
// Nothing here fails a benchmark: an older Worker without the route (404), a missing strace or a
// ptrace that is not permitted each give "n/a" with the reason.
import { spawn, spawnSync } from "node:child_process";
import { accessSync, closeSync, constants, fstatSync, mkdtempSync, openSync, readSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { findDescendants } from "./proc.mjs";
import { int, renderTable } from "./table.mjs";

export const FSYNC_MODES = ["launch", "attach", "off"];

/** GET /v1/admin/{region}/costs -> { ok: true, costs } or { ok: false, reason }. */
export async function readCosts(url, { region, token }) {
  const path = `/v1/admin/${region}/costs`;
  let res;
  try {
    res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  } catch (err) {
    return { ok: false, reason: `GET ${path} failed: ${err?.cause?.message ?? err?.message ?? err}` };
  }
  const text = await res.text();
  if (res.status === 404) return { ok: false, reason: `GET ${path} answered 404: this Worker has no costs route` };
  if (res.status !== 200) return { ok: false, reason: `GET ${path} answered ${res.status}: ${text.slice(0, 200)}` };
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, reason: `GET ${path} answered 200 but not JSON: ${text.slice(0, 200)}` };
  }
  const calls = body?.calls;
  if (!calls || typeof calls !== "object" || !Number.isFinite(body.commits) || !Number.isFinite(body.rowsWritten)) {
    return { ok: false, reason: `GET ${path} answered an unexpected shape: ${text.slice(0, 200)}` };
  }
  return { ok: true, costs: { calls, commits: body.commits, rowsWritten: body.rowsWritten } };
}

/** after - before; per-method calls that did not change are left out. */
function diffCosts(before, after) {
  const calls = {};
  for (const [method, n] of Object.entries(after.calls)) {
    const d = n - (before.calls[method] ?? 0);
    if (d !== 0) calls[method] = d;
  }
  return {
    calls,
    objectCalls: Object.values(calls).reduce((a, b) => a + b, 0),
    commits: after.commits - before.commits,
    rowsWritten: after.rowsWritten - before.rowsWritten,
  };
}

/** The strace binary on PATH, or null. */
export function findStrace() {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, "strace");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

const shellQuote = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

/**
 * Can workerd be started under strace with the seccomp filter? Tries it on `true`. Returns
 * { ok: true, strace } or { ok: false, reason }.
 */
export function probeFsyncTrace() {
  const strace = findStrace();
  if (!strace) return { ok: false, reason: "strace is not on PATH" };
  const r = spawnSync(strace, ["-f", "--seccomp-bpf", "-qq", "-e", "trace=fsync,fdatasync", "-o", "/dev/null", "true"], { encoding: "utf8", timeout: 10_000 });
  const err = (r.stderr ?? "").trim();
  if (r.error) return { ok: false, reason: `strace could not run: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, reason: `strace cannot trace here (ptrace not permitted?): ${err.split("\n").slice(-1)[0] || `exit ${r.status ?? r.signal}`}` };
  // Without the filter every system call would stop workerd: not worth the distortion.
  if (/seccomp/i.test(err)) return { ok: false, reason: `strace has no seccomp-bpf filter here: ${err.split("\n")[0]}` };
  return { ok: true, strace };
}

/**
 * Writes a workerd stand-in for MINIFLARE_WORKERD_PATH: a shell script that execs workerd under
 * strace, logging each fsync and fdatasync (one line per call) to `log`. Returns { dir, wrapper, log }.
 */
export function writeFsyncTraceWrapper({ strace, workerd }) {
  const dir = mkdtempSync(join(tmpdir(), "bench-fsyncs-"));
  const log = join(dir, "fsyncs.log");
  const wrapper = join(dir, "workerd");
  // -y: each call's file path, so the fsyncs can be told apart by store (see storeOf).
  const args = [strace, "-f", "--seccomp-bpf", "-qq", "-y", "-e", "trace=fsync,fdatasync", "-e", "signal=none", "-o", log, workerd];
  writeFileSync(wrapper, `#!/bin/sh\nexec ${args.map(shellQuote).join(" ")} "$@"\n`, { mode: 0o755 });
  writeFileSync(log, "");
  return { dir, wrapper, log };
}

/**
 * Which store a synced file belongs to, from its path under miniflare's persistence directory:
 * ".../do/<script>-<Class>/<id>.sqlite-wal" is that Durable Object class ("<Class> metadata" for
 * workerd's metadata.sqlite of the namespace: alarms); ".../cache/..." is miniflare's local Cache
 * API, which is a SQLite-backed object of its own here (not a Durable Object in production).
 */
export function storeOf(path) {
  if (!path) return "unknown file";
  const d = /\/do\/([^/]+)\/([^/]+)$/.exec(path);
  if (d) {
    const cls = d[1].slice(d[1].lastIndexOf("-") + 1) || d[1];
    return d[2].startsWith("metadata.") ? `${cls} metadata` : cls;
  }
  // SQLite syncs a directory after it creates a file in it (a new object's database or WAL).
  const dir = /\/do\/([^/]+)$/.exec(path);
  if (dir) return `${dir[1].slice(dir[1].lastIndexOf("-") + 1) || dir[1]} directory`;
  if (/\/do$/.test(path)) return "DO directory";
  if (/\/cache(\/|$)/.test(path)) return "Cache API (miniflare)";
  return "other";
}

/** fsync and fdatasync calls logged by the launch-mode strace from `mark()` on, as `count()`. */
function fsyncLogWindow(path) {
  const size = () => {
    const fd = openSync(path, "r");
    try {
      return fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
  };
  let from = null;
  return {
    mark() {
      from = size();
    },
    count() {
      const fd = openSync(path, "r");
      try {
        const to = fstatSync(fd).size;
        const buf = Buffer.alloc(to - from);
        let read = 0;
        while (read < buf.length) {
          const n = readSync(fd, buf, read, buf.length - read, from + read);
          if (n === 0) break;
          read += n;
        }
        // "123 fsync(7</path/x.sqlite-wal>) = 0", or "123 fsync(7</path> <unfinished ...>" then
        // "123 <... fsync resumed>) = 0": count the starts.
        const detail = { fsync: 0, fdatasync: 0 };
        const byStore = {};
        let objectFsyncs = 0;
        for (const line of buf.subarray(0, read).toString("utf8").split("\n")) {
          const m = /^\d+\s+(fsync|fdatasync)\(\d+(?:<([^>]*)>)?/.exec(line);
          if (!m) continue;
          detail[m[1]]++;
          const store = storeOf(m[2]);
          byStore[store] = (byStore[store] ?? 0) + 1;
          if (m[2] && /\/do(\/|$)/.test(m[2])) objectFsyncs++;
        }
        return { ok: true, fsyncs: detail.fsync + detail.fdatasync, objectFsyncs, detail, byStore };
      } finally {
        closeSync(fd);
      }
    },
  };
}

/**
 * strace's -c summary -> { fsync, fdatasync }, or null if there is no summary table. strace prints
 * no table at all when it saw none of the traced calls.
 *   % time     seconds  usecs/call     calls    errors syscall
 *   100.00    0.002990          74        40           fsync
 */
export function parseStraceSummary(text) {
  const counts = { fsync: 0, fdatasync: 0 };
  let table = false;
  for (const line of text.split("\n")) {
    if (/^\s*% time\s+seconds/.test(line)) table = true;
    const t = line.trim().split(/\s+/);
    const name = t[t.length - 1];
    if (table && name in counts && /^\d+$/.test(t[3] ?? "")) counts[name] = Number(t[3]);
  }
  return table ? counts : null;
}

const lastLines = (text, n = 2) => text.trim().split("\n").filter(Boolean).slice(-n).join(" / ");

/**
 * Attaches `strace -f -c -e trace=fsync,fdatasync -p <pid>...` (every thread of every pid) and
 * resolves once it says it is attached. Returns { ok: true, pid, stop() -> { ok, fsyncs, detail }
 * | { ok: false, reason } } or { ok: false, reason }.
 */
export async function startFsyncCounter(pids, { strace, attachTimeoutMs = 5000 } = {}) {
  if (!pids.length) return { ok: false, reason: "no workerd process found to attach to" };
  const args = ["-f", "-c", "-e", "trace=fsync,fdatasync", ...pids.flatMap((p) => ["-p", String(p)])];
  let child;
  try {
    child = spawn(strace, args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    return { ok: false, reason: `could not start strace: ${err?.message ?? err}` };
  }
  let stderr = "";
  let exit = null;
  const exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => resolve((exit = { code, signal })));
    child.once("error", (err) => {
      stderr += `\n${err.message}`;
      resolve((exit = { code: null, signal: null, error: err }));
    });
  });
  child.stderr.on("data", (d) => (stderr += d));
  const kill = async () => {
    if (exit) return;
    child.kill("SIGKILL");
    await exited;
  };

  // "strace: Process 123 attached" (with "with N threads" for a multi-threaded one under -f).
  const attached = () => pids.every((p) => new RegExp(`Process ${p} attached`).test(stderr));
  const refused = () => /Operation not permitted|ptrace\(PTRACE_(SEIZE|ATTACH)|No such process/.test(stderr);
  const t0 = performance.now();
  while (!attached()) {
    if (exit) return { ok: false, reason: `strace could not attach: ${lastLines(stderr) || `exited with ${exit.code ?? exit.signal}`}` };
    if (refused()) {
      await kill();
      return { ok: false, reason: `strace could not attach (ptrace not permitted?): ${lastLines(stderr)}` };
    }
    if (performance.now() - t0 > attachTimeoutMs) {
      await kill();
      return { ok: false, reason: `strace did not attach within ${attachTimeoutMs / 1000} s: ${lastLines(stderr) || "no output"}` };
    }
    await new Promise((r) => setTimeout(r, 20));
  }

  return {
    ok: true,
    pid: child.pid,
    async stop() {
      if (!exit) {
        child.kill("SIGINT"); // strace detaches and prints its summary
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      if (exit.signal === "SIGKILL") return { ok: false, reason: "strace did not stop on SIGINT within 10 s" };
      const counts = parseStraceSummary(stderr);
      // No table and a clean detach: none of the traced calls happened.
      if (!counts && !/detached/.test(stderr)) return { ok: false, reason: `strace gave no summary: ${lastLines(stderr) || "no output"}` };
      const c = counts ?? { fsync: 0, fdatasync: 0 };
      return { ok: true, fsyncs: c.fsync + c.fdatasync, detail: c };
    },
  };
}

/**
 * Measures one run of our runner. `begin()` right before the measured load (after warm-up and
 * set-up), `end()` right after it (before the checks): returns
 *   { counters: { ok, calls, objectCalls, commits, rowsWritten } | { ok: false, reason },
 *     fsyncs: { ok, fsyncs, detail, mode } | { ok: false, reason } }.
 * `instance` is what runner-miniflare's start() returned (its fsyncLog, for the launch mode).
 * `stracePid` is the attached strace's pid while it runs (to watch its CPU apart, and to kill it
 * on exit).
 */
export function costMeter({ url, region, token, fsyncs = "launch", instance }) {
  let before = null;
  let attached = null;
  let window = null;
  let fsyncNa = null;
  return {
    get stracePid() {
      return attached?.ok ? attached.pid : null;
    },
    async begin() {
      if (fsyncs === "off") fsyncNa = { ok: false, reason: "not counted (--fsyncs off)" };
      else if (fsyncs === "launch") {
        if (instance?.fsyncLog?.ok) {
          window = fsyncLogWindow(instance.fsyncLog.path);
          try {
            window.mark();
          } catch (err) {
            window = null;
            fsyncNa = { ok: false, reason: `cannot read strace's log: ${err?.message ?? err}` };
          }
        } else fsyncNa = { ok: false, reason: instance?.fsyncLog?.reason ?? "workerd was not started under strace" };
      } else {
        const strace = findStrace();
        if (!strace) fsyncNa = { ok: false, reason: "strace is not on PATH" };
        else {
          // Every workerd process miniflare started (each with all its threads, through -f).
          const workerdPid = instance?.pids?.workerd;
          const pids = [...new Set([...(workerdPid ? [workerdPid] : []), ...findDescendants(process.pid, "workerd")])];
          attached = await startFsyncCounter(pids, { strace });
          if (!attached.ok) fsyncNa = attached;
        }
      }
      before = await readCosts(url, { region, token });
    },
    async end() {
      const after = before?.ok ? await readCosts(url, { region, token }) : before;
      let fsyncResult = fsyncNa;
      if (window) {
        try {
          fsyncResult = { ...window.count(), mode: "launch" };
        } catch (err) {
          fsyncResult = { ok: false, reason: `cannot read strace's log: ${err?.message ?? err}` };
        }
      } else if (attached?.ok) {
        fsyncResult = await attached.stop().catch((err) => ({ ok: false, reason: `strace: ${err?.message ?? err}` }));
        if (fsyncResult.ok) fsyncResult.mode = "attach";
      }
      const counters = !before?.ok ? before : !after.ok ? after : { ok: true, ...diffCosts(before.costs, after.costs) };
      return { counters, fsyncs: fsyncResult };
    },
  };
}

/**
 * Cost per request of one measured run: { objectCalls, commits, rowsWritten, fsyncs,
 * objectFsyncs, calls, fsyncsByStore } per request, nulls where n/a. objectFsyncs (launch mode
 * only) leaves out files that are no Durable Object's (miniflare's Cache API).
 */
export function perRequest(cost, requests) {
  const per = (n) => (requests > 0 && n !== null && n !== undefined ? n / requests : null);
  const perEach = (o) => (o ? Object.fromEntries(Object.entries(o).sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, per(n)])) : null);
  const c = cost?.counters?.ok ? cost.counters : null;
  const f = cost?.fsyncs?.ok ? cost.fsyncs : null;
  return {
    requests,
    objectCalls: per(c?.objectCalls),
    commits: per(c?.commits),
    rowsWritten: per(c?.rowsWritten),
    fsyncs: per(f?.fsyncs),
    objectFsyncs: per(f?.objectFsyncs),
    calls: perEach(c?.calls),
    fsyncsByStore: perEach(f?.byStore),
  };
}

/** Durable Object fsyncs per counted commit, or null. */
export function fsyncsPerCommit(p) {
  return p.objectFsyncs === null || !p.commits ? null : p.objectFsyncs / p.commits;
}

/** 1.00, 0.25, 12.3: two decimals below 10, one below 100. */
export function perReq(n) {
  if (n === null || n === undefined) return null;
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

/** "InventoryObject.reserve 1.00, ReservationObject.create 1.00, ..." (the top `n` entries). */
export function topMethods(perReqCalls, n = 4, none = "no object calls") {
  const entries = Object.entries(perReqCalls ?? {});
  if (!entries.length) return none;
  const shown = entries.slice(0, n).map(([k, v]) => `${k} ${perReq(v)}`);
  return shown.join(", ") + (entries.length > n ? `, +${entries.length - n} more` : "");
}

/**
 * The reasons a column is n/a, each said once: [ "commits: ...", ... ] over many runs' costs.
 */
export function naReasons(costs) {
  const seen = new Map();
  for (const c of costs) {
    if (!c) continue;
    if (c.counters && !c.counters.ok) seen.set(`object calls, commits, rows written: ${c.counters.reason}`, true);
    if (c.fsyncs && !c.fsyncs.ok) seen.set(`fsyncs: ${c.fsyncs.reason}`, true);
  }
  return [...seen.keys()];
}

/** One progress line: "object calls 2.00, commits 3.00, rows written 5.00, fsyncs 9.10". */
export function costLine(cost) {
  const p = cost.perRequest;
  const v = (n) => perReq(n) ?? "n/a";
  return `object calls ${v(p.objectCalls)}, commits ${v(p.commits)}, rows written ${v(p.rowsWritten)}, fsyncs ${v(p.fsyncs)}`;
}

/**
 * The cost table of our runs: a row per run with `cost` (from costMeter, with perRequest), then
 * the top object methods and the fsyncs by store per request, and once each why a column is n/a.
 *   label(run) -> the row's name; cpuMs(run) -> CPU ms per request or null
 */
export function costTable(runs, { title, label, cpuMs, cpuHeader = "CPU ms" }) {
  const rows = runs.filter((r) => r.cost);
  if (!rows.length) return [];
  const na = (n) => perReq(n) ?? "n/a";
  const columns = [
    { header: "scenario", align: "left", value: label },
    { header: "requests", value: (r) => int(r.metrics.requests) },
    { header: "object calls", value: (r) => na(r.cost.perRequest.objectCalls) },
    { header: "commits", value: (r) => na(r.cost.perRequest.commits) },
    { header: "rows written", value: (r) => na(r.cost.perRequest.rowsWritten) },
    { header: "fsyncs", value: (r) => na(r.cost.perRequest.fsyncs) },
    { header: "DO fsyncs / commit", value: (r) => fsyncsPerCommit(r.cost.perRequest)?.toFixed(2) ?? "-" },
    { header: cpuHeader, value: (r) => cpuMs(r)?.toFixed(2) ?? "-" },
  ];
  const busy = rows.filter((r) => r.cost.perRequest.requests > 0 && (r.cost.perRequest.objectCalls || r.cost.perRequest.fsyncs));
  const methods = busy.filter((r) => r.cost.perRequest.calls).map((r) => `- ${label(r)}: ${topMethods(r.cost.perRequest.calls)}`);
  const stores = busy.filter((r) => r.cost.perRequest.fsyncsByStore).map((r) => `- ${label(r)}: ${topMethods(r.cost.perRequest.fsyncsByStore, 6, "none")}`);
  return [
    title,
    "",
    renderTable(columns, rows),
    "",
    ...(methods.length ? ["object calls per request, top methods:", ...methods] : []),
    ...(stores.length ? ["fsyncs per request by store (file synced):", ...stores] : []),
    ...naReasons(rows.map((r) => r.cost)).map((reason) => `- n/a ${reason}`),
    "",
  ];
}

/** One line for the log: how fsyncs are counted in this run, or why they are not. */
export function describeFsyncs(mode, runner) {
  if (mode === "off") return "not counted (--fsyncs off)";
  if (mode === "attach") return "counted by strace -p, attached for each measured run (it slows workerd down several times over)";
  return runner.fsyncTrace?.ok
    ? "counted by strace, under which workerd runs with a seccomp filter (only fsync and fdatasync stop it)"
    : `n/a: ${runner.fsyncTrace?.reason ?? "not counted"}`;
}

/** The notes under a cost table: what each column is, and how fsyncs were counted. */
export function costNotes(fsyncMode) {
  return [
    "- Cost per request (ours only; the Node peers have no such counters): object calls = calls into Durable Objects (RPC methods and alarms, all classes summed); " +
      "commits = storage commits, counted once per object per burst of writes (what a Durable Object commits as one implicit transaction); rows written = SQLite rows inserted, updated or deleted. " +
      "They come from GET /v1/admin/eu/costs, counters of the Worker's isolate: locally every object runs in that one isolate, so they cover all objects. " +
      "They are read right before and right after the measured run (the bench's own set-up and checks fall outside) and divided by the requests sent in it.",
    fsyncMode === "attach"
      ? "- fsyncs = fsync + fdatasync calls by workerd (all threads) in the same window, from `strace -f -c -p <workerd>` attached for the run: the physical side of the commits. " +
        "WARNING: an attached strace stops workerd on every system call, so throughput, latency and CPU of these runs are far worse than without it; use --fsyncs launch or off for those numbers."
      : "- fsyncs = fsync + fdatasync calls by workerd (all threads) in the same window, logged by strace, under which workerd runs with a seccomp filter so that only those calls stop it: the physical side of the commits. " +
        "They include miniflare's local Cache API store (a SQLite file of its own, see 'by store'); DO fsyncs / commit counts only the Durable Objects' files (their SQLite files and the namespace's metadata.sqlite, which holds alarms) and should stay steady across scenarios. " +
        "Each fsync stops workerd for strace once, which costs write-heavy runs some throughput (about a quarter for one-line reservations on this 2-core machine); --fsyncs off measures without it.",
  ];
}
