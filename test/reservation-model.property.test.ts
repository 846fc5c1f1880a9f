// Model-based property for the whole reservation path, across objects. Random sequences of shopper
// commands (single lines and 2-line carts, retries with the same Idempotency-Key, double submits,
// confirms with fresh, repeated and foreign keys, releases, a confirm racing a release), time passing (holds that lapse, in one line of a
// cart or all of it) and faults (an answer lost after the callee committed, every object reset
// while a create or confirm is in flight, a coordinator dying between its lines, a SKU object
// failing during a create, a SKU split into shards mid-flow) drive the public HTTP API and the
// objects' RPC of three small SKUs, each run in a coordinator of its own. Proves:
// - no oversell, in any object, after any command: held + confirmed (+ lent) <= onHand - safety;
// - every answer stays true: a create that answered 201 replays it, a confirm that answered 200
//   is exactly one sale per line (one hold_confirmed, then one dispatch), a refused confirm or a
//   release is never a sale, and a held reservation nobody released or let lapse confirms;
// - carts are atomic: once settled, every line of a cart is a sale or none is, and nothing is
//   dispatched or left prepared for a cart that did not become a sale;
// - every object's state equals the replay of its log, loans equal the shards' quotas, and once
//   every reservation is released nothing stays held anywhere.
import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, inject, it } from "vitest";
import type { InventoryObject, StoredEvent, Totals } from "../durable-objects/inventory";
import { CONFIRM_GRACE_MS, coordinatorName, type ReservationObject, type ReservationRecord } from "../durable-objects/reservation";
import { mainStub, preferredShard, shardStub } from "../durable-objects/shard-routing";
import type { ShardEvent, StockShard } from "../durable-objects/stock-shard";
import { digest } from "../workers/auth";
import { hex } from "../workers/hex";
import { requestHash } from "../workers/routes/common";
import {
  adminHeaders, call, confirm, events, release, reservationIdFor, reserve, setStock, STOREFRONT_KEY, stockState, type Sent,
} from "./client";
import { eventually } from "./db";

const REGION = "eu";
const WAREHOUSE = "eu-ams";
const SKUS = 3;
const TTL_SECONDS = 300; // the API's default: nothing lapses by itself during a run
/** How long a stalled object answers nothing (a coordinator dies within this window). */
const STALL_MS = 400;

const main = (sku: string) => mainStub(env, REGION, sku);
const shard = (sku: string, i: number) => shardStub(env, REGION, sku, i);
const coordinatorOf = (id: string) => env.RESERVATIONS.get(env.RESERVATIONS.idFromName(coordinatorName(REGION, id)));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const setShards = (sku: string, count: number) => call("PUT", `/v1/admin/${REGION}/stock/${sku}/shards`, { headers: adminHeaders(), body: { count } });

// ------------------------------------------------------------------ the model

type Line = { sku: string; qty: number };
/** Lines as generated: [SKU index, qty]. */
type Spec = [number, number][];

interface Res {
  label: string;
  key: string;
  /** The reservation's digest: a cart's id; a single line's id is `${digest}.${sku}` (or the digest, when a coordinator keeps it). */
  digest: string;
  lines: Line[];
  cart: boolean;
  /** The first 201 this key got: every later 201 must be the same reservation. */
  created?: { id: string; token: string };
  /** The shopper has the token (false: the create's answer was lost, or never came). */
  tokenKnown: boolean;
  confirmKeys: string[];
  /** Confirm keys certainly stored for this reservation (their confirm answered). */
  claimedKeys: string[];
  /** "yes": a confirm answered 200; "no": one answered 409/410. */
  confirmed: "yes" | "no" | "unknown";
  /** A release answered 200: never a sale. */
  released: boolean;
  releaseTried: boolean;
  /** Some hold of it was moved into the past (or a fault may have cut it short). */
  lapsed: boolean;
  /** The last create got no answer, or a 5xx: the shopper does not know whether it holds anything. */
  unsure: boolean;
}

interface World {
  skus: string[];
  /** The coordinator every reservation of this run lands in (its carts meet there). */
  prefix: string;
  scope: string;
  keys: number;
  tag: string;
  res: Res[];
  trace: string[];
}

type Cmd = fc.AsyncCommand<World, World>;

let runs = 0;

type Stock = { onHand: number; safetyStock: number }[];

async function newWorld(stock: Stock): Promise<World> {
  const run = runs++;
  const tag = `M${Date.now().toString(36)}${run}`.toUpperCase();
  const skus = Array.from({ length: SKUS }, (_, i) => `${tag}-${"ABC"[i]}`);
  for (const [i, sku] of skus.entries()) {
    const put = await setStock(REGION, sku, { warehouse: WAREHOUSE, ...stock[i]! });
    expect(put.status).toBe(200);
  }
  const scope = hex(await digest(STOREFRONT_KEY)).slice(0, 16);
  const w: World = { skus, prefix: ((run * 37 + 11) % 256).toString(16).padStart(2, "0"), scope, keys: 0, tag, res: [], trace: [] };
  return w;
}

/** A fresh Idempotency-Key whose reservation lands in the run's coordinator. */
async function freshRes(w: World, lines: Line[]): Promise<Res> {
  for (;;) {
    const key = `${w.tag}-key-${w.keys++}`;
    const id = await requestHash(`${REGION}:${w.scope}:${key}`);
    if (!id.startsWith(w.prefix)) continue;
    if (w.res.length === 0) expect(id, "the test derives ids as the route does").toBe(await reservationIdFor(REGION, key));
    const r: Res = {
      label: `R${w.res.length}[${lines.map((l) => `${l.sku.slice(-1)}x${l.qty}`).join(",")}]`,
      key, digest: id, lines, cart: lines.length > 1, tokenKnown: false, confirmKeys: [], claimedKeys: [], confirmed: "unknown", released: false, releaseTried: false, lapsed: false, unsure: false,
    };
    w.res.push(r);
    return r;
  }
}

const linesOf = (w: World, spec: Spec): Line[] => spec.map(([i, qty]) => ({ sku: w.skus[i]!, qty }));
const specText = (spec: Spec) => spec.map(([i, q]) => `${"ABC"[i]}x${q}`).join("+");
/** Hold ids a line of `r` may have in its SKU's objects. */
const holdIdsOf = (r: Res, sku: string) => (r.cart ? [r.digest] : [`${r.digest}.${sku}`, r.digest]);
const pick = <T>(items: T[], n: number): T | undefined => (items.length ? items[n % items.length] : undefined);
const confirmable = (w: World) => w.res.filter((r) => r.created && r.tokenKnown);
const say = (w: World, line: string) => void w.trace.push(line);
const show = (a: Sent | null) => (a ? `${a.status} ${JSON.stringify(a.body)}` : "no answer");

/** Runs a request that a fault may cut short: null when it never answered. */
const settleOf = (p: Promise<Sent>): Promise<Sent | null> => p.catch(() => null);

