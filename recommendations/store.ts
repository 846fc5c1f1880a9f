// Where recommendation lists live in KV. A build writes every list under its own version, then
// switches one pointer key per region; a reader reads the pointer once and every list from that
// version, so it never mixes two builds.
//
//   recs:{region}:current                        -> Pointer
//   recs:{region}:{version}:popular              -> Scored[]   the region's best-sellers (cold start)
//   recs:{region}:{version}:popular:{category}   -> Scored[]
//   recs:{region}:{version}:item:{sku}           -> ItemEntry  the SKU's card and its bought-together list
//   recs:{region}:{version}:user:{pseudonym}     -> Scored[]   for one consenting shopper
//   recs:{region}:erased:{digest}                -> ISO time   an erasure, announced for an hour
//
// One key per SKU (card and list together), so a build writes 1 + categories + SKUs + shoppers
// keys. A request reads only what it needs, in a bounded number of reads (READ_BOUNDS): the
// pointer; the context's entries, the shopper's list and the best-sellers in one bulk read; the
// popular lists of the context's categories in a second; and the entries of the candidates it
// shows, a page at a time. Each read goes through the isolate's memory first (list-cache.ts), so in
// steady state it reaches KV only for a pointer past its TTL (and, in the background, the
// region's erasure feed).
import type { Scored } from "./co-purchase";
import { hex } from "../workers/hex";

export interface Pointer {
  version: string;
  builtAt: string;
}

/** What a recommendation shows of one SKU: short keys, since every request reads a few. */
export interface Card {
  /** The name in the catalogue's own language. */
  name: string;
  brand: string;
  category: string;
  /** Translations: BCP 47 language tag (lower case) -> name. */
  names?: Record<string, string>;
  /** Market (ISO 3166 country code) -> price in minor units and its currency. */
  prices?: Record<string, { amount: number; currency: string }>;
}

/** What the build stores per SKU the region sells. */
export interface ItemEntry {
  card: Card;
  /** Bought together, best first (empty when the SKU has no co-purchases yet). */
  together: Scored[];
}

export const pointerKey = (region: string) => `recs:${region}:current`;
export const versionPrefix = (region: string, version: string) => `recs:${region}:${version}:`;
export const popularKey = (region: string, version: string) => `${versionPrefix(region, version)}popular`;
export const categoryKey = (region: string, version: string, category: string) => `${versionPrefix(region, version)}popular:${category}`;
export const itemKey = (region: string, version: string, sku: string) => `${versionPrefix(region, version)}item:${sku}`;
/** What sets a shopper's key apart from the version's other keys. */
export const userKeyMarker = ":user:";
/**
 * Where an erasure is announced to every isolate that may hold the shopper's lists: one key per
 * erased shopper, named by their erasure digest (`erasureDigest`, never the pseudonym), kept
 * ERASED_FEED_TTL_S. Isolates list these keys (recommendations/list-cache.ts) rather than read each
 * shopper's list again every 30 s.
 */
export const erasedPrefix = (region: string) => `recs:${region}:erased:`;
export const erasedKey = (region: string, digest: string) => `${erasedPrefix(region)}${digest}`;
/** Far longer than any isolate goes between two looks (list-cache.ts: SHOPPER_TTL_MS). */
export const ERASED_FEED_TTL_S = 3600;
/** An hour of erasures a region's feed lists at most (1,000 keys a page); past that, isolates read shoppers' lists again every 30 s. */
const ERASED_FEED_PAGES = 10;

/** What an erasure remembers of a pseudonym: enough to recognise a late message, not to look it up. */
export async function erasureDigest(pseudonym: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`erased:${pseudonym}`)));
}

/** Announces in `region`'s feed that the shopper with this erasure digest was erased at `at` (ISO time), for ERASED_FEED_TTL_S. */
export function announceErasure(kv: Pick<KVNamespace, "put">, region: string, digest: string, at: string): Promise<void> {
  return kv.put(erasedKey(region, digest), at, { expirationTtl: ERASED_FEED_TTL_S });
}

/** The erasure digests of the shoppers erased in `region` within ERASED_FEED_TTL_S (KV's list, which may lag a write by up to a minute). */
export async function erasedLately(kv: Pick<KVNamespace, "list">, region: string): Promise<Set<string>> {
  const prefix = erasedPrefix(region);
  const digests = new Set<string>();
  let cursor: string | undefined;
  for (let page = 0; page < ERASED_FEED_PAGES; page++) {
    const listed = await kv.list({ prefix, ...(cursor && { cursor }) });
    for (const { name } of listed.keys) digests.add(name.slice(prefix.length));
    if (listed.list_complete) return digests;
    cursor = listed.cursor;
  }
  throw new Error(`more than ${ERASED_FEED_PAGES} pages of erasures in ${region}'s feed`);
}
export const userKey = (region: string, version: string, shopper: string) => `${versionPrefix(region, version)}${userKeyMarker.slice(1)}${shopper}`;

/** A new version id: sorts by time, unique even for two builds in the same millisecond. */
export function newVersion(now = Date.now()): string {
  return `v${now.toString(36)}${crypto.randomUUID().slice(0, 4)}`;
}

