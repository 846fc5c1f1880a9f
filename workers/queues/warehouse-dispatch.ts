// Consumer of the warehouse-dispatch queue: hands each confirmed sale line to the warehouse that
// ships it, through that warehouse's adapter (signed JSON webhook or SOAP). Every call has a
// timeout; failures retry with exponential backoff and jitter; a per-warehouse circuit breaker
// parks the messages of a dead warehouse without holding up the others. After max_retries the
// queue moves a message to warehouse-dispatch-dlq, whose consumer appends dispatch_failed.
import { inventoryName } from "../../durable-objects/inventory";
import { DispatchMessage } from "../../schema/messages";
import type { DispatchOrder } from "../../warehouses/contracts";
import { dispatchTo } from "../../warehouses/adapters";
import { runLimited } from "../../warehouses/concurrency";
import { connect } from "../db";
import type { Env } from "../env";
import { warehouse } from "../warehouse-config";
import { keepForLater, original, recordDeadLetters } from "./dead-letters";
import { retryDelaySeconds } from "./inventory-events";
import { error, info, warn } from "../../observability/log";
import { record } from "../../observability/metrics";
import { formatTraceparent, traceFrom } from "../../observability/trace";

/** Dispatch fetches open at once per invocation: the Workers limit of simultaneous open connections. */
export const MAX_PARALLEL = 6;
/** How long a probe may be out before another dispatch probes instead: its fetch, with room to report. */
export const probeLeaseMs = (timeoutMs: number) => 2 * timeoutMs + 1_000;

export function deliveryId(m: DispatchMessage): string {
  return `dlv_${m.region}_${m.sku}_${m.seq}`;
}

function stockObject(env: Env, m: DispatchMessage) {
  return env.INVENTORY.get(env.INVENTORY.idFromName(inventoryName(m.region, m.sku)));
}

async function dispatchOne(message: Message<unknown>, env: Env, waitUntil: (p: Promise<unknown>) => void): Promise<void> {
  const parsed = DispatchMessage.safeParse(message.body);
  if (!parsed.success) {
    const { db, close } = connect(env);
    try {
      await recordDeadLetters(db, "warehouse-dispatch", [message], "malformed dispatch message");
    } finally {
      await close();
    }
    return;
  }
  const m = parsed.data;
  // The sale's trace, continued in a span of this attempt (a message without one starts a trace).
  const trace = formatTraceparent(traceFrom(m.trace));
  const fields = { region: m.region, sku: m.sku, reservation: m.reservationId, trace };
  // Before every attempt: is this still a sale its warehouse has to hear about? A line whose cart
  // was not confirmed, or a sale given back (rejected, timed out) stops here, never dispatched.
  const sale = await stockObject(env, m).sale(m.reservationId);
  if (!sale?.stands || sale.allocation === "allocated") {
    info("dispatch_dropped", { ...fields, delivery: deliveryId(m), sale: sale ? `${sale.status}${sale.allocation ? `, ${sale.allocation}` : ""}` : "unknown" });
    message.ack();
    return;
  }
  const target = m.warehouse ? warehouse(env, m.warehouse) : null;
  if (!target) {
    // Nobody to send it to: say so in the sale's events; the allocation deadline compensates.
    await stockObject(env, m).dispatchFailed(m.reservationId, `no configured warehouse '${m.warehouse ?? "none"}' in WAREHOUSES/WAREHOUSE_SECRETS`, trace);
    warn("dispatch_without_warehouse", { ...fields, warehouse: m.warehouse ?? "none" });
    message.ack();
    return;
  }
  const circuit = env.WAREHOUSE_CIRCUITS.get(env.WAREHOUSE_CIRCUITS.idFromName(`${m.region}:${target.config.id}`));
  const admission = await circuit.admit(probeLeaseMs(target.config.timeoutMs));
  if (!admission.admit) {
    message.retry({ delaySeconds: Math.max(1, Math.ceil(admission.retryInMs / 1000)) });
    return;
  }
  const order: DispatchOrder = {
    deliveryId: deliveryId(m),
    warehouseId: target.config.id,
    region: m.region,
    sku: m.sku,
    reservationId: m.reservationId,
    qty: m.qty,
    confirmedAt: new Date(m.confirmedAt).toISOString(),
    traceparent: trace,
  };
  const started = Date.now();
  let result;
  try {
    result = await dispatchTo(target.config, target.secret, order);
  } catch (err) {
    // Nothing reached the warehouse (say, signing failed): a probe gives its lease back unjudged.
    if (admission.probe) await circuit.abandonProbe();
    throw err;
  }
  // A refusal (4xx) is the warehouse answering, not the warehouse being down.
  await circuit.record(result.ok || !result.retryable);
  const outcome = { ...fields, warehouse: target.config.id, delivery: order.deliveryId, attempt: message.attempts, durationMs: Date.now() - started };
  record(env, waitUntil, m.region, { kind: "dispatch", warehouse: target.config.id, result: result.ok ? "ok" : "failed" });
  if (result.ok) {
    await stockObject(env, m).markDispatched(m.reservationId, order.deliveryId, trace);
    info("dispatched", outcome);
    message.ack();
  } else if (!result.retryable) {
    await stockObject(env, m).dispatchFailed(m.reservationId, `${target.config.id} refused the dispatch: ${result.reason}`, trace);
    warn("dispatch_refused", { ...outcome, reason: result.reason });
    message.ack();
  } else {
    warn("dispatch_failed", { ...outcome, reason: result.reason, retry: "with backoff" });
    message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
  }
}

