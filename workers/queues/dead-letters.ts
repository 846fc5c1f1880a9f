// What could not be delivered after every retry is kept in Postgres, where operators see it
// (GET /v1/admin/{region}/dead-letters) and can replay it once the cause is fixed. A dead letter is
// never dropped: while Postgres cannot take it, it is retried, and before the dead-letter queue's own
// max_retries would discard it, it is sent round that queue again as a new message that carries
// the original id, attempts and body (so it is still recorded once, as itself).
import { deadLetters } from "../../schema/tables";
import type { Db } from "../../system-of-record/projection";
import { connect } from "../db";
import type { Env } from "../env";
import { error } from "../../observability/log";

/** Well below the dead-letter queues' max_retries (20 in wrangler.toml). */
export const RECIRCULATE_AFTER_ATTEMPTS = 5;
const RETRY_SECONDS = 30;

interface Recirculated {
  deadLetter: { messageId: string; attempts: number; body: unknown };
}

/** The letter as it first arrived: its own id, body and every attempt so far. */
export function original(m: Message<unknown>): { id: string; attempts: number; body: unknown } {
  const inner = (m.body as Partial<Recirculated> | null)?.deadLetter;
  if (inner && typeof inner === "object" && typeof inner.messageId === "string" && typeof inner.attempts === "number") {
    return { id: inner.messageId, attempts: inner.attempts + m.attempts, body: inner.body };
  }
  return { id: m.id, attempts: m.attempts, body: m.body };
}

export async function recordDeadLetters(db: Db, queue: string, messages: readonly Message<unknown>[], reason: string) {
  await db
    .insert(deadLetters)
    .values(
      messages.map((m) => {
        const letter = original(m);
        return { queue, messageId: letter.id, region: regionOf(letter.body), body: { reason, message: letter.body }, attempts: letter.attempts };
      }),
    )
    .onConflictDoNothing();
  for (const m of messages) m.ack();
}

/** The letters could not be recorded now: retry them, or send them round their dead-letter queue again. */
export async function keepForLater(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const queue = batch.queue.startsWith("warehouse-dispatch") ? env.WAREHOUSE_DISPATCH_DLQ : env.INVENTORY_EVENTS_DLQ;
  for (const m of batch.messages) {
    if (m.attempts < RECIRCULATE_AFTER_ATTEMPTS) {
      m.retry({ delaySeconds: RETRY_SECONDS });
      continue;
    }
    const letter = original(m);
    try {
      const again: Recirculated = { deadLetter: { messageId: letter.id, attempts: letter.attempts, body: letter.body } };
      // No delay: it has waited RECIRCULATE_AFTER_ATTEMPTS retries already, and will again.
      await queue.send(again);
      m.ack();
    } catch (err) {
      error("dead_letter_not_recirculated", { queue: batch.queue, letter: letter.id, error: err, retry: `in ${RETRY_SECONDS} s` });
      m.retry({ delaySeconds: RETRY_SECONDS });
    }
  }
}

function regionOf(body: unknown): string | null {
  return typeof body === "object" && body !== null && typeof (body as { region?: unknown }).region === "string"
    ? (body as { region: string }).region
    : null;
}

export async function consumeDeadLetters(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext): Promise<void> {
  const { db, close } = connect(env);
  try {
    await recordDeadLetters(db, batch.queue, batch.messages, "retries exhausted");
  } catch (err) {
    error("dead_letters_not_recorded", { queue: batch.queue, count: batch.messages.length, error: err, retry: "kept for later" });
    await keepForLater(batch, env);
  } finally {
    ctx.waitUntil(close());
  }
}
