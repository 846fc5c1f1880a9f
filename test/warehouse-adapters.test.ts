// A confirmed sale goes to its warehouse as a signed JSON webhook or a SOAP call; what the warehouse
// answers (or fails to) decides whether the dispatch is done, should be retried, or never will pass.
import { Webhook } from "standardwebhooks";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { WarehousesConfig, type DispatchOrder, type WarehouseConfig } from "../warehouses/contracts";
import { dispatchTo } from "../warehouses/adapters";
import { verifyWebhook } from "../warehouses/signing";
import { readSoapEnvelope, soapFaultEnvelope, soapEnvelope, TRACEPARENT_BLOCK } from "../warehouses/soap-envelope";
import { UNDERSTOOD_HEADERS } from "../warehouses/soap-inbound";

const SECRET = "whsec_ZWRnZS1pbnZlbnRvcnktZXUtYW1zLXdhcmVob3VzZQ==";

const order: DispatchOrder = {
  deliveryId: "dlv_eu_LIP-ROUGE-01_42",
  warehouseId: "eu-ams",
  region: "eu",
  sku: "LIP-ROUGE-01",
  reservationId: "a".repeat(64),
  qty: 2,
  confirmedAt: "2026-11-23T10:15:00.000Z",
};

const jsonWarehouse: WarehouseConfig = {
  id: "eu-ams",
  region: "eu",
  adapter: "json",
  url: "https://wms.example.test/hooks/dispatch",
  timeoutMs: 150,
};
const soapWarehouse: WarehouseConfig = { ...jsonWarehouse, adapter: "soap", url: "https://legacy.example.test/WarehouseService.asmx" };

type Sent = { url: string; init: RequestInit; headers: Headers; body: string };

/** A stand-in for fetch that records each request and answers with `answer`. */
function warehouseAnswering(answer: (sent: Sent) => Response | Promise<Response>) {
  const requests: Sent[] = [];
  const fetcher = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const sent = { url: String(input), init: init ?? {}, headers: new Headers(init?.headers), body: String(init?.body ?? "") };
    requests.push(sent);
    return answer(sent);
  }) as typeof fetch;
  return { fetcher, requests };
}

/** A warehouse that never answers: only the abort signal ends the request. */
function silentWarehouse() {
  return warehouseAnswering(
    (sent) =>
      new Promise<Response>((_, reject) => {
        const signal = sent.init.signal!;
        signal.addEventListener("abort", () => reject(signal.reason));
      }),
  );
}

const soapOk = () =>
  new Response(soapEnvelope("DispatchOrderResponse", { Accepted: true }), { headers: { "content-type": "text/xml; charset=utf-8" } });
const soapFault = (code: string, message: string) =>
  new Response(soapFaultEnvelope("Client", message).replace("soap:Client", code), {
    status: 500,
    headers: { "content-type": "text/xml; charset=utf-8" },
  });

