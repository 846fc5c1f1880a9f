// The legacy SOAP endpoint as a SOAP 1.1 stack expects it: every Fault with HTTP 500, a SOAP 1.2
// envelope answered VersionMismatch, a mustUnderstand header we do not process answered
// MustUnderstand, a body over the limit answered with a Fault (never problem+json), and the
// service's WSDL at ?wsdl. Nothing refused changes any stock.
import { describe, expect, it } from "vitest";
import { signWebhook } from "../warehouses/signing";
import { readSoapEnvelope } from "../warehouses/soap-envelope";
import { INBOUND_OPERATIONS } from "../warehouses/soap-inbound";
import { fetchWorker, setStock, stockState, uniqueSku, warehouseSecret } from "./client";

const SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP12 = "http://www.w3.org/2003/05/soap-envelope";

const received = (sku: string, qty = 4) => `<StockReceived xmlns="urn:edge-inventory:warehouse"><Sku>${sku}</Sku><Qty>${qty}</Qty></StockReceived>`;
const envelope = (body: string, header = "", ns = SOAP11) =>
  `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="${ns}">${header}<soap:Body>${body}</soap:Body></soap:Envelope>`;

async function post(xml: string, warehouseId = "eu-war") {
  const id = `evt_${crypto.randomUUID()}`;
  const ts = Math.floor(Date.now() / 1000);
  const signature = await signWebhook(warehouseSecret(warehouseId), id, ts, xml);
  const res = await fetchWorker(`http://edge.test/v1/warehouses/${warehouseId}/soap`, {
    method: "POST",
    headers: { "content-type": "text/xml; charset=utf-8", soapaction: '"urn:edge-inventory:warehouse#StockReceived"', "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": signature },
    body: xml,
  });
  const text = await res.text();
  const read = readSoapEnvelope(text);
  return { status: res.status, type: res.headers.get("content-type"), text, fault: read.ok && read.message.kind === "fault" ? read.message : null };
}

async function stocked() {
  const sku = uniqueSku("SOAPEP");
  await setStock("eu", sku, { warehouse: "eu-war", onHand: 1 });
  return sku;
}

async function unchanged(sku: string) {
  expect((await stockState("eu", sku)).body).toMatchObject({ onHand: 1, version: 1 });
}

