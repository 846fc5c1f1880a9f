// The shopper's story through the edge API: hold, confirm, release, and what each does to stock.
import { describe, expect, it } from "vitest";
import {
  availability,
  call,
  confirm,
  events,
  getReservation,
  release,
  reserve,
  setStock,
  stockState,
  storefront,
  uniqueSku,
} from "./client";

async function stocked(onHand: number, safetyStock = 0, region = "eu") {
  const sku = uniqueSku("LIP");
  const warehouse = { eu: "eu-ams", us: "us-nj", apac: "apac-sg" }[region] ?? `${region}-ams`;
  const res = await setStock(region, sku, { warehouse, onHand, safetyStock });
  expect(res.status).toBe(200);
  return sku;
}

describe("holding stock", () => {
  it("holds the units and takes them out of availability", async () => {
    const sku = await stocked(12, 2);
    const res = await reserve("eu", [{ sku, qty: 3 }]);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: "held", region: "eu", lines: [{ sku, qty: 3 }] });
    // A single line is kept by its SKU's object: the id names it after the digest.
    expect(res.body.id).toBe(`${res.body.id.slice(0, 64)}.${sku}`);
    expect(res.body.id).toMatch(/^[0-9a-f]{64}\./);
    expect(typeof res.body.token).toBe("string");
    const expiresIn = Date.parse(res.body.expiresAt) - Date.parse(res.body.createdAt);
    expect(expiresIn).toBe(300_000);
    const avail = await availability("eu", [sku]);
    expect(avail.body.items).toEqual([{ sku, available: 7, status: "in_stock", version: 2 }]);
  });

  it("honours a short ttlSeconds", async () => {
    const sku = await stocked(5);
    const res = await reserve("eu", [{ sku, qty: 1 }], { ttlSeconds: 3 });
    expect(Date.parse(res.body.expiresAt) - Date.parse(res.body.createdAt)).toBe(3_000);
  });

  it("holds every line of a cart or none: a short line fails the whole cart and is listed", async () => {
    const plenty = await stocked(10);
    const scarce = await stocked(1);
    const res = await reserve("eu", [
      { sku: plenty, qty: 2 },
      { sku: scarce, qty: 2 },
    ]);
    expect(res.status).toBe(409);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.body).toMatchObject({ code: "insufficient_stock", status: 409 });
    expect(res.body.lines).toEqual([{ sku: scarce, requested: 2, available: 1 }]);
    const avail = await availability("eu", [plenty, scarce]);
    expect(avail.body.items.map((i: any) => i.available)).toEqual([10, 1]);
    const state = await stockState("eu", plenty);
    expect(state.body).toMatchObject({ held: 0, activeHolds: 0 });
  });

  it("refuses a SKU that was never stocked in the region, without creating it", async () => {
    const ghost = uniqueSku("GHOST");
    const res = await reserve("eu", [{ sku: ghost, qty: 1 }]);
    expect(res.status).toBe(409);
    expect(res.body.lines).toEqual([{ sku: ghost, requested: 1, available: 0 }]);
    expect((await stockState("eu", ghost)).body).toMatchObject({ version: 0, onHand: 0 });
  });

  it("keeps regions apart: stock in eu is not stock in us", async () => {
    const sku = await stocked(5, 0, "eu");
    const res = await reserve("us", [{ sku, qty: 1 }]);
    expect(res.status).toBe(409);
    expect((await availability("eu", [sku])).body.items[0].available).toBe(5);
  });

  it("shows low_stock at or below the threshold and out_of_stock at zero", async () => {
    const sku = await stocked(6);
    expect((await availability("eu", [sku])).body.items[0].status).toBe("in_stock");
    await reserve("eu", [{ sku, qty: 1 }]);
    expect((await availability("eu", [sku])).body.items[0].status).toBe("low_stock");
    await reserve("eu", [{ sku, qty: 5 }]);
    expect((await availability("eu", [sku])).body.items[0]).toMatchObject({ status: "out_of_stock", available: 0 });
  });
});