function createRequest(r: Res) {
  return reserve(REGION, r.lines, { key: r.key });
}

async function freeUnits(sku: string): Promise<number> {
  const s = (await stockState(REGION, sku)).body;
  return s.available + (s.shardStates ?? []).reduce((n: number, st: any) => n + (st.retired ? 0 : st.available), 0);
}

async function recordCreate(w: World, r: Res, ans: Sent | null, how: { fresh: boolean; faulty: boolean }): Promise<void> {
  const ctx = `${r.label} create → ${show(ans)}\n${w.trace.join("\n")}`;
  r.unsure = !ans || ans.status >= 500;
  if (!ans) return expect(how.faulty, `a create without a fault answers: ${ctx}`).toBe(true);
  if (r.created && !how.faulty) expect(ans.status, `a create that answered 201 replays it (same key and body): ${ctx}`).toBe(201);
  if (ans.status === 201) {
    const seen = { id: ans.body.id as string, token: ans.body.token as string };
    if (r.created) expect(seen, `a retry with the same key and body replays the reservation: ${ctx}`).toEqual(r.created);
    else {
      expect(r.cart ? [r.digest] : [`${r.digest}.${r.lines[0]!.sku}`, r.digest], `the id derives from the key: ${ctx}`).toContain(seen.id);
      r.created = seen;
    }
    expect(ans.body.lines, ctx).toEqual(r.lines);
    r.tokenKnown = true;
    // However many attempts it took, each line is held (or sold) in one object only.
    for (const l of r.lines) {
      const live = (await holdsOf(l.sku, holdIdsOf(r, l.sku))).filter((h) => !ENDED.includes(h.status));
      expect(live.length, `a line lives in one object (${l.sku}: ${JSON.stringify(live)}): ${ctx}`).toBeLessThanOrEqual(1);
    }
    return;
  }
  if (ans.status === 409) {
    expect(how.fresh ? ["insufficient_stock"] : ["insufficient_stock", "reservation_abandoned"], ctx).toContain(ans.body.code);
    if (how.fresh && !how.faulty && ans.body.code === "insufficient_stock") {
      // A refusal is true when made: some refused line has fewer free units, in all its objects.
      const short = await Promise.all((ans.body.lines as { sku: string; requested: number }[]).map(async (l) => (await freeUnits(l.sku)) < l.requested));
      expect(short.some(Boolean), `a line is refused only when its units are not free anywhere: ${ctx}`).toBe(true);
    }
    return;
  }
  expect(how.faulty ? [500, 503] : [], `unexpected answer to a create: ${ctx}`).toContain(ans.status);
}

/** A confirm that answered (other than a crash) stored its key for this reservation. */
/**
 * A confirm's key is surely claimed once the route answered from past the claim: any answer below
 * 500. A 503 may come from before it (stock_unavailable: the write deadline answers at once while
 * the region is not answering), so such a key is not used as another reservation's foreign key.
 */
function claimed(r: Res, key: string, ans: Sent | null): void {
  if (ans && ans.status < 500 && !r.claimedKeys.includes(key)) r.claimedKeys.push(key);
}

function recordConfirm(w: World, r: Res, ans: Sent | null, how: { faulty: boolean; foreign?: boolean }): void {
  const ctx = `${r.label} confirm → ${show(ans)}\n${w.trace.join("\n")}`;
  if (!ans) return void expect(how.faulty, `a confirm without a fault answers: ${ctx}`).toBe(true);
  if (how.foreign) return void expect(ans.status, `a confirm key of another reservation is refused: ${ctx}`).toBe(422);
  if (ans.status === 200) {
    expect(ans.body.status, ctx).toBe("confirmed");
    expect(r.confirmed, `a reservation whose confirm was refused never becomes a sale: ${ctx}`).not.toBe("no");
    expect(r.released, `a released reservation never becomes a sale: ${ctx}`).toBe(false);
    r.confirmed = "yes";
    return;
  }
  if (ans.status === 409 || ans.status === 410) {
    expect(ans.body.code, ctx).toBe(ans.status === 409 ? "reservation_released" : "hold_expired");
    expect(r.confirmed, `a sale stays a sale: ${ctx}`).not.toBe("yes");
    expect(r.lapsed || r.releaseTried, `a held reservation nobody released or let lapse confirms: ${ctx}`).toBe(true);
    r.confirmed = "no";
    return;
  }
  expect(how.faulty ? [500, 503] : [], `unexpected answer to a confirm: ${ctx}`).toContain(ans.status);
}

function recordRelease(w: World, r: Res, ans: Sent): void {
  const ctx = `${r.label} release → ${show(ans)}\n${w.trace.join("\n")}`;
  if (ans.status === 200) {
    expect(["released", "expired"], ctx).toContain(ans.body.status);
    expect(r.confirmed, `a sale cannot be released: ${ctx}`).not.toBe("yes");
    r.released = true;
    return;
  }
  expect(ans.status, `unexpected answer to a release: ${ctx}`).toBe(409);
  expect(ans.body.code, ctx).toBe("already_confirmed");
  // A single line says so only when it is a sale (a cart also while its confirm is under way).
  if (!r.cart) expect(r.confirmed, `a single line refused a confirm is no sale: ${ctx}`).not.toBe("no");
}

// ------------------------------------------------------------------ looking inside the objects

/** Shards 1..k-1 of a SKU (k = 1: not split). */
async function shardCount(sku: string): Promise<number> {
  const { shards, grants } = await main(sku).quotaGrants();
  return Math.max(shards, ...grants.map((g) => g.shard + 1));
}

/** Hold statuses that no longer hold or sell anything (a shard's transferred line lives on in the main object). */
const ENDED = ["released", "expired", "reverted", "transferred"];

type HoldSeen = { where: number; id: string; qty: number; status: string };

async function holdsOf(sku: string, ids: string[]): Promise<HoldSeen[]> {
  const k = await shardCount(sku);
  const marks = ids.map(() => "?").join(",");
  const found: HoldSeen[] = [];
  const rows = await runInDurableObject(main(sku), (_: InventoryObject, state) =>
    state.storage.sql.exec<{ id: string; qty: number; status: string }>(`SELECT id, qty, status FROM holds WHERE id IN (${marks})`, ...ids).toArray());
  found.push(...rows.map((h) => ({ ...h, where: 0 })));
  for (let i = 1; i < k; i++) {
    const inShard = await runInDurableObject(shard(sku, i), (_: StockShard, state) =>
      state.storage.sql.exec<{ id: string; qty: number; status: string }>(`SELECT id, qty, status FROM holds WHERE id IN (${marks})`, ...ids).toArray());
    found.push(...inShard.map((h) => ({ ...h, where: i })));
  }
  return found;
}

