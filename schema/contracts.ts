// The request and response shapes of the edge API, defined once. Routes validate with them, the
// OpenAPI document at /openapi.json is generated from them, and tests parse responses with them.
import { z } from "@hono/zod-openapi";

// Answers of a fresh `npm start` (README, Examples): the document's examples are real answers.
const HELD = {
  id: "d901208f08855a4b35bff7c93ea6115f9ed0b22dd44afcdace3de7b7970ec56c",
  region: "eu",
  status: "held",
  expiresAt: "2026-12-01T07:48:17.573Z",
  lines: [{ sku: "LIP-ROUGE-01", qty: 2 }, { sku: "SERUM-VITC-30", qty: 1 }],
  createdAt: "2026-12-01T07:38:17.573Z",
} as const;
const SNAPSHOT = { sku: "LIP-ROUGE-01", region: "eu", onHand: 238, held: 0, confirmed: 2, safetyStock: 5, available: 231, status: "in_stock", version: 8 } as const;

export const LIMITS = {
  maxLines: 50,
  maxQtyPerLine: 100,
  maxSkusPerRead: 100,
  minTtlSeconds: 2,
  maxTtlSeconds: 3600,
  defaultTtlSeconds: 300,
  maxOnHand: 10_000_000,
  maxEventsPage: 500,
  maxShards: 16,
} as const;

