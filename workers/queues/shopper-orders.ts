// Consumer of the shopper-orders queue: who (pseudonymously) made which reservation. With consent
// the link is stored for the recommendation build; without it, the shopper's earlier links are
// forgotten (consent withdrawn). A message older than an erasure of its shopper is dropped, so an
// erased shopper does not come back from the queue. Redeliveries change nothing.
import { and, eq, gte } from "drizzle-orm";
import { ShopperOrderMessage } from "../../schema/messages";
import { shopperErasures, shopperOrders } from "../../schema/tables";
import type { Db } from "../../system-of-record/projection";
import { connect } from "../db";
import type { Env } from "../env";
import { erasureDigest } from "../privacy";
import { recordDeadLetters } from "./dead-letters";
import { retryDelaySeconds } from "./inventory-events";
import { info, warn } from "../../observability/log";

export async function consumeShopperOrders(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext): Promise<void> {
  const { db, close } = connect(env);
  try {
    const malformed: Message<unknown>[] = [];
    for (const message of batch.messages) {
      const parsed = ShopperOrderMessage.safeParse(message.body);
      if (!parsed.success) {
        malformed.push(message);
        continue;
      }
      try {
        await recordShopperOrder(db, parsed.data);
        // Never the shopper (even pseudonymised): the reservation and its trace are enough to follow it.
        info("shopper_order_recorded", { region: parsed.data.region, reservation: parsed.data.reservationId, consent: parsed.data.consent, trace: parsed.data.trace });
        message.ack();
      } catch (err) {
        warn("shopper_order_not_stored", { region: parsed.data.region, reservation: parsed.data.reservationId, error: err, trace: parsed.data.trace, retry: "with backoff" });
        message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
      }
    }
    if (malformed.length) await recordDeadLetters(db, batch.queue, malformed, "malformed message");
  } catch (err) {
    warn("shopper_orders_batch_failed", { queue: batch.queue, count: batch.messages.length, error: err, retry: "with backoff" });
    for (const m of batch.messages) m.retry({ delaySeconds: retryDelaySeconds(m.attempts) });
  } finally {
    ctx.waitUntil(close());
  }
}

export async function recordShopperOrder(db: Db, order: ShopperOrderMessage): Promise<void> {
  const digest = await erasureDigest(order.shopper);
  await db.transaction(async (tx) => {
    const [erased] = await tx
      .select({ at: shopperErasures.erasedAt })
      .from(shopperErasures)
      .where(
        and(
          eq(shopperErasures.region, order.region),
          eq(shopperErasures.shopperDigest, digest),
          gte(shopperErasures.erasedAt, new Date(order.at)),
        ),
      );
    if (erased) return;
    if (order.consent) {
      await tx
        .insert(shopperOrders)
        .values({ region: order.region, reservationId: order.reservationId, shopper: order.shopper })
        .onConflictDoNothing();
    } else {
      await tx.delete(shopperOrders).where(and(eq(shopperOrders.region, order.region), eq(shopperOrders.shopper, order.shopper)));
    }
  });
}
