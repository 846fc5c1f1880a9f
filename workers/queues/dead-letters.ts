// What could not be delivered after every retry is kept in Postgres, where operators see it
// (GET /v1/admin/{region}/dead-letters) and can replay it once the cause is fixed.
import { deadLetters } from "../../schema/tables";
import type { Db } from "../../system-of-record/projection";
import { connect } from "../db";
import type { Env } from "../env";

export async function recordDeadLetters(db: Db, queue: string, messages: readonly Message<unknown>[], reason: string) {
  await db
    .insert(deadLetters)
    .values(
      messages.map((m) => ({
        queue,
        messageId: m.id,
        region: regionOf(m.body),
        body: { reason, message: m.body },
        attempts: m.attempts,
      })),
    )
    .onConflictDoNothing();
  for (const m of messages) m.ack();
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
    console.error(`dead letters from ${batch.queue} could not be recorded; retrying`, err);
    batch.retryAll({ delaySeconds: 30 });
  } finally {
    ctx.waitUntil(close());
  }
}
