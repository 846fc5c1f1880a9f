// Everything a benchmark run starts is stopped and every temp dir removed: gracefully, in reverse
// order, when the run ends; synchronously on exit otherwise. On Ctrl-C miniflare's own exit hook
// kills workerd and exits at once, so only synchronous clean-up is sure to run then.
import { rmSync } from "node:fs";

/**
 * `defer(fn)` registers a graceful stop (and returns fn); `forget(fn)` drops one that ran itself;
 * `cleanup()` runs the rest once; `onExit.pids` / `onExit.dirs` hold what the exit hook kills or
 * removes (take entries out once stopped, so no reused pid is hit). `onSignal(signal)` is said
 * before a SIGINT/SIGTERM exit.
 */
export function cleanupOnExit({ log = () => {}, onSignal = () => {} } = {}) {
  const cleanups = new Set();
  let cleaning = null;
  const onExit = { pids: new Set(), dirs: new Set() };
  process.on("exit", () => {
    for (const pid of onExit.pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    for (const dir of onExit.dirs) rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.once(signal, () => {
      onSignal(signal);
      process.exit(130);
    });
  }
  return {
    onExit,
    defer: (fn) => (cleanups.add(fn), fn),
    forget: (fn) => cleanups.delete(fn),
    cleanup: () =>
      (cleaning ??= (async () => {
        for (const fn of [...cleanups].reverse()) {
          cleanups.delete(fn);
          await Promise.resolve().then(fn).catch((err) => log(`[bench] clean-up: ${err?.message ?? err}`));
        }
      })()),
  };
}
