// A legacy warehouse reports stock and allocations in SOAP 1.1; each operation becomes the same event a
// JSON warehouse would send, and anything that is not a clean envelope is refused with a reason.
import { describe, expect, it } from "vitest";
import { WarehouseEvent } from "../warehouses/contracts";
import { parseSoapWarehouseEvent, soapFault, soapResponse } from "../warehouses/soap-inbound";
import { readSoapEnvelope } from "../warehouses/soap-envelope";

const RESERVATION = "0123456789abcdef".repeat(4);

const envelope = (body: string) =>
  `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Header/>
  <soap:Body>
    ${body}
  </soap:Body>
</soap:Envelope>`;

const operation = (name: string, fields: string) => envelope(`<${name} xmlns="urn:edge-inventory:warehouse">${fields}</${name}>`);

it("runs in workerd, with fast-xml-parser bundled", () => {
  expect(navigator.userAgent).toBe("Cloudflare-Workers");
  expect(parseSoapWarehouseEvent(operation("StockReceived", "<Sku>A</Sku><Qty>1</Qty>")).ok).toBe(true);
});

describe("each warehouse operation becomes its JSON event", () => {
  const cases: [string, string, Record<string, unknown>][] = [
    [
      "StockCounted",
      "<Sku>LIP-ROUGE-01</Sku><OnHand>120</OnHand><Sequence>7</Sequence>",
      { type: "stock.counted", sku: "LIP-ROUGE-01", onHand: 120, sequence: 7 },
    ],
    ["StockReceived", "<Sku>LIP-ROUGE-01</Sku><Qty>48</Qty>", { type: "stock.received", sku: "LIP-ROUGE-01", qty: 48 }],
    ["StockDamaged", "<Sku>LIP-ROUGE-01</Sku><Qty>3</Qty>", { type: "stock.damaged", sku: "LIP-ROUGE-01", qty: 3 }],
    [
      "AllocationConfirmed",
      `<Sku>LIP-ROUGE-01</Sku><ReservationId>${RESERVATION}</ReservationId>`,
      { type: "allocation.confirmed", sku: "LIP-ROUGE-01", reservationId: RESERVATION },
    ],
    [
      "AllocationRejected",
      `<Sku>LIP-ROUGE-01</Sku><ReservationId>${RESERVATION}</ReservationId><Reason>Shelf empty &amp; recount due</Reason>`,
      { type: "allocation.rejected", sku: "LIP-ROUGE-01", reservationId: RESERVATION, reason: "Shelf empty & recount due" },
    ],
    [
      "ShipmentShipped",
      `<Sku>LIP-ROUGE-01</Sku><ReservationId>${RESERVATION}</ReservationId><TrackingId>1Z999AA10123456784</TrackingId>`,
      { type: "shipment.shipped", sku: "LIP-ROUGE-01", reservationId: RESERVATION, trackingId: "1Z999AA10123456784" },
    ],
  ];

  it.each(cases)("%s", (name, fields, event) => {
    const parsed = parseSoapWarehouseEvent(operation(name, fields));
    expect(parsed).toEqual({ ok: true, operation: name, event });
    expect(WarehouseEvent.safeParse(parsed.ok && parsed.event).success).toBe(true);
  });

  it("AllocationRejected and ShipmentShipped without their optional fields", () => {
    const rejected = parseSoapWarehouseEvent(operation("AllocationRejected", `<Sku>S1</Sku><ReservationId>${RESERVATION}</ReservationId>`));
    expect(rejected).toEqual({ ok: true, operation: "AllocationRejected", event: { type: "allocation.rejected", sku: "S1", reservationId: RESERVATION } });
    const shipped = parseSoapWarehouseEvent(
      operation("ShipmentShipped", `<Sku>S1</Sku><ReservationId>${RESERVATION}</ReservationId><TrackingId/>`),
    );
    expect(shipped).toEqual({ ok: true, operation: "ShipmentShipped", event: { type: "shipment.shipped", sku: "S1", reservationId: RESERVATION } });
  });

  it("whatever prefixes the sender uses for the envelope and the operation", () => {
    const xml =
      '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:wh="urn:edge-inventory:warehouse">' +
      "<SOAP-ENV:Body><wh:StockReceived><wh:Sku>S1</wh:Sku><Qty> 5 </Qty></wh:StockReceived></SOAP-ENV:Body></SOAP-ENV:Envelope>";
    expect(parseSoapWarehouseEvent(xml)).toEqual({ ok: true, operation: "StockReceived", event: { type: "stock.received", sku: "S1", qty: 5 } });
  });

  it("with character references and CDATA decoded once", () => {
    const parsed = parseSoapWarehouseEvent(
      operation("AllocationRejected", `<Sku>S1</Sku><ReservationId>${RESERVATION}</ReservationId><Reason>&#65;&lt;B<![CDATA[&amp;]]></Reason>`),
    );
    expect(parsed.ok && (parsed.event as { reason: string }).reason).toBe("A<B&amp;");
  });

  it("leaving out-of-range numbers for the schema to refuse", () => {
    const parsed = parseSoapWarehouseEvent(operation("StockReceived", "<Sku>S1</Sku><Qty>-4</Qty>"));
    expect(parsed).toEqual({ ok: true, operation: "StockReceived", event: { type: "stock.received", sku: "S1", qty: -4 } });
    expect(WarehouseEvent.safeParse(parsed.ok && parsed.event).success).toBe(false);
  });
});

