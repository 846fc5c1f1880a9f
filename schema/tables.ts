// The Postgres system of record, described once. drizzle-kit generates the migrations in
// schema/migrations from this file (`npm run db:generate`); never edit those by hand.
//
// inventory_events is the log: every event of every SKU-region object, exactly once, never edited.
// Everything else is a projection of it that `npm run db:rebuild` can rebuild from scratch.
import { sql } from "drizzle-orm";
import { index, integer, jsonb, pgTable, primaryKey, serial, text, timestamp } from "drizzle-orm/pg-core";

const at = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

export const inventoryEvents = pgTable(
  "inventory_events",
  {
    region: text("region").notNull(),
    sku: text("sku").notNull(),
    seq: integer("seq").notNull(),
    type: text("type").notNull(),
    occurredAt: at("occurred_at").notNull(),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    receivedAt: at("received_at").notNull().default(sql`now()`),
    // The W3C trace id of the request that caused the event (null: untraced, or before tracing).
    traceId: text("trace_id"),
  },
  // The event id, with its time: the table is partitioned by month of occurred_at (migration
  // 0005, hand-written: drizzle-kit does not model partitions), and a partitioned table's keys must
  // hold the partition column. An event's time is fixed by its object, so a redelivered message
  // still hits this key and changes nothing.
  (t) => [primaryKey({ columns: [t.region, t.sku, t.seq, t.occurredAt] })],
);

/** The projection tables, by name, so a rebuild can fill a shadow copy and swap it in. */
export function projectionTables(suffix = "") {
  const streamPositions = pgTable(
    `stream_positions${suffix}`,
    {
      region: text("region").notNull(),
      sku: text("sku").notNull(),
      // Events up to here are applied; later ones wait until the gap before them is filled.
      appliedSeq: integer("applied_seq").notNull().default(0),
      updatedAt: at("updated_at").notNull().default(sql`now()`),
    },
    (t) => [primaryKey({ columns: [t.region, t.sku] })],
  );
  const reservationLedger = pgTable(
    `reservation_ledger${suffix}`,
    {
      region: text("region").notNull(),
      reservationId: text("reservation_id").notNull(),
      sku: text("sku").notNull(),
      qty: integer("qty").notNull(),
      // held -> confirmed -> dispatched -> allocated -> shipped, or released | expired | reverted |
      // rejected | timed_out; dispatch_failed and reconciliation_required flag it for operators
      status: text("status").notNull(),
      heldAt: at("held_at").notNull(),
      expiresAt: at("expires_at").notNull(),
      confirmedAt: at("confirmed_at"),
      endedAt: at("ended_at"),
      lastSeq: integer("last_seq").notNull(),
      // The trace id of the request that made the reservation (its first traced event).
      traceId: text("trace_id"),
    },
    // The index: reconcile reads a SKU-region's rows changed after what its object archived.
    (t) => [primaryKey({ columns: [t.region, t.reservationId, t.sku] }), index(`reservation_ledger${suffix}_sku_seq_idx`).on(t.region, t.sku, t.lastSeq)],
  );
  const warehouseLevels = pgTable(
    `inventory_levels${suffix}`,
    {
      region: text("region").notNull(),
      sku: text("sku").notNull(),
      warehouse: text("warehouse").notNull(),
      onHand: integer("on_hand").notNull(),
      asOfSeq: integer("as_of_seq").notNull(),
      updatedAt: at("updated_at").notNull(),
    },
    (t) => [primaryKey({ columns: [t.region, t.sku, t.warehouse] })],
  );
  const skuRegionLevels = pgTable(
    `sku_region_levels${suffix}`,
    {
      region: text("region").notNull(),
      sku: text("sku").notNull(),
      onHand: integer("on_hand").notNull(),
      held: integer("held").notNull(),
      confirmed: integer("confirmed").notNull(),
      safetyStock: integer("safety_stock").notNull(),
      available: integer("available").notNull(),
      version: integer("version").notNull(),
      updatedAt: at("updated_at").notNull(),
    },
    (t) => [primaryKey({ columns: [t.region, t.sku] })],
  );
  return { streamPositions, reservationLedger, warehouseLevels, skuRegionLevels };
}
export type ProjectionTables = ReturnType<typeof projectionTables>;