/** Moves the deadline of these holds into the past, in every object of the SKU, as if time had passed. */
async function lapse(sku: string, ids: string[]): Promise<void> {
  const k = await shardCount(sku);
  const marks = ids.map(() => "?").join(",");
  const past = Date.now() - 1;
  await runInDurableObject(main(sku), (_: InventoryObject, state) => {
    state.storage.sql.exec(`UPDATE holds SET expires_at = ? WHERE id IN (${marks}) AND status = 'held'`, past, ...ids);
  });
  for (let i = 1; i < k; i++) {
    await runInDurableObject(shard(sku, i), (_: StockShard, state) => {
      state.storage.sql.exec(`UPDATE holds SET expires_at = ? WHERE id IN (${marks}) AND status = 'held'`, past, ...ids);
    });
  }
}

/** The coordinator's record of a reservation expires now too (so its confirm is refused up front). */
async function backdateRecord(id: string): Promise<void> {
  await runInDurableObject(coordinatorOf(id), (_: ReservationObject, state) => {
    const row = state.storage.sql.exec<{ record: string }>("SELECT record FROM reservations WHERE id = ?", id).toArray()[0];
    if (!row) return;
    const r = JSON.parse(row.record) as ReservationRecord;
    state.storage.sql.exec("UPDATE reservations SET record = ? WHERE id = ?", JSON.stringify({ ...r, expiresAt: Date.now() - 1 }), id);
  });
}

/** Makes a SKU object fail every hold (it takes itself for another SKU), as a broken object would. */
async function breakObject(sku: string): Promise<void> {
  await runInDurableObject(main(sku), (obj: InventoryObject, state) => {
    state.storage.sql.exec("UPDATE sku_region SET sku = ?", `${sku}-BROKEN`);
    (obj as unknown as { ledger: { identity: { sku: string; region: string } } }).ledger.identity = { sku: `${sku}-BROKEN`, region: REGION };
  });
}

async function repairObject(sku: string): Promise<void> {
  await runInDurableObject(main(sku), (obj: InventoryObject, state) => {
    state.storage.sql.exec("UPDATE sku_region SET sku = ?", sku);
    (obj as unknown as { ledger: { identity: { sku: string; region: string } } }).ledger.identity = { sku, region: REGION };
  });
}

/** Blocks an object's input for `ms`: it answers nothing meanwhile, as a busy object would. */
function stall(sku: string, ms = STALL_MS): Promise<unknown> {
  return runInDurableObject(main(sku), (_: InventoryObject, state) => state.blockConcurrencyWhile(() => sleep(ms))).catch(() => undefined);
}

/** Polls for at most `ms` (a step that may not happen at all, e.g. a refused line). */
async function within(ms: number, check: () => Promise<boolean>): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return true;
    await sleep(10);
  }
  return false;
}

/**
 * Runs the work that is due, as time passing would: the coordinator's carts (abandoned creates,
 * stalled confirms, commits not yet heard), then every SKU object (expiries, outbox) and shard
 * (hand-overs, transfers). A few rounds, as one step's work can make another's due.
 */
async function settle(w: World, rounds = 2): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const ids = w.res.map((r) => r.digest);
    if (ids.length) {
      const stub = coordinatorOf(ids[0]!);
      const due = await runInDurableObject(stub, (_: ReservationObject, state) => {
        let n = 0;
        for (const id of ids) n += state.storage.sql.exec("UPDATE reservations SET due_at = ? WHERE id = ? AND due_at IS NOT NULL", Date.now() - 1, id).rowsWritten;
        return n;
      });
      if (due > 0) await runInDurableObject(stub, (obj: ReservationObject) => obj.alarm());
    }
    for (const sku of w.skus) {
      await runInDurableObject(main(sku), (obj: InventoryObject) => obj.alarm());
      const k = await shardCount(sku);
      for (let i = 1; i < k; i++) await runInDurableObject(shard(sku, i), (obj: StockShard) => obj.alarm());
    }
  }
}

/** Invariant 1, after every command: no object, nor all of a SKU's objects together, holds more than it has. */
async function checkBooks(w: World, after: string): Promise<void> {
  for (const sku of w.skus) {
    const res = await stockState(REGION, sku);
    expect(res.status).toBe(200);
    const s = res.body;
    const shards: { held: number; transferring: number; quota: number }[] = s.shardStates ?? [];
    const limit = s.onHand - s.safetyStock;
    const where = `${sku} after ${after}: ${JSON.stringify(s)}\n${w.trace.join("\n")}`;
    expect(s.held + s.confirmed + (s.granted ?? 0), `held + confirmed + lent <= onHand - safetyStock in the main object, ${where}`).toBeLessThanOrEqual(limit);
    expect(s.held + s.confirmed + shards.reduce((n, st) => n + st.held, 0), `held anywhere + confirmed <= onHand - safetyStock, ${where}`).toBeLessThanOrEqual(limit);
    for (const st of shards) expect(st.held + st.transferring, `a shard sells within its quota, ${where}`).toBeLessThanOrEqual(st.quota);
    expect(
      shards.reduce((n, st) => n + st.quota, 0),
      `the shards' quotas are lent by the main object (or in hand-over), ${where}`,
    ).toBeLessThanOrEqual((s.granted ?? 0) + shards.reduce((n, st) => n + st.transferring, 0));
  }
}

// ------------------------------------------------------------------ replaying the logs (invariant 4)

