// Parent side of the load generator: starts bench/lib/load-child.mjs (autocannon) in its own
// process, runs one load spec in it and returns what it measured, with the CPU each watched
// process used meanwhile.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { cpuMeter } from "./proc.mjs";

const CHILD = fileURLToPath(new URL("./load-child.mjs", import.meta.url));

export class LoadGenerator {
  /** Starts the generator process; reuse it for every scenario of a run. */
  static async start() {
    const child = fork(CHILD, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    await new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`load generator exited early (code ${code})`)));
      child.once("message", (m) => (m?.type === "ready" ? resolve() : reject(new Error(`unexpected message ${JSON.stringify(m)}`))));
    });
    child.removeAllListeners("exit");
    child.removeAllListeners("error");
    return new LoadGenerator(child);
  }

  constructor(child) {
    this.child = child;
  }

  get pid() {
    return this.child.pid;
  }

  /**
   * Runs one spec (see load-child.mjs). `watch` maps names to pids whose CPU time is measured over
   * the run (the generator itself is always included as "loadgen"); `onTick` gets a progress
   * message every second.
   */
  run(spec, { watch = {}, onTick } = {}) {
    return new Promise((resolve, reject) => {
      const meter = cpuMeter({ loadgen: this.child.pid, ...watch });
      const onMessage = (m) => {
        if (m?.type === "tick") onTick?.(m);
        else if (m?.type === "result") done(null, { ...m.result, cpu: meter.stop() });
        else if (m?.type === "error") done(new Error(`load generator: ${m.message}`));
      };
      const onExit = (code) => done(new Error(`load generator exited (code ${code})`));
      const done = (err, result) => {
        this.child.off("message", onMessage);
        this.child.off("exit", onExit);
        if (err) reject(err);
        else resolve(result);
      };
      this.child.on("message", onMessage);
      this.child.on("exit", onExit);
      this.child.send({ type: "run", spec });
    });
  }

  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill();
    await exited;
  }
}
