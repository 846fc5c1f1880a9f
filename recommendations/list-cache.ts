// Recommendation lists kept in this isolate's memory, in front of KV (or, in the bench's Node peers,
// Redis or Postgres). A version's lists never change once its pointer is live, so they are kept
// until memory runs short; only the pointer and the shoppers' own lists are re-read:
//
//   the pointer          POINTER_TTL_MS (a build through this isolate forgets it at once; other
//                        isolates switch within the TTL, as KV's own edge cache already delays reads)
//   a shopper's list     SHOPPER_TTL_MS after it was read, or after the region's erasure feed was
//                        last read, whichever is later. A version's lists never change; only an
//                        erasure removes one. An erasure through this isolate forgets the shopper at
//                        once; one through another isolate announces the shopper's erasure digest
//                        (store.ts, erasedKey), and this isolate reads that feed, one KV list per
//                        region, every SHOPPER_TTL_MS / 2 while consenting shoppers ask. So an
//                        erased shopper's list is served at most SHOPPER_TTL_MS after the erasure
//                        (plus KV's own delay), as when each list was read again every 30 s, for one
//                        call per region instead of one per shopper. Without a feed (the bench's
//                        Node peers), or when it cannot be read, each list is read again after
//                        SHOPPER_TTL_MS.
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

/** Where erasures through other isolates are learnt: recent erasure digests per region (store.ts, erasedLately). */
export interface ErasureFeed {
  erased(region: string): Promise<ReadonlySet<string>>;
  /** A pseudonym's erasure digest (store.ts, erasureDigest). */
  digest(pseudonym: string): Promise<string>;
}

/** What this isolate knows of a region's erasure feed. */
interface FeedState {
  region: string;
  /** When the last look that went through began (ms): every erasure announced before it is honoured... */
  checkedAt: number;
  /** ...by every list kept before that look went over the held lists (`Held.seq` below this). */
  coveredSeq: number;
  /** When a look under way began; undefined when none is. */
  lookingSince: number | undefined;
}

/** A look at the feed that has not ended after this long (its request gone) no longer holds up the next. */
const LOOK_ABANDONED_MS = 10_000;
/** Pseudonyms whose erasure digest is kept, at most (worked out only when the feed names someone). */
const DIGESTS_KEPT = 100_000;

interface Held {
  value: unknown;
  bytes: number;
  /** ms since the epoch; undefined: kept until evicted. */
  expiresAt: number | undefined;
  /** A shopper's list: also fresh while the region's feed was looked at within SHOPPER_TTL_MS, after it was kept. */
  feed: FeedState | undefined;
  /** In the order kept. */
  seq: number;
}

export class ListCache {
  private held = new Map<string, Held>();
  private bytes = 0;
  /** Bulk reads made of the source (for tests). */
  reads = 0;
  /** Where erasures through other isolates are learnt; without one, shoppers' lists are read again after SHOPPER_TTL_MS. */
  feed: ErasureFeed | undefined;
  private feeds = new Map<string, FeedState>();
  private kept = 0;
  private digests = new Map<string, string>();

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
    if (h === undefined) return undefined;
    const feed = h.feed;
    if (feed === undefined) return h.expiresAt === undefined || now < h.expiresAt ? h : undefined;
    return now < h.expiresAt! || (h.seq < feed.coveredSeq && now < feed.checkedAt + SHOPPER_TTL_MS) ? h : undefined;
  }

  /**
   * Looks at `region`'s erasure feed in the background (kept alive by `ctx`) when the last look is
   * SHOPPER_TTL_MS / 2 old and none is under way, so that shoppers' lists stay fresh; every held
   * list of a shopper it names is forgotten. Called for each request from a consenting shopper.
   */
  lookIfDue(region: string, ctx: { waitUntil(p: Promise<unknown>): void }): void {
    if (!this.feed) return;
    const state = this.feedOf(region);
    const now = Date.now();
    if (now - state.checkedAt <= SHOPPER_TTL_MS / 2 || (state.lookingSince !== undefined && now - state.lookingSince <= LOOK_ABANDONED_MS)) return;
    ctx.waitUntil(this.look(state, this.feed, now));
  }

  private look(state: FeedState, feed: ErasureFeed, now: number): Promise<void> {
    state.lookingSince = now;
    return (async () => {
      const erased = await feed.erased(state.region);
      // Every list kept so far is gone over (a list kept from here on is not, nor is it fresh by this look).
      const covered = this.kept;
      if (erased.size) {
        const prefix = `recs:${state.region}:`;
        for (const key of [...this.held.keys()]) {
          const at = key.indexOf(userKeyMarker);
          if (at < 0 || !key.startsWith(prefix)) continue;
          const pseudonym = key.slice(at + userKeyMarker.length);
          let digest = this.digests.get(pseudonym);
          if (digest === undefined) {
            digest = await feed.digest(pseudonym);
            if (this.digests.size >= DIGESTS_KEPT) this.digests.clear();
            this.digests.set(pseudonym, digest);
          }
          if (erased.has(digest)) this.drop(key);
        }
      }
      if (now > state.checkedAt) {
        state.checkedAt = now;
        state.coveredSeq = covered;
      }
    })()
      // Lists then expire SHOPPER_TTL_MS after their own read, and are read again.
      .catch(() => undefined)
      .finally(() => {
        if (state.lookingSince === now) state.lookingSince = undefined;
      });
  }

  /** The region's feed state, made on first use (never looked at yet). */
  private feedOf(region: string): FeedState {
    let state = this.feeds.get(region);
    if (!state) this.feeds.set(region, (state = { region, checkedAt: -Infinity, coveredSeq: 0, lookingSince: undefined }));
    return state;
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
    const shopper = key.includes(userKeyMarker);
    const ttl = key.endsWith(":current") ? POINTER_TTL_MS : shopper ? SHOPPER_TTL_MS : undefined;
    // A key is recs:{region}:..., so a shopper's list names its region's feed.
    const feed = shopper && this.feed ? this.feedOf(key.slice(5, key.indexOf(":", 5))) : undefined;
    this.held.set(key, { value, bytes, expiresAt: ttl === undefined ? undefined : now + ttl, feed, seq: this.kept++ });
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

/**
 * This isolate's cache, reading misses from `source`; with `feed`, shoppers' lists are kept while the
 * feed says nobody erased them (`lookIfDue`).
 */
export function listsOf(source: ListSource, feed?: ErasureFeed): ListCache {
  if (!isolateCache) isolateCache = new ListCache(source);
  else isolateCache.source = source;
  isolateCache.feed = feed;
  return isolateCache;
}

/** A build switched `region`'s pointer (or an erasure ran) through this isolate. */
export const forgetPointer = (region: string) => isolateCache?.forgetPointer(region);
export const forgetShopper = (region: string, shopper: string) => isolateCache?.forgetShopper(region, shopper);
