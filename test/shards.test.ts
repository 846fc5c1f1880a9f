// A hot SKU split into stock shards: the main object lends quota to shards 1..K-1, which sell from
// it; nothing is oversold, nothing is refused while units remain, sales end up in the main object.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type InventoryObject } from "../durable-objects/inventory";
import { coordinatorName, type ReservationObject, type ReservationRecord } from "../durable-objects/reservation";
import {
  applyShardCount, grownShardCount, holdLine, isOverloaded, mainStub, preferredShard, shardStub,
} from "../durable-objects/shard-routing";
import { adminHeaders, availability, call, confirm, events, release, reservationIdFor, reserve, setStock, stockState, uniqueSku } from "./client";

const main = (sku: string, region = "eu") => mainStub(env, region, sku);
const shard = (sku: string, i: number, region = "eu") => shardStub(env, region, sku, i);
const setShards = (region: string, sku: string, count: unknown) =>
  call("PUT", `/v1/admin/${region}/stock/${sku}/shards`, { headers: adminHeaders(), body: { count } });

/** Every unit held or sold across the main object and shards 1..k-1, and the lent quota. */
async function books(sku: string, k: number) {
  const m = await main(sku).snapshot(sku, "eu");
  const shards = await Promise.all(Array.from({ length: k - 1 }, (_, i) => shard(sku, i + 1).state()));
  const grants = await main(sku).quotaGrants();
  return {
    main: m,
    shards,
    held: m.held + shards.reduce((n, s) => n + s.held, 0),
    confirmed: m.confirmed,
    quota: shards.reduce((n, s) => n + s.quota, 0),
    granted: grants.granted,
  };
}

/** An Idempotency-Key whose reservation lands in the same coordinator as `anchorKey`'s and prefers shard `want`. */
async function keyFor(anchorKey: string, shards: number, want: (i: number) => boolean) {
  const anchor = coordinatorName("eu", await reservationIdFor("eu", anchorKey));
  for (let n = 0; ; n++) {
    const key = `${anchorKey}-${n}`;
    const id = await reservationIdFor("eu", key);
    if (coordinatorName("eu", id) === anchor && want(preferredShard(id, shards))) return { key, id };
  }
}

async function record(id: string): Promise<ReservationRecord> {
  const stub = env.RESERVATIONS.get(env.RESERVATIONS.idFromName(coordinatorName("eu", id)));
  return runInDurableObject(stub, (_: ReservationObject, state) =>
    JSON.parse(state.storage.sql.exec<{ record: string }>("SELECT record FROM reservations WHERE id = ?", id).one().record),
  );
}

describe("configuring shards", () => {
  it("sets K through the admin API, shows it in the stock state, and refuses counts outside 1..16", async () => {
    const sku = uniqueSku("HOT");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 40 });
    const res = await setShards("eu", sku, 4);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ sku, region: "eu", shards: 4, previous: 1, changed: true, returned: 0 });
    // Each shard is lent an even share at once; the main object's own `available` excludes it.
    expect((await stockState("eu", sku)).body).toMatchObject({ shards: 4, granted: 30, available: 10 });
    expect((await availability("eu", [sku])).body.items[0].available).toBe(40);
    expect((await stockState("eu", sku)).body.shardStates).toEqual([1, 2, 3].map((shard) => ({
      shard, quota: 10, held: 0, transferring: 0, available: 10, retired: false,
    })));
    expect((await setShards("eu", sku, 4)).body).toMatchObject({ shards: 4, changed: false });
    for (const bad of [0, 17, 2.5, "4"]) expect((await setShards("eu", sku, bad)).status).toBe(400);
    const log = (await events("eu", sku)).body.events;
    expect(log.map((e: any) => e.type)).toEqual(["stock_set", "shards_set", "quota_granted", "quota_granted", "quota_granted"]);
    const grants = log.filter((e: any) => e.type === "quota_granted").map((e: any) => [e.payload.shard, e.payload.qty]);
    expect(grants.sort()).toEqual([[1, 10], [2, 10], [3, 10]]);
  });

  it("grows K once when several callers react to the same overload", async () => {
    expect(isOverloaded(Object.assign(new Error("Durable Object is overloaded"), { overloaded: true }))).toBe(true);
    expect(isOverloaded(Object.assign(new Error("network lost"), { retryable: true }))).toBe(false);
    expect(isOverloaded("overloaded")).toBe(false);
    expect([1, 2, 8, 16].map(grownShardCount)).toEqual([2, 4, 16, 16]);
    const sku = uniqueSku("HOT");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 10 });
    const both = await Promise.all([1, 2].map(() => applyShardCount(env, "eu", sku, grownShardCount(1), "overload", 1)));
    expect(both.map((r) => r.changed).sort()).toEqual([false, true]);
    expect((await main(sku).snapshot(sku, "eu")).shards).toBe(2);
    const log = (await events("eu", sku)).body.events;
    expect(log.filter((e: any) => e.type === "shards_set").map((e: any) => e.payload)).toMatchObject([{ shards: 2, previous: 1, cause: "overload" }]);
  });
});

