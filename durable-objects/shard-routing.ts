// Which object sells a reservation line of a (possibly) sharded SKU-region, and how K changes.
// Shard 0 is the main SKU-region object; shards 1..K-1 are StockShard objects. A line goes to the
// shard its reservation id hashes to; when that shard is dry (after asking the main object for
// more quota) the line goes to the main object; when the main object is dry too but has units lent
// to shards, those shards give their idle units back and the main object decides. So a line is
// refused only when neither its shard nor the main object (after pulling idle quota back) can
// hold it: never while idle units sit in some other shard.
import type { Env } from "../workers/env";
import { MAX_SHARDS } from "./escrow";
import { inventoryName, type ConfirmResult, type HoldResult, type ReleaseResult } from "./inventory";
import { shardName, type ShardHoldResult } from "./stock-shard";

export type LineHold = HoldResult | ShardHoldResult;

export type Placement =
  /** `shard` holds the line if `result.ok`; `maybeHeldAt` lists objects that may hold it. */
  | { result: LineHold; shard: number; shards: number; maybeHeldAt: number[] }
  /** A call failed: its object may or may not have placed the hold. */
  | { error: unknown; shards: number | null; maybeHeldAt: number[] };

const PLACED_NOTHING: readonly string[] = ["insufficient_stock", "idempotency_key_reused", "shopper_limit", "shopper_required"];

export function mainStub(env: Env, region: string, sku: string) {
  return env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName(region, sku)));
}

export function shardStub(env: Env, region: string, sku: string, index: number) {
  return env.STOCK_SHARDS.get(env.STOCK_SHARDS.idFromName(shardName(region, sku, index)));
}

/** The shard a reservation's line prefers: spread by the reservation id, stable across retries. */
export function preferredShard(holdId: string, shards: number): number {
  if (shards <= 1) return 0;
  let h = 2166136261; // FNV-1a: cheap, and the id is already a digest
  for (let i = 0; i < holdId.length; i++) h = Math.imul(h ^ holdId.charCodeAt(i), 16777619);
  return (h >>> 0) % shards;
}

/** The platform marks an object that cannot keep up with `.overloaded`; such calls must not be retried. */
export function isOverloaded(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { overloaded?: unknown }).overloaded === true;
}

/** The next K when a SKU-region's object reports overload. */
export function grownShardCount(current: number): number {
  return Math.min(Math.max(1, current) * 2, MAX_SHARDS);
}

/**
 * Holds a line. `pinned`: an earlier attempt may have left this line's hold in that object, so it
 * is asked again there and nowhere else (a refusal there refuses the line): a reservation id never
 * lives in two objects for one line.
 */
export async function holdLine(
  env: Env, region: string, sku: string, holdId: string, qty: number, expiresAt: number, shards: number, pinned?: number, shopper?: string, trace?: string,
): Promise<Placement> {
  const maybeHeldAt: number[] = [];
  let known: number | null = null;
  const attempt = async (index: number): Promise<LineHold> => {
    if (!maybeHeldAt.includes(index)) maybeHeldAt.push(index);
    const result = index === 0
      ? await mainStub(env, region, sku).hold(sku, region, holdId, qty, expiresAt, shopper, trace)
      : await shardStub(env, region, sku, index).hold(sku, region, index, holdId, qty, expiresAt);
    known = "shards" in result && result.shards !== undefined ? result.shards : index === 0 ? 1 : known;
    // A refused call placed nothing there (nor did a key that belongs to another reservation, nor
    // a drop rule's refusal); everything else (held, or a replayed outcome) may have.
    if (!result.ok && PLACED_NOTHING.includes(result.code)) maybeHeldAt.splice(maybeHeldAt.indexOf(index), 1);
    return result;
  };
  try {
    if (pinned !== undefined) return { result: await attempt(pinned), shard: pinned, shards: known ?? shards, maybeHeldAt };
    const preferred = preferredShard(holdId, shards);
    if (preferred !== 0) {
      const result = await attempt(preferred);
      if (result.ok || result.code !== "insufficient_stock") return { result, shard: preferred, shards: known ?? shards, maybeHeldAt };
    }
    let result = await attempt(0);
    if (!result.ok && result.code === "insufficient_stock" && "lentTo" in result && result.lentTo?.length) {
      // Idle units may sit in other shards: bring them back, then let the main object decide.
      const back = await Promise.allSettled(result.lentTo.map((i) => shardStub(env, region, sku, i).returnIdle()));
      const returned = back.reduce((n, b) => n + (b.status === "fulfilled" ? b.value.returned : 0), 0);
      if (returned > 0) result = await attempt(0);
    }
    return { result, shard: 0, shards: known ?? shards, maybeHeldAt };
  } catch (error) {
    return { error, shards: known, maybeHeldAt };
  }
}

