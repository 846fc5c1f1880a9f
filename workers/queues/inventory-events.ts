// Consumer of the inventory-events queue: stores each event once in the Postgres log and applies
// it to the projections in sequence order per SKU-region. Redeliveries change nothing (the event
// id is the table key); an event that arrives before its predecessor is stored and applied once
// the gap is filled. Failures retry per message with exponential backoff and jitter; after
// max_retries the queue moves the message to the dead-letter queue.
import { projectionTables } from "../../schema/tables";
import { InventoryEventMessage } from "../../schema/messages";
import { applyPending, recordEvents, type LoggedEvent } from "../../system-of-record/projection";
import { connect } from "../db";
import type { Env } from "../env";
import { recordDeadLetters } from "./dead-letters";
import { record } from "../../observability/metrics";
import { warn } from "../../observability/log";
import { traceIdOf } from "../../observability/trace";

const live = projectionTables();
const MAX_PARALLEL_STREAMS = 4;

export function retryDelaySeconds(attempts: number): number {
  const base = Math.min(300, 2 ** Math.min(attempts, 9));
  return Math.max(1, Math.round(base / 2 + Math.random() * (base / 2)));
}

export async function consumeInventoryEvents(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext): Promise<void> {
  const { db, close } = connect(env);
  const now = Date.now();
  const waitUntil = (p: Promise<unknown>) => ctx.waitUntil(p);
  try {
    const streams = new Map<string, { region: string; sku: string; messages: Message<unknown>[]; events: LoggedEvent[] }>();
    const malformed: Message<unknown>[] = [];
    for (const message of batch.messages) {
      const parsed = InventoryEventMessage.safeParse(message.body);
      if (!parsed.success) {
        malformed.push(message);
        continue;
      }
      const e = parsed.data;
      const key = `${e.region}:${e.sku}`;
      const stream = streams.get(key) ?? { region: e.region, sku: e.sku, messages: [], events: [] };
      stream.messages.push(message);
      stream.events.push({ region: e.region, sku: e.sku, seq: e.seq, type: e.type, occurredAt: new Date(e.at), payload: e.payload, traceId: traceIdOf(e.trace) });
      // How long the event waited in its object's outbox, then on the queue.
      const sentAt = message.timestamp.getTime();
      record(env, waitUntil, e.region, { kind: "outbox_age", ms: sentAt - e.at }, now);
      record(env, waitUntil, e.region, { kind: "queue_lag", ms: now - sentAt }, now);
      streams.set(key, stream);
    }
    // Nothing will ever make a malformed message valid: park it for operators straight away.
    if (malformed.length) await recordDeadLetters(db, batch.queue, malformed, "malformed message");

    const pending = [...streams.values()];
    const worker = async () => {
      for (let stream = pending.shift(); stream; stream = pending.shift()) {
        try {
          const stored = await db.transaction(async (tx) => {
            const types = await recordEvents(tx, stream.events);
            await applyPending(tx, live, stream.region, stream.sku);
            return types;
          });
          // Expiries happen inside the objects: counted once, as Postgres first stores them.
          for (const type of stored) if (type === "hold_expired") record(env, waitUntil, stream.region, { kind: "reservation", outcome: "expired" });
          for (const m of stream.messages) m.ack();
        } catch (err) {
          warn("events_not_stored", { region: stream.region, sku: stream.sku, count: stream.events.length, error: err, retry: "with backoff" });
          for (const m of stream.messages) m.retry({ delaySeconds: retryDelaySeconds(m.attempts) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(MAX_PARALLEL_STREAMS, pending.length) }, worker));
  } catch (err) {
    warn("events_batch_failed", { queue: batch.queue, count: batch.messages.length, error: err, retry: "with backoff" });
    for (const m of batch.messages) m.retry({ delaySeconds: retryDelaySeconds(m.attempts) });
  } finally {
    ctx.waitUntil(close());
  }
}