describe("a flash sale on a sharded SKU", () => {
  it("holds exactly the stock when 400 shoppers ask for 150 units across K = 4", async () => {
    const sku = uniqueSku("LIMITED");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 155, safetyStock: 5 });
    await setShards("eu", sku, 4);
    // Waves, so coordinators learn K from the first answers and later lines go to the shards.
    const statuses: number[] = [];
    for (let wave = 0; wave < 4; wave++) {
      const answers = await Promise.all(Array.from({ length: 100 }, () => reserve("eu", [{ sku, qty: 1 }])));
      statuses.push(...answers.map((a) => a.status));
    }
    expect(statuses.filter((s) => s !== 201 && s !== 409)).toEqual([]);
    expect(statuses.filter((s) => s === 201)).toHaveLength(150);
    expect(statuses.filter((s) => s === 409)).toHaveLength(250);
    const b = await books(sku, 4);
    expect(b.held).toBe(150);
    expect(b.shards.some((s) => s.held > 0)).toBe(true);
    expect(b.granted).toBe(b.quota);
    expect(b.main.available + b.shards.reduce((n, s) => n + s.available, 0)).toBe(0);
    expect((await availability("eu", [sku])).body.items[0]).toMatchObject({ available: 0, status: "out_of_stock" });
  });

  it("confirms a line held in a shard: the sale moves to the main object and its saga", async () => {
    const sku = uniqueSku("HOT");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 20 });
    await setShards("eu", sku, 4);
    const anchor = crypto.randomUUID();
    expect((await reserve("eu", [{ sku, qty: 1 }], { key: anchor })).status).toBe(201); // teaches the coordinator K = 4
    const { key, id } = await keyFor(anchor, 4, (i) => i !== 0);
    const held = await reserve("eu", [{ sku, qty: 3 }], { key });
    expect(held.status).toBe(201);
    const placed = (await record(id)).placements![0]!;
    expect(placed).toBe(preferredShard(id, 4));
    expect(await shard(sku, placed).state()).toMatchObject({ held: 3, transferring: 0 });
    expect((await availability("eu", [sku])).body.items[0].available).toBe(16);

    const sold = await confirm("eu", id, held.body.token);
    expect(sold.status).toBe(200);
    expect(sold.body.status).toBe("confirmed");
    const after = await shard(sku, placed).state();
    expect(after).toMatchObject({ held: 0, transferring: 0 });
    expect(await main(sku).sale(id)).toMatchObject({ qty: 3, status: "confirmed", warehouse: "eu-ams" });
    const log = (await events("eu", sku)).body.events;
    expect(log.filter((e: any) => e.type === "hold_confirmed" && e.payload.holdId === id).map((e: any) => e.payload))
      .toMatchObject([{ qty: 3, shard: placed, warehouse: "eu-ams" }]);
    const b = await books(sku, 4);
    expect({ held: b.held, confirmed: b.confirmed, quotaMatches: b.granted === b.quota }).toEqual({ held: 1, confirmed: 3, quotaMatches: true });
    expect((await availability("eu", [sku])).body.items[0].available).toBe(16);
    // Confirming again changes nothing anywhere.
    expect((await confirm("eu", id, held.body.token)).status).toBe(200);
    expect((await events("eu", sku)).body.events).toHaveLength(log.length);
  });

  it("releases a line held in a shard back into that shard's quota", async () => {
    const sku = uniqueSku("HOT");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 20 });
    await setShards("eu", sku, 2);
    const anchor = crypto.randomUUID();
    await reserve("eu", [{ sku, qty: 1 }], { key: anchor });
    const { key, id } = await keyFor(anchor, 2, (i) => i === 1);
    const held = await reserve("eu", [{ sku, qty: 4 }], { key });
    expect(held.body).toMatchObject({ status: "held" });
    expect(await shard(sku, 1).state()).toMatchObject({ held: 4 });
    expect((await release("eu", id, held.body.token)).body.status).toBe("released");
    const s = await shard(sku, 1).state();
    expect(s).toMatchObject({ held: 0, transferring: 0 });
    expect(s.available).toBe(s.quota);
    expect((await availability("eu", [sku])).body.items[0].available).toBe(19);
    expect((await main(sku).sale(id))).toBeNull(); // nothing about it reached the main object
  });
});