/** KV's bulk read takes at most 100 keys. */
export const KV_BULK_READ = 100;
/** The most KV calls one recommendation request makes: pointer, lists, categories, card pages. */
export const READ_BOUNDS = { pointer: 1, lists: 1, categories: 1, cardPages: 2 } as const;

export interface RequestLists {
  version: string | null;
  popular: Scored[];
  popularByCategory: Record<string, Scored[]>;
  forUser: Scored[] | null;
  boughtTogether: Map<string, Scored[]>;
  /** The context's cards (the candidates' are looked up through the view: `loadEntries`, `VersionView.cards`). */
  cards: Map<string, Card>;
}

/** Parsed values of keys (null when absent), in one bulk read at most: recommendations/list-cache.ts. */
export interface Lists {
  json(keys: readonly string[]): Promise<Map<string, unknown>>;
  /** The value of `key` if held in memory (null: known absent), else undefined; no read, no promise. */
  peek?(key: string): unknown;
}

/**
 * One version's lists as a request looks them up, by SKU and by category, kept per isolate beside
 * the raw values the source (list-cache.ts) holds: a version never changes once live, so what was
 * read of it stays right until the region's pointer names another version, which replaces the view.
 * A request then builds no key strings for what the view holds. Shoppers' lists are never kept here
 * (erasure has to reach them: see list-cache.ts). `derived` holds what serve.ts works out from the
 * version's lists alone (rankings without a shopper), with the same lifetime.
 */
export class VersionView {
  popular: Scored[] | undefined;
  /** The popular list as SKU -> baskets, made once. */
  popularIndex: Map<string, number> | undefined;
  readonly entries = new Map<string, ItemEntry | null>();
  readonly categories = new Map<string, Scored[]>();
  /** Each kept value with the number of candidates it holds (what the memory bound counts). */
  readonly derived = new Map<string, { value: unknown; weight: number }>();
  /** The cards of the entries held: a lookup, not a copy (a request reads its candidates' through it). */
  readonly cards = { get: (sku: string): Card | undefined => this.entries.get(sku)?.card };

  constructor(
    readonly region: string,
    readonly version: string,
  ) {}

  /** Bounds memory: a view past this many entries starts again (the source still holds its values). */
  static readonly MAX_ENTRIES = 5_000;

  keepEntry(sku: string, entry: ItemEntry | null) {
    if (this.entries.size >= VersionView.MAX_ENTRIES) this.entries.clear();
    this.entries.set(sku, entry);
  }

  /**
   * Bounds memory: a kept ranking holds every candidate of its context, with what it was made of
   * by position (measured in Node over the bench's 3,347 contexts: about 190 bytes a candidate with
   * 8-byte pointers, so some 28 KB for a context with 150 candidates; workerd's 4-byte pointers
   * make it less), so kept rankings hold at most MAX_DERIVED_WEIGHT candidates in all (under 30 MB),
   * the oldest going first.
   */
  static readonly MAX_DERIVED_WEIGHT = 150_000;
  private derivedWeight = 0;

  /** Keeps `value`, which holds `weight` candidates, evicting the oldest past the bound. */
  keepDerived(key: string, value: unknown, weight: number) {
    this.dropDerived(key);
    for (const oldest of this.derived.keys()) {
      if (this.derivedWeight + weight <= VersionView.MAX_DERIVED_WEIGHT) break;
      this.dropDerived(oldest);
    }
    this.derived.set(key, { value, weight });
    this.derivedWeight += weight;
  }

  private dropDerived(key: string) {
    const kept = this.derived.get(key);
    if (kept === undefined) return;
    this.derived.delete(key);
    this.derivedWeight -= kept.weight;
  }
}

const views = new WeakMap<Lists, Map<string, VersionView>>();

/** The view of `region`'s lists at `version` over this source (a new version replaces the old view). */
export function viewOf(kv: Lists, region: string, version: string): VersionView {
  let byRegion = views.get(kv);
  if (!byRegion) views.set(kv, (byRegion = new Map()));
  let view = byRegion.get(region);
  if (!view || view.version !== version) byRegion.set(region, (view = new VersionView(region, version)));
  return view;
}

const pointerKeys = new Map<string, string>();

/** The region's pointer key, made once per isolate (looked up on every request). */
function pointerName(region: string): string {
  let name = pointerKeys.get(region);
  if (!name) pointerKeys.set(region, (name = pointerKey(region)));
  return name;
}

/** What `readLists` gives: the lists, and the version's view (null when no build is live). */
export type ListsRead = RequestLists & { view: VersionView | null };

const noLists = (): ListsRead => ({ version: null, popular: [], popularByCategory: {}, forUser: null, boughtTogether: new Map(), cards: new Map(), view: null });

/**
 * The version `region` serves, when this isolate holds its pointer: null when no build is live,
 * undefined when the pointer has to be read. No read, no promise.
 */
export function versionInMemory(kv: Lists, region: string): string | null | undefined {
  const pointer = kv.peek?.(pointerName(region)) as Pointer | null | undefined;
  return pointer === undefined ? undefined : (pointer?.version ?? null);
}