describe("the JSON adapter", () => {
  it("POSTs the order as a signed dispatch.requested webhook", async () => {
    const warehouse = warehouseAnswering(() => new Response(null, { status: 202 }));
    const result = await dispatchTo(jsonWarehouse, SECRET, order, warehouse.fetcher);

    expect(result).toEqual({ ok: true, status: 202 });
    expect(warehouse.requests).toHaveLength(1);
    const [sent] = warehouse.requests as [Sent];
    expect(sent.url).toBe(jsonWarehouse.url);
    expect(sent.init.method).toBe("POST");
    expect(sent.init.redirect).toBe("manual");
    expect(sent.headers.get("content-type")).toBe("application/json");
    expect(JSON.parse(sent.body)).toEqual({ type: "dispatch.requested", data: order });
    expect(sent.headers.get("webhook-id")).toBe(order.deliveryId);
    expect(Number(sent.headers.get("webhook-timestamp"))).toBeCloseTo(Date.now() / 1000, -1);
  });

  it("signs so that the standardwebhooks package and our verifier both accept the request", async () => {
    const warehouse = warehouseAnswering(() => new Response("ok"));
    await dispatchTo(jsonWarehouse, SECRET, order, warehouse.fetcher);
    const [sent] = warehouse.requests as [Sent];
    const headers = Object.fromEntries(sent.headers);

    expect(new Webhook(SECRET).verify(sent.body, headers)).toEqual({ type: "dispatch.requested", data: order });
    const ours = { id: headers["webhook-id"], timestamp: headers["webhook-timestamp"], signature: headers["webhook-signature"] };
    expect(await verifyWebhook(SECRET, ours, sent.body, Math.floor(Date.now() / 1000))).toEqual({ ok: true });
  });

  it("sends a retry with the same webhook-id, so the warehouse can dedupe it", async () => {
    const warehouse = warehouseAnswering(() => new Response(null, { status: 503 }));
    await dispatchTo(jsonWarehouse, SECRET, order, warehouse.fetcher);
    await dispatchTo(jsonWarehouse, SECRET, order, warehouse.fetcher);
    expect(warehouse.requests.map((r) => r.headers.get("webhook-id"))).toEqual([order.deliveryId, order.deliveryId]);
  });

  it.each([200, 201, 202, 204])("is done when the warehouse answers %i", async (status) => {
    const warehouse = warehouseAnswering(() => new Response(null, { status }));
    expect(await dispatchTo(jsonWarehouse, SECRET, order, warehouse.fetcher)).toEqual({ ok: true, status });
  });

  it("is done when the warehouse answers 409: it already has this delivery", async () => {
    const warehouse = warehouseAnswering(() => Response.json({ duplicate: true }, { status: 409 }));
    expect(await dispatchTo(jsonWarehouse, SECRET, order, warehouse.fetcher)).toEqual({ ok: true, status: 409 });
  });

  it.each([400, 401, 403, 404, 410, 413, 422])("will never pass when the warehouse answers %i", async (status) => {
    const warehouse = warehouseAnswering(() => Response.json({ error: "bad signature" }, { status }));
    expect(await dispatchTo(jsonWarehouse, SECRET, order, warehouse.fetcher)).toEqual({
      ok: false,
      retryable: false,
      reason: `HTTP ${status}: {"error":"bad signature"}`,
    });
  });

  it("will never pass when the warehouse redirects: a signed order is not followed elsewhere", async () => {
    const warehouse = warehouseAnswering(() => new Response(null, { status: 301, headers: { location: "https://elsewhere.test/" } }));
    expect(await dispatchTo(jsonWarehouse, SECRET, order, warehouse.fetcher)).toEqual({ ok: false, retryable: false, reason: "HTTP 301" });
    expect(warehouse.requests).toHaveLength(1);
  });

  it.each([408, 429, 500, 502, 503, 504])("is retried when the warehouse answers %i", async (status) => {
    const warehouse = warehouseAnswering(() => new Response("busy\n  try later", { status }));
    expect(await dispatchTo(jsonWarehouse, SECRET, order, warehouse.fetcher)).toEqual({
      ok: false,
      retryable: true,
      reason: `HTTP ${status}: busy try later`,
    });
  });

  it("keeps only the start of a long error page in the reason", async () => {
    const warehouse = warehouseAnswering(() => new Response("x".repeat(5000), { status: 500 }));
    const result = await dispatchTo(jsonWarehouse, SECRET, order, warehouse.fetcher);
    expect(result.ok === false && result.reason.length).toBeLessThan(220);
  });

  it("is retried when the network fails", async () => {
    const warehouse = warehouseAnswering(() => {
      throw new TypeError("Network connection lost.");
    });
    expect(await dispatchTo(jsonWarehouse, SECRET, order, warehouse.fetcher)).toEqual({
      ok: false,
      retryable: true,
      reason: "network error reaching warehouse eu-ams: Network connection lost.",
    });
  });

  it("is retried when the warehouse does not answer within its timeout", async () => {
    const warehouse = silentWarehouse();
    const started = Date.now();
    expect(await dispatchTo(jsonWarehouse, SECRET, order, warehouse.fetcher)).toEqual({
      ok: false,
      retryable: true,
      reason: "warehouse eu-ams did not answer within 150ms",
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  it("refuses an order meant for another warehouse, without sending it", async () => {
    const warehouse = warehouseAnswering(() => new Response(null));
    const result = await dispatchTo(jsonWarehouse, SECRET, { ...order, warehouseId: "us-nyc" }, warehouse.fetcher);
    expect(result).toEqual({ ok: false, retryable: false, reason: "the order is for warehouse us-nyc, not eu-ams" });
    expect(warehouse.requests).toHaveLength(0);
  });
});

describe("the SOAP adapter", () => {
  it("calls DispatchOrder with a SOAP 1.1 envelope, SOAPAction and the webhook signature", async () => {
    const warehouse = warehouseAnswering(soapOk);
    expect(await dispatchTo(soapWarehouse, SECRET, order, warehouse.fetcher)).toEqual({ ok: true, status: 200 });

    const [sent] = warehouse.requests as [Sent];
    expect(sent.url).toBe(soapWarehouse.url);
    expect(sent.init.method).toBe("POST");
    expect(sent.headers.get("content-type")).toBe("text/xml; charset=utf-8");
    expect(sent.headers.get("soapaction")).toBe('"urn:edge-inventory:warehouse#DispatchOrder"');
    expect(sent.body).toContain(
      '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><DispatchOrder xmlns="urn:edge-inventory:warehouse">' +
        `<DeliveryId>${order.deliveryId}</DeliveryId><Region>eu</Region><Sku>LIP-ROUGE-01</Sku><ReservationId>${order.reservationId}</ReservationId>` +
        "<Qty>2</Qty><ConfirmedAt>2026-11-23T10:15:00.000Z</ConfirmedAt></DispatchOrder></soap:Body></soap:Envelope>",
    );
    const headers = Object.fromEntries(sent.headers);
    expect(headers["webhook-id"]).toBe(order.deliveryId);
    expect(new Webhook(SECRET).verify(sent.body, headers, { jsonParse: false })).toBeUndefined();
  });

  it("escapes XML in the order's fields", async () => {
    const warehouse = warehouseAnswering(soapOk);
    const awkward = { ...order, deliveryId: `d<1>&"2"'` };
    await dispatchTo(soapWarehouse, SECRET, awkward, warehouse.fetcher);
    const [sent] = warehouse.requests as [Sent];
    expect(sent.body).toContain("<DeliveryId>d&lt;1&gt;&amp;&quot;2&quot;&apos;</DeliveryId>");
    const read = readSoapEnvelope(sent.body);
    expect(read.ok && read.message.kind === "operation" && read.message.fields.DeliveryId).toBe(awkward.deliveryId);
  });

  it("is done when the answer is a DispatchOrderResponse, whatever its prefixes", async () => {
    const answer =
      '<?xml version="1.0"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body>' +
      '<w:DispatchOrderResponse xmlns:w="urn:edge-inventory:warehouse"><w:Duplicate>true</w:Duplicate></w:DispatchOrderResponse>' +
      "</SOAP-ENV:Body></SOAP-ENV:Envelope>";
    const warehouse = warehouseAnswering(() => new Response(answer));
    expect(await dispatchTo(soapWarehouse, SECRET, order, warehouse.fetcher)).toEqual({ ok: true, status: 200 });
  });

  it("will never pass on a Client fault, and says why", async () => {
    const warehouse = warehouseAnswering(() => soapFault("soap:Client", "Unknown SKU LIP-ROUGE-01"));
    expect(await dispatchTo(soapWarehouse, SECRET, order, warehouse.fetcher)).toEqual({
      ok: false,
      retryable: false,
      reason: "SOAP Client fault (HTTP 500): Unknown SKU LIP-ROUGE-01",
    });
  });

  it("will never pass on a dotted Client fault under another prefix", async () => {
    const warehouse = warehouseAnswering(() => soapFault("SOAP-ENV:Client.Authentication", "bad signature"));
    const result = await dispatchTo(soapWarehouse, SECRET, order, warehouse.fetcher);
    expect(result).toEqual({ ok: false, retryable: false, reason: "SOAP Client.Authentication fault (HTTP 500): bad signature" });
  });

  it("is retried on a Server fault", async () => {
    const warehouse = warehouseAnswering(() => soapFault("soap:Server", "Database & queue busy"));
    expect(await dispatchTo(soapWarehouse, SECRET, order, warehouse.fetcher)).toEqual({
      ok: false,
      retryable: true,
      reason: "SOAP Server fault (HTTP 500): Database & queue busy",
    });
  });

  it("believes a fault even when it comes with HTTP 200", async () => {
    const warehouse = warehouseAnswering(() => new Response(soapFaultEnvelope("Client", "Qty must be positive")));
    const result = await dispatchTo(soapWarehouse, SECRET, order, warehouse.fetcher);
    expect(result).toEqual({ ok: false, retryable: false, reason: "SOAP Client fault (HTTP 200): Qty must be positive" });
  });

  it("is retried when a 200 carries something other than a DispatchOrderResponse", async () => {
    for (const body of ["<html>maintenance</html>", "", soapEnvelope("SomethingElse", {})]) {
      const warehouse = warehouseAnswering(() => new Response(body));
      const result = await dispatchTo(soapWarehouse, SECRET, order, warehouse.fetcher);
      expect(result).toMatchObject({ ok: false, retryable: true });
    }
  });

  it("is retried on a gateway error page with no fault in it", async () => {
    const warehouse = warehouseAnswering(() => new Response("<html>502 Bad Gateway</html>", { status: 502 }));
    expect(await dispatchTo(soapWarehouse, SECRET, order, warehouse.fetcher)).toEqual({
      ok: false,
      retryable: true,
      reason: "HTTP 502: <html>502 Bad Gateway</html>",
    });
  });

  it("will never pass on a plain 4xx", async () => {
    const warehouse = warehouseAnswering(() => new Response("Unauthorized", { status: 401 }));
    expect(await dispatchTo(soapWarehouse, SECRET, order, warehouse.fetcher)).toEqual({
      ok: false,
      retryable: false,
      reason: "HTTP 401: Unauthorized",
    });
  });

  it("is retried when the warehouse does not answer within its timeout", async () => {
    const warehouse = silentWarehouse();
    expect(await dispatchTo(soapWarehouse, SECRET, order, warehouse.fetcher)).toEqual({
      ok: false,
      retryable: true,
      reason: "warehouse eu-ams did not answer within 150ms",
    });
  });

  it("is retried when the network fails", async () => {
    const warehouse = warehouseAnswering(() => Promise.reject(new TypeError("connect ECONNREFUSED")));
    const result = await dispatchTo(soapWarehouse, SECRET, order, warehouse.fetcher);
    expect(result).toEqual({ ok: false, retryable: true, reason: "network error reaching warehouse eu-ams: connect ECONNREFUSED" });
  });
});

describe("the sale's trace", () => {
  const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

  it("goes to a JSON warehouse as the traceparent header, not in the signed order", async () => {
    const warehouse = warehouseAnswering(() => new Response("{}", { status: 200 }));
    expect(await dispatchTo(jsonWarehouse, SECRET, { ...order, traceparent }, warehouse.fetcher)).toEqual({ ok: true, status: 200 });
    const [sent] = warehouse.requests as [Sent];
    expect(sent.headers.get("traceparent")).toBe(traceparent);
    expect(JSON.parse(sent.body)).toEqual({ type: "dispatch.requested", data: order });
  });

  it("goes to a SOAP warehouse as a Traceparent header block (not mustUnderstand) and the HTTP header", async () => {
    const warehouse = warehouseAnswering(soapOk);
    expect(await dispatchTo(soapWarehouse, SECRET, { ...order, traceparent }, warehouse.fetcher)).toEqual({ ok: true, status: 200 });
    const [sent] = warehouse.requests as [Sent];
    expect(sent.headers.get("traceparent")).toBe(traceparent);
    expect(sent.body).toContain(`<soap:Header><Traceparent xmlns="urn:edge-inventory:warehouse">${traceparent}</Traceparent></soap:Header>`);
    expect(sent.body).not.toContain("mustUnderstand");
    const read = readSoapEnvelope(sent.body, UNDERSTOOD_HEADERS);
    expect(read.ok && read.message.kind === "operation" && read.message.headers[TRACEPARENT_BLOCK]).toBe(traceparent);
    // A stack that does not know the block reads the same order.
    const plain = readSoapEnvelope(sent.body);
    expect(plain.ok && plain.message.kind === "operation" && plain.message.fields.DeliveryId).toBe(order.deliveryId);
  });
});

describe("through workerd's real fetch to the fake warehouses of test/global-setup.ts", () => {
  const configured = () => {
    const warehouses = WarehousesConfig.parse(JSON.parse(env.WAREHOUSES));
    const secrets = JSON.parse(env.WAREHOUSE_SECRETS) as Record<string, string>;
    return (adapter: "json" | "soap") => {
      const config = warehouses.find((w) => w.adapter === adapter)!;
      return { config, secret: secrets[config.id]! };
    };
  };

  it.each(["json", "soap"] as const)("a %s warehouse checks our signature, takes the order once and counts the resend", async (adapter) => {
    const { config, secret } = configured()(adapter);
    const mine = { ...order, warehouseId: config.id, region: config.region, deliveryId: `dlv_adapter_test_${crypto.randomUUID()}` };

    expect(await dispatchTo(config, secret, mine)).toMatchObject({ ok: true });
    expect(await dispatchTo(config, secret, mine)).toMatchObject({ ok: true });
    expect(await dispatchTo(config, "whsec_" + btoa("a secret the warehouse does not know"), mine)).toMatchObject({
      ok: false,
      retryable: false,
    });

    const base = new URL(config.url).origin;
    const taken = ((await (await fetch(`${base}/deliveries`)).json()) as { deliveryId: string; attempts: number; qty: number }[]).filter(
      (d) => d.deliveryId === mine.deliveryId,
    );
    expect(taken).toEqual([expect.objectContaining({ deliveryId: mine.deliveryId, attempts: 2, qty: 2, sku: "LIP-ROUGE-01" })]);
  });
});
