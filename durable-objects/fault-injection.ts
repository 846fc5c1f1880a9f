// A simulated regional outage, for tests and the benchmark: while a region is "down", every call
// into its stock objects and read-model pages throws, or hangs until the outage ends (then throws).
// The platform cannot take a region's objects down locally, so this stands in for it, inside the
// real objects: callers see exactly what they would see from objects that fail.
//
// The switch is per isolate. Locally (tests, `npm start`, the bench) the Worker and every object
// share one isolate, so one switch reaches them all; in production it reaches nothing, and the
// route that flips it answers 404 unless FAULT_INJECTION is "on" (never set in wrangler.toml envs).

export type OutageMode = "throw" | "hang";
/** What fails: every object of the region, or only its read-model pages (the stock objects work). */
export type OutageScope = "region" | "read-model";

interface Outage {
  mode: OutageMode;
  scope: OutageScope;
}

const outages = new Map<string, Outage>();

export function startOutage(region: string, mode: OutageMode, scope: OutageScope = "region"): void {
  endOutage(region);
  outages.set(region, { mode, scope });
}

/** Ends the outage; calls that hung in it fail soon after (their callers gave up long ago). */
export function endOutage(region: string): void {
  outages.delete(region);
}

export function outageIn(region: string): OutageMode | null {
  return outages.get(region)?.mode ?? null;
}

function outageError(region: string): Error {
  return new Error(`simulated outage: the stock objects of ${region} are down`);
}

/** Makes each of `methods` fail while the object's region (the prefix of its name) is down. */
export function failDuringOutage(cls: { name: string; prototype: object }, methods: readonly string[], kind: "stock" | "read-model" = "stock"): void {
  const proto = cls.prototype as Record<string, unknown>;
  for (const name of methods) {
    const method = proto[name];
    if (typeof method !== "function") throw new Error(`${cls.name}.${name} is not a method`);
    proto[name] = function (this: { ctx: DurableObjectState }, ...args: unknown[]) {
      const region = outages.size ? this.ctx.id.name?.split(":")[0] : undefined;
      const found = region === undefined ? undefined : outages.get(region);
      const outage = found && (found.scope === "region" || kind === "read-model") ? found : undefined;
      if (!outage) return (method as (...a: unknown[]) => unknown).apply(this, args);
      if (outage.mode === "throw") return Promise.reject(outageError(region!));
      // Polled from the object's own context: an object's promise cannot be settled from another.
      return new Promise((_, reject) => {
        const wait = () => (outages.get(region!) === outage ? setTimeout(wait, 50) : reject(outageError(region!)));
        wait();
      });
    };
  }
}