const live = projectionTables();
export const streamPositions = live.streamPositions;
export const reservationLedger = live.reservationLedger;
export const inventoryLevels = live.warehouseLevels;
export const skuRegionLevels = live.skuRegionLevels;

/** Messages that exhausted their retries, kept for operators (GET /v1/admin/{region}/dead-letters). */
export const deadLetters = pgTable("dead_letters", {
  id: serial("id").primaryKey(),
  queue: text("queue").notNull(),
  messageId: text("message_id").notNull().unique(),
  region: text("region"),
  body: jsonb("body").notNull(),
  attempts: integer("attempts").notNull(),
  receivedAt: at("received_at").notNull().default(sql`now()`),
  /** When an operator replayed or re-dispatched it (workers/routes/dead-letter-replay.ts); null while kept. */
  replayedAt: at("replayed_at"),
});

// ------------------------------------------------------------------ recommendations and privacy

/** What each region sells (PUT /v1/admin/{region}/catalog/{sku}): brands and categories for the recommendation build. */
export const catalogItems = pgTable(
  "catalog_items",
  {
    region: text("region").notNull(),
    sku: text("sku").notNull(),
    name: text("name").notNull(),
    brand: text("brand").notNull(),
    category: text("category").notNull(),
    /** Translations of the name: language tag -> name (recommendations answer in the shopper's language). */
    names: jsonb("names").$type<Record<string, string>>().notNull().default({}),
    /** Price per market: ISO country code -> amount in minor units and currency. */
    prices: jsonb("prices").$type<Record<string, { amount: number; currency: string }>>().notNull().default({}),
    updatedAt: at("updated_at").notNull().default(sql`now()`),
  },
  (t) => [primaryKey({ columns: [t.region, t.sku] })],
);

/**
 * Personal data: which pseudonymous shopper made which reservation, kept only for shoppers who
 * consented to personalisation. The reservation's lines are in reservation_ledger. Erased by
 * POST /v1/admin/{region}/erasures.
 */
export const shopperOrders = pgTable(
  "shopper_orders",
  {
    region: text("region").notNull(),
    reservationId: text("reservation_id").notNull(),
    /** HMAC-SHA256 of the user id with the region's key (workers/privacy.ts); never the id itself. */
    shopper: text("shopper").notNull(),
    recordedAt: at("recorded_at").notNull().default(sql`now()`),
  },
  (t) => [primaryKey({ columns: [t.region, t.reservationId] }), index("shopper_orders_by_shopper").on(t.region, t.shopper)],
);

/**
 * Erasures, so that an order message already on the queue cannot bring an erased shopper back.
 * Keyed by a digest of the pseudonym (not the pseudonym itself); removed after ERASURE_MEMORY_DAYS.
 */
export const shopperErasures = pgTable(
  "shopper_erasures",
  {
    region: text("region").notNull(),
    shopperDigest: text("shopper_digest").notNull(),
    erasedAt: at("erased_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.region, t.shopperDigest] })],
);

/** Recommendation builds: every version whose lists may still be in KV, so an erasure can reach them all. */
export const recommendationBuilds = pgTable(
  "recommendation_builds",
  {
    region: text("region").notNull(),
    version: text("version").notNull(),
    startedAt: at("started_at").notNull(),
    // Set once the pointer names this version; deletedAt once its lists are gone from KV.
    swappedAt: at("swapped_at"),
    deletedAt: at("deleted_at"),
    summary: jsonb("summary").$type<Record<string, unknown>>(),
  },
  (t) => [primaryKey({ columns: [t.region, t.version] })],
);
