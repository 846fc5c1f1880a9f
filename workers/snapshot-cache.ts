// Availability at the edge, from the read model (durable-objects/availability-page.ts): whole pages
// of a region's SKU snapshots, kept in this isolate's memory and the data centre's cache. A read
// never asks SKU objects; it asks a page at most once per page per freshness window per isolate
// (fewer with the data centre's cache), however many shoppers and SKUs. A snapshot is advisory;
// the object decides every reservation.
//
// Freshness: an answer is counted as old as its page copy plus PUBLISH_LAG_MS (the writer's
// coalescing window and its call to the page), so AVAILABILITY_MAX_AGE_SECONDS (default 2) holds
// end to end. When a page does not answer within AVAILABILITY_DEADLINE_MS, reads answer from the
// last copy this isolate or data centre has, marked stale with its age, up to
// AVAILABILITY_STALE_LIMIT_SECONDS; past that, 503 stock_unavailable with Retry-After.
import { pageName, pageOf, PAGES_PER_REGION, type PagePart } from "../durable-objects/availability-page";
import { PUBLISH_LAG_MS, PUBLISH_WINDOW_MS } from "../durable-objects/availability-publisher";
import type { Env } from "./env";
import { Problem } from "./problems";

export interface SkuAvailability {
  available: number;
  /** The SKU object's version; 0: never stocked in this region. */
  version: number;
}

export interface AvailabilityRead {
  /** One entry per requested SKU. */
  items: Map<string, SkuAvailability>;
  /** The state of every answer is at least this recent (ms since the epoch). */
  asOf: number;
  /** Some page did not answer in time: answers come from an older copy (see asOf). */
  stale: boolean;
  /** Where the pages came from, for Server-Timing and tests. */
  sources: Record<PageSource, number>;
}

/** All a cache refresh needs of the request's execution context. */
export type WaitUntil = Pick<ExecutionContext, "waitUntil">;
export type PageSource = "memory" | "cache" | "page" | "stale";

const DEFAULT_MAX_AGE_SECONDS = 2;
const DEFAULT_DEADLINE_MS = 1_000;
const DEFAULT_STALE_LIMIT_SECONDS = 300;
/** After a page missed its deadline, reads use the last copy for this long without waiting again. */
const BACK_OFF_MS = 1_000;

/** A page as this isolate keeps it: each SKU's availability summed over its parts (stock shards). */
interface HeldPage {
  skus: Map<string, SkuAvailability>;
  /** When the page was asked (ms): everything on it is at least as recent as this minus the lag. */
  readAt: number;
  /**
   * The share of its freshness window after which this copy is refreshed in the background: drawn
   * between a third and two thirds, so that the pages of a region, loaded together, do not come
   * due together again, and a page is asked about once per half window on average.
   */
  refreshShare: number;
  /** A write through this isolate touched the page: refresh once its publish has landed. */
  refreshAfter?: number;
}

// Per isolate: the pages, the calls in flight (one per page), and pages that missed a deadline.
const held = new Map<string, HeldPage>();
const loading = new Map<string, { run: Promise<HeldPage>; startedAt: number }>();
/** A call older than this is not waited for: the request that made it may be gone, and its call with it. */
const ABANDON_MS = 5_000;
const backOffUntil = new Map<string, number>();
let ignoreCacheBefore = 0;