describe("idempotent retries", () => {
  it("replays the first answer for the same key and body, holding nothing more", async () => {
    const sku = await stocked(10);
    const first = await reserve("eu", [{ sku, qty: 2 }], { key: "retry-me" + sku });
    const again = await reserve("eu", [{ sku, qty: 2 }], { key: "retry-me" + sku });
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect((await stockState("eu", sku)).body.held).toBe(2);
  });

  it("stores nothing for a refused single line: a retry after a restock holds", async () => {
    const sku = await stocked(1);
    const key = crypto.randomUUID();
    const first = await reserve("eu", [{ sku, qty: 2 }], { key });
    const before = await stockState("eu", sku);
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 50 });
    const again = await reserve("eu", [{ sku, qty: 2 }], { key });
    expect(first.status).toBe(409);
    expect(first.body.lines).toEqual([{ sku, requested: 2, available: 1 }]);
    expect(before.body.version).toBe(1); // the refusal wrote no event
    expect(again.status).toBe(201);
  });

  it("replays a refused cart's answer while it is kept (briefly)", async () => {
    const sku = await stocked(1);
    const other = await stocked(5);
    const key = crypto.randomUUID();
    const first = await reserve("eu", [{ sku, qty: 2 }, { sku: other, qty: 1 }], { key });
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 50 });
    const again = await reserve("eu", [{ sku, qty: 2 }, { sku: other, qty: 1 }], { key });
    expect(first.status).toBe(409);
    expect(again.status).toBe(409);
    expect(again.body).toEqual(first.body);
  });

  it("rejects the same key with a different body (422) and changes nothing", async () => {
    const sku = await stocked(10);
    const key = crypto.randomUUID();
    await reserve("eu", [{ sku, qty: 2 }], { key });
    const other = await reserve("eu", [{ sku, qty: 3 }], { key });
    expect(other.status).toBe(422);
    expect(other.body.code).toBe("idempotency_key_reused");
    expect((await stockState("eu", sku)).body.held).toBe(2);
  });

  it("scopes keys per storefront: another storefront's same key is a new reservation", async () => {
    const sku = await stocked(10);
    const key = crypto.randomUUID();
    const a = await reserve("eu", [{ sku, qty: 1 }], { key });
    const b = await call("POST", "/v1/eu/reservations", {
      headers: { "x-api-key": "second-storefront-key", "idempotency-key": key },
      body: { lines: [{ sku, qty: 1 }] },
    });
    expect(b.status).toBe(201);
    expect(b.body.id).not.toBe(a.body.id);
    expect((await stockState("eu", sku)).body.held).toBe(2);
  });

  it("answers concurrent duplicates of one request with one hold", async () => {
    const sku = await stocked(10);
    const key = crypto.randomUUID();
    const answers = await Promise.all(Array.from({ length: 8 }, () => reserve("eu", [{ sku, qty: 3 }], { key })));
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(answers.every((a) => a.status === 201)).toBe(true);
    expect((await stockState("eu", sku)).body.held).toBe(3);
  });
});

