// One way to hand a confirmed sale to a warehouse, whatever it speaks. The caller (the dispatch
// queue consumer) retries when `retryable` says so, with the same order and so the same deliveryId.
import type { DispatchOrder, DispatchResult, WarehouseConfig } from "../contracts";
import { dispatchJson } from "./json";
import { dispatchSoap } from "./soap";

export async function dispatchTo(
  config: WarehouseConfig,
  secret: string,
  order: DispatchOrder,
  fetcher: typeof fetch = fetch,
): Promise<DispatchResult> {
  if (order.warehouseId !== config.id) {
    return { ok: false, retryable: false, reason: `the order is for warehouse ${order.warehouseId}, not ${config.id}` };
  }
  switch (config.adapter) {
    case "json":
      return dispatchJson(config, secret, order, fetcher);
    case "soap":
      return dispatchSoap(config, secret, order, fetcher);
  }
}