export function confirmAt(env: Env, region: string, sku: string, shard: number, holdId: string, trace?: string): Promise<ConfirmResult> {
  return shard === 0 ? mainStub(env, region, sku).confirm(holdId, trace) : shardStub(env, region, sku, shard).confirm(holdId, false, trace);
}

/** A cart line's first step: a shard hands its hold over to the main object as prepared. */
export function prepareAt(env: Env, region: string, sku: string, shard: number, holdId: string, trace?: string): Promise<ConfirmResult> {
  return shard === 0 ? mainStub(env, region, sku).prepare(holdId, trace) : shardStub(env, region, sku, shard).confirm(holdId, true, trace);
}

/** A prepared line lives in the main object whichever shard held it, so it is committed there. */
export function commitAt(env: Env, region: string, sku: string, holdId: string, trace?: string): Promise<ConfirmResult> {
  return mainStub(env, region, sku).commit(holdId, trace);
}

export function releaseAt(env: Env, region: string, sku: string, shard: number, holdId: string, trace?: string): Promise<ReleaseResult> {
  return shard === 0 ? mainStub(env, region, sku).release(holdId, trace) : shardStub(env, region, sku, shard).release(holdId);
}

/** A prepared line lives in the main object whichever shard held it, so it is reverted there. */
export function revertAt(env: Env, region: string, sku: string, holdId: string, trace?: string) {
  return mainStub(env, region, sku).revertConfirmation(holdId, trace);
}

/**
 * Sets K on the main object, then tells shards 1..K-1 they sell and shards K.. that they do not
 * (they give their idle units back; their open holds count until they end), and gives each shard
 * in service an even share of the free units. Safe to repeat: an
 * operator who saw it fail half-way sends the same request again.
 */
export async function applyShardCount(
  env: Env, region: string, sku: string, k: number, cause: "operator" | "overload" = "operator", ifCurrent?: number,
): Promise<{ shards: number; previous: number; changed: boolean; returned: number }> {
  const set = await mainStub(env, region, sku).setShards(sku, region, k, cause, ifCurrent);
  const { grants } = await mainStub(env, region, sku).quotaGrants();
  const highest = Math.max(set.shards, set.previous, ...grants.map((g) => g.shard + 1));
  const calls = [];
  for (let i = 1; i < highest; i++) {
    const shard = shardStub(env, region, sku, i);
    calls.push(i < set.shards ? shard.enable(sku, region, i).then(() => 0) : shard.retire(sku, region, i).then((r) => r.returned));
  }
  const returned = (await Promise.all(calls)).reduce((a, b) => a + b, 0);
  // Lend each shard in service an even share of what is free now, so it sells from its first
  // request (shards also refill on demand, and the main object keeps the remainder).
  const { available } = await mainStub(env, region, sku).snapshot(sku, region);
  const share = Math.floor(available / set.shards);
  if (set.shards > 1 && share > 0) {
    await Promise.all(Array.from({ length: set.shards - 1 }, (_, i) => shardStub(env, region, sku, i + 1).topUp(sku, region, i + 1, share)));
  }
  return { ...set, returned };
}
