// Warehouses tell us what happened: counts, receipts, damage, allocation results and shipments.
// Modern warehouses POST JSON, legacy ones SOAP 1.1; both sign the raw body the Standard Webhooks
// way (webhook-id, webhook-timestamp, webhook-signature; 5-minute tolerance). The signature is
// checked before anything is parsed, and the event id is deduplicated inside the SKU-region object
// in the same transaction as the change, so a replayed or duplicated delivery changes nothing.
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { inventoryName, type WarehouseEventOutcome } from "../../durable-objects/inventory";
import { WarehouseEvent, WAREHOUSE_ID } from "../../warehouses/contracts";
import { verifyWebhook } from "../../warehouses/signing";
import { inboundWsdl, parseSoapWarehouseEvent, SOAP_CONTENT_TYPE, soapFault, soapResponse } from "../../warehouses/soap-inbound";
import { DISPATCH_ORDER_SERVICE, wsdlDocument } from "../../warehouses/wsdl.mjs";
import type { AppEnv } from "../env";
import { Problem } from "../problems";
import { error } from "../../observability/log";
import { continueTrace, formatTraceparent, parseTraceparent } from "../../observability/trace";
import { warehouse } from "../warehouse-config";
import { openAccess, problems, warehouseAccess } from "./contract";

type Accepted = { status: "applied" | "ignored" | "duplicate"; detail?: string; version: number };

/** Who is calling and whether they signed this body; throws a Problem otherwise. */
async function authenticate(c: Context<AppEnv>, body: string) {
  const id = c.req.param("warehouseId") ?? "";
  const target = WAREHOUSE_ID.test(id) ? warehouse(c.env, id) : null;
  const served = c.env.REGIONS.split(",").map((r) => r.trim());
  if (!target || !served.includes(target.config.region)) {
    throw new Problem("unknown_warehouse", `Warehouse '${id}' is not configured in this deployment`);
  }
  const webhookId = c.req.header("webhook-id") ?? null;
  // The id is remembered for 48 h to refuse replays: keep it to a sensible size.
  if (webhookId && webhookId.length > 255) throw new Problem("invalid_request", "webhook-id must be at most 255 characters; nothing was changed");
  const verified = await verifyWebhook(
    target.secret,
    { id: webhookId, timestamp: c.req.header("webhook-timestamp") ?? null, signature: c.req.header("webhook-signature") ?? null },
    body,
    Math.floor(Date.now() / 1000),
  );
  if (!verified.ok) throw new Problem("invalid_signature", `${verified.reason}; nothing was changed`);
  return { config: target.config, eventId: webhookId! };
}

async function apply(c: Context<AppEnv>, region: string, warehouseId: string, eventId: string, event: WarehouseEvent): Promise<Accepted> {
  const stub = c.env.INVENTORY.get(c.env.INVENTORY.idFromName(inventoryName(region, event.sku)));
  // A callback continues the trace the warehouse was given with its dispatch (or starts one).
  const trace = formatTraceparent(c.get("trace"));
  const outcome: WarehouseEventOutcome & { duplicate?: boolean } = await stub.warehouseEvent(event.sku, region, warehouseId, eventId, event, trace);
  if (!outcome.ok) throw new Problem(outcome.code, outcome.detail);
  return {
    status: outcome.duplicate ? "duplicate" : outcome.result,
    ...(outcome.detail !== undefined && { detail: outcome.detail }),
    version: outcome.version,
  };
}

function validated(candidate: unknown): WarehouseEvent {
  const parsed = WarehouseEvent.safeParse(candidate);
  if (!parsed.success) {
    const summary = parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ");
    throw new Problem("invalid_request", summary);
  }
  return parsed.data;
}

export const warehouseInbound = new OpenAPIHono<AppEnv>();