function replayMain(sku: string, log: StoredEvent[]) {
  const warehouses = new Map<string, number>();
  const holds = new Map<string, { qty: number; status: string }>();
  const grants = new Map<number, number>();
  let safetyStock = 0, granted = 0, shards = 1;
  let totals: Totals = { onHand: 0, held: 0, confirmed: 0, safetyStock: 0, available: 0 };
  for (const [i, e] of log.entries()) {
    const p = e.payload as Record<string, any>;
    const at = `${sku} event ${e.seq} (${e.type} ${p.holdId ?? ""})`;
    expect(e.seq, `${at}: the sequence is gap-free`).toBe(i + 1);
    const move = (from: string[], to: string) => {
      const h = holds.get(p.holdId);
      expect(from, `${at}: hold is ${h?.status ?? "unknown"}, cannot become ${to}`).toContain(h?.status);
      h!.status = to;
    };
    const fromShard = (status: string) => {
      expect(holds.has(p.holdId), `${at}: a shard's line arrives once`).toBe(false);
      holds.set(p.holdId, { qty: p.qty, status });
      granted -= p.qty;
      grants.set(p.shard, (grants.get(p.shard) ?? 0) - p.qty);
    };
    switch (e.type) {
      case "stock_set":
        warehouses.set(p.warehouse, p.onHand);
        safetyStock = p.safetyStock;
        break;
      case "stock_counted":
      case "stock_received":
      case "stock_damaged":
        warehouses.set(p.warehouse, p.onHand);
        break;
      case "shards_set":
        shards = p.shards;
        break;
      case "quota_granted":
      case "quota_returned": {
        const qty = e.type === "quota_granted" ? p.qty : -p.qty;
        granted += qty;
        grants.set(p.shard, (grants.get(p.shard) ?? 0) + qty);
        break;
      }
      case "hold_placed":
        expect(holds.has(p.holdId), `${at}: a hold id is placed once`).toBe(false);
        holds.set(p.holdId, { qty: p.qty, status: "held" });
        break;
      case "hold_prepared":
        if (p.shard !== undefined) fromShard("prepared");
        else move(["held"], "prepared");
        break;
      case "hold_confirmed":
        if (p.shard !== undefined && holds.get(p.holdId)?.status !== "prepared") fromShard("confirmed");
        else move(["held", "prepared"], "confirmed");
        break;
      case "hold_released":
      case "hold_expired":
        move(["held"], e.type === "hold_released" ? "released" : "expired");
        break;
      case "confirmation_reverted":
        move(["prepared"], "reverted");
        break;
      case "sale_released":
        move(["confirmed"], "released");
        break;
      case "shipped":
        move(["confirmed"], "shipped");
        warehouses.set(p.warehouse, p.onHand);
        break;
    }
    const sum = (...statuses: string[]) => [...holds.values()].filter((h) => statuses.includes(h.status)).reduce((n, h) => n + h.qty, 0);
    const onHand = [...warehouses.values()].reduce((a, b) => a + b, 0);
    const held = sum("held");
    const confirmed = sum("prepared", "confirmed");
    expect(granted, `${at}: lent units stay >= 0`).toBeGreaterThanOrEqual(0);
    if (e.type === "hold_placed" || e.type === "quota_granted") {
      expect(held + confirmed + granted, `${at}: oversold`).toBeLessThanOrEqual(onHand - safetyStock);
    }
    totals = {
      onHand, held, confirmed, safetyStock,
      available: Math.max(0, onHand - held - confirmed - granted - safetyStock),
      ...((shards > 1 || granted > 0) && { granted }),
    };
    expect(p.after, `${at}: the recorded totals are the replay's`).toEqual(totals);
  }
  return { holds, grants, totals, version: log.length };
}

function replayShard(name: string, log: ShardEvent[]) {
  let quota = 0, held = 0, transferring = 0;
  for (const [i, e] of log.entries()) {
    const at = `${name} event ${e.seq} (${e.type})`;
    expect(e.seq, `${at}: the sequence is gap-free`).toBe(i + 1);
    const qty = Number(e.payload.qty ?? 0);
    switch (e.type) {
      case "quota_received": quota += qty; break;
      case "quota_returned": quota -= qty; break;
      case "hold_placed": held += qty; break;
      case "hold_released":
      case "hold_expired": held -= qty; break;
      case "hold_transferring": held -= qty; transferring += qty; break;
      case "hold_transferred": transferring -= qty; quota -= qty; break;
      case "hold_conflict": transferring -= qty; break;
    }
    expect(held + transferring, `${at}: sold beyond its quota`).toBeLessThanOrEqual(quota);
    expect(e.payload.after, `${at}: the recorded totals are the replay's`).toEqual({ quota, held, transferring, available: quota - held - transferring });
  }
  return { quota, held, transferring };
}

// ------------------------------------------------------------------ the final checks

interface LogFacts {
  confirmed: Map<string, number>; // `${holdId}|${sku}` -> hold_confirmed events
  reverted: Set<string>;
  dispatched: Map<string, number>;
}

async function logFacts(w: World): Promise<LogFacts> {
  const facts: LogFacts = { confirmed: new Map(), reverted: new Set(), dispatched: new Map() };
  for (const sku of w.skus) {
    const res = await events(REGION, sku, 0, 500);
    expect(res.status).toBe(200);
    expect(res.body.nextAfter, "the whole log fits one page").toBeNull();
    for (const e of res.body.events as { type: string; payload: { holdId?: string } }[]) {
      const key = `${e.payload.holdId}|${sku}`;
      if (e.type === "hold_confirmed") facts.confirmed.set(key, (facts.confirmed.get(key) ?? 0) + 1);
      if (e.type === "confirmation_reverted") facts.reverted.add(key);
      if (e.type === "dispatched") facts.dispatched.set(key, (facts.dispatched.get(key) ?? 0) + 1);
    }
  }
  return facts;
}

/** Invariants 2 and 3: the lines that are sales, each exactly once, by whole carts, as answered. */
async function checkSales(w: World): Promise<{ holdId: string; sku: string; qty: number }[]> {
  const facts = await logFacts(w);
  const trace = w.trace.join("\n");
  const sold: { holdId: string; sku: string; qty: number }[] = [];
  const accounted = new Set<string>();
  for (const r of w.res) {
    const perLine = r.lines.map((l) => {
      const ids = holdIdsOf(r, l.sku);
      ids.forEach((id) => accounted.add(`${id}|${l.sku}`));
      const counts = ids.map((id) => facts.confirmed.get(`${id}|${l.sku}`) ?? 0);
      const n = counts.reduce((a, b) => a + b, 0);
      expect(n, `${r.label}: a line is sold at most once (${l.sku})\n${trace}`).toBeLessThanOrEqual(1);
      for (const id of ids) {
        const k = `${id}|${l.sku}`;
        if (facts.confirmed.has(k)) expect(facts.reverted.has(k), `${r.label}: a committed line is never reverted\n${trace}`).toBe(false);
      }
      return { line: l, holdId: ids[counts.findIndex((c) => c > 0)] ?? null };
    });
    const isSale = perLine.some((p) => p.holdId !== null);
    if (isSale) {
      expect(perLine.every((p) => p.holdId !== null), `${r.label}: every line of a sale is sold, or none (${JSON.stringify(perLine)})\n${trace}`).toBe(true);
      for (const p of perLine) sold.push({ holdId: p.holdId!, sku: p.line.sku, qty: p.line.qty });
    }
    if (r.confirmed === "yes") {
      expect(isSale, `${r.label}: a confirm that answered 200 is a sale\n${trace}`).toBe(true);
      for (const p of perLine) {
        const sale = await main(p.line.sku).sale(p.holdId!);
        const stands = sale && (["confirmed", "shipped"].includes(sale.status) || (sale.status === "released" && ["rejected", "timed_out"].includes(sale.allocation ?? "")));
        expect(stands, `${r.label}: its sale is in ${p.line.sku}'s main object: ${JSON.stringify(sale)}\n${trace}`).toBeTruthy();
        expect(sale!.qty).toBe(p.line.qty);
      }
    }
    if (r.confirmed === "no" || r.released) expect(isSale, `${r.label}: refused or released, so never a sale\n${trace}`).toBe(false);
  }
  for (const key of facts.confirmed.keys()) expect(accounted.has(key), `a sale of no reservation: ${key}\n${trace}`).toBe(true);
  for (const key of facts.dispatched.keys()) expect(facts.confirmed.has(key), `dispatched although not a sale: ${key}\n${trace}`).toBe(true);
  // Settled: no line waits between prepare and commit, no shard hand-over is under way.
  for (const sku of w.skus) {
    const prepared = await runInDurableObject(main(sku), (_: InventoryObject, state) =>
      state.storage.sql.exec<{ id: string }>("SELECT id FROM holds WHERE status = 'prepared'").toArray());
    expect(prepared, `${sku}: a settled cart leaves no line prepared\n${trace}`).toEqual([]);
  }
  return sold;
}