describe("anything but a clean envelope is refused with a reason", () => {
  const refused: [string, string, string | RegExp][] = [
    ["malformed XML", "<soap:Envelope xmlns:soap='http://schemas.xmlsoap.org/soap/envelope/'><soap:Body></soap:Envelope>", /^malformed XML: /],
    ["not XML at all", '{"type":"stock.received"}', /^malformed XML: /],
    ["an empty body", "", /^malformed XML|exactly one root/],
    ["no envelope", '<StockReceived xmlns="urn:edge-inventory:warehouse"><Sku>S1</Sku><Qty>1</Qty></StockReceived>', /SOAP 1\.1 Envelope/],
    [
      "a SOAP 1.2 envelope",
      '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body/></env:Envelope>',
      /SOAP 1\.1 Envelope/,
    ],
    ["an envelope without a Body", '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"/>', "the Envelope must have exactly one Body"],
    ["an empty Body", envelope(""), "the Body must hold exactly one operation, found 0"],
    [
      "two operations in one Body",
      envelope('<StockReceived xmlns="urn:edge-inventory:warehouse"><Sku>S1</Sku><Qty>1</Qty></StockReceived><StockDamaged xmlns="urn:edge-inventory:warehouse"><Sku>S1</Sku><Qty>1</Qty></StockDamaged>'),
      "the Body must hold exactly one operation, found 2",
    ],
    ["an unknown operation", operation("StockStolen", "<Sku>S1</Sku>"), /^unknown operation <StockStolen>; expected one of StockCounted, /],
    [
      "an operation outside the warehouse namespace",
      envelope("<StockReceived><Sku>S1</Sku><Qty>1</Qty></StockReceived>"),
      "<StockReceived> must be in the urn:edge-inventory:warehouse namespace",
    ],
    ["a missing field", operation("StockCounted", "<Sku>S1</Sku><OnHand>3</OnHand>"), "<Sequence> is missing from <StockCounted>"],
    ["an empty required field", operation("StockReceived", "<Sku/><Qty>1</Qty>"), "<Sku> is missing from <StockReceived>"],
    ["an unexpected field", operation("StockReceived", "<Sku>S1</Sku><Qty>1</Qty><Price>9</Price>"), "unexpected element <Price> in <StockReceived>"],
    ["a repeated field", operation("StockReceived", "<Sku>S1</Sku><Sku>S2</Sku><Qty>1</Qty>"), "in <StockReceived>: <Sku> appears more than once"],
    ["a nested field", operation("StockReceived", "<Sku><Code>S1</Code></Sku><Qty>1</Qty>"), "in <StockReceived>: <Sku> must hold text, not elements"],
    ["a number that is not one", operation("StockReceived", "<Sku>S1</Sku><Qty>twelve</Qty>"), '<Qty> must be a number, got "twelve"'],
    ["a SOAP Fault", readyFault(), "a SOAP Fault is not a warehouse event"],
  ];

  it.each(refused)("%s", (_name, xml, reason) => {
    const parsed = parseSoapWarehouseEvent(xml);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? undefined : parsed.reason).toMatch(reason instanceof RegExp ? reason : new RegExp(`^${escapeRegExp(reason)}$`));
  });

  it("a DOCTYPE with an external entity (XXE)", () => {
    const xxe = `<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>${operation("StockReceived", "<Sku>&xxe;</Sku><Qty>1</Qty>").replace(/^<\?xml[^>]*>/, "")}`;
    expect(parseSoapWarehouseEvent(xxe)).toEqual({ ok: false, reason: "DOCTYPE and ENTITY declarations are not allowed" });
  });

  it("a DOCTYPE with nested entities (billion laughs)", () => {
    const laughs = `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>${operation("StockReceived", "<Sku>&lol2;</Sku><Qty>1</Qty>")}`;
    expect(parseSoapWarehouseEvent(laughs)).toEqual({ ok: false, reason: "DOCTYPE and ENTITY declarations are not allowed" });
  });

  it("a lower-case doctype too", () => {
    expect(parseSoapWarehouseEvent(`<!doctype x>${operation("StockReceived", "<Sku>S1</Sku><Qty>1</Qty>")}`).ok).toBe(false);
  });

  it("an envelope too large to be a warehouse event", () => {
    const huge = operation("AllocationRejected", `<Sku>S1</Sku><ReservationId>${RESERVATION}</ReservationId><Reason>${"x".repeat(300_000)}</Reason>`);
    expect(parseSoapWarehouseEvent(huge)).toEqual({ ok: false, reason: "the envelope is larger than 262144 characters" });
  });
});

