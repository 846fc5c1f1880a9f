// Operators act on kept dead letters (workers/queues/dead-letters.ts) once the cause is fixed:
// replay an inventory event or shopper order (stored and projected now, in one Postgres
// transaction with the mark), or re-dispatch a warehouse dispatch (back on the dispatch queue,
// whose consumer checks again that the sale stands). A letter is acted on once: the mark is
// claimed atomically, so a second call, or two at once, answers 409 and changes nothing.
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { and, eq, isNull, sql } from "drizzle-orm";
import { RegionParams } from "../../schema/contracts";
import { DispatchMessage, InventoryEventMessage, ShopperOrderMessage } from "../../schema/messages";
import { deadLetters, projectionTables } from "../../schema/tables";
import { applyPending, recordEvents, type Db } from "../../system-of-record/projection";
import { adminToken, knownRegion } from "../auth";
import { connect } from "../db";
import type { AppEnv } from "../env";
import { Problem } from "../problems";
import { deliveryId } from "../queues/warehouse-dispatch";
import { recordShopperOrder } from "../queues/shopper-orders";
import { validationHook } from "../validation";
import { AdminHeaders, inventoryStub } from "./common";
import { ADMIN_PROBLEMS, adminAccess, problems } from "./contract";
import { unavailable } from "./operations";
import { info } from "../../observability/log";

const live = projectionTables();

const LetterParams = RegionParams.extend({
  id: z.coerce.number().int().min(1).openapi({ param: { name: "id", in: "path" }, description: "The dead letter's `id` in GET .../dead-letters", example: 17 }),
});

export const LetterReplayed = z
  .object({
    id: z.number().int(),
    kind: z.enum(["inventory_event", "shopper_order", "warehouse_dispatch"]),
    replayedAt: z.string(),
    outcome: z.string().openapi({ description: "What was done, in words: the projection's position, or the delivery queued" }),
  })
  .openapi("DeadLetterReplayed");

const replayProblems = problems(...ADMIN_PROBLEMS, "dead_letter_not_found", "already_replayed", "not_replayable", "database_unavailable");

const replayLetter = createRoute({
  method: "post",
  path: "/v1/admin/{region}/dead-letters/{id}/replay",
  operationId: "replayDeadLetter",
  tags: ["operations"],
  security: adminAccess,
  summary: "Replay a kept inventory event or shopper order: store and project it now, and mark the letter replayed",
  description:
    "The event goes through the consumer's own code (stored once, applied in sequence order), so a projection stuck at " +
    "the gap it left moves on. Once per letter: a replayed letter answers 409 already_replayed. Dispatch letters are re-dispatched instead.",
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: LetterParams, headers: AdminHeaders },
  responses: { 200: { description: "Replayed", content: { "application/json": { schema: LetterReplayed } } }, ...replayProblems },
});

const redispatchLetter = createRoute({
  method: "post",
  path: "/v1/admin/{region}/dead-letters/{id}/redispatch",
  operationId: "redispatchDeadLetter",
  tags: ["operations"],
  security: adminAccess,
  summary: "Send a dead-lettered warehouse dispatch again through the dispatch queue, if its sale still stands",
  description:
    "Refused with 409 sale_not_standing when the sale was given back (released, rejected, timed out) or is already allocated; " +
    "the dispatch consumer checks again before it sends. The delivery id is the original one, so the warehouse can tell a repeat. Once per letter.",
  middleware: [adminToken(), knownRegion()] as const,
  request: { params: LetterParams, headers: AdminHeaders },
  responses: {
    202: { description: "Queued for dispatch", content: { "application/json": { schema: LetterReplayed } } },
    ...problems(...ADMIN_PROBLEMS, "dead_letter_not_found", "already_replayed", "not_replayable", "sale_not_standing", "database_unavailable", "try_again"),
  },
});

type Letter = typeof deadLetters.$inferSelect;

async function findLetter(db: Db, region: string, id: number): Promise<Letter> {
  let letter: Letter | undefined;
  try {
    [letter] = await db.select().from(deadLetters).where(eq(deadLetters.id, id));
  } catch (err) {
    throw unavailable(err);
  }
  if (!letter || (letter.region !== null && letter.region !== region)) {
    throw new Problem("dead_letter_not_found", `No dead letter ${id} in region ${region}; GET /v1/admin/${region}/dead-letters lists them. Nothing was changed`);
  }
  if (letter.replayedAt) {
    throw new Problem("already_replayed", `Dead letter ${id} was already replayed at ${letter.replayedAt.toISOString()}; nothing was changed`);
  }
  return letter;
}

/** The message the letter kept (the dead-letter consumer stores `{ reason, message }`). */
const messageOf = (letter: Letter) => (letter.body as { message?: unknown } | null)?.message;
const isDispatch = (letter: Letter) => letter.queue.startsWith("warehouse-dispatch");