export const SKU_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A cart's id: 64 hex digits; a single line's id: those, a dot and its SKU. */
export const RESERVATION_ID_PATTERN = /^[0-9a-f]{64}(\.[A-Za-z0-9][A-Za-z0-9._-]{0,63})?$/;
export const WAREHOUSE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const Sku = z
  .string()
  .regex(SKU_PATTERN, "a SKU is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
  .openapi({ example: "LIP-ROUGE-01" });

export const REGION_PATTERN = /^[a-z]{2,12}$/;
export const Region = z
  .string()
  .regex(REGION_PATTERN, "a region is 2-12 lowercase letters")
  .openapi({ param: { name: "region", in: "path" }, example: "eu" });

export const StockStatus = z.enum(["in_stock", "low_stock", "out_of_stock"]);

const Qty = z
  .number()
  .int("qty must be a whole number")
  .min(1, "qty must be at least 1")
  .max(LIMITS.maxQtyPerLine, `qty must be at most ${LIMITS.maxQtyPerLine} per line`);

export const UserId = z
  .string()
  .min(1, "a user id is 1-200 characters")
  .max(200, "a user id is 1-200 characters")
  .openapi({ description: "The storefront's user id; pseudonymised at the edge before it is stored", example: "user-8841" });

export const Shopper = z
  .strictObject({
    id: UserId,
    consent: z.boolean().openapi({
      description: "Whether the shopper consented to personalised recommendations. Without consent nothing about the shopper is kept, and earlier orders stop being used.",
    }),
  })
  .openapi("Shopper");

export const ReservationLine = z.strictObject({ sku: Sku, qty: Qty }).openapi("ReservationLine");

export const CreateReservationBody = z
  .strictObject({
    lines: z
      .array(ReservationLine)
      .min(1, "a reservation needs at least one line")
      .max(LIMITS.maxLines, `a reservation holds at most ${LIMITS.maxLines} lines`)
      .refine((lines) => new Set(lines.map((l) => l.sku)).size === lines.length, {
        message: "each SKU may appear on one line only; add the quantities together",
      }),
    ttlSeconds: z
      .number()
      .int()
      .min(LIMITS.minTtlSeconds)
      .max(LIMITS.maxTtlSeconds)
      .default(LIMITS.defaultTtlSeconds),
    shopper: Shopper.optional(),
  })
  .openapi("CreateReservation");
export type CreateReservationBody = z.infer<typeof CreateReservationBody>;

export const ReservationStatus = z.enum(["held", "confirmed", "released", "expired"]);

export const Reservation = z
  .object({
    id: z.string(),
    region: z.string(),
    status: ReservationStatus,
    expiresAt: z.string().openapi({ format: "date-time" }),
    lines: z.array(z.object({ sku: z.string(), qty: z.number().int() })),
    createdAt: z.string().openapi({ format: "date-time" }),
    confirmedAt: z.string().optional().openapi({ format: "date-time" }),
    releasedAt: z.string().optional().openapi({ format: "date-time" }),
  })
  .openapi("Reservation", { example: { ...HELD, status: "confirmed", confirmedAt: "2026-12-01T07:38:17.815Z" } });
export type Reservation = z.infer<typeof Reservation>;

export const CreatedReservation = Reservation.extend({
  token: z.string().openapi({ description: "Send as X-Reservation-Token to read, confirm or release" }),
}).openapi("CreatedReservation", { example: { ...HELD, token: "_pwy2Mi8rtARi6CDj3DJQltdOa33OcAb" } });
export type CreatedReservation = z.infer<typeof CreatedReservation>;

export const AvailabilityItem = z
  .object({ sku: z.string(), available: z.number().int(), status: StockStatus, version: z.number().int() })
  .openapi("AvailabilityItem");

export const AvailabilityResponse = z
  .object({
    region: z.string(),
    items: z.array(AvailabilityItem),
    asOf: z.string().openapi({
      format: "date-time",
      description: "Every answer reflects its stock object's state at least as of this time (at most AVAILABILITY_MAX_AGE_SECONDS ago unless `stale`)",
    }),
    stale: z.literal(true).optional().openapi({ description: "Stock objects did not answer in time: these are the last known snapshots" }),
    ageSeconds: z.number().optional().openapi({ description: "With `stale`: how old the oldest answer is" }),
  })
  .openapi("Availability", {
    example: {
      region: "eu",
      items: [
        { sku: "LIP-ROUGE-01", available: 231, status: "in_stock", version: 2 },
        { sku: "SERUM-RETI-30", available: 4, status: "low_stock", version: 2 },
        { sku: "FDN-SKIN-420", available: 0, status: "out_of_stock", version: 2 },
      ],
      asOf: "2026-12-01T07:38:17.535Z",
    },
  });

export const AvailabilityQuery = z.object({
  skus: z
    .string()
    .openapi({ example: "LIP-ROUGE-01,SERUM-VITC-30", description: "1 to 100 comma-separated SKUs" })
    .transform((s) => s.split(",").map((x) => x.trim()))
    .pipe(
      z
        .array(Sku)
        .min(1)
        .max(LIMITS.maxSkusPerRead, `at most ${LIMITS.maxSkusPerRead} SKUs per request`),
    ),
});

export const SetStockBody = z
  .strictObject({
    warehouse: z.string().regex(WAREHOUSE_PATTERN, "a warehouse id is 1-64 letters, digits, '.', '_' or '-'"),
    onHand: z.number().int().min(0).max(LIMITS.maxOnHand),
    safetyStock: z.number().int().min(0).max(LIMITS.maxOnHand).optional(),
    expectedVersion: z.number().int().min(0).optional(),
  })
  .openapi("SetStock");
export type SetStockBody = z.infer<typeof SetStockBody>;

export const StockSnapshot = z
  .object({
    sku: z.string(),
    region: z.string(),
    onHand: z.number().int(),
    held: z.number().int(),
    confirmed: z.number().int(),
    safetyStock: z.number().int(),
    available: z.number().int(),
    status: StockStatus,
    version: z.number().int(),
    shards: z.number().int().optional().openapi({ description: "Objects selling this SKU-region; only present when it is split into stock shards" }),
    granted: z.number().int().optional().openapi({ description: "Units lent to stock shards 1..K-1 (not available here); only present when sharded" }),
  })
  .openapi("StockSnapshot", { example: SNAPSHOT });

export const SetShardsBody = z
  .strictObject({
    count: z
      .number()
      .int("count must be a whole number")
      .min(1, "count must be at least 1 (one object, no shards)")
      .max(LIMITS.maxShards, `count must be at most ${LIMITS.maxShards}`)
      .openapi({ description: "How many objects sell this SKU-region: the main object plus count-1 stock shards" }),
  })
  .openapi("SetShards");

export const ShardsConfig = z
  .object({
    sku: z.string(),
    region: z.string(),
    shards: z.number().int(),
    previous: z.number().int(),
    changed: z.boolean(),
    returned: z.number().int().openapi({ description: "Idle units the removed shards gave back at once (open holds return theirs when they end)" }),
  })
  .openapi("ShardsConfig");

const perShopper = (what: string) =>
  z
    .number()
    .int(`${what} must be a whole number`)
    .min(1, `${what} must be at least 1 (null: no limit)`)
    .max(LIMITS.maxQtyPerLine * LIMITS.maxLines, `${what} must be at most ${LIMITS.maxQtyPerLine * LIMITS.maxLines}`)
    .nullable();

export const DropRules = z
  .strictObject({
    maxUnitsPerShopper: perShopper("maxUnitsPerShopper").default(null).openapi({
      description: "Units one shopper may hold or have bought (held, being confirmed, confirmed, shipped) at a time; null: no limit. A reservation without shopper.id is refused (422 shopper_required)",
      example: 2,
    }),
    maxHoldsPerShopper: perShopper("maxHoldsPerShopper").default(null).openapi({
      description: "Open holds (carts) one shopper may have on this SKU at a time; null: no limit",
      example: 1,
    }),
    maxHoldTtlSeconds: z
      .number()
      .int("maxHoldTtlSeconds must be a whole number")
      .min(LIMITS.minTtlSeconds, `maxHoldTtlSeconds must be at least ${LIMITS.minTtlSeconds}`)
      .max(LIMITS.maxTtlSeconds, `maxHoldTtlSeconds must be at most ${LIMITS.maxTtlSeconds}`)
      .nullable()
      .default(null)
      .openapi({ description: "The longest a hold on this SKU lasts; longer ttlSeconds are shortened (expiresAt in the answer says when it ends); null: no limit", example: 300 }),
  })
  .openapi("DropRules");

export const DropRulesConfig = z
  .object({ sku: z.string(), region: z.string(), dropRules: DropRules, version: z.number().int() })
  .openapi("DropRulesConfig");

export const StockState = StockSnapshot.extend({
  dropRules: DropRules,
  storage: z.object({
    databaseBytes: z.number().int().openapi({ description: "Size of the SKU-region object's SQLite database" }),
    eventsHeld: z.number().int().openapi({ description: "Events the object still holds (older ones are compacted into the archive)" }),
    archivedThrough: z.number().int(),
  }),
  warehouses: z.array(z.object({ warehouse: z.string(), onHand: z.number().int(), updatedAt: z.string() })),
  activeHolds: z.number().int(),
  nextDeadline: z.string().nullable(),
  attention: z.array(z.object({ holdId: z.string(), reason: z.string(), seq: z.number().int(), at: z.string() })).openapi({
    description: "Sales an operator must reconcile, e.g. allocated by a warehouse after their units were sold again",
  }),
  shardStates: z
    .array(
      z.object({
        shard: z.number().int(),
        quota: z.number().int(),
        held: z.number().int(),
        transferring: z.number().int(),
        available: z.number().int(),
        retired: z.boolean(),
      }),
    )
    .optional()
    .openapi({ description: "Stock shards 1..K-1 (and removed ones still holding units); `held` above is the main object's own" }),
}).openapi("StockState", {
  example: {
    ...SNAPSHOT,
    dropRules: { maxUnitsPerShopper: null, maxHoldsPerShopper: null, maxHoldTtlSeconds: null },
    storage: { databaseBytes: 28672, eventsHeld: 8, archivedThrough: 0 },
    warehouses: [
      { warehouse: "eu-ams", onHand: 90, updatedAt: "2026-12-01T07:38:18.056Z" },
      { warehouse: "eu-war", onHand: 148, updatedAt: "2026-12-01T07:37:33.053Z" },
    ],
    activeHolds: 0,
    nextDeadline: "2026-12-01T07:53:17.817Z",
    attention: [],
  },
});

export const InventoryEvent = z
  .object({
    seq: z.number().int(),
    type: z.string(),
    at: z.string(),
    payload: z.record(z.string(), z.unknown()),
  })
  .openapi("InventoryEvent");

export const EventsQuery = z.object({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(LIMITS.maxEventsPage).default(100),
});

export const EventsPage = z
  .object({
    sku: z.string(),
    region: z.string(),
    events: z.array(InventoryEvent),
    nextAfter: z.number().int().nullable(),
    archivedThrough: z.number().int().openapi({
      description: "Events 1..archivedThrough were compacted out of the object into the archive (0: none); the page starts after them. Read them with GET .../archive",
    }),
  })
  .openapi("EventsPage");

const LogAggregate = z.object({
  seq: z.number().int(),
  at: z.string(),
  totals: z.record(z.string(), z.number()).nullable(),
  warehouses: z.record(z.string(), z.number().int()),
});

export const ArchiveListing = z
  .object({
    sku: z.string(),
    region: z.string(),
    archivedThrough: z.number().int(),
    snapshot: LogAggregate.nullable().openapi({ description: "The aggregate at archivedThrough, which the events held after it continue" }),
    chunks: z.array(z.object({ key: z.string(), from: z.number().int(), to: z.number().int(), count: z.number().int(), sha256: z.string(), bytes: z.number().int(), uploaded: z.string() })),
  })
  .openapi("ArchiveListing");

export const ArchiveChunk = z
  .object({ sku: z.string(), region: z.string(), key: z.string(), from: z.number().int(), to: z.number().int(), sha256: z.string(), events: z.array(InventoryEvent) })
  .openapi("ArchiveChunk");

export const ArchiveChunkParams = z.object({
  region: Region,
  sku: Sku.openapi({ param: { name: "sku", in: "path" } }),
  from: z.coerce.number().int().min(1).openapi({ param: { name: "from", in: "path" }, description: "The first sequence number of the chunk" }),
});

export const CompactBody = z
  .strictObject({
    retentionSeconds: z.number().int().min(0).max(3650 * 86_400).optional().openapi({
      description: "Keep events younger than this (default: EVENT_RETENTION_DAYS). Only events Postgres already has are ever archived",
    }),
  })
  .openapi("Compact");

export const CompactionResult = z
  .object({ sku: z.string(), region: z.string(), archived: z.number().int(), chunks: z.array(z.string()), archivedThrough: z.number().int(), stopped: z.string().optional() })
  .openapi("CompactionResult");

export const Problem = z
  .object({
    type: z.string().openapi({ description: "https://docs.edge-inventory.dev/problems/{code}" }),
    title: z.string(),
    status: z.number().int(),
    code: z.string().openapi({ description: "Stable: branch on this, not on title or detail" }),
    detail: z.string().optional(),
    // Extensions, each sent with the codes named.
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .openapi({ description: "invalid_request: each field that failed validation" }),
    lines: z
      .array(z.object({ sku: z.string(), requested: z.number().int(), available: z.number().int() }))
      .optional()
      .openapi({ description: "insufficient_stock: each short line and what is available" }),
    currentVersion: z.number().int().optional().openapi({ description: "version_conflict: the version to read again" }),
    setting: z.string().optional().openapi({ description: "setting_missing: the variable or secret to set" }),
    reservation: Reservation.optional().openapi({ description: "hold_expired: the reservation as it stands" }),
    sku: z.string().optional().openapi({ description: "shopper_limit, shopper_required: the SKU whose drop rule refused" }),
    rule: z.enum(["max_units_per_shopper", "max_holds_per_shopper"]).optional().openapi({ description: "shopper_limit: the drop rule" }),
    limit: z
      .union([z.number().int(), z.string()])
      .optional()
      .openapi({ description: "shopper_limit: what the rule allows; rate_limited: which limit (STOREFRONT_LIMITER, CLIENT_LIMITER, RESERVE_LIMITER, AUTH_LIMITER)" }),
    current: z.number().int().optional().openapi({ description: "shopper_limit: what the shopper has now" }),
    retryAfter: z.number().int().optional().openapi({ description: "rate_limited: seconds to wait, as in Retry-After" }),
    waiting: z.number().int().optional().openapi({ description: "try_again from load shedding: calls already waiting on the object" }),
    location: z.string().optional().openapi({ description: "moved_to_body: where the operation lives now" }),
    header: z.string().optional().openapi({ description: "shopper_id_in_url: the header to send the shopper id in" }),
  })
  .openapi("Problem");

export const RegionParams = z.object({ region: Region });
export const ReservationParams = z.object({
  region: Region,
  id: z
    .string()
    .regex(RESERVATION_ID_PATTERN, "a reservation id is 64 hex characters, then for a single line a dot and its SKU")
    .openapi({ param: { name: "id", in: "path" } }),
});
export const StockParams = z.object({
  region: Region,
  sku: Sku.openapi({ param: { name: "sku", in: "path" } }),
});

export const ReconcileQuery = z.object({
  graceSeconds: z.coerce.number().int().min(0).max(3600).default(60).openapi({
    description: "Unprojected events younger than this count as lagging (on the queue), older ones as drift",
  }),
  after: Sku.optional().openapi({ description: "Page on: the `nextAfter` of the previous page (SKUs in order)" }),
  limit: z.coerce.number().int().min(1).max(1000).default(1000).openapi({ description: "SKU-regions per page" }),
});

const SkuRegionCheck = z.object({
  sku: z.string(),
  status: z.enum(["ok", "lagging", "drift"]),
  objectVersion: z.number().int(),
  projectedVersion: z.number().int(),
  differences: z.array(z.string()),
});

export const ReconcileReport = z
  .object({
    region: z.string(),
    checked: z.number().int(),
    ok: z.number().int(),
    lagging: z.array(SkuRegionCheck),
    drift: z.array(SkuRegionCheck),
    at: z.string(),
    nextAfter: z.string().nullable().openapi({ description: "Pass as `after` for the next page; null on the last page" }),
  })
  .openapi("ReconcileReport", { example: { region: "eu", checked: 31, ok: 31, lagging: [], drift: [], at: "2026-11-23T11:16:52.868Z", nextAfter: null } });

export const DeadLettersQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) });

