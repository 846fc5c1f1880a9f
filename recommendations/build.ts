// The recommendation build for one region: order history from the Postgres system of record in,
// versioned lists in KV out. Runs from the cron trigger in production and from
// POST /v1/admin/{region}/recommendations/builds (what `npm run recs:build` calls) locally.
//
//   1. read the region's catalog, its confirmed baskets and which consenting shopper made which
//   2. compute bought-together lists, popular items per category, and a list per consenting shopper
//   3. record the version in Postgres (so an erasure can find it), write every list under it
//   4. switch the pointer; then drop lists of shoppers erased meanwhile, and delete old versions
import { and, eq, isNotNull, isNull, lt, ne, notInArray, sql } from "drizzle-orm";
import type { BuildSummary } from "../schema/contracts";
import { catalogItems, recommendationBuilds, reservationLedger, shopperErasures, shopperOrders } from "../schema/tables";
import type { Db } from "../system-of-record/projection";
import { basketCounts, byScore, type Scored, together } from "./co-purchase";
import { forgetPointer } from "./list-cache";
import { LIST_LENGTH, SHIPPED_MODEL, shippedLists } from "./shipped";

export { LIST_LENGTH };
import { announceErasure, type Card, categoryKey, deleteVersion, erasureDigest, type ItemEntry, itemKey, newVersion, pointerKey, type Pointer, popularKey, userKey } from "./store";

const UNDONE = ["reverted", "rejected", "timed_out"];

export type BuildPhase = "reading" | "computing" | "writing" | "switching" | "cleaning";
export type BuildProgress = (p: { phase: BuildPhase; done: number; total: number }) => void;

/** Lists outlive their build by at most this long even if no later build deletes them. */
const VERSION_TTL_SECONDS = 30 * 24 * 3600;
/** A build that never switched the pointer and is older than this died: its keys can go. */
const ABANDONED_BUILD_MS = 3600_000;
/** Erasure tombstones are kept longer than a message can wait on the queue (at most 14 days). */
export const ERASURE_MEMORY_DAYS = 15;
const WRITE_CONCURRENCY = 16;

/**
 * Keys one Worker build may write: with the deletion of an older version of the same size and the
 * reads around them, within the 1,000 KV calls an invocation may make.
 */
export const MAX_KEYS_PER_WORKER_BUILD = 450;

/** The region's lists do not fit one Worker invocation: nothing was written. */
export class BuildTooLarge extends Error {}