/** Claims the letter for this replay; false when another call claimed it first. */
async function claim(db: Db, id: number): Promise<Date | null> {
  const [row] = await db
    .update(deadLetters)
    .set({ replayedAt: sql`now()` })
    .where(and(eq(deadLetters.id, id), isNull(deadLetters.replayedAt)))
    .returning({ replayedAt: deadLetters.replayedAt });
  return row?.replayedAt ?? null;
}

const raced = (id: number) => new Problem("already_replayed", `Dead letter ${id} was replayed by another call just now; nothing more was changed`);

export const deadLetterReplay = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(replayLetter, async (c) => {
    const { region, id } = c.req.valid("param");
    const { db, close } = connect(c.env);
    try {
      const letter = await findLetter(db, region, id);
      if (isDispatch(letter)) throw new Problem("not_replayable", `Dead letter ${id} is a warehouse dispatch: POST /v1/admin/${region}/dead-letters/${id}/redispatch. Nothing was changed`);
      const message = messageOf(letter);
      const event = InventoryEventMessage.safeParse(message);
      const order = event.success ? null : ShopperOrderMessage.safeParse(message);
      if (!event.success && !order?.success) {
        throw new Problem("not_replayable", `Dead letter ${id} (${letter.queue}) holds no valid inventory event or shopper order; it stays listed for a person. Nothing was changed`);
      }
      try {
        // The mark and what the replay writes commit together: a failure leaves the letter as it was.
        const result = await db.transaction(async (tx) => {
          const replayedAt = await claim(tx, id);
          if (!replayedAt) throw raced(id);
          if (event.success) {
            const e = event.data;
            await recordEvents(tx, [{ region: e.region, sku: e.sku, seq: e.seq, type: e.type, occurredAt: new Date(e.at), payload: e.payload }]);
            await applyPending(tx, live, e.region, e.sku);
            const [position] = await tx.select().from(live.streamPositions).where(and(eq(live.streamPositions.region, e.region), eq(live.streamPositions.sku, e.sku)));
            return { kind: "inventory_event" as const, replayedAt, outcome: `event ${e.seq} of ${e.region}:${e.sku} stored; the projection is at ${position?.appliedSeq ?? 0}` };
          }
          await recordShopperOrder(tx, order!.data!);
          return { kind: "shopper_order" as const, replayedAt, outcome: `shopper order of reservation ${order!.data!.reservationId} recorded` };
        });
        info("dead_letter_replayed", { region, id, kind: result.kind });
        return c.json({ id, kind: result.kind, replayedAt: result.replayedAt.toISOString(), outcome: result.outcome }, 200);
      } catch (err) {
        throw err instanceof Problem ? err : unavailable(err);
      }
    } finally {
      c.executionCtx.waitUntil(close());
    }
  })
  .openapi(redispatchLetter, async (c) => {
    const { region, id } = c.req.valid("param");
    const { db, close } = connect(c.env);
    try {
      const letter = await findLetter(db, region, id);
      const parsed = isDispatch(letter) ? DispatchMessage.safeParse(messageOf(letter)) : null;
      if (!parsed?.success) {
        throw new Problem("not_replayable", isDispatch(letter)
          ? `Dead letter ${id} holds no valid dispatch; it stays listed for a person. Nothing was changed`
          : `Dead letter ${id} is not a warehouse dispatch (${letter.queue}): POST /v1/admin/${region}/dead-letters/${id}/replay. Nothing was changed`);
      }
      const m = parsed.data;
      const sale = await inventoryStub(c.env, m.region, m.sku).sale(m.reservationId);
      if (!sale?.stands || sale.allocation === "allocated") {
        const where = sale ? `${sale.status}${sale.allocation ? `, ${sale.allocation}` : ""}` : "unknown to its object";
        throw new Problem("sale_not_standing", `Sale ${m.reservationId} of ${m.region}:${m.sku} is ${where}: nothing to ship. The letter stays as it was`);
      }
      let replayedAt: Date | null;
      try {
        replayedAt = await claim(db, id);
      } catch (err) {
        throw unavailable(err);
      }
      if (!replayedAt) throw raced(id);
      try {
        await c.env.WAREHOUSE_DISPATCH.send(m);
      } catch (err) {
        await db.update(deadLetters).set({ replayedAt: null }).where(eq(deadLetters.id, id)); // not sent: keep it replayable
        throw err;
      }
      info("dead_letter_redispatched", { region, id, delivery: deliveryId(m) });
      return c.json({ id, kind: "warehouse_dispatch" as const, replayedAt: replayedAt.toISOString(), outcome: `delivery ${deliveryId(m)} queued for ${m.warehouse ?? "no warehouse"}` }, 202);
    } finally {
      c.executionCtx.waitUntil(close());
    }
  });
