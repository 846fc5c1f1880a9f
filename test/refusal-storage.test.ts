// What refusals cost in storage (issue 11, bounded storage): a sold-out SKU refuses single lines
// without writing anything, and a refused cart is kept only briefly (REFUSED_RETENTION_MS) to
// answer a retry the same way, then purged by its coordinator's alarm.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { coordinatorName, REFUSED_RETENTION_MS, type ReservationObject } from "../durable-objects/reservation";
import { mainStub } from "../durable-objects/shard-routing";
import { reservationIdFor, reserve, setStock, stockState, uniqueSku } from "./client";

const REFUSALS = 200;

async function soldOut() {
  const sku = uniqueSku("GONE");
  await setStock("eu", sku, { warehouse: "eu-ams", onHand: 1 });
  expect((await reserve("eu", [{ sku, qty: 1 }])).status).toBe(201);
  return sku;
}

const sizeOf = (sku: string) => runInDurableObject(mainStub(env, "eu", sku), (_obj, state) => state.storage.sql.databaseSize);

describe("storage per refusal", () => {
  it(`writes nothing for ${REFUSALS} refused single lines with fresh keys`, async () => {
    const sku = await soldOut();
    const before = { size: await sizeOf(sku), version: (await stockState("eu", sku)).body.version };
    const keys = Array.from({ length: REFUSALS }, () => crypto.randomUUID());
    for (const key of keys) expect((await reserve("eu", [{ sku, qty: 1 }], { key })).status).toBe(409);
    expect(await sizeOf(sku)).toBe(before.size);
    expect((await stockState("eu", sku)).body.version).toBe(before.version);
    // Nor anywhere else: no coordinator keeps a record of them.
    for (const key of keys.slice(0, 20)) {
      const id = await reservationIdFor("eu", key);
      const stub = env.RESERVATIONS.get(env.RESERVATIONS.idFromName(coordinatorName("eu", id)));
      const rows = await runInDurableObject(stub, (_: ReservationObject, state) => state.storage.sql.exec("SELECT 1 FROM reservations WHERE id = ?", id).toArray());
      expect(rows).toEqual([]);
    }
  });

  it("keeps a refused cart only for the refusal window, then its coordinator forgets it", async () => {
    const gone = await soldOut();
    const plenty = uniqueSku("PLENTY");
    await setStock("eu", plenty, { warehouse: "eu-ams", onHand: 100 });
    const keys = Array.from({ length: 20 }, () => crypto.randomUUID());
    for (const key of keys) expect((await reserve("eu", [{ sku: plenty, qty: 1 }, { sku: gone, qty: 1 }], { key })).status).toBe(409);
    expect((await stockState("eu", plenty)).body.held).toBe(0);
    for (const key of keys) {
      const id = await reservationIdFor("eu", key);
      const stub = env.RESERVATIONS.get(env.RESERVATIONS.idFromName(coordinatorName("eu", id)));
      const row = await runInDurableObject(stub, (_: ReservationObject, state) =>
        state.storage.sql.exec<{ state: string; purge_at: number; bytes: number }>("SELECT state, purge_at, length(record) AS bytes FROM reservations WHERE id = ?", id).one(),
      );
      expect(row.state).toBe("rejected");
      expect(row.purge_at - Date.now()).toBeLessThanOrEqual(REFUSED_RETENTION_MS);
      expect(row.bytes).toBeLessThan(2_000); // one small record while it is kept
      // The window passes: the alarm purges it.
      await runInDurableObject(stub, (_: ReservationObject, state) => state.storage.sql.exec("UPDATE reservations SET purge_at = ? WHERE id = ?", Date.now() - 1, id));
      await runInDurableObject(stub, (_: ReservationObject, state) => state.storage.setAlarm(Date.now() + 60_000));
      await runDurableObjectAlarm(stub);
      const left = await runInDurableObject(stub, (_: ReservationObject, state) => state.storage.sql.exec("SELECT 1 FROM reservations WHERE id = ?", id).toArray());
      expect(left).toEqual([]);
    }
  });
});
