// The fake warehouse plays its part in one trace: it keeps the traceparent our dispatch carried
// (HTTP header for JSON, Traceparent header block for SOAP) and sends the same trace id back on its
// callbacks, so a test of the whole path can follow one trace there and back. Real HTTP both ways:
// the callbacks go to a small Node server standing in for the shop.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedPost, startFakeWarehouse, type FakeWarehouse } from "../../warehouses/fake-warehouse.mjs";

const secret = `whsec_${Buffer.from("fake-warehouse-trace-test-secret").toString("base64")}`;
const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
const traceparent = `00-${traceId}-00f067aa0ba902b7-01`;

type Received = { path: string; traceparent?: string; body: string };
let shop: http.Server;
let shopUrl: string;
const received: Received[] = [];

beforeAll(async () => {
  shop = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      received.push({ path: req.url ?? "", traceparent: req.headers.traceparent as string | undefined, body });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => shop.listen(0, "127.0.0.1", resolve));
  shopUrl = `http://127.0.0.1:${(shop.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => shop.close(resolve));
});

async function withWarehouse(flavour: "json" | "soap", warehouseId: string, fn: (w: FakeWarehouse) => Promise<void>) {
  const w = await startFakeWarehouse({ port: 0, secret, flavour, warehouseId, callbackUrl: shopUrl, shipAfterMs: 10, log: () => {} });
  try {
    await fn(w);
  } finally {
    await w.stop();
  }
}

const order = (deliveryId: string) => ({ deliveryId, region: "eu", sku: "LIP-1", reservationId: "a".repeat(64), qty: 1, confirmedAt: new Date().toISOString() });
const traceIdOf = (value?: string) => /^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(value ?? "")?.[1];

describe("the fake warehouse and the trace", () => {
  it("JSON: keeps the traceparent header of a dispatch and sends that trace back on its callbacks", async () => {
    await withWarehouse("json", "trace-json", async (w) => {
      const body = JSON.stringify({ type: "dispatch.requested", data: order("dlv_trace_json") });
      const res = await signedPost(`${w.url}/dispatch`, secret, body, { traceparent });
      expect(res.status).toBe(200);
      expect(w.deliveries()[0]?.traceparent).toBe(traceparent);
      await w.settled();
      const callbacks = received.filter((r) => r.path.startsWith("/v1/warehouses/trace-json/"));
      expect(callbacks.map((c) => JSON.parse(c.body).type)).toEqual(["allocation.confirmed", "shipment.shipped"]);
      for (const c of callbacks) {
        expect(traceIdOf(c.traceparent)).toBe(traceId);
        expect(c.traceparent).not.toBe(traceparent); // a span of the warehouse's own
      }
    });
  });

  it("SOAP: keeps the Traceparent header block and sends it back as a header block and HTTP header", async () => {
    await withWarehouse("soap", "trace-soap", async (w) => {
      const o = order("dlv_trace_soap");
      const envelope =
        `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">` +
        `<soap:Header><Traceparent xmlns="urn:edge-inventory:warehouse">${traceparent}</Traceparent></soap:Header><soap:Body>` +
        `<DispatchOrder xmlns="urn:edge-inventory:warehouse"><DeliveryId>${o.deliveryId}</DeliveryId><Region>eu</Region><Sku>${o.sku}</Sku>` +
        `<ReservationId>${o.reservationId}</ReservationId><Qty>1</Qty><ConfirmedAt>${o.confirmedAt}</ConfirmedAt></DispatchOrder></soap:Body></soap:Envelope>`;
      const res = await signedPost(`${w.url}/soap`, secret, envelope, { contentType: "text/xml; charset=utf-8", soapAction: "urn:edge-inventory:warehouse#DispatchOrder" });
      expect(res.status).toBe(200);
      expect(w.deliveries()[0]).toMatchObject({ traceparent, traceFrom: "soap-header" });
      await w.settled();
      const callbacks = received.filter((r) => r.path.startsWith("/v1/warehouses/trace-soap/"));
      expect(callbacks).toHaveLength(2);
      for (const c of callbacks) {
        expect(traceIdOf(c.traceparent)).toBe(traceId);
        const block = /<Traceparent xmlns="urn:edge-inventory:warehouse">([^<]*)<\/Traceparent>/.exec(c.body)?.[1];
        expect(block).toBe(c.traceparent);
      }
    });
  });

  it("without a trace it sends none", async () => {
    await withWarehouse("json", "trace-none", async (w) => {
      const body = JSON.stringify({ type: "dispatch.requested", data: order("dlv_trace_none") });
      expect((await signedPost(`${w.url}/dispatch`, secret, body)).status).toBe(200);
      expect(w.deliveries()[0]?.traceparent).toBeUndefined();
      await w.settled();
      const callbacks = received.filter((r) => r.path.startsWith("/v1/warehouses/trace-none/"));
      expect(callbacks).toHaveLength(2);
      for (const c of callbacks) expect(c.traceparent).toBeUndefined();
    });
  });
});
