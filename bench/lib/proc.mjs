// Process and machine facts for honest numbers: CPU time per process (from /proc on Linux) and a
// short description of the machine.
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";

const CLK_TCK = 100; // Linux USER_HZ; /proc/<pid>/stat reports CPU time in these ticks

/** CPU time (user + system, ms) a process has used so far, or null where /proc is not available. */
export function cpuTimeMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the ")" that closes the command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return null;
  }
}

/** CPU time (ms) of several processes together; null if none could be read. */
export function cpuTimeOfMs(pids) {
  if (!Array.isArray(pids)) return cpuTimeMs(pids);
  const times = pids.map(cpuTimeMs).filter((t) => t !== null);
  return times.length ? times.reduce((a, b) => a + b, 0) : null;
}

/** Pids of every process whose command name is exactly `name` (Linux only). */
export function findByName(name) {
  let entries;
  try {
    entries = readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  return entries.map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === name;
    } catch {
      return false;
    }
  });
}

/** Threads of a process, or null. */
export function threadCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return null;
  }
}

/** Pids of descendants of `rootPid` whose command name matches `name` (Linux only). */
export function findDescendants(rootPid, name) {
  let entries;
  try {
    entries = readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  const parentOf = new Map();
  const commOf = new Map();
  for (const e of entries) {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const open = stat.indexOf("(");
      const close = stat.lastIndexOf(")");
      commOf.set(Number(e), stat.slice(open + 1, close));
      parentOf.set(Number(e), Number(stat.slice(close + 2).split(" ")[1]));
    } catch {
      // the process ended while we looked
    }
  }
  const isDescendant = (pid) => {
    for (let p = parentOf.get(pid), hops = 0; p !== undefined && hops < 64; p = parentOf.get(p), hops++) {
      if (p === rootPid) return true;
    }
    return false;
  };
  return [...commOf].filter(([pid, comm]) => comm.includes(name) && isDescendant(pid)).map(([pid]) => pid);
}

/** CPU time (ms) the whole machine has been busy, all cores summed, or null (Linux only). */
export function machineBusyMs() {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]; // "cpu  user nice system idle iowait irq softirq steal ..."
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return ((user + nice + system + irq + softirq + (steal || 0)) * 1000) / CLK_TCK;
  } catch {
    return null;
  }
}

/**
 * Measures the CPU used by a set of named processes (a pid, or an array of pids counted together)
 * between start and stop(), and what the rest of the machine used meanwhile ("others": anything
 * else running disturbs the numbers). A process that exits meanwhile is not counted for its part.
 */
export function cpuMeter(pids) {
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuTimeOfMs(pid)]));
  const busyBefore = machineBusyMs();
  const t0 = performance.now();
  return {
    stop() {
      const wallMs = performance.now() - t0;
      const busy = machineBusyMs();
      const out = {};
      let ours = 0;
      for (const [name, pid] of Object.entries(pids)) {
        const now = cpuTimeOfMs(pid);
        const cpuMs = now === null || before[name] === null ? null : now - before[name];
        ours += cpuMs ?? 0;
        out[name] = { cpuMs, coresUsed: cpuMs === null ? null : cpuMs / wallMs };
      }
      const othersMs = busy === null || busyBefore === null ? null : Math.max(0, busy - busyBefore - ours);
      out.others = { cpuMs: othersMs, coresUsed: othersMs === null ? null : othersMs / wallMs };
      return { wallMs, processes: out };
    },
  };
}

export function machine() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model?.trim() ?? "unknown",
    cores: os.availableParallelism?.() ?? cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

/**
 * Waits until the whole machine is nearly idle (less than `maxCores` busy over 1 s), at most
 * `maxWaitSec`; on a shared machine this keeps other people's builds out of the measurement.
 * Returns { waitedSec, busyCores } (busyCores: the last reading; null where /proc is missing).
 */
export async function waitForQuiet({ maxCores = 0.3, maxWaitSec = 20, onWait } = {}) {
  const t0 = performance.now();
  for (;;) {
    const before = machineBusyMs();
    const w0 = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const after = machineBusyMs();
    if (before === null || after === null) return { waitedSec: 0, busyCores: null };
    const busyCores = (after - before) / (performance.now() - w0);
    const waitedSec = (performance.now() - t0) / 1000;
    if (busyCores < maxCores || waitedSec >= maxWaitSec) return { waitedSec, busyCores };
    onWait?.(busyCores, waitedSec);
  }
}