/** Invariants 4 and 5: every object equals the replay of its log; loans equal quotas. */
async function checkLogs(w: World): Promise<void> {
  for (const sku of w.skus) {
    const m = main(sku);
    const replayed = replayMain(sku, await m.events(0, 10_000));
    const recorded = await m.recordedState(0);
    expect(recorded.totals, `${sku}: the last event's totals are the object's`).toEqual(replayed.totals);
    const { sku: _s, region: _r, version, shards: _k, ...now } = await m.snapshot(sku, REGION);
    expect({ ...now, version }, `${sku}: the object's state equals the replay of its log`).toEqual({ ...replayed.totals, version: replayed.version });
    for (const [id, h] of replayed.holds) {
      const sale = await m.sale(id);
      expect(sale?.status, `${sku}: hold ${id} is as its log says`).toBe(h.status);
    }
    const k = await shardCount(sku);
    const grants = (await m.quotaGrants()).grants;
    for (let i = 1; i < k; i++) {
      const replayedShard = replayShard(`${sku}#${i}`, await shard(sku, i).events(0, 10_000));
      const state = await shard(sku, i).state();
      expect(state, `${sku}#${i} equals the replay of its log`).toMatchObject(replayedShard);
      expect(state, `${sku}#${i}: settled, nothing in transfer`).toMatchObject({ transferring: 0, pendingTransfers: 0 });
      const lent = grants.find((g) => g.shard === i)?.granted ?? 0;
      expect(lent, `${sku}: the main object's loan to shard ${i} equals its quota`).toBe(state.quota);
      expect(replayed.grants.get(i) ?? 0, `${sku}: the log's loan to shard ${i} equals its quota`).toBe(state.quota);
    }
  }
}

/** Every sale reaches its warehouse exactly once; nothing else does. */
async function checkDispatch(w: World, sold: { holdId: string; sku: string }[]): Promise<void> {
  const trace = w.trace.join("\n");
  const facts = await eventually(async () => {
    const f = await logFacts(w);
    return sold.every((s) => f.dispatched.has(`${s.holdId}|${s.sku}`)) ? f : undefined;
  }, `every sale dispatched (${sold.length})`, 60_000);
  const deliveries = (await (await fetch(`${inject("warehouseUrls")[WAREHOUSE]}/deliveries`)).json()) as { reservationId: string; sku: string }[];
  const ours = deliveries.filter((d) => w.skus.includes(d.sku));
  for (const s of sold) {
    expect(facts.dispatched.get(`${s.holdId}|${s.sku}`), `${s.holdId} ${s.sku}: one dispatched event\n${trace}`).toBe(1);
    expect(ours.filter((d) => d.reservationId === s.holdId && d.sku === s.sku), `${s.holdId} ${s.sku}: one delivery at ${WAREHOUSE}\n${trace}`).toHaveLength(1);
  }
  expect(ours.length, `deliveries only for sales\n${trace}`).toBe(sold.length);
}

/**
 * The shopper comes back for every reservation (a create whose answer was lost is retried with its
 * key) and releases it; once settled, nothing is held in any object and the sold units are exactly
 * the sales.
 */
async function releaseEverything(w: World): Promise<void> {
  for (const r of w.res) {
    if (!r.tokenKnown) {
      const ans = await settleOf(createRequest(r));
      say(w, `final: retry ${r.label} → ${ans?.status}`);
      await recordCreate(w, r, ans, { fresh: false, faulty: false });
    }
    if (r.created && r.tokenKnown) {
      r.releaseTried = true;
      const ans = await release(REGION, r.created.id, r.created.token);
      say(w, `final: release ${r.label} → ${ans.status}`);
      recordRelease(w, r, ans);
    }
  }
  await settle(w);
}

async function checkNothingHeld(w: World, sold: { holdId: string; sku: string; qty: number }[]): Promise<void> {
  const trace = w.trace.join("\n");
  for (const sku of w.skus) {
    const s = (await stockState(REGION, sku)).body;
    const shards: { held: number; transferring: number }[] = s.shardStates ?? [];
    const leftovers = await holdsOf(sku, w.res.flatMap((r) => holdIdsOf(r, sku)));
    const where = `${sku}: ${JSON.stringify(s)} holds ${JSON.stringify(leftovers)}\n${trace}`;
    expect(s.held + shards.reduce((n, st) => n + st.held + st.transferring, 0), `every reservation released: nothing held anywhere, ${where}`).toBe(0);
    expect(s.confirmed, `the units sold are exactly the sales, ${where}`).toBe(sold.filter((x) => x.sku === sku).reduce((n, x) => n + x.qty, 0));
  }
}

// ------------------------------------------------------------------ the commands

class Create implements Cmd {
  constructor(readonly spec: Spec, readonly answerLost: boolean) {}
  check = () => true;
  async run(w: World) {
    const r = await freshRes(w, linesOf(w, this.spec));
    const ans = await settleOf(createRequest(r));
    say(w, `${this} as ${r.label} → ${show(ans)}`);
    await recordCreate(w, r, ans, { fresh: true, faulty: false });
    if (this.answerLost) r.tokenKnown = false;
  }
  toString() { return `create ${specText(this.spec)}${this.answerLost ? " (answer lost)" : ""}`; }
}

class RetryCreate implements Cmd {
  constructor(readonly n: number) {}
  check = (w: Readonly<World>) => w.res.length > 0;
  async run(w: World) {
    // Mostly the latest create whose outcome the shopper does not know (the retry that matters most).
    const unsure = w.res.filter((u) => u.unsure);
    const r = this.n % 3 !== 0 && unsure.length ? unsure.at(-1)! : pick(w.res, this.n)!;
    const ans = await settleOf(createRequest(r));
    say(w, `retry create ${r.label} (same key and body) → ${show(ans)}`);
    await recordCreate(w, r, ans, { fresh: false, faulty: false });
  }
  toString() { return `retry create #${this.n}`; }
}

