// What the objects cost, counted where the work happens: RPC calls per object class and method,
// storage commits, and SQLite rows written. Production bills exactly these (a request per RPC
// call, rows written per row), so the benchmark reports them per request beside throughput.
//
// The counters live in the isolate. Locally (tests, `npm start`, the benchmark) every object of
// the Worker shares one isolate, so they add up to the whole run; in production each isolate only
// sees its own objects. A commit is counted once per object per burst of writes with no await in
// between, which is how a Durable Object coalesces writes into one implicit transaction (the
// benchmark cross-checks this against workerd's fsync count).

export interface Costs {
  /** RPC calls into objects, by "Class.method". */
  calls: Record<string, number>;
  /** Storage commits (write bursts, each one SQLite transaction and sync). */
  commits: number;
  /** SQLite rows written (inserted, updated or deleted). */
  rowsWritten: number;
}

const costs: Costs = { calls: {}, commits: 0, rowsWritten: 0 };

export function readCosts(): Costs {
  return { calls: { ...costs.calls }, commits: costs.commits, rowsWritten: costs.rowsWritten };
}

/** One object's storage, counted: rows written by each statement, one commit per burst of writes. */
export function meterStorage(storage: DurableObjectStorage): SqlStorage {
  let burst = false;
  const wrote = () => {
    if (burst) return;
    burst = true;
    costs.commits++;
    // Writes with no await between them commit together; the next request's writes do not.
    queueMicrotask(() => (burst = false));
  };
  const sql = storage.sql;
  const setAlarm = storage.setAlarm.bind(storage);
  storage.setAlarm = (when, options) => {
    wrote();
    return setAlarm(when, options);
  };
  return new Proxy(sql, {
    get(target, prop) {
      if (prop !== "exec") {
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === "function" ? value.bind(target) : value;
      }
      return (query: string, ...bindings: unknown[]) => {
        const cursor = target.exec(query, ...bindings);
        // Statements that change rows run to completion inside exec; SELECTs are read lazily.
        if (!/^\s*(SELECT|WITH)\b/i.test(query) && cursor.rowsWritten > 0) {
          costs.rowsWritten += cursor.rowsWritten;
          wrote();
        }
        return cursor;
      };
    },
  });
}

/** Counts every call of the named methods (the class's RPC surface and alarm) under "Class.method". */
export function meterCalls(cls: { name: string; prototype: object }, methods: readonly string[]): void {
  const proto = cls.prototype as Record<string, unknown>;
  for (const name of methods) {
    const method = proto[name];
    if (typeof method !== "function") throw new Error(`${cls.name}.${name} is not a method`);
    const key = `${cls.name}.${name}`;
    proto[name] = function (this: unknown, ...args: unknown[]) {
      costs.calls[key] = (costs.calls[key] ?? 0) + 1;
      return (method as (...a: unknown[]) => unknown).apply(this, args);
    };
  }
}
