// Applies the event log to the projections, in sequence order per SKU-region. Used by the queue
// consumer (live tables, through the Neon driver) and by the rebuild (shadow tables, through pg):
// the same code, so a rebuild produces exactly what the consumer would have.
import { and, asc, eq, gt, sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { inventoryEvents, type ProjectionTables } from "../schema/tables";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Db = PgDatabase<PgQueryResultHKT, any, any>;

export interface LoggedEvent {
  region: string;
  sku: string;
  seq: number;
  type: string;
  occurredAt: Date;
  payload: Record<string, unknown>;
  /** The W3C trace id of the request that caused it (null or absent: untraced). */
  traceId?: string | null;
}

interface Totals {
  onHand: number;
  held: number;
  confirmed: number;
  safetyStock: number;
  available: number;
}

const ENDED: Record<string, string> = {
  hold_released: "released",
  hold_expired: "expired",
  confirmation_reverted: "reverted",
};

/**
 * Applies every event of one SKU-region after its applied position that has no gap before it.
 * Call inside a transaction: the position row is locked so two consumers never apply twice.
 * Returns how many events were applied and the seq of the first missing event, if any is waiting.
 */
export async function applyPending(tx: Db, t: ProjectionTables, region: string, sku: string) {
  await tx.insert(t.streamPositions).values({ region, sku, appliedSeq: 0 }).onConflictDoNothing();
  const [position] = await tx
    .select({ appliedSeq: t.streamPositions.appliedSeq })
    .from(t.streamPositions)
    .where(and(eq(t.streamPositions.region, region), eq(t.streamPositions.sku, sku)))
    .for("update");
  let applied = position!.appliedSeq;
  const start = applied;
  for (;;) {
    const page = await tx
      .select()
      .from(inventoryEvents)
      .where(and(eq(inventoryEvents.region, region), eq(inventoryEvents.sku, sku), gt(inventoryEvents.seq, applied)))
      .orderBy(asc(inventoryEvents.seq))
      .limit(500);
    for (const event of page) {
      if (event.seq !== applied + 1) break; // a gap: wait for the missing event
      await applyEvent(tx, t, event);
      applied = event.seq;
    }
    if (page.length < 500 || page.at(-1)!.seq !== applied) break;
  }
  if (applied !== start) {
    await tx
      .update(t.streamPositions)
      .set({ appliedSeq: applied, updatedAt: new Date() })
      .where(and(eq(t.streamPositions.region, region), eq(t.streamPositions.sku, sku)));
  }
  return { applied: applied - start, appliedSeq: applied };
}

/** What one event does to the reservation ledger: the same for the consumer, a rebuild and reconcile. */
export type LedgerEffect =
  | { kind: "insert"; reservationId: string; qty: number; status: string; heldAt: Date; expiresAt: Date }
  | { kind: "update"; reservationId: string; status: string; confirmedAt?: Date; endedAt?: Date | null };

export function ledgerEffects(e: Pick<LoggedEvent, "type" | "occurredAt" | "payload">): LedgerEffect[] {
  const p = e.payload;
  const reservationId = String(p.holdId);
  const update = (status: string, more: { confirmedAt?: Date; endedAt?: Date | null } = {}): LedgerEffect => ({ kind: "update", reservationId, status, ...more });
  switch (e.type) {
    case "hold_placed":
      return [{ kind: "insert", reservationId, qty: Number(p.qty), status: "held", heldAt: e.occurredAt, expiresAt: new Date(Number(p.expiresAt)) }];
    case "hold_prepared":
    case "hold_confirmed": {
      // A sale made in a stock shard has no hold_placed here: shard holds stay inside the shard.
      const inserted: LedgerEffect[] =
        p.shard !== undefined ? [{ kind: "insert", reservationId, qty: Number(p.qty), status: "held", heldAt: e.occurredAt, expiresAt: e.occurredAt }] : [];
      // A prepared cart line is not a sale yet (no confirmedAt): only its cart's commit makes it one.
      return [...inserted, e.type === "hold_prepared" ? update("prepared") : update("confirmed", { confirmedAt: e.occurredAt })];
    }
    case "dispatched":
    case "dispatch_failed":
    case "reconciliation_required":
      return [update(e.type)];
    case "allocation_confirmed":
      return [update("allocated", { endedAt: null })];
    case "sale_released":
      // cause: allocation_rejected | allocation_timed_out
      return [update(String(p.cause).replace("allocation_", ""), { endedAt: e.occurredAt })];
    case "shipped":
      return [update("shipped", { endedAt: e.occurredAt })];
    default:
      return ENDED[e.type] ? [update(ENDED[e.type]!, { endedAt: e.occurredAt })] : [];
  }
}

async function applyEvent(tx: Db, t: ProjectionTables, e: LoggedEvent): Promise<void> {
  const p = e.payload;
  const key = { region: e.region, sku: e.sku };
  switch (e.type) {
    case "stock_counted":
    case "stock_received":
    case "stock_damaged":
    case "shipped":
    case "stock_set":
      await tx
        .insert(t.warehouseLevels)
        .values({ ...key, warehouse: String(p.warehouse), onHand: Number(p.onHand), asOfSeq: e.seq, updatedAt: e.occurredAt })
        .onConflictDoUpdate({
          target: [t.warehouseLevels.region, t.warehouseLevels.sku, t.warehouseLevels.warehouse],
          set: { onHand: Number(p.onHand), asOfSeq: e.seq, updatedAt: e.occurredAt },
        });
      break;
  }
  for (const effect of ledgerEffects(e)) {
    if (effect.kind === "insert") {
      const { kind: _, ...row } = effect;
      await tx.insert(t.reservationLedger).values({ ...key, ...row, lastSeq: e.seq, traceId: e.traceId ?? null }).onConflictDoNothing();
    } else {
      const { kind: _, reservationId: __, ...change } = effect;
      await updateLedger(tx, t, e, change);
    }
  }
  const after = p.after as Totals | undefined;
  if (after) {
    // Only the projected columns: a sharded SKU's totals also carry `granted`.
    const { onHand, held, confirmed, safetyStock, available } = after;
    const levels = { onHand, held, confirmed, safetyStock, available, version: e.seq, updatedAt: e.occurredAt };
    await tx
      .insert(t.skuRegionLevels)
      .values({ ...key, ...levels })
      .onConflictDoUpdate({ target: [t.skuRegionLevels.region, t.skuRegionLevels.sku], set: levels });
  }
}

async function updateLedger(
  tx: Db,
  t: ProjectionTables,
  e: LoggedEvent,
  change: { status: string; confirmedAt?: Date; endedAt?: Date | null },
): Promise<void> {
  await tx
    .update(t.reservationLedger)
    // A reservation keeps the trace that made it; one made before tracing takes the first traced one.
    .set({ ...change, lastSeq: e.seq, ...(e.traceId && { traceId: sql`coalesce(${t.reservationLedger.traceId}, ${e.traceId})` }) })
    .where(
      and(
        eq(t.reservationLedger.region, e.region),
        eq(t.reservationLedger.sku, e.sku),
        eq(t.reservationLedger.reservationId, String(e.payload.holdId)),
      ),
    );
}

/** Stores events in the log; ones already there (redeliveries) are skipped by their key. Returns the types of those stored now. */
export async function recordEvents(tx: Db, events: LoggedEvent[]): Promise<string[]> {
  if (events.length === 0) return [];
  const stored = await tx.insert(inventoryEvents).values(events).onConflictDoNothing().returning({ type: inventoryEvents.type });
  return stored.map((e) => e.type);
}

export const lockPositions = (tx: Db, table: string) => tx.execute(sql.raw(`LOCK TABLE ${table} IN EXCLUSIVE MODE`));
