import type { InventoryObject } from "../durable-objects/inventory";
import type { ReservationObject } from "../durable-objects/reservation";
import type { StockShard } from "../durable-objects/stock-shard";
import type { AvailabilityPage } from "../durable-objects/availability-page";
import type { DispatchMessage, InventoryEventMessage, ShopperOrderMessage } from "../schema/messages";
import type { WarehouseCircuit } from "../durable-objects/warehouse-circuit";
import type { RegionMetrics } from "../durable-objects/region-metrics";
import type { TraceContext } from "../observability/trace";

export interface Env {
  INVENTORY: DurableObjectNamespace<InventoryObject>;
  RESERVATIONS: DurableObjectNamespace<ReservationObject>;
  /** Stock shards 1..K-1 of hot SKU-regions (shard 0 is the INVENTORY object itself). */
  STOCK_SHARDS: DurableObjectNamespace<StockShard>;
  /** The availability read model: a few pages per region, each the snapshots of many SKU-regions. */
  AVAILABILITY_PAGES: DurableObjectNamespace<AvailabilityPage>;
  /** Every committed stock event, on its way to Postgres (and later to warehouses). */
  INVENTORY_EVENTS: Queue<InventoryEventMessage>;
  /** Confirmed sales on their way to the warehouse that ships them. */
  WAREHOUSE_DISPATCH: Queue<DispatchMessage>;
  /** The dead-letter queues themselves: a letter that cannot be recorded yet is sent round again, never dropped. */
  INVENTORY_EVENTS_DLQ: Queue<unknown>;
  WAREHOUSE_DISPATCH_DLQ: Queue<unknown>;
  /** How old unprojected events must be before the repair cron resends them (default 60). */
  RECONCILE_GRACE_SECONDS?: string;
  /** One circuit breaker per warehouse, shared by every consumer invocation. */
  WAREHOUSE_CIRCUITS: DurableObjectNamespace<WarehouseCircuit>;
  /** JSON list of this deployment's warehouses: [{ id, region, adapter: "json"|"soap", url, timeoutMs? }]. */
  WAREHOUSES: string;
  /** Secret: JSON map of warehouse id to its signing secret (whsec_...), both directions. */
  WAREHOUSE_SECRETS: string;
  /** How long a warehouse has to allocate a confirmed sale before it goes back on sale (default 900). */
  ALLOCATION_TIMEOUT_SECONDS?: string;
  /** Which shopper (pseudonymous) made which reservation, on its way to Postgres for recommendations. */
  SHOPPER_ORDERS: Queue<ShopperOrderMessage>;
  /** Versioned recommendation lists and the pointer to the current version (recommendations/store.ts). */
  RECOMMENDATIONS: KVNamespace;
  /** Secret: the key user ids are pseudonymised with (HMAC-SHA256) before they are stored anywhere. */
  USER_ID_SECRET: string;
  /** Optional: fewer KV keys per Worker recommendation build than the default 450. */
  RECS_MAX_KEYS_PER_BUILD?: string;
  /** How stale a cached availability snapshot may be, in seconds (default 2; 0 turns the cache off). */
  AVAILABILITY_MAX_AGE_SECONDS?: string;
  /** How long a read waits for a read-model page before it answers from its last copy (default 1000 ms). */
  AVAILABILITY_DEADLINE_MS?: string;
  /** How old that last copy may be, marked `stale`, before reads answer 503 stock_unavailable (default 300 s). */
  AVAILABILITY_STALE_LIMIT_SECONDS?: string;
  /** How long a reservation, confirm or release waits for its stock objects before 503 stock_unavailable (default 3000 ms). */
  STOCK_DEADLINE_MS?: string;
  /** Local only: "on" enables PUT /v1/admin/{region}/outage (simulated regional outage). Never set in production. */
  FAULT_INJECTION?: string;
  /** Secret: the region's Postgres (Neon) connection string. */
  DATABASE_URL: string;
  /** Local only: host:port of the WebSocket-to-TCP bridge in front of a plain Postgres. */
  PG_BRIDGE?: string;
  /** Local only: connections per Postgres pool (1 for the embedded PGlite). */
  PG_POOL_MAX?: string;
  /** Comma-separated regions this deployment serves; locally all of them. */
  REGIONS: string;
  /** At or below this many available units a SKU shows `low_stock`. */
  LOW_STOCK_THRESHOLD: string;
  /** Secret: comma-separated storefront API keys. */
  STOREFRONT_KEYS: string;
  /** Secret: bearer token for admin routes. */
  ADMIN_TOKEN: string;
  /** Static assets (public/): the API reference's script for /docs. */
  ASSETS: Fetcher;
  /** Archive of compacted event logs (log-compaction.ts); unbound: nothing is ever dropped. */
  ARCHIVE?: R2Bucket;
  /** Events stay in their object at least this many days after Postgres has them (default 30). */
  EVENT_RETENTION_DAYS?: string;
  /** Days Postgres keeps events behind the nightly snapshot (system-of-record/snapshot.ts, default 90). */
  EVENT_KEEP_DAYS?: string;
  /** "all": a JSON log line for every answer; otherwise only 5xx and slow answers (workers/observe.ts). */
  REQUEST_LOG?: string;
  /** `npm run simulate:year` only: divides the objects' real-time retentions (log-compaction.ts). */
  RETENTION_TIME_SCALE?: string;
  /** Calls one isolate lets wait on one object before it sheds load with 503 (default 1000). */
  MAX_WAITING_PER_OBJECT?: string;
  /** Rate limits (workers/rate-limits.ts, wrangler.toml [[ratelimits]]); an unbound one does not limit. */
  STOREFRONT_LIMITER?: RateLimit;
  CLIENT_LIMITER?: RateLimit;
  RESERVE_LIMITER?: RateLimit;
  AUTH_LIMITER?: RateLimit;
  /** Per region, its metrics minute by minute (observability/metrics.ts feeds it, coalesced). */
  REGION_METRICS: DurableObjectNamespace<RegionMetrics>;
  /** Workers Analytics Engine dataset (wrangler.toml [[analytics_engine_datasets]]); a no-op locally. */
  METRICS?: AnalyticsEngineDataset;
}

export type AppEnv = { Bindings: Env; Variables: { region: string; storefrontKeyId: string; trace: TraceContext } };

type WorkerEnv = Env;
declare global {
  namespace Cloudflare {
    // Types `env` from "cloudflare:workers" and "cloudflare:test" in tests.
    interface Env extends WorkerEnv {}
    // Types `exports` from "cloudflare:workers" (tests call exports.default.fetch).
    interface GlobalProps {
      mainModule: typeof import("./index");
    }
  }
}