export const DeadLettersPage = z
  .object({
    region: z.string(),
    deadLetters: z.array(
      z.object({
        id: z.number().int(),
        queue: z.string(),
        messageId: z.string(),
        attempts: z.number().int(),
        receivedAt: z.string(),
        replayedAt: z.string().nullable().openapi({ description: "When an operator replayed or re-dispatched it; null while it waits" }),
        body: z.unknown(),
      }),
    ),
  })
  .openapi("DeadLetters");

export const AttentionQuery = z.object({
  after: Sku.optional().openapi({ description: "Page on: the `nextAfter` of the previous page (SKUs in order)" }),
  limit: z.coerce.number().int().min(1).max(500).default(200).openapi({ description: "SKU-regions asked per page" }),
});

export const AttentionPage = z
  .object({
    region: z.string(),
    checked: z.number().int().openapi({ description: "SKU-regions asked on this page" }),
    attention: z.array(z.object({ sku: z.string(), holdId: z.string().openapi({ description: "The reservation, or empty" }), reason: z.string(), seq: z.number().int(), at: z.string() })),
    nextAfter: z.string().nullable().openapi({ description: "Pass as `after` for the next page; null on the last page" }),
  })
  .openapi("Attention");

export const ResendBody = z
  .strictObject({ after: z.number().int().min(0).default(0).openapi({ description: "Resend events with seq greater than this" }) })
  .openapi("Resend");

