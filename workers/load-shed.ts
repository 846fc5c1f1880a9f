// Load shedding at the edge: calls from this isolate that wait on one object are counted, and past
// a bound a new call is answered 503 try_again with Retry-After at once, instead of joining a
// queue that only grows (the object is the single writer for its SKU-region: it cannot go faster
// by being asked more). The platform itself refuses an object whose queue is too deep
// (`overloaded`, also a 503 try_again, see problems.ts); this bound answers sooner and keeps the
// isolate's memory and the shopper's wait small. A shed create is safe to retry with its key.
import { Problem } from "./problems";

/** Calls one isolate lets wait on one object at a time (MAX_WAITING_PER_OBJECT overrides it). */
export const DEFAULT_MAX_WAITING = 1_000;

const waiting = new Map<string, number>();

export function maxWaiting(env: { MAX_WAITING_PER_OBJECT?: string }): number {
  const n = Number(env.MAX_WAITING_PER_OBJECT);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_MAX_WAITING;
}

/** Runs `call` on object `key` unless `limit` calls already wait on it here. */
export async function shed<T>(key: string, limit: number, call: () => Promise<T>): Promise<T> {
  const n = waiting.get(key) ?? 0;
  if (n >= limit) {
    throw new Problem("try_again", `The stock object is busy (${n} calls already waiting); retry with the same Idempotency-Key`, { waiting: n });
  }
  waiting.set(key, n + 1);
  try {
    return await call();
  } finally {
    const left = (waiting.get(key) ?? 1) - 1;
    if (left > 0) waiting.set(key, left);
    else waiting.delete(key);
  }
}

/** How many calls wait on `key` here now (for tests and operators). */
export function waitingOn(key: string): number {
  return waiting.get(key) ?? 0;
}
