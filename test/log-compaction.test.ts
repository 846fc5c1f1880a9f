// Log compaction (issue 12): events leave a SKU-region object only once Postgres and the R2
// archive both have them; the archive reads back exactly what the object held; the sequence stays
// gap-free; the object's database shrinks.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { EMPTY_AGGREGATE, chunkKey, foldLog } from "../durable-objects/log-compaction";
import { inventoryName, type InventoryObject } from "../durable-objects/inventory";
import { streamPositions } from "../schema/tables";
import { adminHeaders, call, events, release, reserve, setStock, uniqueSku } from "./client";
import { database, eventually } from "./db";

const { db, close } = database();
afterAll(() => close());

const stub = (sku: string) => env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName("eu", sku)));
const positionOf = async (sku: string) =>
  (await db.select().from(streamPositions).where(and(eq(streamPositions.region, "eu"), eq(streamPositions.sku, sku))))[0]?.appliedSeq ?? 0;

/** A SKU with `n` holds placed and released (2n + 1 events), projected to Postgres, which reconcile then reports to the object. */
async function busySku(n: number) {
  const sku = uniqueSku("LOG");
  expect((await setStock("eu", sku, { warehouse: "eu-ams", onHand: 50 })).status).toBe(200);
  for (let i = 0; i < n; i++) {
    const held = await reserve("eu", [{ sku, qty: 1 }]);
    expect(held.status).toBe(201);
    expect((await release("eu", held.body.id, held.body.token)).status).toBe(200);
  }
  const version = 2 * n + 1;
  await eventually(async () => ((await positionOf(sku)) >= version ? true : undefined), `${sku} projected`);
  return { sku, version };
}

const compact = (sku: string, body: Record<string, unknown> = { retentionSeconds: 0 }) =>
  call("POST", `/v1/admin/eu/stock/${sku}/compact`, { headers: adminHeaders(), body });

