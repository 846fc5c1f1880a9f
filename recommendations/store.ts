// Where recommendation lists live in KV. A build writes every list under its own version, then
// switches one pointer key per region; a reader reads the pointer once and every list from that
// version, so it never mixes two builds.
//
//   recs:{region}:current                        -> Pointer
//   recs:{region}:{version}:catalog              -> CatalogSnapshot (what the region sells)
//   recs:{region}:{version}:popular              -> { [category]: Scored[] }
//   recs:{region}:{version}:item:{sku}           -> Scored[]   bought together
//   recs:{region}:{version}:user:{pseudonym}     -> Scored[]   for one consenting shopper
import type { Scored } from "./co-purchase";

export interface Pointer {
  version: string;
  builtAt: string;
}

/** sku -> [name, brand, category]: short, since every recommendation request reads it. */
export type CatalogSnapshot = Record<string, [name: string, brand: string, category: string]>;
export type PopularLists = Record<string, Scored[]>;

export const pointerKey = (region: string) => `recs:${region}:current`;
export const versionPrefix = (region: string, version: string) => `recs:${region}:${version}:`;
export const catalogKey = (region: string, version: string) => `${versionPrefix(region, version)}catalog`;
export const popularKey = (region: string, version: string) => `${versionPrefix(region, version)}popular`;
export const itemKey = (region: string, version: string, sku: string) => `${versionPrefix(region, version)}item:${sku}`;
export const userKey = (region: string, version: string, shopper: string) => `${versionPrefix(region, version)}user:${shopper}`;

/** A new version id: sorts by time, unique even for two builds in the same millisecond. */
export function newVersion(now = Date.now()): string {
  return `v${now.toString(36)}${crypto.randomUUID().slice(0, 4)}`;
}

/** Everything a recommendation request needs from one version, in two KV round trips. */
export async function readLists(
  kv: KVNamespace,
  region: string,
  request: { shopper?: string; context: readonly string[] },
): Promise<{
  version: string | null;
  catalog: CatalogSnapshot;
  popular: PopularLists;
  forUser: Scored[] | null;
  boughtTogether: Map<string, Scored[]>;
}> {
  const pointer = await kv.get<Pointer>(pointerKey(region), "json");
  if (!pointer) return { version: null, catalog: {}, popular: {}, forUser: null, boughtTogether: new Map() };
  const v = pointer.version;
  const keys = [catalogKey(region, v), popularKey(region, v), ...request.context.map((sku) => itemKey(region, v, sku))];
  if (request.shopper) keys.push(userKey(region, v, request.shopper));
  const values = await getMany(kv, keys);
  const boughtTogether = new Map<string, Scored[]>();
  for (const sku of request.context) {
    const list = values.get(itemKey(region, v, sku)) as Scored[] | null | undefined;
    if (list) boughtTogether.set(sku, list);
  }
  return {
    version: v,
    catalog: (values.get(catalogKey(region, v)) as CatalogSnapshot | null) ?? {},
    popular: (values.get(popularKey(region, v)) as PopularLists | null) ?? {},
    forUser: request.shopper ? ((values.get(userKey(region, v, request.shopper)) as Scored[] | null) ?? null) : null,
    boughtTogether,
  };
}

/** KV's bulk read takes at most 100 keys; a request needs far fewer, but stay within it. */
async function getMany(kv: KVNamespace, keys: string[]): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for (let i = 0; i < keys.length; i += 100) {
    const page = await kv.get(keys.slice(i, i + 100), "json");
    for (const [k, v] of page) out.set(k, v);
  }
  return out;
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