// ------------------------------------------------------------------ catalog, recommendations, privacy

export const LanguageTag = z
  .string()
  .regex(/^[a-z]{2,3}(-[a-z0-9]{2,8})*$/, "a language tag is like fr or pt-br, in lower case")
  .openapi({ example: "fr" });
export const MARKET_PATTERN = /^[A-Z]{2}$/;
export const Market = z.string().regex(MARKET_PATTERN, "a market is an ISO 3166 country code like FR").openapi({ example: "FR" });
export const Price = z
  .strictObject({
    amount: z.number().int("amount is in minor units (cents), a whole number").min(0).max(100_000_000),
    currency: z.string().regex(/^[A-Z]{3}$/, "currency is an ISO 4217 code like EUR"),
  })
  .openapi("Price");

export const CatalogItemBody = z
  .strictObject({
    name: z.string().min(1).max(200).openapi({ example: "Rouge Velours Lipstick 01 Cerise" }),
    brand: z.string().min(1).max(100).openapi({ example: "Maison Lumière" }),
    category: z.string().min(1).max(64).openapi({ example: "lipstick" }),
    names: z
      .record(LanguageTag, z.string().min(1).max(200))
      .refine((r) => Object.keys(r).length <= 20, "at most 20 translations")
      .optional()
      .openapi({ description: "The name per language (BCP 47 tag)", example: { fr: "Rouge Velours 01 Cerise", de: "Rouge Velours Lippenstift 01 Kirsche" } }),
    prices: z
      .record(Market, Price)
      .refine((r) => Object.keys(r).length <= 50, "at most 50 markets")
      .optional()
      .openapi({ description: "The price per market (ISO 3166 country code)", example: { FR: { amount: 3200, currency: "EUR" }, GB: { amount: 2800, currency: "GBP" } } }),
  })
  .openapi("CatalogItemBody");