describe("confirming and releasing", () => {
  it("confirms a hold into a sale: units stay out of availability, counted as confirmed", async () => {
    const sku = await stocked(10);
    const held = await reserve("eu", [{ sku, qty: 4 }]);
    const res = await confirm("eu", held.body.id, held.body.token);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: held.body.id, status: "confirmed" });
    expect(res.body.confirmedAt).toBeDefined();
    expect((await stockState("eu", sku)).body).toMatchObject({ held: 0, confirmed: 4, available: 6 });
    const again = await confirm("eu", held.body.id, held.body.token);
    expect(again.status).toBe(200);
    expect((await events("eu", sku)).body.events.map((e: any) => e.type)).toEqual(["stock_set", "hold_placed", "hold_confirmed"]);
  });

  it("releases a hold: units return, and releasing again is a harmless 200", async () => {
    const sku = await stocked(10);
    const held = await reserve("eu", [{ sku, qty: 4 }]);
    const res = await release("eu", held.body.id, held.body.token);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("released");
    expect((await release("eu", held.body.id, held.body.token)).status).toBe(200);
    expect((await stockState("eu", sku)).body).toMatchObject({ held: 0, available: 10 });
    expect((await events("eu", sku)).body.events.map((e: any) => e.type)).toEqual(["stock_set", "hold_placed", "hold_released"]);
  });

  it("refuses to confirm a released reservation (409) and to release a confirmed one (409)", async () => {
    const sku = await stocked(10);
    const a = await reserve("eu", [{ sku, qty: 1 }]);
    await release("eu", a.body.id, a.body.token);
    const late = await confirm("eu", a.body.id, a.body.token);
    expect(late.status).toBe(409);
    expect(late.body.code).toBe("reservation_released");
    const b = await reserve("eu", [{ sku, qty: 1 }]);
    await confirm("eu", b.body.id, b.body.token);
    const undo = await release("eu", b.body.id, b.body.token);
    expect(undo.status).toBe(409);
    expect(undo.body.code).toBe("already_confirmed");
    expect((await stockState("eu", sku)).body).toMatchObject({ confirmed: 1, held: 0, available: 9 });
  });

  it("reads a reservation's current state with its token", async () => {
    const sku = await stocked(10);
    const held = await reserve("eu", [{ sku, qty: 1 }]);
    const read = await getReservation("eu", held.body.id, held.body.token);
    expect(read.status).toBe(200);
    const { token, ...withoutToken } = held.body;
    expect(read.body).toEqual(withoutToken);
    expect(token).toBeTruthy();
  });

  it("confirms a multi-line cart on every line", async () => {
    const a = await stocked(5);
    const b = await stocked(5);
    const held = await reserve("eu", [
      { sku: a, qty: 1 },
      { sku: b, qty: 2 },
    ]);
    expect((await confirm("eu", held.body.id, held.body.token)).status).toBe(200);
    expect((await stockState("eu", a)).body.confirmed).toBe(1);
    expect((await stockState("eu", b)).body.confirmed).toBe(2);
  });
});

describe("who may touch a reservation", () => {
  it("needs the reservation's token: a wrong one is 403 and changes nothing", async () => {
    const sku = await stocked(10);
    const held = await reserve("eu", [{ sku, qty: 1 }]);
    for (const attempt of [
      () => confirm("eu", held.body.id, "not-the-token"),
      () => release("eu", held.body.id, "not-the-token"),
      () => getReservation("eu", held.body.id, "not-the-token"),
    ]) {
      const res = await attempt();
      expect(res.status).toBe(403);
      expect(res.body.code).toBe("invalid_token");
    }
    expect((await stockState("eu", sku)).body).toMatchObject({ held: 1, confirmed: 0 });
  });

  it("does not find a reservation under another region or an id never issued", async () => {
    const sku = await stocked(10);
    const held = await reserve("eu", [{ sku, qty: 1 }]);
    expect((await getReservation("us", held.body.id, held.body.token)).status).toBe(404);
    expect((await confirm("us", held.body.id, held.body.token)).status).toBe(404);
    const unknown = await getReservation("eu", "a".repeat(64), held.body.token);
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe("reservation_not_found");
    expect((await stockState("eu", sku)).body.held).toBe(1);
  });

  it("needs the storefront key", async () => {
    const res = await call("GET", "/v1/eu/availability?skus=A", { headers: {} });
    expect(res.status).toBe(401);
    expect((await call("GET", "/v1/eu/availability?skus=A", { headers: { "x-api-key": "nope" } })).status).toBe(401);
    expect((await call("GET", "/v1/eu/availability?skus=A", { headers: storefront() })).status).toBe(200);
  });
});