describe("replies to a warehouse", () => {
  it("soapResponse answers an operation with <OperationResponse> in the warehouse namespace", () => {
    const xml = soapResponse("StockCounted", { Accepted: true, Applied: 1, Note: "a<b & c", Skipped: undefined });
    expect(xml).toBe(
      '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>' +
        '<StockCountedResponse xmlns="urn:edge-inventory:warehouse"><Accepted>true</Accepted><Applied>1</Applied><Note>a&lt;b &amp; c</Note></StockCountedResponse>' +
        "</soap:Body></soap:Envelope>",
    );
    expect(readSoapEnvelope(xml)).toEqual({
      ok: true,
      message: {
        kind: "operation",
        name: "StockCountedResponse",
        namespace: "urn:edge-inventory:warehouse",
        fields: { Accepted: "true", Applied: "1", Note: "a<b & c" },
        headers: {},
      },
    });
  });

  it("soapResponse refuses a name that would break the XML", () => {
    expect(() => soapResponse("Stock Counted", {})).toThrow(TypeError);
    expect(() => soapResponse("StockCounted", { "<x>": 1 })).toThrow(TypeError);
  });

  it.each(["Client", "Server"] as const)("soapFault builds a %s fault with an escaped faultstring", (code) => {
    const xml = soapFault(code, 'Unknown SKU "<LIP>" & more');
    expect(xml).toContain(`<soap:Fault><faultcode>soap:${code}</faultcode><faultstring>Unknown SKU &quot;&lt;LIP&gt;&quot; &amp; more</faultstring></soap:Fault>`);
    expect(readSoapEnvelope(xml)).toEqual({ ok: true, message: { kind: "fault", code, message: 'Unknown SKU "<LIP>" & more' } });
  });
});

function readyFault(): string {
  return soapFault("Client", "nope");
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