/**
 * The lists one request needs: three reads at most (pointer, lists, categories), none for what the
 * source holds in memory. When nothing has to be read (the steady state), the lists come back at
 * once rather than as a promise: an await costs a busy isolate more than this whole lookup.
 */
export function readLists(kv: Lists, region: string, request: { shopper?: string; context: readonly string[] }): ListsRead | Promise<ListsRead> {
  const name = pointerName(region);
  const pointer = kv.peek?.(name) as Pointer | null | undefined;
  if (pointer !== undefined) return listsAt(kv, region, request, pointer);
  return kv.json([name]).then((read) => listsAt(kv, region, request, read.get(name) as Pointer | null));
}

/** readLists once the pointer is known: the context's entries, the shopper's list and the best-sellers. */
function listsAt(kv: Lists, region: string, request: { shopper?: string; context: readonly string[] }, pointer: Pointer | null): ListsRead | Promise<ListsRead> {
  if (!pointer) return noLists();
  const v = pointer.version;
  const view = viewOf(kv, region, v);
  const keys: string[] = [];
  if (view.popular === undefined) keys.push(popularKey(region, v));
  for (const sku of request.context) if (!view.entries.has(sku)) keys.push(itemKey(region, v, sku));
  const shopperKey = request.shopper ? userKey(region, v, request.shopper) : undefined;
  const shopperList = shopperKey ? kv.peek?.(shopperKey) : undefined;
  if (shopperKey && shopperList === undefined) keys.push(shopperKey);
  if (!keys.length) return listsFromView(kv, region, request, view, shopperKey ? (shopperList as Scored[] | null) : null);
  return kv.json(keys).then((values) => {
    if (view.popular === undefined) {
      view.popular = (values.get(popularKey(region, v)) as Scored[] | null) ?? [];
      view.popularIndex = new Map(view.popular.map((p) => [p.sku, p.score]));
    }
    for (const sku of request.context) if (!view.entries.has(sku)) view.keepEntry(sku, (values.get(itemKey(region, v, sku)) as ItemEntry | null) ?? null);
    return listsFromView(kv, region, request, view, shopperKey ? ((shopperList !== undefined ? shopperList : values.get(shopperKey)) as Scored[] | null) : null);
  });
}

/** The request's lists from the view (which holds its context's entries), reading any category list it lacks. */
function listsFromView(
  kv: Lists,
  region: string,
  request: { context: readonly string[] },
  view: VersionView,
  forUser: Scored[] | null,
): ListsRead | Promise<ListsRead> {
  const lists: RequestLists & { view: VersionView } = { ...noLists(), version: view.version, popular: view.popular!, forUser, view };
  for (const sku of request.context) {
    const entry = view.entries.get(sku);
    if (!entry) continue;
    lists.boughtTogether.set(sku, entry.together);
    lists.cards.set(sku, entry.card);
  }
  const categories: string[] = [];
  for (const card of lists.cards.values()) if (!categories.includes(card.category)) categories.push(card.category);
  const withCategories = () => {
    for (const c of categories) lists.popularByCategory[c] = view.categories.get(c)!;
    return lists;
  };
  const unread = categories.filter((c) => !view.categories.has(c));
  if (!unread.length) return withCategories();
  return kv.json(unread.map((c) => categoryKey(region, view.version, c))).then((byCategory) => {
    for (const c of unread) view.categories.set(c, (byCategory.get(categoryKey(region, view.version, c)) as Scored[] | null) ?? []);
    return withCategories();
  });
}

/** A SKU's card when the view holds its entry (null: the region has none), undefined when it would have to be read. */
export function cardHeld(view: VersionView, sku: string): Card | null | undefined {
  const entry = view.entries.get(sku);
  return entry === undefined ? undefined : (entry?.card ?? null);
}

/**
 * Reads the entries of `skus` the view does not hold yet (at most 100, one bulk read) into it;
 * undefined, with nothing to wait for, when it holds them all (the steady state).
 */
export function loadEntries(kv: Lists, view: VersionView, skus: readonly string[]): Promise<void> | undefined {
  let missing: string[] | undefined;
  for (const s of skus) if (!view.entries.has(s) && (missing ??= []).length < KV_BULK_READ) missing.push(s);
  if (!missing) return undefined;
  const unread = missing;
  return kv.json(unread.map((s) => itemKey(view.region, view.version, s))).then((values) => {
    for (const s of unread) view.keepEntry(s, (values.get(itemKey(view.region, view.version, s)) as ItemEntry | null) ?? null);
  });
}

/** Deletes every key of one version (listing by prefix); returns how many. */
export async function deleteVersion(kv: KVNamespace, region: string, version: string): Promise<number> {
  let deleted = 0;
  let cursor: string | undefined;
  do {
    const page = await kv.list({ prefix: versionPrefix(region, version), ...(cursor && { cursor }) });
    await Promise.all(page.keys.map((k) => kv.delete(k.name)));
    deleted += page.keys.length;
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return deleted;
}