export type CatalogItemBody = z.infer<typeof CatalogItemBody>;

// Spread, not .extend(): extending the strict body would document allOf [body without extra
// properties, { sku, region }], which no object satisfies.
export const CatalogItem = z.object({ sku: z.string(), region: z.string(), ...CatalogItemBody.shape }).openapi("CatalogItem");

export const CatalogBatchBody = z
  .strictObject({ items: z.array(z.strictObject({ sku: Sku, ...CatalogItemBody.shape })).min(1).max(1000, "at most 1000 items per request") })
  .openapi("CatalogBatch");

export const RecommendationReason = z.enum(["bought_together", "for_you", "popular_in_category"]);
export type RecommendationReason = z.infer<typeof RecommendationReason>;

export const LIMITS_RECS = { maxContext: 20, maxLimit: 50, defaultLimit: 10 } as const;

export const RecommendationsQuery = z.object({
  market: Market.optional().openapi({ description: "Where the shopper buys: prices in its currency, names in its language unless Accept-Language says otherwise; defaults to the region's first market" }),
  context: z
    .string()
    .optional()
    .openapi({ example: "LIP-ROUGE-01,SERUM-VITC-30", description: `Up to ${LIMITS_RECS.maxContext} SKUs: the product viewed, the cart` })
    .transform((s) => (s ? s.split(",").map((x) => x.trim()) : []))
    .pipe(z.array(Sku).max(LIMITS_RECS.maxContext, `at most ${LIMITS_RECS.maxContext} context SKUs`)),
  limit: z.coerce.number().int().min(1).max(LIMITS_RECS.maxLimit).default(LIMITS_RECS.defaultLimit),
});