export async function buildRecommendations(
  db: Db,
  kv: KVNamespace,
  region: string,
  onProgress: BuildProgress = () => {},
  maxKeys = MAX_KEYS_PER_WORKER_BUILD,
): Promise<BuildSummary> {
  const started = Date.now();
  onProgress({ phase: "reading", done: 0, total: 3 });
  const catalogRows = await db
    .select({
      sku: catalogItems.sku,
      name: catalogItems.name,
      brand: catalogItems.brand,
      category: catalogItems.category,
      names: catalogItems.names,
      prices: catalogItems.prices,
    })
    .from(catalogItems)
    .where(eq(catalogItems.region, region));
  onProgress({ phase: "reading", done: 1, total: 3 });
  // A sale is a confirmed line that was not undone (reverted, or released after its warehouse
  // rejected it or never answered); later saga states (dispatched, allocated, shipped) count too.
  const lines = await db
    .select({ reservationId: reservationLedger.reservationId, sku: reservationLedger.sku })
    .from(reservationLedger)
    .where(and(eq(reservationLedger.region, region), isNotNull(reservationLedger.confirmedAt), notInArray(reservationLedger.status, UNDONE)));
  onProgress({ phase: "reading", done: 2, total: 3 });
  const links = await db
    .select({ reservationId: shopperOrders.reservationId, shopper: shopperOrders.shopper })
    .from(shopperOrders)
    .where(eq(shopperOrders.region, region));
  onProgress({ phase: "reading", done: 3, total: 3 });

  onProgress({ phase: "computing", done: 0, total: 1 });
  const catalog: Record<string, Card> = Object.fromEntries(
    catalogRows.map((c): [string, Card] => [
      c.sku,
      {
        name: c.name,
        brand: c.brand,
        category: c.category,
        ...(Object.keys(c.names).length && { names: c.names }),
        ...(Object.keys(c.prices).length && { prices: c.prices }),
      },
    ]),
  );
  const { baskets, itemLists, popular, byCategory, userLists } = computeLists(catalog, lines, links);
  onProgress({ phase: "computing", done: 1, total: 1 });

  // One key per list; a Worker invocation may make 1,000 KV calls, and deleting an older version
  // of the same size later costs as many again: beyond the budget, build offline instead.
  const keys = 1 + Object.keys(byCategory).length + Object.keys(catalog).length + userLists.size;
  if (keys > maxKeys) {
    throw new BuildTooLarge(
      `${region} needs ${keys} KV keys (1 + ${Object.keys(byCategory).length} categories + ${Object.keys(catalog).length} SKUs + ` +
        `${userLists.size} shoppers); a Worker build writes at most ${maxKeys}. Run npm run recs:offline-build (docs/recommendations.md, "Scale")`,
    );
  }
  const version = newVersion();
  await db.insert(recommendationBuilds).values({ region, version, startedAt: new Date(started) });
  const writes = listWrites(region, version, catalog, { itemLists, popular, byCategory, userLists });
  let written = 0;
  let bytes = 0;
  onProgress({ phase: "writing", done: 0, total: writes.length });
  await inParallel(writes, WRITE_CONCURRENCY, async ([key, value]) => {
    await kv.put(key, value, { expirationTtl: VERSION_TTL_SECONDS });
    bytes += key.length + value.length;
    onProgress({ phase: "writing", done: ++written, total: writes.length });
  });

  onProgress({ phase: "switching", done: 0, total: 1 });
  const previous = await kv.get<Pointer>(pointerKey(region), "json");
  const pointer: Pointer = { version, builtAt: new Date().toISOString() };
  await kv.put(pointerKey(region), JSON.stringify(pointer));
  forgetPointer(region); // readers in this isolate switch now, the others within POINTER_TTL_MS
  onProgress({ phase: "switching", done: 1, total: 1 });

  onProgress({ phase: "cleaning", done: 0, total: 1 });
  // Erasures that ran while this build wrote may have missed its lists: they go now.
  const remaining = new Set(
    (await db.selectDistinct({ shopper: shopperOrders.shopper }).from(shopperOrders).where(eq(shopperOrders.region, region))).map((r) => r.shopper),
  );
  const erasedMeanwhile = [...userLists.keys()].filter((s) => !remaining.has(s));
  await Promise.all(erasedMeanwhile.map((s) => kv.delete(userKey(region, version, s))));
  // Announced again (the erasure's own announcement may have expired during a long build), so that
  // an isolate that read one of those lists since the switch forgets it (list-cache.ts).
  const now = new Date().toISOString();
  await Promise.all(erasedMeanwhile.map(async (s) => announceErasure(kv, region, await erasureDigest(s), now)));
  // The previous version stays one build longer for readers that read the old pointer a moment
  // ago (KV caches reads at the edge for up to a minute); everything older goes.
  const deletedVersions = await deleteOldVersions(db, kv, region, [version, previous?.version]);
  await db
    .delete(shopperErasures)
    .where(and(eq(shopperErasures.region, region), lt(shopperErasures.erasedAt, sql`now() - make_interval(days => ${ERASURE_MEMORY_DAYS})`)));
  onProgress({ phase: "cleaning", done: 1, total: 1 });

  const summary: BuildSummary = {
    region,
    version,
    baskets: baskets.size,
    users: userLists.size - erasedMeanwhile.length,
    items: Object.keys(catalog).length,
    model: itemLists.fallback ? "co-purchase (catalogue above the dense limit)" : SHIPPED_MODEL.kind,
    lists: { boughtTogether: itemLists.size, forYou: userLists.size - erasedMeanwhile.length, popular: Object.keys(byCategory).length },
    keys: writes.length,
    bytes,
    deletedVersions,
    ms: Date.now() - started,
  };
  await db
    .update(recommendationBuilds)
    .set({ swappedAt: new Date(), summary })
    .where(and(eq(recommendationBuilds.region, region), eq(recommendationBuilds.version, version)));
  return summary;
}

