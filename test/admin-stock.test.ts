// The operator's story: set stock per warehouse, read the full state, page through the event log.
import { describe, expect, it, vi } from "vitest";
import { call, events, reserve, setStock, stockState, uniqueSku } from "./client";

describe("setting stock", () => {
  it("creates a SKU-region on first write and returns the new snapshot", async () => {
    const sku = uniqueSku("SERUM");
    const res = await setStock("us", sku, { warehouse: "us-nj", onHand: 40, safetyStock: 5 });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      sku, region: "us", onHand: 40, held: 0, confirmed: 0, safetyStock: 5, available: 35, status: "in_stock", version: 1,
    });
  });

  it("sums warehouses, keeps safety stock until changed, and lists each warehouse", async () => {
    const sku = uniqueSku("SERUM");
    await setStock("us", sku, { warehouse: "us-nj", onHand: 40, safetyStock: 5 });
    const res = await setStock("us", sku, { warehouse: "us-rno", onHand: 10 });
    expect(res.body).toMatchObject({ onHand: 50, safetyStock: 5, available: 45, version: 2 });
    const state = await stockState("us", sku);
    expect(state.body.warehouses.map((w: any) => [w.warehouse, w.onHand])).toEqual([["us-nj", 40], ["us-rno", 10]]);
    expect(state.body).toMatchObject({ activeHolds: 0 });
    // Once the coalesced send has taken the events out, nothing is left for the alarm to do.
    await vi.waitFor(async () => expect((await stockState("us", sku)).body.nextDeadline).toBeNull(), { timeout: 2000 });
  });

  it("never shows negative availability when a warehouse counts less than is committed", async () => {
    const sku = uniqueSku("SERUM");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 5 });
    await reserve("eu", [{ sku, qty: 4 }]);
    const res = await setStock("eu", sku, { warehouse: "eu-ams", onHand: 2 });
    expect(res.body).toMatchObject({ onHand: 2, held: 4, available: 0, status: "out_of_stock" });
    expect((await reserve("eu", [{ sku, qty: 1 }])).status).toBe(409);
  });

  it("applies expectedVersion as a compare-and-set: a stale version is 409 and changes nothing", async () => {
    const sku = uniqueSku("SERUM");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 5 });
    const ok = await setStock("eu", sku, { warehouse: "eu-ams", onHand: 7, expectedVersion: 1 });
    expect(ok.body.version).toBe(2);
    const stale = await setStock("eu", sku, { warehouse: "eu-ams", onHand: 9, expectedVersion: 1 });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ code: "version_conflict", currentVersion: 2 });
    expect((await stockState("eu", sku)).body).toMatchObject({ onHand: 7, version: 2 });
  });

  it("replays a retried stock write with the same Idempotency-Key, and refuses the key for another body", async () => {
    const sku = uniqueSku("SERUM");
    const key = crypto.randomUUID();
    const first = await setStock("eu", sku, { warehouse: "eu-ams", onHand: 5 }, { "idempotency-key": key });
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 8 });
    const retry = await setStock("eu", sku, { warehouse: "eu-ams", onHand: 5 }, { "idempotency-key": key });
    expect(retry.body).toEqual(first.body);
    expect((await stockState("eu", sku)).body).toMatchObject({ onHand: 8, version: 2 });
    const misuse = await setStock("eu", sku, { warehouse: "eu-ams", onHand: 6 }, { "idempotency-key": key });
    expect(misuse.status).toBe(422);
    expect(misuse.body.code).toBe("idempotency_key_reused");
  });

  it("reads an unknown SKU-region as empty", async () => {
    const res = await stockState("apac", uniqueSku("NONE"));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ onHand: 0, available: 0, version: 0, warehouses: [] });
  });
});

describe("the event log", () => {
  it("has a gap-free sequence, the version, with the totals after each event", async () => {
    const sku = uniqueSku("MASCARA");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 10, safetyStock: 1 });
    await reserve("eu", [{ sku, qty: 2 }]);
    await setStock("eu", sku, { warehouse: "eu-war", onHand: 3 });
    const log = await events("eu", sku);
    expect(log.body.events.map((e: any) => e.seq)).toEqual([1, 2, 3]);
    expect(log.body.events[1]).toMatchObject({ type: "hold_placed", payload: { qty: 2, after: { held: 2, available: 7 } } });
    expect(log.body.events[2].payload).toMatchObject({ warehouse: "eu-war", onHand: 3, after: { onHand: 13, available: 10 } });
    expect(log.body.nextAfter).toBeNull();
    expect((await stockState("eu", sku)).body.version).toBe(3);
  });

  it("pages with after and limit", async () => {
    const sku = uniqueSku("MASCARA");
    for (let i = 1; i <= 5; i++) await setStock("eu", sku, { warehouse: "eu-ams", onHand: i });
    const first = await events("eu", sku, 0, 2);
    expect(first.body.events.map((e: any) => e.seq)).toEqual([1, 2]);
    expect(first.body.nextAfter).toBe(2);
    const rest = await events("eu", sku, first.body.nextAfter, 10);
    expect(rest.body.events.map((e: any) => e.seq)).toEqual([3, 4, 5]);
    expect(rest.body.nextAfter).toBeNull();
  });
});

describe("the API description", () => {
  it("publishes an OpenAPI document generated from the route schemas", async () => {
    const res = await call("GET", "/openapi.json");
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.paths).sort()).toEqual([
      "/docs",
      "/healthz",
      "/openapi.json",
      "/ops",
      "/v1/admin/{region}/attention",
      "/v1/admin/{region}/catalog",
      "/v1/admin/{region}/catalog/{sku}",
      "/v1/admin/{region}/costs",
      "/v1/admin/{region}/dead-letters",
      "/v1/admin/{region}/dead-letters/{id}/redispatch",
      "/v1/admin/{region}/dead-letters/{id}/replay",
      "/v1/admin/{region}/erasures",
      "/v1/admin/{region}/metrics",
      "/v1/admin/{region}/recommendations/builds",
      "/v1/admin/{region}/reconcile",
      "/v1/admin/{region}/stock/{sku}",
      "/v1/admin/{region}/stock/{sku}/archive",
      "/v1/admin/{region}/stock/{sku}/archive/{from}",
      "/v1/admin/{region}/stock/{sku}/compact",
      "/v1/admin/{region}/stock/{sku}/drop-rules",
      "/v1/admin/{region}/stock/{sku}/events",
      "/v1/admin/{region}/stock/{sku}/resend",
      "/v1/admin/{region}/stock/{sku}/shards",
      "/v1/admin/{region}/users/{userId}",
      "/v1/admin/{region}/warehouses/circuits",
      "/v1/admin/{region}/warehouses/{warehouseId}/circuit",
      "/v1/admin/{region}/warehouses/{warehouseId}/circuit/reset",
      "/v1/warehouses/dispatch-order",
      "/v1/warehouses/{warehouseId}/events",
      "/v1/warehouses/{warehouseId}/soap",
      "/v1/{region}/availability",
      "/v1/{region}/recommendations",
      "/v1/{region}/reservations",
      "/v1/{region}/reservations/{id}",
      "/v1/{region}/reservations/{id}/confirm",
      "/v1/{region}/reservations/{id}/release",
    ]);
    expect(res.body.components.schemas.CreateReservation).toBeDefined();
  });

  it("serves an interactive reference at /docs", async () => {
    const res = await call("GET", "/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.body).toContain("/openapi.json");
  });
});