/** Which warehouse a message is for, before it is validated (unknown ones share one lane). */
function warehouseOf(message: Message<unknown>): string {
  const body = message.body as { warehouse?: unknown } | null;
  return typeof body?.warehouse === "string" ? body.warehouse : "";
}

export async function consumeWarehouseDispatch(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext): Promise<void> {
  const waitUntil = (p: Promise<unknown>) => ctx.waitUntil(p);
  await runLimited(
    batch.messages,
    {
      total: MAX_PARALLEL,
      keyOf: warehouseOf,
      limitOf: (id) => {
        try {
          return (id ? warehouse(env, id)?.config.concurrency : undefined) ?? MAX_PARALLEL;
        } catch {
          return MAX_PARALLEL; // a broken WAREHOUSES fails in dispatchOne, per message, with a retry
        }
      },
    },
    async (m) => {
      try {
        await dispatchOne(m, env, waitUntil);
      } catch (err) {
        warn("dispatch_error", { error: err, warehouse: warehouseOf(m), retry: "with backoff" });
        m.retry({ delaySeconds: retryDelaySeconds(m.attempts) });
      }
    },
  );
}

/** Dispatches that exhausted their retries: the sale's events say so, and operators see the letter. */
export async function consumeDispatchDeadLetters(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext): Promise<void> {
  const { db, close } = connect(env);
  try {
    for (const message of batch.messages) {
      const letter = original(message);
      const parsed = DispatchMessage.safeParse(letter.body);
      if (parsed.success) {
        const m = parsed.data;
        await stockObject(env, m).dispatchFailed(m.reservationId, `gave up after ${letter.attempts} attempts`, m.trace);
        if (m.warehouse) record(env, (p) => ctx.waitUntil(p), m.region, { kind: "dispatch", warehouse: m.warehouse, result: "deadLettered" });
        warn("dispatch_dead_lettered", { region: m.region, sku: m.sku, reservation: m.reservationId, warehouse: m.warehouse, attempts: letter.attempts, trace: m.trace });
      }
    }
    await recordDeadLetters(db, batch.queue, batch.messages, "dispatch retries exhausted");
  } catch (err) {
    error("dispatch_dead_letters_not_recorded", { queue: batch.queue, count: batch.messages.length, error: err, retry: "kept for later" });
    await keepForLater(batch, env);
  } finally {
    ctx.waitUntil(close());
  }
}
