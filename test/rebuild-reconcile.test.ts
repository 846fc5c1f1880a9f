// Operators can rebuild the projections from the log (swapped in atomically) and reconcile the
// objects against Postgres, which reports drift per SKU-region.
import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../workers/index";
import { asc, eq, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { inventoryName, type InventoryObject } from "../durable-objects/inventory";
import { inventoryEvents, projectionTables, reservationLedger, skuRegionLevels, streamPositions } from "../schema/tables";
import { rebuildProjections } from "../system-of-record/rebuild";
import { adminHeaders, call, confirm, release, reserve, setStock, uniqueSku } from "./client";
import { checkedFetch } from "./contract";
import { database, eventually } from "./db";

const { db, close } = database();
afterAll(() => close());

/** Waits until the object has at least `minVersion` events and Postgres has applied all of them. */
async function settled(region: string, sku: string, minVersion: number) {
  const version = await eventually(async () => {
    const v = (await call("GET", `/v1/admin/${region}/stock/${sku}`, { headers: adminHeaders() })).body.version as number;
    return v >= minVersion ? v : undefined;
  }, `${sku} at v${minVersion}`);
  await eventually(async () => {
    const [p] = await db.select().from(streamPositions).where(eq(streamPositions.sku, sku));
    return p && p.appliedSeq >= version ? true : undefined;
  }, `${sku} projected to v${version}`);
  return version;
}

async function busySkus(n: number) {
  const skus: string[] = [];
  for (let i = 0; i < n; i++) {
    const sku = uniqueSku("REBUILD");
    skus.push(sku);
    await setStock("apac", sku, { warehouse: "apac-sg", onHand: 20, safetyStock: 2 });
    await setStock("apac", sku, { warehouse: "apac-syd", onHand: 5 });
    const a = await reserve("apac", [{ sku, qty: 3 }]);
    const b = await reserve("apac", [{ sku, qty: 1 }]);
    await confirm("apac", a.body.id, a.body.token);
    await release("apac", b.body.id, b.body.token);
  }
  // The confirm also goes to the warehouse, whose answer (or the lack of one) is one more event.
  for (const sku of skus) await settled("apac", sku, 7);
  return skus;
}

async function snapshotOfProjections() {
  const t = projectionTables();
  // stream_positions.updated_at says when a row was applied, which a rebuild rightly changes.
  const dump = async (table: (typeof t)[keyof typeof t]) =>
    (await db.select().from(table).where(eq(table.region, "apac")).orderBy(asc(table.sku)))
      .map((r) => JSON.stringify({ ...r, updatedAt: table === t.streamPositions ? undefined : (r as { updatedAt?: Date }).updatedAt }))
      .sort();
  return {
    positions: await dump(t.streamPositions),
    ledger: await dump(t.reservationLedger),
    warehouses: await dump(t.warehouseLevels),
    levels: await dump(t.skuRegionLevels),
  };
}

describe("rebuilding the projections", () => {
  it("replays the log into shadow tables and swaps in exactly the live projection", async () => {
    await busySkus(3);
    const before = await snapshotOfProjections();
    const progress: string[] = [];
    const summary = await rebuildProjections(db, (p) => progress.push(`${p.phase} ${p.done}/${p.total}`));
    expect(summary.streams).toBeGreaterThanOrEqual(3);
    expect(progress.at(-1)).toMatch(/\d+\/\d+/);
    expect(await snapshotOfProjections()).toEqual(before);
    const leftovers = await db.execute(sql`SELECT count(*)::int AS n FROM pg_tables WHERE tablename LIKE '%\\_rebuild' OR tablename LIKE '%\\_old'`);
    expect((leftovers.rows[0] as { n: number }).n).toBe(0);
  });

  it("keeps the consumer working after the swap, constraint names included", async () => {
    const [sku] = await busySkus(1);
    const pk = await db.execute(sql`SELECT conname FROM pg_constraint WHERE conrelid = 'reservation_ledger'::regclass AND contype = 'p'`);
    expect((pk.rows[0] as { conname: string }).conname).toBe("reservation_ledger_region_reservation_id_sku_pk");
    const indexes = await db.execute(sql`SELECT indexname FROM pg_indexes WHERE tablename = 'reservation_ledger' ORDER BY indexname`);
    expect(indexes.rows.map((r) => (r as { indexname: string }).indexname)).toEqual(["reservation_ledger_region_reservation_id_sku_pk", "reservation_ledger_sku_seq_idx"]);
    expect(await db.select().from(reservationLedger).where(eq(reservationLedger.sku, sku!))).toHaveLength(2);
  });
});

describe("reconciling objects with Postgres", () => {
  it("reports every SKU-region ok when the projection has caught up", async () => {
    const skus = await busySkus(2);
    const res = await call("GET", "/v1/admin/apac/reconcile", { headers: adminHeaders() });
    expect(res.status).toBe(200);
    for (const sku of skus) {
      expect(res.body.drift.find((d: any) => d.sku === sku)).toBeUndefined();
      expect(res.body.lagging.find((d: any) => d.sku === sku)).toBeUndefined();
    }
    expect(res.body.ok).toBeGreaterThanOrEqual(2);
  });

  it("finds injected drift and names the field", async () => {
    const [sku] = await busySkus(1);
    await db.update(skuRegionLevels).set({ onHand: 999 }).where(eq(skuRegionLevels.sku, sku!));
    const res = await call("GET", "/v1/admin/apac/reconcile", { headers: adminHeaders() });
    const drift = res.body.drift.find((d: any) => d.sku === sku);
    expect(drift).toMatchObject({ status: "drift", objectVersion: 7, projectedVersion: 7 });
    expect(drift.differences).toContain("onHand: object 25, Postgres 999");
  });

  it("calls a projection that is behind lagging within the grace period and drift after it", async () => {
    const [sku] = await busySkus(1);
    await db.update(skuRegionLevels).set({ version: 4 }).where(eq(skuRegionLevels.sku, sku!));
    const fresh = await call("GET", "/v1/admin/apac/reconcile?graceSeconds=3600", { headers: adminHeaders() });
    expect(fresh.body.lagging.find((d: any) => d.sku === sku)).toMatchObject({ objectVersion: 7, projectedVersion: 4 });
    const stale = await call("GET", "/v1/admin/apac/reconcile?graceSeconds=0", { headers: adminHeaders() });
    expect(stale.body.drift.find((d: any) => d.sku === sku)).toBeDefined();
    expect(env.INVENTORY.idFromName(inventoryName("apac", sku!))).toBeTruthy();
  });

  it("answers 503 database_unavailable with a hint when Postgres is unreachable", async () => {
    const down = { ...env, DATABASE_URL: "postgres://postgres@127.0.0.1:1/nowhere" };
    const ctx = createExecutionContext();
    const res = await checkedFetch(new Request("http://edge.test/v1/admin/apac/reconcile", { headers: adminHeaders() }), (r) => worker.fetch(r, down, ctx));
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: "database_unavailable", detail: "Check DATABASE_URL and that Postgres is up" });
  });
});