describe("quota moving between shards", () => {
  it("refills a shard that runs dry from the main object, a fair share at a time", async () => {
    const sku = uniqueSku("HOT");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 10 });
    await main(sku).setShards(sku, "eu", 2);
    const expiresAt = Date.now() + 600_000;
    const results = [];
    for (let i = 0; i < 9; i++) results.push(await shard(sku, 1).hold(sku, "eu", 1, `h${i}`, 1, expiresAt));
    expect(results.every((r) => r.ok)).toBe(true);
    const grants = (await events("eu", sku)).body.events.filter((e: any) => e.type === "quota_granted").map((e: any) => e.payload.qty);
    expect(grants).toEqual([5, 3, 1]); // half of 10, half of the 5 left, ...
    expect(await shard(sku, 1).state()).toMatchObject({ quota: 9, held: 9, available: 0 });
    expect(await main(sku).snapshot(sku, "eu")).toMatchObject({ granted: 9, available: 1 });
  });

  it("pulls idle quota back into the main object rather than refuse a line that fits in total", async () => {
    const sku = uniqueSku("HOT");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 8 });
    await main(sku).setShards(sku, "eu", 3);
    const expiresAt = Date.now() + 600_000;
    await shard(sku, 1).hold(sku, "eu", 1, "a", 1, expiresAt); // takes ceil(8/3) = 3
    await shard(sku, 2).hold(sku, "eu", 2, "b", 1, expiresAt); // takes ceil(5/3) = 2
    expect((await main(sku).snapshot(sku, "eu")).available).toBe(3);
    // 6 units are free in total (3 in main, 2 idle in shard 1, 1 in shard 2): a line of 6 fits.
    const id = "line-of-six".padEnd(12, "x");
    const placed = await holdLine(env, "eu", sku, id, 6, expiresAt, 3);
    expect("result" in placed && placed.result.ok).toBe(true);
    expect("shard" in placed && placed.shard).toBe(0);
    const b = await books(sku, 3);
    expect({ held: b.held, granted: b.granted, quota: b.quota }).toEqual({ held: 8, granted: 2, quota: 2 });
    // Now nothing is left anywhere, and only now is a line refused.
    const refused = await holdLine(env, "eu", sku, "one-more", 1, expiresAt, 3);
    expect("result" in refused && !refused.result.ok && refused.result.code).toBe("insufficient_stock");
  });

  it("applies a retried grant or sale once", async () => {
    const sku = uniqueSku("HOT");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 10 });
    await main(sku).setShards(sku, "eu", 2);
    const first = await main(sku).grantQuota(sku, "eu", 1, "t-1", 4);
    expect(await main(sku).grantQuota(sku, "eu", 1, "t-1", 4)).toEqual(first);
    expect((await main(sku).quotaGrants()).granted).toBe(first.granted);
    expect(await main(sku).grantQuota(sku, "eu", 5, "t-2", 4)).toMatchObject({ granted: 0, inService: false });
    await main(sku).confirmFromShard(sku, "eu", 1, "sale-1", 2);
    await main(sku).confirmFromShard(sku, "eu", 1, "sale-1", 2);
    expect(await main(sku).snapshot(sku, "eu")).toMatchObject({ confirmed: 2, granted: first.granted - 2 });
    await main(sku).returnQuota(sku, "eu", 1, "r-1", 1);
    await main(sku).returnQuota(sku, "eu", 1, "r-1", 1);
    expect((await main(sku).quotaGrants()).granted).toBe(first.granted - 3);
  });
});