export const RecommendedItem = z
  .object({
    sku: z.string(),
    name: z.string(),
    brand: z.string(),
    category: z.string(),
    /** The language of `name`. */
    locale: z.string(),
    price: z.union([Price, z.null()]).openapi({ description: "The market's price; null when the SKU has none there" }),
    reason: RecommendationReason,
    /** For bought_together: the context SKU it goes with. */
    because: z.string().optional(),
    score: z.number(),
    status: z.union([StockStatus, z.literal("unknown")]).openapi({ description: "`unknown` when availability could not be read in time" }),
  })
  .openapi("RecommendedItem");

export const RecommendationsResponse = z
  .object({
    region: z.string(),
    personalised: z.boolean().openapi({ description: "Whether the user's own list was used (consent granted and a list exists)" }),
    listsVersion: z.string().nullable().openapi({ description: "The build the lists come from; null before the first build" }),
    market: Market.nullable(),
    availability: z.enum(["checked", "unknown"]).openapi({
      description: "`unknown`: the stock snapshots could not be read in time, so the items are not filtered by availability",
    }),
    items: z.array(RecommendedItem),
  })
  .openapi("Recommendations");

export const BuildSummary = z
  .object({
    region: z.string(),
    version: z.string(),
    baskets: z.number().int(),
    users: z.number().int(),
    items: z.number().int(),
    model: z.string().openapi({ description: "The bought-together model built (recommendations/shipped.ts)" }),
    lists: z.object({ boughtTogether: z.number().int(), forYou: z.number().int(), popular: z.number().int() }),
    keys: z.number().int(),
    bytes: z.number().int(),
    deletedVersions: z.array(z.string()),
    ms: z.number().int(),
  })
  .openapi("RecommendationBuild");