describe("repairing lost messages", () => {
  it("reports a SKU-region whose first event never reached Postgres, and a resend repairs it", async () => {
    const sku = uniqueSku("LOST");
    const stub = env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName("apac", sku)));
    await runInDurableObject(stub, async (obj: InventoryObject, state) => {
      (obj as unknown as { outbox: { sending: Promise<void> } }).outbox.sending = new Promise(() => {}); // nothing leaves
      await obj.setStock({ sku, region: "apac", warehouse: "apac-sg", onHand: 7 });
      state.storage.sql.exec("UPDATE sku_region SET sent_seq = version"); // ...and the message is lost for good
    });
    await runInDurableObject(stub, (_obj, state) => {
      try {
        state.abort("restart");
      } catch {
        /* surfaces here */
      }
    }).catch(() => undefined);
    await setStock("apac", sku, { warehouse: "apac-syd", onHand: 3 });
    await eventually(async () => ((await db.select().from(inventoryEvents).where(eq(inventoryEvents.sku, sku))).length ? true : undefined), "event 2 stored");

    const report = await call("GET", "/v1/admin/apac/reconcile?graceSeconds=0", { headers: adminHeaders() });
    expect(report.body.drift.find((d: any) => d.sku === sku)).toMatchObject({ objectVersion: 2, projectedVersion: 0 });

    const resent = await call("POST", `/v1/admin/apac/stock/${sku}/resend`, { headers: adminHeaders(), body: { after: 0 } });
    expect(resent.status).toBe(202);
    await eventually(async () => {
      const [p] = await db.select().from(streamPositions).where(eq(streamPositions.sku, sku));
      return p?.appliedSeq === 2 ? true : undefined;
    }, "repaired projection");
    const after = await call("GET", "/v1/admin/apac/reconcile?graceSeconds=0", { headers: adminHeaders() });
    expect(after.body.drift.find((d: any) => d.sku === sku)).toBeUndefined();
    const [levels] = await db.select().from(skuRegionLevels).where(eq(skuRegionLevels.sku, sku));
    expect(levels).toMatchObject({ onHand: 10, version: 2 });
  });
});
