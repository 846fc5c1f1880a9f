// Recommendation lists kept in this isolate's memory, in front of KV (or, in the bench's Node peers,
// Redis or Postgres). A version's lists never change once its pointer is live, so they are kept
// until memory runs short; only the pointer and the shoppers' own lists are re-read:
//
//   the pointer          POINTER_TTL_MS (a build through this isolate forgets it at once; other
//                        isolates switch within the TTL, as KV's own edge cache already delays reads)
//   a shopper's list     SHOPPER_TTL_MS (an erasure through this isolate forgets it at once)
//   everything else      until evicted: oldest first, past MEMORY_BUDGET_BYTES (no reordering on a
//                        hit: that cost more CPU than the rest of the lookup)
//
// Absent keys are kept too (a SKU the region does not sell costs one read per version). In steady
// state a recommendation request makes no KV call at all (docs/recommendations.md). One Worker binds
// one recommendations namespace, so keys alone name an entry.
import { pointerKey, userKeyMarker } from "./store";

/** The part of KVNamespace the lists are read through (a KVNamespace is one): a bulk read of text. */
export interface ListSource {
  get(keys: string[], type: "text"): Promise<Map<string, string | null>>;
}

export const POINTER_TTL_MS = 10_000;
export const SHOPPER_TTL_MS = 30_000;
/** Far below an isolate's 128 MB: ~1,500 SKUs' entries and a few thousand shoppers' lists. */
export const MEMORY_BUDGET_BYTES = 16 * 1024 * 1024;

interface Held {
  value: unknown;
  bytes: number;
  /** ms since the epoch; undefined: kept until evicted. */
  expiresAt?: number;
}

export class ListCache {
  private held = new Map<string, Held>();
  private bytes = 0;
  /** Bulk reads made of the source (for tests). */
  reads = 0;

  constructor(
    /** Read on a miss; the binding of the request at hand (see `listsOf`). */
    public source: ListSource,
    private budget = MEMORY_BUDGET_BYTES,
  ) {}

  /** Parsed values of `keys` (null when absent): from memory, the rest in one bulk read. */
  async json(keys: readonly string[]): Promise<Map<string, unknown>> {
    const now = Date.now();
    const out = new Map<string, unknown>();
    const missing: string[] = [];
    for (const key of keys) {
      const h = this.fresh(key, now);
      if (h) out.set(key, h.value);
      else missing.push(key);
    }
    if (!missing.length) return out;
    this.reads++;
    const read = await this.source.get(missing, "text");
    for (const key of missing) {
      const text = read.get(key) ?? null;
      const value = text === null ? null : JSON.parse(text);
      out.set(key, value);
      this.keep(key, value, (text?.length ?? 0) + key.length, now);
    }
    return out;
  }

  /** The value of `key` if held and not expired (null: known absent), else undefined. */
  peek(key: string): unknown {
    return this.fresh(key, Date.now())?.value;
  }

  /** What is held for `key`, unless it expired. */
  private fresh(key: string, now: number): Held | undefined {
    const h = this.held.get(key);
    return h && (h.expiresAt === undefined || now < h.expiresAt) ? h : undefined;
  }

  /** A build switched the region's pointer: read it again next time. */
  forgetPointer(region: string): void {
    this.drop(pointerKey(region));
  }

  /** A shopper was erased: their lists (of any version) are not served from memory again. */
  forgetShopper(region: string, shopper: string): void {
    for (const key of [...this.held.keys()]) if (key.startsWith(`recs:${region}:`) && key.endsWith(`${userKeyMarker}${shopper}`)) this.drop(key);
  }

  private keep(key: string, value: unknown, bytes: number, now: number) {
    this.drop(key);
    const ttl = key.endsWith(":current") ? POINTER_TTL_MS : key.includes(userKeyMarker) ? SHOPPER_TTL_MS : undefined;
    this.held.set(key, { value, bytes, ...(ttl !== undefined && { expiresAt: now + ttl }) });
    this.bytes += bytes;
    for (const [oldest, h] of this.held) {
      if (this.bytes <= this.budget) break;
      this.held.delete(oldest);
      this.bytes -= h.bytes;
    }
  }

  private drop(key: string) {
    const h = this.held.get(key);
    if (!h) return;
    this.held.delete(key);
    this.bytes -= h.bytes;
  }
}

// Per isolate: one cache, since a Worker binds one recommendations namespace.
let isolateCache: ListCache | undefined;

/** This isolate's cache, reading misses from `source`. */
export function listsOf(source: ListSource): ListCache {
  if (!isolateCache) isolateCache = new ListCache(source);
  else isolateCache.source = source;
  return isolateCache;
}

/** A build switched `region`'s pointer (or an erasure ran) through this isolate. */
export const forgetPointer = (region: string) => isolateCache?.forgetPointer(region);
export const forgetShopper = (region: string, shopper: string) => isolateCache?.forgetShopper(region, shopper);
