// Legacy warehouses: a SOAP 1.1 DispatchOrder call, signed with the same webhook headers as JSON.
import type { DispatchOrder, DispatchResult, WarehouseConfig } from "../contracts";
import { readSoapEnvelope, SOAP_CONTENT_TYPE, soapAction, soapEnvelope } from "../soap-envelope";
import { type Answer, type Fetcher, isAnswer, postSigned, resultOfStatus } from "./delivery";

export const DISPATCH_OPERATION = "DispatchOrder";

export function dispatchEnvelope(order: DispatchOrder): string {
  const { traceparent } = order;
  return soapEnvelope(DISPATCH_OPERATION, {
    DeliveryId: order.deliveryId,
    Region: order.region,
    Sku: order.sku,
    ReservationId: order.reservationId,
    Qty: order.qty,
    ConfirmedAt: order.confirmedAt,
  }, traceparent);
}

export async function dispatchSoap(
  config: WarehouseConfig,
  secret: string,
  order: DispatchOrder,
  fetcher: Fetcher,
): Promise<DispatchResult> {
  const headers = { "content-type": SOAP_CONTENT_TYPE, soapaction: soapAction(DISPATCH_OPERATION), ...(order.traceparent && { traceparent: order.traceparent }) };
  const sent = await postSigned(config, secret, order.deliveryId, dispatchEnvelope(order), headers, fetcher);
  return isAnswer(sent) ? resultOfAnswer(sent) : sent;
}

/**
 * A Fault decides by its code whatever the HTTP status (some SOAP stacks fault with 200): Server may
 * pass on retry, Client (and VersionMismatch, MustUnderstand) never will. Without a Fault, 2xx must
 * carry a DispatchOrderResponse; anything else there is retried, which is safe because the
 * warehouse dedupes on DeliveryId.
 */
function resultOfAnswer(answer: Answer): DispatchResult {
  const read = answer.body.trim() === "" ? undefined : readSoapEnvelope(answer.body);
  const message = read?.ok ? read.message : undefined;
  if (message?.kind === "fault") {
    const code = message.code.split(".")[0];
    const reason = `SOAP ${message.code || "unknown"} fault (HTTP ${answer.status}): ${message.message || "no faultstring"}`;
    return { ok: false, retryable: code === "Server", reason };
  }
  if (answer.status >= 200 && answer.status < 300) {
    if (message?.kind === "operation" && message.name === `${DISPATCH_OPERATION}Response`) return { ok: true, status: answer.status };
    const why = read && !read.ok ? read.reason : `expected <${DISPATCH_OPERATION}Response>`;
    return { ok: false, retryable: true, reason: `HTTP ${answer.status} without a ${DISPATCH_OPERATION}Response: ${why}` };
  }
  return resultOfStatus(answer);
}