/** Every list of one region from its catalogue, confirmed lines and consenting shoppers' orders. */
export function computeLists(
  catalog: Readonly<Record<string, Card>>,
  lines: readonly { reservationId: string; sku: string }[],
  links: readonly { reservationId: string; shopper: string }[],
) {
  // Only what the region sells is ever recommended, or counted.
  const baskets = new Map<string, string[]>();
  for (const line of lines) {
    if (!catalog[line.sku]) continue;
    const basket = baskets.get(line.reservationId) ?? [];
    basket.push(line.sku);
    baskets.set(line.reservationId, basket);
  }
  // The model `npm run recs:eval` chose (recommendations/shipped.ts); sparse co-purchase lists
  // above the dense size limit.
  const itemLists = shippedLists([...baskets.values()], { ...SHIPPED_MODEL, params: { ...SHIPPED_MODEL.params, neighbours: LIST_LENGTH.boughtTogether } } as typeof SHIPPED_MODEL);
  const counts = [...basketCounts([...baskets.values()])].map(([sku, n]) => ({ sku, score: n })).sort(byScore);
  const popular = counts.slice(0, LIST_LENGTH.popular);
  const byCategory: Record<string, Scored[]> = {};
  for (const item of counts) {
    const list = (byCategory[catalog[item.sku]!.category] ??= []);
    if (list.length < LIST_LENGTH.popularInCategory) list.push(item);
  }
  const histories = new Map<string, Map<string, number>>();
  for (const { reservationId, shopper } of links) {
    const basket = baskets.get(reservationId);
    if (!basket) continue; // not confirmed (yet), or nothing the region still sells
    const history = histories.get(shopper) ?? new Map<string, number>();
    for (const sku of basket) history.set(sku, (history.get(sku) ?? 0) + 1);
    histories.set(shopper, history);
  }
  const userLists = new Map<string, Scored[]>();
  for (const [shopper, history] of histories) {
    const list = together(itemLists, [...history].map(([sku, weight]) => ({ sku, weight })), LIST_LENGTH.forYou);
    if (list.length) userLists.set(shopper, list.map(({ sku, score }) => ({ sku, score })));
  }
  return { baskets, itemLists, popular, byCategory, userLists };
}

/** The KV keys and values of one version (the pointer not among them). */
export function listWrites(
  region: string,
  version: string,
  catalog: Readonly<Record<string, Card>>,
  lists: Pick<ReturnType<typeof computeLists>, "itemLists" | "popular" | "byCategory" | "userLists">,
): [string, string][] {
  return [
    [popularKey(region, version), JSON.stringify(lists.popular)],
    ...Object.entries(lists.byCategory).map(([category, list]): [string, string] => [categoryKey(region, version, category), JSON.stringify(list)]),
    ...Object.entries(catalog).map(([sku, card]): [string, string] => {
      const entry: ItemEntry = { card, together: lists.itemLists.get(sku) ?? [] };
      return [itemKey(region, version, sku), JSON.stringify(entry)];
    }),
    ...[...lists.userLists].map(([shopper, list]): [string, string] => [userKey(region, version, shopper), JSON.stringify(list)]),
  ];
}

async function deleteOldVersions(db: Db, kv: KVNamespace, region: string, keep: (string | undefined)[]): Promise<string[]> {
  const live = await db
    .select({ version: recommendationBuilds.version, startedAt: recommendationBuilds.startedAt, swappedAt: recommendationBuilds.swappedAt })
    .from(recommendationBuilds)
    .where(and(eq(recommendationBuilds.region, region), isNull(recommendationBuilds.deletedAt)));
  const old = live.filter(
    (b) => !keep.includes(b.version) && (b.swappedAt !== null || b.startedAt.getTime() < Date.now() - ABANDONED_BUILD_MS),
  );
  for (const b of old) {
    await deleteVersion(kv, region, b.version);
    await db
      .update(recommendationBuilds)
      .set({ deletedAt: new Date() })
      .where(and(eq(recommendationBuilds.region, region), eq(recommendationBuilds.version, b.version)));
  }
  return old.map((b) => b.version);
}

async function inParallel<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