export type BuildSummary = z.infer<typeof BuildSummary>;

/** The retired erasure path: it put the raw id in the URL, so it only answers 410 now. */
export const UserParams = z.object({
  region: Region,
  userId: z.string().openapi({ param: { name: "userId", in: "path" } }),
});

export const ErasureBody = z.strictObject({ userId: UserId }).openapi("ErasureRequest");

export const ErasureReport = z
  .object({
    region: z.string(),
    erased: z.object({ orders: z.number().int(), lists: z.number().int() }),
    at: z.string(),
  })
  .openapi("Erasure");

// ---- metrics (observability/metrics.ts, durable-objects/region-metrics.ts) ----

export const MetricsQuery = z.object({
  minutes: z.coerce.number().int().min(1).max(1440).default(15).openapi({ description: "The window: the last N minutes, the current one included (1-1440)" }),
});

const Latency = z
  .object({ p50: z.number(), p99: z.number() })
  .openapi({ description: "Upper bounds of fixed histogram buckets (1, 2, 5 ... 30000 ms); 0 when there was nothing to measure" });

export const RegionMetricsReport = z
  .object({
    region: z.string(),
    from: z.string().openapi({ description: "Start of the first minute of the window" }),
    to: z.string(),
    minutes: z.number().int(),
    requests: z.object({ total: z.number().int(), status4xx: z.number().int(), status5xx: z.number().int(), latencyMs: Latency }),
    reservations: z.object({
      outcomes: z.record(z.string(), z.number().int()).openapi({
        description: "created, out_of_stock, shopper_limit, shopper_required, confirmed, released, expired, hold_expired, try_again, stock_unavailable, error, ...",
      }),
      latencyMs: Latency,
    }),
    recommendations: z.object({
      requests: z.number().int(),
      cacheHits: z.number().int().openapi({ description: "Requests whose precomputed lists held everything asked for (the context's and the shopper's)" }),
      fromMemo: z.number().int().openapi({ description: "Answers without a shopper served again from an isolate's memo (still right: same lists version, same units)" }),
      latencyMs: Latency,
    }),
    dispatch: z.record(z.string(), z.object({ ok: z.number().int(), failed: z.number().int(), deadLettered: z.number().int() })).openapi({
      description: "Per warehouse id: dispatches taken, failed attempts, and dispatches dead-lettered",
    }),
    queueLagMs: z.number().nullable().openapi({ description: "Largest wait of an event on the inventory-events queue, in the latest minute that saw one" }),
    outboxAgeMs: z.number().nullable().openapi({ description: "Largest time from an event's commit to its queue send, in the latest minute that saw one" }),
    reconcileDrift: z.number().int().nullable().openapi({ description: "SKU-regions in drift at the latest repair run in the window" }),
    series: z.array(
      z.object({ at: z.string(), requests: z.number().int(), status5xx: z.number().int(), reservations: z.number().int(), p99Ms: z.number() }),
    ),
  })
  .openapi("RegionMetrics");
