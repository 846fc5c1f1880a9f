// A flash sale in miniature: many shoppers at once on one SKU with stock N. Exactly N units are held.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { inventoryName } from "../durable-objects/inventory";
import { events, reserve, setStock, stockState, uniqueSku } from "./client";

describe("many shoppers, one SKU", () => {
  it("holds exactly the stock through the edge API when 400 shoppers ask for 120 units", async () => {
    const sku = uniqueSku("LIMITED");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 125, safetyStock: 5 });
    const answers = await Promise.all(Array.from({ length: 400 }, () => reserve("eu", [{ sku, qty: 1 }])));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(120);
    expect(statuses.filter((s) => s === 409)).toHaveLength(280);
    const state = await stockState("eu", sku);
    expect(state.body).toMatchObject({ held: 120, available: 0, activeHolds: 120, version: 121 });
  });

  it("never splits the last units across mixed quantities: total held never exceeds stock", async () => {
    const sku = uniqueSku("LIMITED");
    await setStock("eu", sku, { warehouse: "eu-ams", onHand: 50 });
    const qtys = Array.from({ length: 200 }, (_, i) => 1 + (i % 4));
    const answers = await Promise.all(qtys.map((qty) => reserve("eu", [{ sku, qty }])));
    const held = answers.reduce((sum, a, i) => sum + (a.status === 201 ? qtys[i]! : 0), 0);
    expect(held).toBeLessThanOrEqual(50);
    expect((await stockState("eu", sku)).body.held).toBe(held);
    // Every refusal was true when it was made: the object answered with the availability it saw.
    for (const [i, a] of answers.entries()) {
      if (a.status === 409) expect(a.body.lines[0].available).toBeLessThan(qtys[i]!);
    }
  });

  it("holds exactly the stock when 300 calls hit the object directly at once", async () => {
    const sku = uniqueSku("LIMITED");
    await setStock("us", sku, { warehouse: "us-nj", onHand: 77 });
    const stub = env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName("us", sku)));
    const expiresAt = Date.now() + 600_000;
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => stub.hold(sku, "us", `direct-${i}`, 1, expiresAt)),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(77);
    const log = (await events("us", sku)).body.events;
    expect(log.filter((e: any) => e.type === "hold_placed")).toHaveLength(77);
    expect(Math.max(...log.map((e: any) => e.payload.after.held))).toBe(77);
  });

  it("leaves no partial carts behind when carts compete for two scarce SKUs", async () => {
    const a = uniqueSku("DUO");
    const b = uniqueSku("DUO");
    await setStock("eu", a, { warehouse: "eu-ams", onHand: 30 });
    await setStock("eu", b, { warehouse: "eu-ams", onHand: 20 });
    const carts = Array.from({ length: 60 }, (_, i) =>
      i % 3 === 0 ? [{ sku: b, qty: 1 }, { sku: a, qty: 1 }] : [{ sku: a, qty: 1 }, { sku: b, qty: 1 }],
    );
    const answers = await Promise.all(carts.map((lines) => reserve("eu", lines)));
    const won = answers.filter((x) => x.status === 201).length;
    expect(won).toBeGreaterThan(0);
    expect(won).toBeLessThanOrEqual(20);
    // Each winning cart holds one of each; every losing cart gave back what it briefly held.
    expect((await stockState("eu", a)).body.held).toBe(won);
    expect((await stockState("eu", b)).body.held).toBe(won);
  });
});
