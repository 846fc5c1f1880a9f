// Modern warehouses: a Standard Webhooks signed JSON POST, `{ type: "dispatch.requested", data }`.
import type { DispatchOrder, DispatchResult, WarehouseConfig } from "../contracts";
import { type Fetcher, isAnswer, postSigned, resultOfStatus } from "./delivery";

export async function dispatchJson(
  config: WarehouseConfig,
  secret: string,
  order: DispatchOrder,
  fetcher: Fetcher,
): Promise<DispatchResult> {
  // The trace travels as the HTTP traceparent header, not in the order the warehouse stores.
  const { traceparent, ...data } = order;
  const body = JSON.stringify({ type: "dispatch.requested", data });
  const headers = { "content-type": "application/json", ...(traceparent && { traceparent }) };
  const sent = await postSigned(config, secret, order.deliveryId, body, headers, fetcher);
  return isAnswer(sent) ? resultOfStatus(sent) : sent;
}