class Confirm implements Cmd {
  constructor(readonly n: number, readonly keyMode: "fresh" | "same" | "foreign") {}
  check = () => true;
  async run(w: World) {
    // A fresh confirm mostly goes to a reservation that is not a sale yet.
    const open = confirmable(w).filter((c) => c.confirmed !== "yes");
    const r = pick(this.keyMode === "fresh" && open.length ? open : confirmable(w), this.n);
    if (!r) return say(w, `${this}: nothing to confirm`);
    const others = w.res.filter((o) => o !== r).flatMap((o) => o.claimedKeys);
    let key = crypto.randomUUID();
    let kind: "fresh" | "repeated" | "foreign" = "fresh";
    if (this.keyMode === "foreign" && others.length > 0) [key, kind] = [pick(others, this.n)!, "foreign"];
    else if (this.keyMode === "same" && r.confirmKeys.length > 0) [key, kind] = [r.confirmKeys.at(-1)!, "repeated"];
    else r.confirmKeys.push(key);
    const foreign = kind === "foreign";
    const before = foreign ? await logFacts(w) : null;
    const ans = await settleOf(confirm(REGION, r.created!.id, r.created!.token, key));
    say(w, `confirm ${r.label} with a ${kind} key → ${show(ans)}`);
    if (!foreign) claimed(r, key, ans);
    recordConfirm(w, r, ans, { faulty: false, foreign });
    if (before) expect((await logFacts(w)).confirmed, "a refused confirm key sells nothing").toEqual(before.confirmed);
  }
  toString() { return `confirm #${this.n} (${this.keyMode} key)`; }
}

class Release implements Cmd {
  constructor(readonly n: number) {}
  check = () => true;
  async run(w: World) {
    const r = pick(confirmable(w), this.n);
    if (!r) return say(w, `${this}: nothing to release`);
    r.releaseTried = true;
    const ans = await release(REGION, r.created!.id, r.created!.token);
    say(w, `release ${r.label} → ${show(ans)}`);
    recordRelease(w, r, ans);
  }
  toString() { return `release #${this.n}`; }
}

class Lapse implements Cmd {
  constructor(readonly n: number, readonly which: "all" | 0 | 1) {}
  check = (w: Readonly<World>) => w.res.length > 0;
  async run(w: World) {
    // Mostly a reservation the shopper may still confirm (lapsing a refused one is less telling).
    const r = pick(confirmable(w).length ? confirmable(w) : w.res, this.n)!;
    const lines = this.which === "all" ? r.lines : [r.lines[this.which % r.lines.length]!];
    for (const l of lines) await lapse(l.sku, holdIdsOf(r, l.sku));
    // Time passed for the whole reservation: its coordinator's record expires too.
    if (this.which === "all" || !r.cart) await backdateRecord(r.digest);
    r.lapsed = true;
    say(w, `lapse ${r.label} ${this.which === "all" ? "all lines" : `line ${lines[0]!.sku}`}`);
  }
  toString() { return `lapse #${this.n} ${this.which === "all" ? "all lines" : `line ${this.which}`}`; }
}

/** The shopper submits the same create twice at once (a double click): one reservation, one answer. */
class DoubleSubmit implements Cmd {
  constructor(readonly spec: Spec) {}
  check = () => true;
  async run(w: World) {
    const r = await freshRes(w, linesOf(w, this.spec));
    const [x, y] = await Promise.all([settleOf(createRequest(r)), settleOf(createRequest(r))]);
    say(w, `${this} as ${r.label} → ${show(x)} and ${show(y)}`);
    expect(x?.status, `both submits answer alike\n${w.trace.join("\n")}`).toBe(y?.status);
    await recordCreate(w, r, x, { fresh: true, faulty: false });
    await recordCreate(w, r, y, { fresh: true, faulty: false });
  }
  toString() { return `double submit of create ${specText(this.spec)}`; }
}

/** A confirm and a release of the same reservation race: at most one of them wins. */
class ConfirmReleaseRace implements Cmd {
  constructor(readonly n: number) {}
  check = () => true;
  async run(w: World) {
    const r = pick(confirmable(w), this.n);
    if (!r) return say(w, `${this}: nothing to confirm`);
    const key = crypto.randomUUID();
    r.confirmKeys.push(key);
    r.releaseTried = true;
    const [c, rel] = await Promise.all([
      settleOf(confirm(REGION, r.created!.id, r.created!.token, key)),
      release(REGION, r.created!.id, r.created!.token),
    ]);
    say(w, `confirm and release ${r.label} at once → confirm ${show(c)}, release ${show(rel)}`);
    claimed(r, key, c);
    recordConfirm(w, r, c, { faulty: false });
    recordRelease(w, r, rel);
  }
  toString() { return `confirm and release #${this.n} at once`; }
}

/** A create's earlier attempt placed one line's hold and its answer was lost; the shopper retries. */
class LostLineAnswer implements Cmd {
  constructor(readonly spec: Spec, readonly line: number) {}
  check = () => true;
  async run(w: World) {
    const r = await freshRes(w, linesOf(w, this.spec));
    const l = r.lines[this.line]!;
    // Where the first attempt's coordinator would have held it: the main object, while not split.
    let injected = "skipped (split)";
    if ((await shardCount(l.sku)) === 1) {
      const placed = await main(l.sku).hold(l.sku, REGION, r.digest, l.qty, Date.now() + TTL_SECONDS * 1000 + CONFIRM_GRACE_MS);
      injected = placed.ok ? "held" : placed.code;
    }
    const ans = await settleOf(createRequest(r));
    say(w, `${this} as ${r.label}: first attempt ${injected}; create → ${show(ans)}`);
    await recordCreate(w, r, ans, { fresh: true, faulty: false });
    if (ans?.status !== 201) {
      const left = (await holdsOf(l.sku, [r.digest])).filter((h) => h.status === "held");
      expect(left, `a refused cart leaves nothing held, not even a line of a lost attempt\n${w.trace.join("\n")}`).toEqual([]);
    }
  }
  toString() { return `lost answer for line ${this.line} of create ${specText(this.spec)}`; }
}

/** One line's SKU object fails while a cart is made (503); it is repaired, and the shopper retries later. */
class BrokenDuringCreate implements Cmd {
  constructor(readonly spec: Spec, readonly line: number) {}
  check = () => true;
  async run(w: World) {
    const r = await freshRes(w, linesOf(w, this.spec));
    const broken = r.lines[this.line]!.sku;
    await breakObject(broken);
    const ans = await settleOf(createRequest(r));
    await repairObject(broken);
    say(w, `${this} as ${r.label} → ${show(ans)}`);
    // A split SKU's line may be held by a stock shard, which does not need the failing object.
    if ((await shardCount(broken)) === 1) expect(ans?.status, `a cart with a failing object is not made, and can be retried: ${show(ans)}\n${w.trace.join("\n")}`).toBe(503);
    await recordCreate(w, r, ans, { fresh: true, faulty: true });
  }
  toString() { return `line ${this.line}'s object fails during create ${specText(this.spec)}`; }
}

