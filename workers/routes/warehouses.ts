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
import { parseSoapWarehouseEvent, SOAP_CONTENT_TYPE, soapFault, soapResponse } from "../../warehouses/soap-inbound";
import type { AppEnv } from "../env";
import { Problem } from "../problems";
import { warehouse } from "../warehouse-config";
import { problemContent } from "./common";

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
  const outcome: WarehouseEventOutcome & { duplicate?: boolean } = await stub.warehouseEvent(event.sku, region, warehouseId, eventId, event);
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

const soapStatus: Record<string, number> = { invalid_signature: 401, unknown_warehouse: 404, reservation_not_found: 404, wrong_warehouse: 409 };

warehouseInbound.post("/v1/warehouses/:warehouseId/soap", async (c) => {
  const xml = (status: number, text: string) => c.body(text, status as 200, { "content-type": SOAP_CONTENT_TYPE });
  try {
    const body = await c.req.text();
    const { config, eventId } = await authenticate(c, body);
    const read = parseSoapWarehouseEvent(body);
    if (!read.ok) throw new Problem("invalid_request", read.reason);
    const accepted = await apply(c, config.region, config.id, eventId, validated(read.event));
    return xml(200, soapResponse(read.operation, { Status: accepted.status, Version: accepted.version, Detail: accepted.detail }));
  } catch (err) {
    // Legacy clients understand SOAP Faults; the HTTP status still says what kind of failure it was.
    if (err instanceof Problem) return xml(soapStatus[err.code] ?? 400, soapFault("Client", `${err.code}: ${err.message}`));
    console.error("soap endpoint failed", err);
    return xml(500, soapFault("Server", "internal error; retry later"));
  }
});

// Documented by hand: these routes read the raw body (the signature covers its exact bytes).
const WebhookHeaders = z.object({
  "webhook-id": z.string().openapi({ example: "evt_2Qh7..." }),
  "webhook-timestamp": z.string().openapi({ example: "1763895600" }),
  "webhook-signature": z.string().openapi({ example: "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=" }),
});
const WarehouseParams = z.object({ warehouseId: z.string().openapi({ param: { name: "warehouseId", in: "path" }, example: "eu-ams" }) });
const Accepted = z
  .object({ status: z.enum(["applied", "ignored", "duplicate"]), detail: z.string().optional(), version: z.number().int() })
  .openapi("WarehouseEventAccepted");

warehouseInbound.openAPIRegistry.registerPath({
  method: "post",
  path: "/v1/warehouses/{warehouseId}/events",
  tags: ["warehouses"],
  summary: "A warehouse reports an event (JSON, Standard Webhooks signature)",
  request: {
    params: WarehouseParams,
    headers: WebhookHeaders,
    body: { content: { "application/json": { schema: WarehouseEvent } }, required: true },
  },
  responses: {
    200: { description: "Applied, ignored (stale or no-op) or a duplicate of an event already applied", content: { "application/json": { schema: Accepted } } },
    400: problemContent("Malformed JSON or an invalid event"),
    401: problemContent("Missing or wrong signature, or a timestamp outside 5 minutes"),
    404: problemContent("Unknown warehouse or sale"),
    409: problemContent("The sale ships from another warehouse"),
  },
});

warehouseInbound.openAPIRegistry.registerPath({
  method: "post",
  path: "/v1/warehouses/{warehouseId}/soap",
  tags: ["warehouses"],
  summary: "A legacy warehouse reports an event (SOAP 1.1 envelope, same signature headers)",
  request: {
    params: WarehouseParams,
    headers: WebhookHeaders.extend({ soapaction: z.string().optional() }),
    body: { content: { "text/xml": { schema: z.string().openapi({ example: "<soap:Envelope ...><soap:Body><AllocationConfirmed xmlns=\"urn:edge-inventory:warehouse\">...</AllocationConfirmed></soap:Body></soap:Envelope>" }) } }, required: true },
  },
  responses: {
    200: { description: "<{Operation}Response> with Status, Version and Detail", content: { "text/xml": { schema: z.string() } } },
    400: { description: "SOAP Fault (Client): malformed XML or an invalid event", content: { "text/xml": { schema: z.string() } } },
    401: { description: "SOAP Fault (Client): signature", content: { "text/xml": { schema: z.string() } } },
  },
});
