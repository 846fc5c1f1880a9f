// Applies the event log to the projections, in sequence order per SKU-region. Used by the queue
// consumer (live tables, through the Neon driver) and by the rebuild (shadow tables, through pg):
// the same code, so a rebuild produces exactly what the consumer would have.
import { and, asc, eq, gt, sql } from "drizzle-orm";
import { getTableConfig, type PgDatabase, type PgQueryResultHKT } from "drizzle-orm/pg-core";
import { inventoryEvents, type ProjectionTables } from "../schema/tables";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Db = PgDatabase<PgQueryResultHKT, any, any>;

/** The rows of a raw query, whichever driver runs it (node-postgres or the Neon driver). */
export const rows = async <T>(db: Db, query: ReturnType<typeof sql>) => ((await db.execute(query)) as unknown as { rows: T[] }).rows;

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
    const run: LoggedEvent[] = [];
    for (const event of page) {
      if (event.seq !== applied + run.length + 1) break; // a gap: wait for the missing event
      run.push(event);
    }
    await applyRun(tx, t, run);
    applied += run.length;
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

/**
 * Applies a gap-free run of one SKU-region's events in a fixed number of statements, whatever its
 * length: the same end state as applying them one by one (the last count per warehouse, the last
 * totals, each reservation's row inserted once and then changed by all its later effects in order).
 * A hot SKU's stream is applied by one consumer at a time (its position row is locked), so a
 * round trip per event would cap how fast Postgres follows a flash sale.
 */
async function applyRun(tx: Db, t: ProjectionTables, run: LoggedEvent[]): Promise<void> {
  if (run.length === 0) return;
  const { region, sku } = run[0]!;
  const warehouses = new Map<string, { onHand: number; asOfSeq: number; updatedAt: Date }>();
  const inserts = new Map<string, typeof t.reservationLedger.$inferInsert>();
  const changes = new Map<string, LedgerChange>();
  let levels: (Totals & { version: number; updatedAt: Date }) | null = null;
  let taken = 0;
  for (const e of run) {
    const effects = ledgerEffects(e);
    // A reservation changed earlier in this run and inserted now: whether its row existed decides
    // which of the two takes effect, so the run is cut here and the rest applied after it.
    if (taken > 0 && effects.some((f) => f.kind === "insert" && changes.has(f.reservationId) && !inserts.has(f.reservationId))) break;
    taken++;
    const p = e.payload;
    if (STOCK_EVENTS.has(e.type)) warehouses.set(String(p.warehouse), { onHand: Number(p.onHand), asOfSeq: e.seq, updatedAt: e.occurredAt });
    for (const effect of effects) {
      if (effect.kind === "insert") {
        const { kind: _, ...row } = effect;
        // A row already there (or inserted earlier in the run) stays as it is: insert-or-nothing.
        if (!inserts.has(row.reservationId)) inserts.set(row.reservationId, { region, sku, ...row, lastSeq: e.seq, traceId: e.traceId ?? null });
      } else {
        const change = changes.get(effect.reservationId) ?? { id: effect.reservationId };
        change.status = effect.status;
        change.lastSeq = e.seq;
        if (effect.confirmedAt !== undefined) change.confirmedAt = effect.confirmedAt.toISOString();
        if (effect.endedAt !== undefined) change.endedAt = effect.endedAt?.toISOString() ?? null;
        // A reservation keeps the trace that made it; one made before tracing takes the first traced one.
        if (e.traceId && change.traceId === undefined) change.traceId = e.traceId;
        changes.set(effect.reservationId, change);
      }
    }
    const after = p.after as Totals | undefined;
    // Only the projected columns: a sharded SKU's totals also carry `granted`.
    if (after) levels = { onHand: after.onHand, held: after.held, confirmed: after.confirmed, safetyStock: after.safetyStock, available: after.available, version: e.seq, updatedAt: e.occurredAt };
  }
  if (warehouses.size) {
    await tx
      .insert(t.warehouseLevels)
      .values([...warehouses].map(([warehouse, w]) => ({ region, sku, warehouse, ...w })))
      .onConflictDoUpdate({
        target: [t.warehouseLevels.region, t.warehouseLevels.sku, t.warehouseLevels.warehouse],
        set: { onHand: sql`excluded.on_hand`, asOfSeq: sql`excluded.as_of_seq`, updatedAt: sql`excluded.updated_at` },
      });
  }
  if (inserts.size) await tx.insert(t.reservationLedger).values([...inserts.values()]).onConflictDoNothing();
  if (changes.size) {
    // One UPDATE for every reservation the run changed, each with its changes merged in order.
    const ledger = sql.raw(getTableConfig(t.reservationLedger).name);
    await tx.execute(sql`
      UPDATE ${ledger} AS l SET
        status = v.change->>'status',
        last_seq = (v.change->>'lastSeq')::int,
        confirmed_at = CASE WHEN v.change ? 'confirmedAt' THEN (v.change->>'confirmedAt')::timestamptz ELSE l.confirmed_at END,
        ended_at = CASE WHEN v.change ? 'endedAt' THEN (v.change->>'endedAt')::timestamptz ELSE l.ended_at END,
        trace_id = coalesce(l.trace_id, v.change->>'traceId')
      FROM jsonb_array_elements(${JSON.stringify([...changes.values()])}::jsonb) AS v(change)
      WHERE l.region = ${region} AND l.sku = ${sku} AND l.reservation_id = v.change->>'id'`);
  }
  if (levels) {
    await tx
      .insert(t.skuRegionLevels)
      .values({ region, sku, ...levels })
      .onConflictDoUpdate({ target: [t.skuRegionLevels.region, t.skuRegionLevels.sku], set: levels });
  }
  if (taken < run.length) await applyRun(tx, t, run.slice(taken));
}

/** A reservation's ledger changes within one run, merged in order (absent fields stay as they are). */
interface LedgerChange {
  id: string;
  status?: string;
  lastSeq?: number;
  confirmedAt?: string;
  endedAt?: string | null;
  traceId?: string;
}

const STOCK_EVENTS = new Set(["stock_counted", "stock_received", "stock_damaged", "shipped", "stock_set"]);

/** Stores events in the log; ones already there (redeliveries) are skipped by their key. Returns the types of those stored now. */
export async function recordEvents(tx: Db, events: LoggedEvent[]): Promise<string[]> {
  if (events.length === 0) return [];
  const stored = await tx.insert(inventoryEvents).values(events).onConflictDoNothing().returning({ type: inventoryEvents.type });
  return stored.map((e) => e.type);
}

export const lockPositions = (tx: Db, table: string) => tx.execute(sql.raw(`LOCK TABLE ${table} IN EXCLUSIVE MODE`));