describe("faults", () => {
  it("an unknown warehouse, an invalid event and an unknown operation are Client faults with HTTP 500", async () => {
    const sku = await stocked();
    for (const [xml, warehouse, start] of [
      [envelope(received(sku)), "eu-nowhere", "unknown_warehouse: "],
      [envelope(received(sku, -3)), "eu-war", "invalid_request: "],
      [envelope(`<StockStolen xmlns="urn:edge-inventory:warehouse"><Sku>${sku}</Sku></StockStolen>`), "eu-war", "invalid_request: unknown operation"],
    ] as const) {
      const res = await post(xml, warehouse);
      expect([res.status, res.type, res.fault?.code]).toEqual([500, "text/xml; charset=utf-8", "Client"]);
      expect(res.fault?.message.startsWith(start)).toBe(true);
    }
    await unchanged(sku);
  });

  it("a SOAP 1.2 envelope is a VersionMismatch fault", async () => {
    const sku = await stocked();
    const res = await post(envelope(received(sku), "", SOAP12));
    expect([res.status, res.fault?.code]).toEqual([500, "VersionMismatch"]);
    expect(res.fault?.message).toContain(SOAP12);
    await unchanged(sku);
  });

  it("a header block marked mustUnderstand that we do not process is a MustUnderstand fault", async () => {
    const sku = await stocked();
    const header = `<soap:Header><t:Priority xmlns:t="urn:example:transactions" soap:mustUnderstand="1">high</t:Priority></soap:Header>`;
    const res = await post(envelope(received(sku), header));
    expect([res.status, res.fault?.code]).toEqual([500, "MustUnderstand"]);
    expect(res.fault?.message).toContain("{urn:example:transactions}Priority");
    await unchanged(sku);
  });

  it("the same block addressed to the next node (actor \"next\") is a MustUnderstand fault too", async () => {
    const sku = await stocked();
    const header = `<soap:Header><t:Priority xmlns:t="urn:example:transactions" soap:actor="http://schemas.xmlsoap.org/soap/actor/next" soap:mustUnderstand="1">high</t:Priority></soap:Header>`;
    expect((await post(envelope(received(sku), header))).fault?.code).toBe("MustUnderstand");
    await unchanged(sku);
  });

  it("header blocks without mustUnderstand, with mustUnderstand=\"0\", or for another actor, are ignored", async () => {
    const sku = await stocked();
    const header =
      `<soap:Header><t:Note xmlns:t="urn:example:notes">hello</t:Note>` +
      `<t:Priority xmlns:t="urn:example:transactions" soap:mustUnderstand="0">low</t:Priority>` +
      `<t:Audit xmlns:t="urn:example:audit" soap:actor="urn:example:auditor" soap:mustUnderstand="1">x</t:Audit></soap:Header>`;
    const res = await post(envelope(received(sku), header));
    expect(res.status).toBe(200);
    expect((await stockState("eu", sku)).body.onHand).toBe(5);
  });

  it("a body over the 64 KiB limit is a Client fault with HTTP 500, not problem+json", async () => {
    const sku = await stocked();
    const padding = `<!-- ${"x".repeat(70 * 1024)} -->`;
    const res = await post(envelope(received(sku) + padding));
    expect([res.status, res.type, res.fault?.code]).toEqual([500, "text/xml; charset=utf-8", "Client"]);
    expect(res.fault?.message).toMatch(/^payload_too_large: /);
    await unchanged(sku);
  });

  it("the JSON endpoint still answers a body over the limit with problem+json 413", async () => {
    const res = await fetchWorker("http://edge.test/v1/warehouses/eu-ams/events", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ pad: "x".repeat(70 * 1024) }),
    });
    expect([res.status, res.headers.get("content-type")]).toEqual([413, "application/problem+json"]);
  });
});

describe("WSDL", () => {
  it("the inbound service describes every operation the endpoint takes, at the endpoint's address", async () => {
    const res = await fetchWorker("http://edge.test/v1/warehouses/eu-war/soap?wsdl");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/xml; charset=utf-8");
    const wsdl = await res.text();
    expect(wsdl).toContain('<soap:address location="http://edge.test/v1/warehouses/eu-war/soap"/>');
    for (const operation of Object.keys(INBOUND_OPERATIONS)) {
      expect(wsdl).toContain(`<soap:operation soapAction="urn:edge-inventory:warehouse#${operation}" style="document"/>`);
      expect(wsdl).toContain(`<xs:element name="${operation}Response">`);
    }
    expect(wsdl).toContain('<xs:element name="Reason" type="xs:string" minOccurs="0"/>');
  });

  it("the DispatchOrder service we call", async () => {
    const res = await fetchWorker("http://edge.test/v1/warehouses/dispatch-order?wsdl");
    expect(res.status).toBe(200);
    const wsdl = await res.text();
    expect(wsdl).toContain('<soap:operation soapAction="urn:edge-inventory:warehouse#DispatchOrder" style="document"/>');
    for (const field of ["DeliveryId", "Region", "Sku", "ReservationId", "Qty", "ConfirmedAt"]) expect(wsdl).toContain(`<xs:element name="${field}"`);
  });

  it("an unknown warehouse's WSDL is 404, and a GET without ?wsdl too", async () => {
    for (const path of ["/v1/warehouses/eu-nowhere/soap?wsdl", "/v1/warehouses/eu-war/soap", "/v1/warehouses/dispatch-order"]) {
      const res = await fetchWorker(`http://edge.test${path}`);
      expect([path, res.status, res.headers.get("content-type")]).toEqual([path, 404, "application/problem+json"]);
    }
  });
});