describe("log compaction", () => {
  it("archives what Postgres has, reads it back unchanged, keeps the sequence gap-free and the database from growing", async () => {
    const { sku, version } = await busySku(30);
    const before = (await events("eu", sku, 0, 500)).body.events;
    expect(before).toHaveLength(version);
    const sizeBefore = await runInDurableObject(stub(sku), async (_o: InventoryObject, state) => state.storage.sql.databaseSize);
    // What reconcile does: it tells the object how far the projection is.
    await stub(sku).recordedState(await positionOf(sku));

    const run = await compact(sku);
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ archived: version - 1, archivedThrough: version - 1 });

    // The object pages from where it still holds events, and says where the rest went.
    const page = (await events("eu", sku, 0, 500)).body;
    expect(page.archivedThrough).toBe(version - 1);
    expect(page.events.map((e: any) => e.seq)).toEqual([version]);
    const listing = (await call("GET", `/v1/admin/eu/stock/${sku}/archive`, { headers: adminHeaders() })).body;
    expect(listing.chunks.map((c: any) => [c.from, c.to])).toEqual([[1, version - 1]]);
    const chunk = await call("GET", `/v1/admin/eu/stock/${sku}/archive/1`, { headers: adminHeaders() });
    expect(chunk.status).toBe(200);
    expect([...chunk.body.events, ...page.events]).toEqual(before);
    // The snapshot plus the events after it fold to what the whole log folds to.
    const raw = before.map((e: any) => ({ ...e, at: Date.parse(e.at) }));
    const whole = foldLog(EMPTY_AGGREGATE, raw);
    const snapshot = { ...listing.snapshot, at: Date.parse(listing.snapshot.at) };
    expect(foldLog(snapshot, raw.slice(version - 1))).toEqual(whole);

    // Selling goes on, numbered after the archived part.
    const next = await reserve("eu", [{ sku, qty: 2 }]);
    expect(next.status).toBe(201);
    expect((await events("eu", sku, 0, 500)).body.events.map((e: any) => e.seq)).toEqual([version, version + 1]);
    const rows = await runInDurableObject(stub(sku), async (_o: InventoryObject, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM events").one().n);
    expect(rows).toBe(2);
    // The space of dropped rows is used again: as many events more, compacted, leave the file no bigger.
    for (let i = 0; i < 30; i++) {
      const held = await reserve("eu", [{ sku, qty: 1 }]);
      expect((await release("eu", held.body.id, held.body.token)).status).toBe(200);
    }
    const last = version + 1 + 60;
    await eventually(async () => ((await positionOf(sku)) >= last ? true : undefined), `${sku} projected`);
    await stub(sku).recordedState(last);
    expect((await compact(sku)).body.archivedThrough).toBe(last - 1);
    const sizeAfter = await runInDurableObject(stub(sku), async (_o: InventoryObject, state) => state.storage.sql.databaseSize);
    expect(sizeAfter).toBeLessThanOrEqual(sizeBefore);
  });

  it("drops nothing Postgres has not acknowledged, nothing younger than the retention, and never the last event", async () => {
    const { sku, version } = await busySku(5);
    // No acknowledgement yet: nothing may leave.
    expect((await compact(sku)).body.archived).toBe(0);
    // Postgres said it has the first 4: only those.
    await stub(sku).recordedState(4);
    expect((await compact(sku)).body).toMatchObject({ archived: 4, archivedThrough: 4 });
    await stub(sku).recordedState(version);
    // A day's retention keeps everything made just now.
    expect((await compact(sku, {})).body.archived).toBe(0);
    expect((await compact(sku, { retentionSeconds: 86_400 })).body.archived).toBe(0);
    expect((await compact(sku)).body).toMatchObject({ archived: version - 1 - 4, archivedThrough: version - 1 });
    const listing = (await call("GET", `/v1/admin/eu/stock/${sku}/archive`, { headers: adminHeaders() })).body;
    expect(listing.chunks.map((c: any) => [c.from, c.to])).toEqual([[1, 4], [5, version - 1]]);
  });

  it("drops nothing when the archive already holds other bytes under the chunk's key, and reports a tampered chunk", async () => {
    const { sku, version } = await busySku(3);
    await stub(sku).recordedState(version);
    await env.ARCHIVE!.put(chunkKey("eu", sku, 1, version - 1), "not these events\n", { customMetadata: { sha256: "0".repeat(64), from: "1" } });
    const run = (await compact(sku)).body;
    expect(run.archived).toBe(0);
    expect(run.stopped).toContain("exists with other contents");
    expect((await events("eu", sku, 0, 500)).body.events).toHaveLength(version);
    const tampered = await call("GET", `/v1/admin/eu/stock/${sku}/archive/1`, { headers: adminHeaders() });
    expect(tampered.status).toBe(500);
    expect(tampered.body.code).toBe("archive_corrupt");
  });

  it("happens by itself: once reconcile reports the projection, the alarm compacts what passed the retention", async () => {
    const { sku, version } = await busySku(4);
    // This object's retention is one second (the setting is read when the alarm runs).
    await runInDurableObject(stub(sku), async (o: InventoryObject) => {
      (o as unknown as { env: typeof env }).env = { ...env, EVENT_RETENTION_DAYS: String(1 / 86_400) };
    });
    await stub(sku).recordedState(version);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await runDurableObjectAlarm(stub(sku))).toBe(true);
    const page = (await events("eu", sku, 0, 500)).body;
    expect(page.archivedThrough).toBe(version - 1);
    expect(page.events.map((e: any) => e.seq)).toEqual([version]);
  });

  it("refuses bad compaction requests with 400 and changes nothing", async () => {
    const { sku, version } = await busySku(1);
    await stub(sku).recordedState(version);
    for (const body of [{ retentionSeconds: -1 }, { retentionSeconds: "0" }, { keep: 0 }]) {
      const res = await compact(sku, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    expect((await events("eu", sku, 0, 500)).body.archivedThrough).toBe(0);
    expect((await call("GET", `/v1/admin/eu/stock/${sku}/archive/999`, { headers: adminHeaders() })).status).toBe(404);
  });
});