warehouseInbound.post("/v1/warehouses/:warehouseId/events", async (c) => {
  const body = await c.req.text();
  const { config, eventId } = await authenticate(c, body);
  let candidate: unknown;
  try {
    candidate = JSON.parse(body);
  } catch {
    throw new Problem("malformed_json", "The body is not valid JSON; nothing was changed");
  }
  return c.json(await apply(c, config.region, config.id, eventId, validated(candidate)), 200);
});

// SOAP 1.1 (section 6.2) and WS-I BP R1126: every Fault goes with HTTP 500, whatever its code;
// the faultcode (Client, Server, VersionMismatch, MustUnderstand) says what kind it is.
const FAULT_STATUS = 500;
const xml = (c: Context<AppEnv>, status: 200 | 500, text: string) => c.body(text, status, { "content-type": SOAP_CONTENT_TYPE });

warehouseInbound.post("/v1/warehouses/:warehouseId/soap", async (c) => {
  try {
    const body = await c.req.text();
    const { config, eventId } = await authenticate(c, body);
    const read = parseSoapWarehouseEvent(body);
    if (!read.ok) return xml(c, FAULT_STATUS, soapFault(read.fault ?? "Client", `invalid_request: ${read.reason}; nothing was changed`));
    // The Traceparent header block, when valid, is the trace this call continues (an invalid one is ignored).
    const carried = parseTraceparent(read.traceparent);
    if (carried) c.set("trace", continueTrace(carried));
    const accepted = await apply(c, config.region, config.id, eventId, validated(read.event));
    return xml(c, 200, soapResponse(read.operation, { Status: accepted.status, Version: accepted.version, Detail: accepted.detail }));
  } catch (err) {
    // Legacy clients understand SOAP Faults; the faultstring starts with the same code as our problems.
    if (err instanceof Problem) return xml(c, FAULT_STATUS, soapFault("Client", `${err.code}: ${err.message}`));
    error("soap_endpoint_failed", { warehouse: c.req.param("warehouseId"), error: err, trace: c.get("trace").traceId });
    return xml(c, FAULT_STATUS, soapFault("Server", "internal error; retry later"));
  }
});

/** The WSDL of the inbound service, at the endpoint's own address with `?wsdl` (the SOAP convention). */
warehouseInbound.get("/v1/warehouses/:warehouseId/soap", (c) => {
  if (c.req.query("wsdl") === undefined) throw new Problem("not_found", "POST a SOAP envelope here, or GET ?wsdl for its description");
  const id = c.req.param("warehouseId");
  const target = WAREHOUSE_ID.test(id) ? warehouse(c.env, id) : null;
  const served = c.env.REGIONS.split(",").map((r) => r.trim());
  if (!target || !served.includes(target.config.region)) throw new Problem("unknown_warehouse", `Warehouse '${id}' is not configured in this deployment`);
  const url = new URL(c.req.url);
  return xml(c, 200, inboundWsdl(`${url.origin}${url.pathname}`));
});

/**
 * The DispatchOrder service a legacy warehouse implements for us, as a WSDL to build it from. Its
 * address is a placeholder: each warehouse's real one is in WAREHOUSES, which we do not publish.
 */
warehouseInbound.get("/v1/warehouses/dispatch-order", (c) => {
  if (c.req.query("wsdl") === undefined) throw new Problem("not_found", "GET ?wsdl for the DispatchOrder service description");
  return xml(c, 200, wsdlDocument(DISPATCH_ORDER_SERVICE, "https://warehouse.example/soap"));
});

/** The body limit's answer: a SOAP Fault on the SOAP endpoint (its clients read nothing else), a problem elsewhere. */
export function bodyTooLarge(c: Context, maxBytes: number): Response {
  if (c.req.method === "POST" && /^\/v1\/warehouses\/[^/]+\/soap$/.test(c.req.path)) {
    return c.body(soapFault("Client", `payload_too_large: bodies are limited to ${maxBytes / 1024} KiB; nothing was changed`), FAULT_STATUS, {
      "content-type": SOAP_CONTENT_TYPE,
    });
  }
  throw new Problem("payload_too_large", `Bodies are limited to ${maxBytes / 1024} KiB`);
}