describe("reducing K", () => {
  it("returns idle units from removed shards at once, and held ones when their holds end", async () => {
    const sku = uniqueSku("HOT");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 40 });
    await main(sku).setShards(sku, "eu", 4);
    const expiresAt = Date.now() + 600_000;
    for (const i of [1, 2, 3]) expect((await shard(sku, i).hold(sku, "eu", i, `h${i}`, 2, expiresAt)).ok).toBe(true);
    // Shards took 10 (of 40), 8 (of 30) and 6 (of 22): a quarter of what was free each time.
    expect((await main(sku).quotaGrants()).grants.map((g) => g.granted)).toEqual([10, 8, 6]);
    const res = await setShards("eu", sku, 2);
    expect(res.body).toMatchObject({ shards: 2, previous: 4, changed: true, returned: 6 + 4 });
    const [s1, s2, s3] = await Promise.all([1, 2, 3].map((i) => shard(sku, i).state()));
    // Shard 1 was topped up to an even share of the 26 now free: 13 idle units.
    expect(s1).toMatchObject({ retired: false, quota: 15, held: 2, available: 13 });
    expect(s2).toMatchObject({ retired: true, quota: 2, held: 2, available: 0 });
    expect(s3).toMatchObject({ retired: true, quota: 2, held: 2, available: 0 });
    // A removed shard sells nothing more...
    const refused = await shard(sku, 3).hold(sku, "eu", 3, "late", 1, expiresAt);
    expect(refused).toMatchObject({ ok: false, code: "insufficient_stock", retired: true });
    // ...and gives back the units of a hold that ends.
    await shard(sku, 3).release("h3");
    expect(await shard(sku, 3).state()).toMatchObject({ quota: 0, held: 0 });
    expect((await main(sku).quotaGrants()).grants).toEqual([{ shard: 1, granted: 15 }, { shard: 2, granted: 2 }]);
    // Availability: the main object's 23 plus shard 1's 13 idle units (shard 2 is out of service).
    expect((await availability("eu", [sku])).body.items[0].available).toBe(36);
  });
});

describe("the system of record", () => {
  it("keeps main's totals and sales consistent with its own log, shard holds staying out of it", async () => {
    const sku = uniqueSku("HOT");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 12 });
    await main(sku).setShards(sku, "eu", 2);
    const expiresAt = Date.now() + 600_000;
    await shard(sku, 1).hold(sku, "eu", 1, "sold", 2, expiresAt);
    await shard(sku, 1).confirm("sold");
    const state = await runInDurableObject(main(sku), (obj: InventoryObject) => obj.recordedState(0));
    expect(state.totals).toMatchObject({ onHand: 12, held: 0, confirmed: 2, granted: 4, available: 6 });
    const types = (await events("eu", sku)).body.events.map((e: any) => e.type);
    expect(types).toEqual(["stock_set", "shards_set", "quota_granted", "hold_confirmed"]);
  });
});
