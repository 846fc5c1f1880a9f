// Availability at the edge: SKU-region snapshots kept in this data centre's cache for at most
// AVAILABILITY_MAX_AGE_SECONDS (default 2), and one object call per SKU-region however many shoppers
// ask for it at the same moment. A snapshot is advisory; the object decides every reservation.
import { shardStub } from "../durable-objects/shard-routing";
import type { Env } from "./env";
import { inventoryStub } from "./routes/common";

export interface CachedSnapshot {
  sku: string;
  region: string;
  available: number;
  version: number;
  /** When the object was asked (ms since the epoch): the snapshot's age is measured from here. */
  asOf: number;
}

/** All a cache refresh needs of the request's execution context. */
export type WaitUntil = Pick<ExecutionContext, "waitUntil">;

/** Where a snapshot came from, for the Server-Timing header and the tests. */
export type SnapshotSource = "memory" | "cache" | "object" | "shared";

const DEFAULT_MAX_AGE_SECONDS = 2;
/** A waiter on another request's object call gives up and asks the object itself after this long. */
const SHARED_WAIT_MS = 1_500;

// Per isolate: object calls in flight (request coalescing) and when a write here last touched a key.
const inFlight = new Map<string, Promise<{ snapshot: CachedSnapshot; source: SnapshotSource }>>();
const writtenAt = new Map<string, number>();
// Per isolate: the last snapshot seen of each key, within the same bound. A hot SKU read by every
// shopper on this isolate then costs no cache lookup at all for up to the bound.
const remembered = new Map<string, CachedSnapshot>();
const MAX_REMEMBERED = 20_000;

function remember(key: string, snapshot: CachedSnapshot): void {
  if (remembered.size >= MAX_REMEMBERED) remembered.clear(); // crude, and only ever makes a read slower
  remembered.set(key, snapshot);
}

export function maxAgeMs(env: Pick<Env, "AVAILABILITY_MAX_AGE_SECONDS">): number {
  const seconds = Number(env.AVAILABILITY_MAX_AGE_SECONDS ?? DEFAULT_MAX_AGE_SECONDS);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : DEFAULT_MAX_AGE_SECONDS * 1000;
}

function cacheKey(region: string, sku: string): string {
  return `https://snapshots.edge-inventory.internal/${region}/${encodeURIComponent(sku)}`;
}

/**
 * The snapshot of one SKU-region no older than the bound: from the cache, from a call another
 * request already has in flight, or from the object (which then refreshes the cache).
 */
export async function readSnapshot(
  env: Env,
  ctx: WaitUntil,
  region: string,
  sku: string,
): Promise<{ snapshot: CachedSnapshot; source: SnapshotSource }> {
  const key = cacheKey(region, sku);
  const bound = maxAgeMs(env);
  const known = bound > 0 ? remembered.get(key) : undefined;
  if (known && isFresh(known, key, bound)) return { snapshot: known, source: "memory" };
  const shared = inFlight.get(key);
  if (shared) {
    const read = await withinWait(shared);
    if (read) return { snapshot: read.snapshot, source: "shared" };
  }
  // The cache lookup is part of the shared work too, so a burst on a cold key makes one call.
  const read = lookUp(env, ctx, key, region, sku).finally(() => {
    if (inFlight.get(key) === read) inFlight.delete(key);
  });
  inFlight.set(key, read);
  return read;
}

async function lookUp(env: Env, ctx: WaitUntil, key: string, region: string, sku: string) {
  const bound = maxAgeMs(env);
  if (bound > 0) {
    const hit = await caches.default.match(key);
    if (hit) {
      const snapshot = (await hit.json()) as CachedSnapshot;
      if (isFresh(snapshot, key, bound)) {
        remember(key, snapshot);
        return { snapshot, source: "cache" as const };
      }
    }
  }
  const snapshot = await fromObject(env, region, sku);
  if (bound > 0 && !((writtenAt.get(key) ?? 0) >= snapshot.asOf)) {
    remember(key, snapshot);
    const seconds = Math.max(1, Math.ceil(bound / 1000));
    const body = new Response(JSON.stringify(snapshot), {
      headers: { "content-type": "application/json", "cache-control": `max-age=${seconds}` },
    });
    ctx.waitUntil(caches.default.put(key, body));
  }
  return { snapshot, source: "object" as const };
}

/**
 * After a write: this isolate stops serving older snapshots of these SKUs at once. `alsoCache`
 * (operator writes, not the reservation hot path) also deletes them from the data centre's cache.
 */
export function forgetSnapshots(region: string, skus: readonly string[], alsoCache?: WaitUntil): void {
  const now = Date.now();
  if (writtenAt.size > 10_000) {
    for (const [key, at] of writtenAt) if (at < now - 60_000) writtenAt.delete(key);
  }
  for (const sku of skus) {
    const key = cacheKey(region, sku);
    writtenAt.set(key, now);
    remembered.delete(key);
    alsoCache?.waitUntil(caches.default.delete(key).catch(() => false));
  }
}

function isFresh(snapshot: CachedSnapshot, key: string, bound: number): boolean {
  const age = Date.now() - snapshot.asOf;
  return age >= 0 && age <= bound && !((writtenAt.get(key) ?? 0) >= snapshot.asOf);
}

async function fromObject(env: Env, region: string, sku: string): Promise<CachedSnapshot> {
  const asOf = Date.now();
  const s = await inventoryStub(env, region, sku).snapshot(sku, region);
  // A sharded SKU-region's units are in its main object and in the quotas of shards 1..K-1.
  let inShards = 0;
  if (s.shards && s.shards > 1) {
    const states = await Promise.all(Array.from({ length: s.shards - 1 }, (_, i) => shardStub(env, region, sku, i + 1).state()));
    inShards = states.reduce((n, st) => n + (st.retired ? 0 : st.available), 0);
  }
  return { sku, region, available: s.available + inShards, version: s.version, asOf };
}

/** Another request's call, unless it takes too long (say that request was cancelled). */
async function withinWait<T>(shared: Promise<T>): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), SHARED_WAIT_MS);
  });
  try {
    return await Promise.race([shared.catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