// Documented by hand: these routes read the raw body (the signature covers its exact bytes).
const WebhookHeaders = z.object({
  "webhook-id": z.string().max(255).openapi({ description: "Unique per event; a replay of an id seen in 48 h changes nothing", example: "evt_2Qh7c1b0" }),
  "webhook-timestamp": z.string().regex(/^[0-9]+$/).openapi({ description: "Unix seconds; refused more than 5 minutes away", example: "1763895600" }),
  "webhook-signature": z.string().openapi({ example: "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=" }),
  traceparent: z.string().optional().openapi({
    description:
      "W3C Trace Context. We send the sale's trace with every dispatch (SOAP: also a Traceparent header block in " +
      "urn:edge-inventory:warehouse); send it back with your callbacks and we continue that trace. An invalid one is ignored.",
    example: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  }),
});
const WarehouseParams = z.object({ warehouseId: z.string().regex(WAREHOUSE_ID).openapi({ param: { name: "warehouseId", in: "path" }, example: "eu-ams" }) });
const Accepted = z
  .object({ status: z.enum(["applied", "ignored", "duplicate"]), detail: z.string().optional(), version: z.number().int() })
  .openapi("WarehouseEventAccepted", { example: { status: "applied", version: 12 } });
const soap = (description: string, example: string) => ({
  description,
  content: { "text/xml": { schema: z.string().openapi({ example }) } },
});
const SOAP_FAULT_EXAMPLE =
  '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>' +
  "<soap:Fault><faultcode>soap:Client</faultcode><faultstring>invalid_signature: signature does not match; nothing was changed</faultstring></soap:Fault></soap:Body></soap:Envelope>";

warehouseInbound.openAPIRegistry.registerPath({
  method: "post",
  path: "/v1/warehouses/{warehouseId}/events",
  operationId: "receiveWarehouseEvent",
  tags: ["warehouses"],
  security: warehouseAccess,
  summary: "A warehouse reports an event (JSON, Standard Webhooks signature)",
  request: {
    params: WarehouseParams,
    headers: WebhookHeaders,
    body: { content: { "application/json": { schema: WarehouseEvent } }, required: true },
  },
  responses: {
    200: { description: "Applied, ignored (stale or no-op) or a duplicate of an event already applied", content: { "application/json": { schema: Accepted } } },
    ...problems("invalid_request", "malformed_json", "payload_too_large", "invalid_signature", "unknown_warehouse", "reservation_not_found", "wrong_warehouse", "try_again"),
  },
});

warehouseInbound.openAPIRegistry.registerPath({
  method: "post",
  path: "/v1/warehouses/{warehouseId}/soap",
  operationId: "receiveWarehouseSoapEvent",
  tags: ["warehouses"],
  security: warehouseAccess,
  summary: "A legacy warehouse reports an event (SOAP 1.1 envelope, same signature headers)",
  request: {
    params: WarehouseParams,
    headers: WebhookHeaders.extend({ soapaction: z.string().optional() }),
    body: { content: { "text/xml": { schema: z.string().openapi({ example: "<soap:Envelope ...><soap:Body><AllocationConfirmed xmlns=\"urn:edge-inventory:warehouse\">...</AllocationConfirmed></soap:Body></soap:Envelope>" }) } }, required: true },
  },
  responses: {
    200: soap("<{Operation}Response> with Status, Version and Detail", '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><StockCountedResponse xmlns="urn:edge-inventory:warehouse"><Status>applied</Status><Version>12</Version></StockCountedResponse></soap:Body></soap:Envelope>'),
    500: soap(
      "SOAP Fault, always with HTTP 500 (SOAP 1.1, WS-I BP R1126). faultcode Client: bad signature, unknown warehouse or sale, malformed XML, " +
        "invalid event or a body over 64 KiB (the faultstring starts with the problem code); VersionMismatch: not a SOAP 1.1 envelope; " +
        "MustUnderstand: a mustUnderstand header block we do not process; Server: our failure, retry later",
      SOAP_FAULT_EXAMPLE,
    ),
  },
});

