// The availability read model (CQRS): a region's SKUs are spread over a few page objects, and each
// page holds the last published snapshot of every SKU-region on it. SKU objects (and their stock
// shards) publish after committed changes, coalesced (availability-publisher.ts); the edge reads
// whole pages, never SKU objects one by one (workers/snapshot-cache.ts). A SKU that is not on its
// page was never stocked here: it reads as unavailable at no object call at all.
//
// The page is a projection: it decides nothing. Rows are kept in SQLite so a restarted page still
// knows every SKU; a publish that arrives out of order never replaces a newer one.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../workers/env";
import { meterCalls, meterStorage } from "./cost-meter";
import { failDuringOutage } from "./fault-injection";
import { migrate } from "./inventory-schema";

/** Pages per region. Production: 100,000 SKU-regions over 3 regions is ~2,000 SKUs (~80 KB) a page. */
export const PAGES_PER_REGION = 16;

/**
 * One part of a SKU-region's stock as its writer last published it: part 0 is the SKU object
 * itself (with `shards`, how many sellers it has), parts 1..K-1 its stock shards' quotas.
 */
export interface PagePart {
  sku: string;
  part: number;
  available: number;
  version: number;
  shards: number;
  /** When the writer read this from its own state (its clock, ms since the epoch). */
  at: number;
}

/**
 * A page as the edge gets it: every part on it as one JSON text (a PagePart[]), made once per
 * change on the page, so a read clones one string instead of every part and the edge caches that
 * same text; and when the page answered.
 */
export interface PageText {
  parts: string;
  at: number;
}

const PAGE_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE parts (
    sku TEXT NOT NULL,
    part INTEGER NOT NULL,
    available INTEGER NOT NULL,
    version INTEGER NOT NULL,
    shards INTEGER NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (sku, part)
  );
  `,
];

/** FNV-1a: the same SKU lands on the same page in every object and every isolate. */
export function pageOf(sku: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < sku.length; i++) {
    h ^= sku.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % PAGES_PER_REGION;
}

export function pageName(region: string, page: number): string {
  return `${region}:page:${page}`;
}

export class AvailabilityPage extends DurableObject<Env> {
  private sql: SqlStorage;
  private parts = new Map<string, PagePart>();
  /** The page as last read (JSON of its parts), reused until the next publish changes it. */
  private copy: string | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = meterStorage(ctx.storage);
    ctx.blockConcurrencyWhile(async () => {
      migrate(this.sql, PAGE_MIGRATIONS);
      for (const p of this.sql.exec<PagePart & Record<string, number | string>>("SELECT sku, part, available, version, shards, at FROM parts")) {
        this.parts.set(key(p.sku, p.part), { sku: p.sku, part: p.part, available: p.available, version: p.version, shards: p.shards, at: p.at });
      }
    });
  }

  /** Writers' latest snapshots; older ones than what the page has are ignored. One commit a call. */
  async publish(parts: PagePart[]): Promise<{ applied: number }> {
    let applied = 0;
    this.ctx.storage.transactionSync(() => {
      for (const p of parts) {
        const known = this.parts.get(key(p.sku, p.part));
        // Older, or the same state again (a restarted writer does not know what it sent): no commit.
        if (known && (known.version > p.version || (known.version === p.version && (known.at >= p.at || same(known, p))))) continue;
        this.parts.set(key(p.sku, p.part), p);
        this.sql.exec(
          "INSERT OR REPLACE INTO parts (sku, part, available, version, shards, at) VALUES (?, ?, ?, ?, ?, ?)",
          p.sku, p.part, p.available, p.version, p.shards, p.at,
        );
        applied++;
      }
    });
    if (applied) this.copy = null;
    return { applied };
  }

  /** The whole page: what the edge keeps in memory and in the data centre's cache. */
  async read(): Promise<PageText> {
    this.copy ??= JSON.stringify([...this.parts.values()]);
    return { parts: this.copy, at: Date.now() };
  }
}

function same(a: PagePart, b: PagePart): boolean {
  return a.available === b.available && a.shards === b.shards;
}

function key(sku: string, part: number): string {
  return `${part}:${sku}`;
}

failDuringOutage(AvailabilityPage, ["publish", "read"], "read-model");
meterCalls(AvailabilityPage, ["publish", "read"]);