/** Every object is reset, idle or while a create or confirm is in flight. */
class Reset implements Cmd {
  constructor(readonly during: { kind: "idle" } | { kind: "create"; spec: Spec; delayMs: number } | { kind: "confirm"; n: number; delayMs: number }) {}
  check = () => true;
  async run(w: World) {
    const d = this.during;
    if (d.kind === "idle") {
      await abortAllDurableObjects();
      return say(w, "reset every object");
    }
    if (d.kind === "create") {
      const r = await freshRes(w, linesOf(w, d.spec));
      const creating = settleOf(createRequest(r));
      await sleep(d.delayMs);
      await abortAllDurableObjects();
      const ans = await creating;
      say(w, `reset every object ${d.delayMs} ms into create ${r.label} → ${show(ans)}`);
      return recordCreate(w, r, ans, { fresh: true, faulty: true });
    }
    const r = pick(confirmable(w), d.n);
    if (!r) return say(w, `${this}: nothing to confirm`);
    const key = crypto.randomUUID();
    r.confirmKeys.push(key);
    const confirming = settleOf(confirm(REGION, r.created!.id, r.created!.token, key));
    await sleep(d.delayMs);
    await abortAllDurableObjects();
    const ans = await confirming;
    say(w, `reset every object ${d.delayMs} ms into confirm ${r.label} → ${show(ans)}`);
    claimed(r, key, ans);
    recordConfirm(w, r, ans, { faulty: true });
  }
  toString() {
    const d = this.during;
    return d.kind === "idle" ? "reset" : d.kind === "create" ? `reset ${d.delayMs} ms into create ${specText(d.spec)}` : `reset ${d.delayMs} ms into confirm #${d.n}`;
  }
}

/** The coordinator dies between a cart's two holds: line b's object is stalled, line a is held. */
class DieMidCreate implements Cmd {
  constructor(readonly spec: Spec) {}
  check = () => true;
  async run(w: World) {
    const r = await freshRes(w, linesOf(w, this.spec));
    const [a, b] = r.lines as [Line, Line];
    const stalled = stall(b.sku);
    await sleep(20);
    const creating = settleOf(createRequest(r));
    const held = await within(STALL_MS - 150, async () => (await holdsOf(a.sku, [r.digest])).some((h) => h.status === "held"));
    await abortAllDurableObjects();
    const ans = await creating;
    await stalled;
    say(w, `coordinator dies mid-create ${r.label} (line a ${held ? "held" : "not held"}) → ${show(ans)}`);
    await recordCreate(w, r, ans, { fresh: true, faulty: true });
  }
  toString() { return `coordinator dies mid-create ${specText(this.spec)}`; }
}

/** The coordinator dies mid-confirm: line a is prepared, line b's object is stalled. */
class DieMidConfirm implements Cmd {
  constructor(readonly n: number) {}
  check = () => true;
  async run(w: World) {
    const r = pick(confirmable(w).filter((c) => c.cart), this.n);
    if (!r) return say(w, `${this}: no cart to confirm`);
    const [a, b] = r.lines as [Line, Line];
    const stalled = stall(b.sku);
    await sleep(20);
    const key = crypto.randomUUID();
    r.confirmKeys.push(key);
    const confirming = settleOf(confirm(REGION, r.created!.id, r.created!.token, key));
    const prepared = await within(STALL_MS - 150, async () => ["prepared", "confirmed"].includes((await main(a.sku).sale(r.digest))?.status ?? ""));
    await abortAllDurableObjects();
    const ans = await confirming;
    await stalled;
    say(w, `coordinator dies mid-confirm ${r.label} (line a ${prepared ? "prepared" : "not prepared"}) → ${show(ans)}`);
    claimed(r, key, ans);
    recordConfirm(w, r, ans, { faulty: true });
  }
  toString() { return `coordinator dies mid-confirm #${this.n}`; }
}

