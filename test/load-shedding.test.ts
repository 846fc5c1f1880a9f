// Load shedding (issue 11): calls waiting on one stock object past a bound are answered 503
// try_again with Retry-After at once, hold nothing, and succeed when retried with their key.
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../workers/index";
import { shed, waitingOn } from "../workers/load-shed";
import { setStock, stockState, STOREFRONT_KEY, uniqueSku } from "./client";
import { checkedFetch } from "./contract";

function reserveWith(overrides: Record<string, string>, sku: string, key: string) {
  const req = new Request("http://edge.test/v1/eu/reservations", {
    method: "POST",
    headers: { "x-api-key": STOREFRONT_KEY, "content-type": "application/json", "idempotency-key": key, "cf-connecting-ip": `2001:db8:5ed::${key.slice(0, 4)}` },
    body: JSON.stringify({ lines: [{ sku, qty: 1 }] }),
  });
  return checkedFetch(req, (request) =>
    worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, { ...env, ...overrides }, createExecutionContext()));
}

describe("load shedding", () => {
  it("answers at once when too many calls already wait on an object, and frees the slot when a call ends", async () => {
    let finish!: () => void;
    const hung = shed("object-a", 2, () => new Promise<string>((resolve) => (finish = () => resolve("done"))));
    const second = shed("object-a", 2, async () => "second");
    await expect(second).resolves.toBe("second");
    const other = shed("object-a", 2, () => new Promise<void>(() => {}));
    await expect(shed("object-a", 2, async () => "third")).rejects.toMatchObject({ code: "try_again" });
    expect(waitingOn("object-a")).toBe(2);
    // Another object is not affected.
    await expect(shed("object-b", 2, async () => "b")).resolves.toBe("b");
    finish();
    await expect(hung).resolves.toBe("done");
    await expect(shed("object-a", 2, async () => "again")).resolves.toBe("again");
    void other;
  });

  it("sheds reservations past the bound with 503 and Retry-After; each retried with its key is held once", async () => {
    const sku = uniqueSku("SHED");
    expect((await setStock("eu", sku, { warehouse: "eu-ams", onHand: 100 })).status).toBe(200);
    const keys = Array.from({ length: 40 }, () => crypto.randomUUID());
    const first = await Promise.all(keys.map((key) => reserveWith({ MAX_WAITING_PER_OBJECT: "1" }, sku, key)));
    const shedKeys = keys.filter((_, i) => first[i]!.status === 503);
    expect(shedKeys.length).toBeGreaterThan(0);
    for (const res of first.filter((r) => r.status === 503)) {
      expect(res.headers.get("retry-after")).toBe("1");
      expect(await res.json()).toMatchObject({ code: "try_again" });
    }
    expect(first.every((r) => r.status === 201 || r.status === 503)).toBe(true);
    expect((await stockState("eu", sku)).body.held).toBe(keys.length - shedKeys.length);
    for (const key of shedKeys) expect((await reserveWith({}, sku, key)).status).toBe(201);
    expect((await stockState("eu", sku)).body.held).toBe(keys.length);
  });
});
