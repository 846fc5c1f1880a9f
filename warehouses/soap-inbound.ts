// What a legacy warehouse tells us over SOAP, turned into the same event object its JSON peers send,
// so one zod schema (WarehouseEvent in ./contracts) judges both. This file only translates: it checks
// the envelope and the operation's fields, and leaves ranges and formats to the schema.
import { readSoapEnvelope, soapEnvelope, soapFaultEnvelope, TRACEPARENT_BLOCK, WAREHOUSE_NS } from "./soap-envelope";
import type { SoapFaultCode, SoapFields, SoapRefusal } from "./soap-envelope";
import { wsdlDocument, type WsdlService } from "./wsdl.mjs";

export { SOAP_CONTENT_TYPE, soapAction } from "./soap-envelope";

type FieldKind = "text" | "number";
type FieldSpec = { element: string; key: string; kind: FieldKind; optional?: boolean };
type OperationSpec = { type: string; fields: FieldSpec[] };

const sku: FieldSpec = { element: "Sku", key: "sku", kind: "text" };
const reservationId: FieldSpec = { element: "ReservationId", key: "reservationId", kind: "text" };
const qty: FieldSpec = { element: "Qty", key: "qty", kind: "number" };

/** The operations a warehouse may call, by element name, and the event type each becomes. */
export const INBOUND_OPERATIONS: Readonly<Record<string, OperationSpec>> = {
  StockCounted: {
    type: "stock.counted",
    fields: [sku, { element: "OnHand", key: "onHand", kind: "number" }, { element: "Sequence", key: "sequence", kind: "number" }],
  },
  StockReceived: { type: "stock.received", fields: [sku, qty] },
  StockDamaged: { type: "stock.damaged", fields: [sku, qty] },
  AllocationConfirmed: { type: "allocation.confirmed", fields: [sku, reservationId] },
  AllocationRejected: {
    type: "allocation.rejected",
    fields: [sku, reservationId, { element: "Reason", key: "reason", kind: "text", optional: true }],
  },
  ShipmentShipped: {
    type: "shipment.shipped",
    fields: [sku, reservationId, { element: "TrackingId", key: "trackingId", kind: "text", optional: true }],
  },
};

/** `traceparent`: what the Traceparent header block carried, if any (validated by the caller). */
export type SoapInbound = { ok: true; operation: string; event: unknown; traceparent?: string } | SoapRefusal;

/**
 * Header blocks we process, as `{namespace}local`: the Traceparent block (the trace the warehouse
 * continues, see observability/trace.ts). Any other block a warehouse marks mustUnderstand="1" is
 * refused with a MustUnderstand fault; unmarked blocks are ignored.
 */
export const UNDERSTOOD_HEADERS: ReadonlySet<string> = new Set([TRACEPARENT_BLOCK]);

const XSD_TYPE: Record<FieldKind, string> = { text: "string", number: "int" };

/** The inbound service as the WSDL describes it, from the same table the reader uses. */
export const WAREHOUSE_EVENTS_SERVICE: WsdlService = {
  name: "WarehouseEvents",
  documentation: "Called by a legacy warehouse; sign each request with the Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature).",
  operations: Object.entries(INBOUND_OPERATIONS).map(([name, spec]) => ({
    name,
    fields: spec.fields.map((f) => ({ name: f.element, type: XSD_TYPE[f.kind], ...(f.optional && { optional: true }) })),
    response: [
      { name: "Status", type: "string" },
      { name: "Version", type: "int" },
      { name: "Detail", type: "string", optional: true },
    ],
  })),
};

/** The WSDL of the inbound service whose endpoint is `location`. */
export function inboundWsdl(location: string): string {
  return wsdlDocument(WAREHOUSE_EVENTS_SERVICE, location);
}

/**
 * Reads a warehouse's SOAP 1.1 envelope into an unvalidated event object (`{ type: "stock.counted",
 * sku, onHand, sequence }` and so on). `operation` is the element name, for soapResponse.
 */
export function parseSoapWarehouseEvent(xml: string): SoapInbound {
  const read = readSoapEnvelope(xml, UNDERSTOOD_HEADERS);
  if (!read.ok) return read;
  const message = read.message;
  if (message.kind === "fault") return { ok: false, reason: "a SOAP Fault is not a warehouse event" };
  if (message.namespace !== WAREHOUSE_NS) {
    return { ok: false, reason: `<${message.name}> must be in the ${WAREHOUSE_NS} namespace` };
  }
  const spec = Object.hasOwn(INBOUND_OPERATIONS, message.name) ? INBOUND_OPERATIONS[message.name] : undefined;
  if (!spec) {
    return { ok: false, reason: `unknown operation <${message.name}>; expected one of ${Object.keys(INBOUND_OPERATIONS).join(", ")}` };
  }

  const known = new Set(spec.fields.map((f) => f.element));
  const unexpected = Object.keys(message.fields).find((element) => !known.has(element));
  if (unexpected) return { ok: false, reason: `unexpected element <${unexpected}> in <${message.name}>` };

  const event: Record<string, unknown> = { type: spec.type };
  for (const field of spec.fields) {
    const text = message.fields[field.element];
    if (text === undefined || text === "") {
      if (field.optional) continue;
      return { ok: false, reason: `<${field.element}> is missing from <${message.name}>` };
    }
    if (field.kind === "number") {
      if (!/^-?\d+(\.\d+)?$/.test(text)) return { ok: false, reason: `<${field.element}> must be a number, got "${text.slice(0, 40)}"` };
      event[field.key] = Number(text);
    } else {
      event[field.key] = text;
    }
  }
  const traceparent = message.headers[TRACEPARENT_BLOCK];
  return { ok: true, operation: message.name, event, ...(traceparent && { traceparent }) };
}

/** The reply to an operation: `<{operation}Response>` with one element per field. */
export function soapResponse(operation: string, fields: SoapFields = {}): string {
  return soapEnvelope(`${operation}Response`, fields);
}

/** A SOAP Fault: Client when the sender must fix the message, Server when retrying may help. Send with HTTP 500. */
export function soapFault(code: SoapFaultCode, message: string): string {
  return soapFaultEnvelope(code, message);
}
