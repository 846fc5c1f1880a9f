// Modern warehouses: a Standard Webhooks signed JSON POST, `{ type: "dispatch.requested", data }`.
import type { DispatchOrder, DispatchResult, WarehouseConfig } from "../contracts";
import { type Fetcher, isAnswer, postSigned, resultOfStatus } from "./delivery";

export async function dispatchJson(
  config: WarehouseConfig,
  secret: string,
  order: DispatchOrder,
  fetcher: Fetcher,
): Promise<DispatchResult> {
  const body = JSON.stringify({ type: "dispatch.requested", data: order });
  const sent = await postSigned(config, secret, order.deliveryId, body, { "content-type": "application/json" }, fetcher);
  return isAnswer(sent) ? resultOfStatus(sent) : sent;
}