/** A SKU is split in 2 mid-flow: `hot` picks one that a create the shopper is unsure of may hold. */
class Split implements Cmd {
  constructor(readonly sku: number, readonly hot: boolean) {}
  check = () => true;
  async run(w: World) {
    const unsure = w.res.filter((u) => u.unsure).at(-1);
    const sku = this.hot && unsure ? unsure.lines[this.sku % unsure.lines.length]!.sku : w.skus[this.sku]!;
    const res = await setShards(sku, 2);
    say(w, `split ${sku.slice(-1)} in 2 → ${show(res)}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  }
  toString() { return this.hot ? `split a SKU of the latest unsure create (line ${this.sku})` : `split ${"ABC"[this.sku]} in 2`; }
}

class Settle implements Cmd {
  check = () => true;
  async run(w: World) {
    await settle(w);
    say(w, "settle (due alarms run)");
  }
  toString() { return "settle"; }
}

/** Every command is followed by the cheap invariant. */
const checked = (c: Cmd): Cmd => ({
  check: (w) => c.check(w),
  async run(w, real) {
    await c.run(w, real);
    await checkBooks(w, c.toString());
  },
  toString: () => c.toString(),
});

const qty = fc.integer({ min: 1, max: 3 });
const skuIndex = fc.integer({ min: 0, max: SKUS - 1 });
const single: fc.Arbitrary<Spec> = fc.tuple(skuIndex, qty).map(([i, q]) => [[i, q]]);
const cart: fc.Arbitrary<Spec> = fc
  .tuple(fc.uniqueArray(skuIndex, { minLength: 2, maxLength: 2 }), qty, qty)
  .map(([[a, b], qa, qb]) => [[a!, qa], [b!, qb]]);
const anySpec = fc.oneof(single, cart);
const n = fc.nat({ max: 1000 });
const delay = fc.constantFrom(0, 1, 3, 8, 20);

const stockArb: fc.Arbitrary<Stock> = fc.array(
  fc.record({ onHand: fc.integer({ min: 3, max: 6 }), safetyStock: fc.integer({ min: 0, max: 1 }) }),
  { minLength: SKUS, maxLength: SKUS },
);

const commandArbs: fc.Arbitrary<Cmd>[] = [
  anySpec.map((s) => new Create(s, false)),
  anySpec.map((s) => new Create(s, false)),
  anySpec.map((s) => new Create(s, false)),
  anySpec.map((s) => new Create(s, true)),
  n.map((i) => new RetryCreate(i)),
  n.map((i) => new RetryCreate(i)),
  fc.tuple(n, fc.constantFrom("fresh" as const, "same" as const, "foreign" as const)).map(([i, k]) => new Confirm(i, k)),
  n.map((i) => new Confirm(i, "fresh")),
  n.map((i) => new Confirm(i, "fresh")),
  n.map((i) => new Release(i)),
  fc.tuple(n, fc.constantFrom("all" as const, 0 as const, 1 as const)).map(([i, which]) => new Lapse(i, which)),
  fc.tuple(n, fc.constantFrom("all" as const, 0 as const, 1 as const)).map(([i, which]) => new Lapse(i, which)),
  fc.tuple(cart, fc.integer({ min: 0, max: 1 })).map(([s, l]) => new LostLineAnswer(s, l)),
  anySpec.map((s) => new DoubleSubmit(s)),
  n.map((i) => new ConfirmReleaseRace(i)),
  fc.oneof(
    fc.constant({ kind: "idle" as const }),
    fc.record({ kind: fc.constant("create" as const), spec: anySpec, delayMs: delay }),
    fc.record({ kind: fc.constant("confirm" as const), n, delayMs: delay }),
  ).map((d) => new Reset(d)),
  cart.map((s) => new DieMidCreate(s)),
  fc.tuple(cart, fc.integer({ min: 0, max: 1 })).map(([s, l]) => new BrokenDuringCreate(s, l)),
  fc.tuple(cart, fc.integer({ min: 0, max: 1 })).map(([s, l]) => new BrokenDuringCreate(s, l)),
  n.map((i) => new DieMidConfirm(i)),
  skuIndex.map((i) => new Split(i, false)),
  skuIndex.map((i) => new Split(i, true)),
  fc.constant(null).map(() => new Settle()),
].map((arb) => arb.map(checked));

describe("the reservation path across objects, under random commands and faults", () => {
  it("never oversells, keeps every answer true, sells whole carts once each, and every object equals its log", async () => {
    await fc.assert(
      fc.asyncProperty(stockArb, fc.commands(commandArbs, { maxCommands: 25, size: "max" }), async (stock, cmds) => {
        let world: World | undefined;
        await fc.asyncModelRun(async () => {
          world = await newWorld(stock);
          return { model: world, real: world };
        }, cmds);
        const w = world!;
        // Time passes: everything half-done finishes, then the books are checked in full.
        await settle(w, 3);
        await checkBooks(w, "the final settle");
        const sold = await checkSales(w);
        await checkLogs(w);
        await releaseEverything(w);
        await checkNothingHeld(w, sold);
        expect(await checkSales(w), "releasing what is left sells nothing more").toEqual(sold);
        await checkLogs(w);
        await checkDispatch(w, sold);
      }),
      { numRuns: 30, interruptAfterTimeLimit: 120_000 },
    );
  }, 300_000);
});


// What the property above found (or, for pinning, what a mutation showed nothing else checks),
// kept as short deterministic scenarios. On 484f4b5 the first and third fail: a retried
// single-line create meets a coordinator after the split (422, or a second hold in a shard), and a
// create retried after its coordinator died is held again in another object. The second passes
// since 484f4b5; the fourth fails if holdLine ignores `pinned`.
describe("retries across a shard split (found by the model)", () => {
  const evenStock: Stock = [{ onHand: 6, safetyStock: 0 }, { onHand: 6, safetyStock: 0 }, { onHand: 6, safetyStock: 0 }];

  /** A fresh reservation of `lines` whose line prefers shard `want` once its SKU is split in two. */
  async function preferring(w: World, lines: Line[], want: number): Promise<Res> {
    for (;;) {
      const r = await freshRes(w, lines);
      if (preferredShard(r.digest, 2) === want) return r;
      w.res.pop();
    }
  }

  it("replays a single-line reservation made before its SKU was split, instead of refusing its key or holding it again", async () => {
    const w = await newWorld(evenStock);
    const [a, b] = w.skus as [string, string];
    const first = await preferring(w, [{ sku: a, qty: 1 }], 1);
    const made = await createRequest(first);
    expect(made.status).toBe(201);
    expect((await setShards(a, 2)).status).toBe(200);
    // Another shopper's line of the split SKU, and a cart that meets it in the same coordinator.
    expect((await createRequest(await freshRes(w, [{ sku: a, qty: 1 }]))).status).toBe(201);
    expect((await createRequest(await freshRes(w, [{ sku: a, qty: 1 }, { sku: b, qty: 1 }]))).status).toBe(201);

    const retry = await createRequest(first);
    const holds = (await holdsOf(a, holdIdsOf(first, a))).filter((h) => h.status === "held");
    expect({ status: retry.status, id: retry.body.id, token: retry.body.token, holds: holds.length }, show(retry)).toEqual({
      status: 201, id: made.body.id, token: made.body.token, holds: 1,
    });
  });

  async function diesMidCreate(w: World) {
    const [a, b] = w.skus as [string, string];
    expect((await setShards(a, 2)).status).toBe(200);
    expect((await createRequest(await freshRes(w, [{ sku: a, qty: 1 }, { sku: b, qty: 1 }]))).status).toBe(201); // the coordinator learns K = 2
    const r = await preferring(w, [{ sku: a, qty: 1 }, { sku: b, qty: 1 }], 1);
    const stalled = stall(b, 3_000);
    await sleep(20);
    const creating = settleOf(createRequest(r));
    const held = await within(2_500, async () => (await holdsOf(a, [r.digest])).some((h) => h.where === 1 && h.status === "held"));
    expect(held, "line a is held in shard 1 when the coordinator dies").toBe(true);
    await abortAllDurableObjects();
    await Promise.all([creating, stalled]);
    return { r, a };
  }

  it("gives back a line that a coordinator dying mid-create left in a stock shard", async () => {
    const w = await newWorld(evenStock);
    const { r, a } = await diesMidCreate(w);
    await settle(w, 2); // the abandoned create is given back
    expect((await createRequest(r)).body.code).toBe("reservation_abandoned");
    expect((await holdsOf(a, [r.digest])).filter((h) => h.status === "held"), "nothing of the abandoned cart is held").toEqual([]);
  });

  it("keeps a retried cart's line in the object that first held it, once its coordinator knows the SKU is split", async () => {
    const w = await newWorld(evenStock);
    const [a, b, c] = w.skus as [string, string, string];
    const r = await preferring(w, [{ sku: a, qty: 1 }, { sku: b, qty: 1 }], 1);
    await breakObject(b);
    expect((await createRequest(r)).status, "line b's object fails; line a is held in the main object").toBe(503);
    await repairObject(b);
    expect((await setShards(a, 2)).status).toBe(200);
    expect((await createRequest(await freshRes(w, [{ sku: a, qty: 1 }, { sku: c, qty: 1 }]))).status, "another cart teaches the coordinator K = 2").toBe(201);
    const retry = await createRequest(r);
    expect(retry.status, show(retry)).toBe(201);
    const live = (await holdsOf(a, [r.digest])).filter((h) => !ENDED.includes(h.status));
    expect(live, "the line stays where the first attempt held it").toEqual([expect.objectContaining({ where: 0, status: "held" })]);
  });

  it("holds a line once when a create whose coordinator died mid-way is retried", async () => {
    const w = await newWorld(evenStock);
    const { r, a } = await diesMidCreate(w);
    const retry = await createRequest(r);
    expect(retry.status, show(retry)).toBe(201);
    expect((await holdsOf(a, [r.digest])).filter((h) => h.status === "held"), "the line lives in one object").toHaveLength(1);
  });
});