function seconds(value: string | undefined, fallback: number): number {
  const n = Number(value ?? fallback);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

export function maxAgeMs(env: Pick<Env, "AVAILABILITY_MAX_AGE_SECONDS">): number {
  return seconds(env.AVAILABILITY_MAX_AGE_SECONDS, DEFAULT_MAX_AGE_SECONDS) * 1000;
}

/** How long a page copy is served as fresh: the bound less the publish lag (0: ask every time). */
function freshMs(env: Env): number {
  return Math.max(0, maxAgeMs(env) - PUBLISH_LAG_MS);
}

function deadlineMs(env: Env): number {
  return seconds(env.AVAILABILITY_DEADLINE_MS, DEFAULT_DEADLINE_MS);
}

export function staleLimitMs(env: Env): number {
  return seconds(env.AVAILABILITY_STALE_LIMIT_SECONDS, DEFAULT_STALE_LIMIT_SECONDS) * 1000;
}

/** When a cached page copy was read from its page (ms since the epoch), readable without its body. */
const READ_AT_HEADER = "x-read-at";

function cacheKey(name: string): string {
  return `https://read-model.edge-inventory.internal/${encodeURIComponent(name)}`;
}

/**
 * The availability of `skus` in `region`: one page lookup per page the SKUs are on, none for a page
 * this isolate holds fresh. A SKU absent from its page was never stocked here (available 0,
 * version 0) and costs nothing. Throws 503 stock_unavailable when a page cannot be had fresh and
 * the last copy is older than the stale limit (or there is none).
 */
export async function availabilityOf(env: Env, ctx: WaitUntil, region: string, skus: readonly string[]): Promise<AvailabilityRead> {
  return availabilityInMemory(env, ctx, region, skus) ?? (await availabilityLoaded(env, ctx, region, skus));
}

/**
 * The same answer when every page of `skus` is held fresh in this isolate (the steady state), at
 * once and with no promise, timer or call; undefined when a page has to be loaded. A page past its
 * refresh point (or written through this isolate) is refreshed in the background, as ever.
 */
export function availabilityInMemory(env: Env, ctx: WaitUntil, region: string, skus: readonly string[]): AvailabilityRead | undefined {
  const items = new Map<string, SkuAvailability>();
  const now = Date.now();
  const pages = heldFresh(env, ctx, region, skus, now, (sku, entry) => items.set(sku, entry));
  if (pages === undefined) return undefined;
  return { items, asOf: (skus.length ? pages.oldest : now) - PUBLISH_LAG_MS, stale: false, sources: { memory: pages.count, cache: 0, page: 0, stale: 0 } };
}

/** The units available of each of `skus`, in their order, when every page they are on is held fresh (as availabilityInMemory); else undefined. */
export function unitsInMemory(env: Env, ctx: WaitUntil, region: string, skus: readonly string[]): number[] | undefined {
  const units: number[] = [];
  return heldFresh(env, ctx, region, skus, Date.now(), (_, entry) => units.push(entry.available)) && units;
}

/**
 * Calls `each` with each SKU's entry in turn, from the pages this isolate holds fresh; how many
 * pages that took and the oldest of them, or undefined (and a partial walk) as soon as a page is
 * not held fresh.
 */
function heldFresh(
  env: Env,
  ctx: WaitUntil,
  region: string,
  skus: readonly string[],
  now: number,
  each: (sku: string, entry: SkuAvailability) => void,
): { count: number; oldest: number } | undefined {
  const fresh = freshMs(env);
  const names = pageNamesOf(region);
  const copies: HeldPage[] = [];
  let oldest = Infinity;
  let count = 0;
  for (const sku of skus) {
    const n = pageOf(sku);
    let copy = copies[n];
    if (copy === undefined) {
      copy = held.get(names[n]!);
      if (!copy || now - copy.readAt > fresh) return undefined;
      refreshIfDue(env, ctx, region, n, copy, now, fresh);
      if (copy.readAt < oldest) oldest = copy.readAt;
      copies[n] = copy;
      count++;
    }
    each(sku, copy.skus.get(sku) ?? NEVER_STOCKED);
  }
  return { count, oldest };
}

/**
 * A fresh copy answers now; past its refresh point, between a third and two thirds of its life
 * (or after a write through this isolate), it is refreshed in the background, once per page at a time.
 */
function refreshIfDue(env: Env, ctx: WaitUntil, region: string, n: number, copy: HeldPage, now: number, fresh: number): void {
  if (!(now - copy.readAt > fresh * copy.refreshShare || (copy.refreshAfter !== undefined && now >= copy.refreshAfter))) return;
  if (isLoading(pageName(region, n), now)) return;
  // Another isolate of this data centre may have refreshed it already: the cache first.
  void load(env, ctx, region, n, Math.max(copy.readAt, copy.refreshAfter ?? 0)).catch(() => undefined);
}

const pageNames = new Map<string, string[]>();
/** The names of a region's pages, made once per isolate. */
function pageNamesOf(region: string): string[] {
  let names = pageNames.get(region);
  if (!names) pageNames.set(region, (names = Array.from({ length: PAGES_PER_REGION }, (_, n) => pageName(region, n))));
  return names;
}

/** availabilityOf when some page is not held fresh: those pages loaded (or their last copies), the rest from memory. */
async function availabilityLoaded(env: Env, ctx: WaitUntil, region: string, skus: readonly string[]): Promise<AvailabilityRead> {
  const wanted = new Map<number, string[]>();
  for (const sku of skus) {
    const n = pageOf(sku);
    const list = wanted.get(n);
    if (list) list.push(sku);
    else wanted.set(n, [sku]);
  }
  const sources: Record<PageSource, number> = { memory: 0, cache: 0, page: 0, stale: 0 };
  const now = Date.now();
  const pages = new Map<number, HeldPage>();
  let pending: Promise<void>[] | undefined;
  const fresh = freshMs(env);
  for (const n of wanted.keys()) {
    const name = pageName(region, n);
    const copy = held.get(name);
    if (copy && now - copy.readAt <= fresh) {
      refreshIfDue(env, ctx, region, n, copy, now, fresh);
      pages.set(n, copy);
      sources.memory++;
      continue;
    }
    (pending ??= []).push(
      resolvePage(env, ctx, region, n, now).then(({ page, source }) => {
        pages.set(n, page);
        sources[source]++;
      }),
    );
  }
  if (pending) await Promise.all(pending);
  const items = new Map<string, SkuAvailability>();
  let oldest = Infinity;
  for (const [n, list] of wanted) {
    const page = pages.get(n)!;
    oldest = Math.min(oldest, page.readAt);
    for (const sku of list) items.set(sku, page.skus.get(sku) ?? NEVER_STOCKED);
  }
  return { items, asOf: oldest - PUBLISH_LAG_MS, stale: sources.stale > 0, sources };
}

/** The answer for a SKU absent from its page: shared by every such SKU. */
export const NEVER_STOCKED: SkuAvailability = Object.freeze({ available: 0, version: 0 });

/** A page this isolate does not hold fresh: loaded within the deadline, else the last copy. */
async function resolvePage(env: Env, ctx: WaitUntil, region: string, n: number, now: number): Promise<{ page: HeldPage; source: PageSource }> {
  const name = pageName(region, n);
  if ((backOffUntil.get(name) ?? 0) <= now) {
    const loaded = await withinDeadline(load(env, ctx, region, n, held.get(name)?.readAt ?? 0), deadlineMs(env));
    if (loaded) return loaded;
    backOffUntil.set(name, Date.now() + BACK_OFF_MS);
  }
  const last = held.get(name) ?? (await fromCache(name));
  const age = last ? Date.now() - last.readAt : Infinity;
  if (last && age <= freshMs(env)) return { page: last, source: "memory" }; // refreshed meanwhile
  if (last && age <= staleLimitMs(env)) return { page: last, source: "stale" };
  throw new Problem("stock_unavailable", "Stock levels for this region cannot be read right now; retry shortly", {
    ...(last && { lastKnownAt: new Date(last.readAt).toISOString() }),
  });
}

/**
 * Loads page `n` once per isolate at a time: from the data centre's cache if another isolate put a
 * copy there newer than `newerThan` and still in the first third of its life, else from the page
 * (then puts it in the cache): about one page call per page per data centre per half window.
 */
function load(env: Env, ctx: WaitUntil, region: string, n: number, newerThan: number): Promise<{ page: HeldPage; source: PageSource }> {
  const name = pageName(region, n);
  const running = isLoading(name, Date.now()) ? loading.get(name) : undefined;
  if (running) return running.run.then((page) => ({ page, source: "page" as const }));
  let source: PageSource = "page";
  const run = (async () => {
    // Only a copy newer than ours and in the first third of its life: the others are not read at all.
    const cached = await fromCache(name, (readAt) => readAt > Math.max(newerThan, ignoreCacheBefore) && Date.now() - readAt <= freshMs(env) / 3);
    if (cached) {
      source = "cache";
      return keep(name, cached);
    }
    const askedAt = Date.now();
    const copy = await env.AVAILABILITY_PAGES.get(env.AVAILABILITY_PAGES.idFromName(name)).read();
    const page = keep(name, toHeld(JSON.parse(copy.parts) as PagePart[], askedAt));
    backOffUntil.delete(name);
    // The page's own text goes to the cache as it came: the read time travels in a header.
    const body = copy.parts;
    const maxAge = Math.max(1, Math.ceil(staleLimitMs(env) / 1000));
    const headers = { "content-type": "application/json", "cache-control": `max-age=${maxAge}`, [READ_AT_HEADER]: String(askedAt) };
    ctx.waitUntil(caches.default.put(cacheKey(name), new Response(body, { headers })).catch(() => undefined));
    return page;
  })().finally(() => {
    if (loading.get(name)?.run === run) loading.delete(name);
  });
  loading.set(name, { run, startedAt: Date.now() });
  // Outlives a request that gives up at its deadline, so that the next request can use the answer.
  ctx.waitUntil(run.catch(() => undefined));
  return run.then((page) => ({ page, source }));
}

function isLoading(name: string, now: number): boolean {
  const running = loading.get(name);
  return running !== undefined && now - running.startedAt < ABANDON_MS;
}

/**
 * Keeps the newer of this copy and the one held (a slow call may finish after a faster one). A SKU
 * whose units and version did not change keeps its entry, so what was worked out for it (its piece
 * of the answer, availability-answer.ts) is reused.
 */
function keep(name: string, page: HeldPage): HeldPage {
  const current = held.get(name);
  if (current && current.readAt >= page.readAt) return current;
  if (current) {
    for (const [sku, entry] of page.skus) {
      const before = current.skus.get(sku);
      if (before && before.available === entry.available && before.version === entry.version) page.skus.set(sku, before);
    }
  }
  held.set(name, page);
  return page;
}

/** The data centre's copy of page `name`, if there is one and `wanted(its readAt)`. */
async function fromCache(name: string, wanted: (readAt: number) => boolean = () => true): Promise<HeldPage | undefined> {
  try {
    const hit = await caches.default.match(cacheKey(name));
    if (!hit) return undefined;
    const readAt = Number(hit.headers.get(READ_AT_HEADER));
    if (!(Number.isFinite(readAt) && readAt > 0) || !wanted(readAt)) {
      await hit.body?.cancel();
      return undefined;
    }
    return toHeld((await hit.json()) as PagePart[], readAt);
  } catch {
    return undefined; // the cache is an optimisation; never a reason to fail a read
  }
}

/** Sums each SKU's parts: the SKU object's own units and, if split, its live shards' idle quotas. */
function toHeld(parts: readonly PagePart[], readAt: number): HeldPage {
  const mains = new Map<string, PagePart>();
  for (const p of parts) if (p.part === 0) mains.set(p.sku, p);
  const skus = new Map<string, SkuAvailability>();
  for (const [sku, main] of mains) skus.set(sku, { available: main.available, version: main.version });
  for (const p of parts) {
    const main = p.part > 0 ? mains.get(p.sku) : undefined;
    if (main && p.part < main.shards) skus.get(p.sku)!.available += p.available;
  }
  return { skus, readAt, refreshShare: (1 + Math.random()) / 3 };
}

async function withinDeadline<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([work.catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * After a write through this isolate: refresh the pages of these SKUs (in the background) once the
 * writer's publish has landed, rather than at the end of their freshness window. One page call per
 * page per publish window at most, never one per write. `alsoCache`: the data centre's copies of
 * those pages go too (operator writes, not the reservation hot path).
 */
export function forgetSnapshots(region: string, skus: readonly string[], alsoCache?: WaitUntil): void {
  const at = Date.now() + PUBLISH_WINDOW_MS + 50;
  for (const n of new Set(skus.map(pageOf))) {
    const name = pageName(region, n);
    const copy = held.get(name);
    if (copy && (copy.refreshAfter === undefined || copy.refreshAfter > at)) copy.refreshAfter = at;
    alsoCache?.waitUntil(caches.default.delete(cacheKey(name)).catch(() => false));
  }
}

/**
 * Test hook: this isolate forgets every page it holds (as a new isolate would) and, unless
 * `keepCache`, also takes no copy older than now from the data centre's cache.
 */
export function forgetAllPages(keepCache = false): void {
  held.clear();
  loading.clear();
  backOffUntil.clear();
  if (!keepCache) ignoreCacheBefore = Date.now();
}

export { PAGES_PER_REGION };