// What we send to a JSON warehouse when a sale is final (warehouses/adapters/json.ts). SOAP
// warehouses get the same order as a <DispatchOrder> envelope.
const DispatchRequested = z
  .object({
    type: z.literal("dispatch.requested"),
    data: z.object({
      deliveryId: z.string().openapi({ description: "Stable across retries: deduplicate on it" }),
      warehouseId: z.string(),
      region: z.string(),
      sku: z.string(),
      reservationId: z.string(),
      qty: z.number().int().min(1),
      confirmedAt: z.string().openapi({ format: "date-time" }),
    }),
  })
  .openapi("DispatchRequested", {
    example: {
      type: "dispatch.requested",
      data: {
        deliveryId: "dlv_eu_LIP-ROUGE-01_41",
        warehouseId: "eu-ams",
        region: "eu",
        sku: "LIP-ROUGE-01",
        reservationId: "d901208f08855a4b35bff7c93ea6115f9ed0b22dd44afcdace3de7b7970ec56c",
        qty: 2,
        confirmedAt: "2026-12-01T07:38:17.815Z",
      },
    },
  });

warehouseInbound.openAPIRegistry.registerWebhook({
  method: "post",
  path: "dispatchRequested",
  operationId: "dispatchToWarehouse",
  tags: ["warehouses"],
  summary: "We ask a warehouse to ship a confirmed sale (signed JSON POST to its configured URL)",
  description:
    "Signed like inbound events (webhook-id is the deliveryId, webhook-timestamp, webhook-signature with the warehouse's secret). " +
    "Retried with backoff until the warehouse answers 2xx; then it reports allocation.confirmed or allocation.rejected, and " +
    "shipment.shipped, to POST /v1/warehouses/{warehouseId}/events.",
  // The warehouse checks our signature as we check theirs.
  security: warehouseAccess,
  request: {
    headers: WebhookHeaders,
    body: { content: { "application/json": { schema: DispatchRequested } }, required: true },
  },
  responses: {
    200: { description: "Taken (any 2xx)" },
    409: { description: "Already taken under this deliveryId: counts as taken" },
    400: { description: "The request is wrong: not retried, the sale waits for an operator" },
    503: { description: "Any 5xx, 408 or 429: retried later" },
  },
});

warehouseInbound.openAPIRegistry.registerPath({
  method: "get",
  path: "/v1/warehouses/{warehouseId}/soap",
  operationId: "getWarehouseServiceWsdl",
  tags: ["warehouses"],
  security: openAccess,
  summary: "The WSDL of the legacy warehouse service (send `?wsdl`)",
  request: { params: WarehouseParams, query: z.object({ wsdl: z.string().openapi({ example: "" }) }) },
  responses: {
    200: { description: "WSDL 1.1, document/literal, SOAP 1.1 over HTTP", content: { "text/xml": { schema: z.string() } } },
    ...problems("not_found", "unknown_warehouse"),
  },
});

warehouseInbound.openAPIRegistry.registerPath({
  method: "get",
  path: "/v1/warehouses/dispatch-order",
  operationId: "getDispatchOrderWsdl",
  tags: ["warehouses"],
  security: openAccess,
  summary: "The WSDL of the DispatchOrder service a legacy warehouse implements for us (send `?wsdl`)",
  request: { query: z.object({ wsdl: z.string().openapi({ example: "" }) }) },
  responses: {
    200: { description: "WSDL 1.1, document/literal, SOAP 1.1 over HTTP", content: { "text/xml": { schema: z.string() } } },
    ...problems("not_found"),
  },
});
