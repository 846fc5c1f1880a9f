// Log compaction of one SKU-region object: its event log would otherwise grow with every hold
// forever, and a Durable Object's database has a hard size limit. Events leave the object only
// when all of these hold:
//   - the system of record has them (the projection is past them: `projected_seq`, reported by
//     reconcile, which compares the projection with the object),
//   - the outbox sent them, they are older than the retention window, and they are not the last
//     event (the version and the totals after it stay readable here),
//   - they are in the archive: written to R2 first as one immutable, checksummed NDJSON chunk per
//     sequence range, keyed by SKU-region and range.
// Then, in one transaction, a snapshot of the aggregate at the chunk's last sequence is stored and
// the chunk's events are deleted. Sequence numbers stay gap-free from the outside: archive chunks
// and the events still held cover 1..version exactly, and the snapshot plus the events after it
// fold to the same aggregate as the whole log (test/log-compaction.property.test.ts).
import { hex } from "../workers/hex";
import type { StoredEvent, Totals } from "./stock-ledger";

/** Events per archive chunk (one R2 object), and chunks per compaction run. */
export const CHUNK_EVENTS = 1_000;
export const CHUNKS_PER_RUN = 20;
export const DEFAULT_RETENTION_DAYS = 30;

/** What the log says of the SKU-region at `seq`: the totals after it and each warehouse's count. */
export interface LogAggregate {
  seq: number;
  at: number;
  totals: Totals | null;
  warehouses: Record<string, number>;
}

export const EMPTY_AGGREGATE: LogAggregate = { seq: 0, at: 0, totals: null, warehouses: {} };

const STOCK_EVENTS = new Set(["stock_set", "stock_counted", "stock_received", "stock_damaged", "shipped"]);

/** Folds events (in sequence order, continuing `from`) into the aggregate, as the projection does. */
export function foldLog(from: LogAggregate, events: Pick<StoredEvent, "seq" | "type" | "at" | "payload">[]): LogAggregate {
  let state = { ...from, warehouses: { ...from.warehouses } };
  for (const e of events) {
    if (e.seq !== state.seq + 1) throw new Error(`the log has a gap: event ${e.seq} after ${state.seq}`);
    const p = e.payload;
    if (STOCK_EVENTS.has(e.type) && typeof p.warehouse === "string" && typeof p.onHand === "number") state.warehouses[p.warehouse] = p.onHand;
    state = { ...state, seq: e.seq, at: e.at, totals: (p.after as Totals | undefined) ?? state.totals };
  }
  return state;
}

export function retentionMs(env: { EVENT_RETENTION_DAYS?: string }): number {
  const days = Number(env.EVENT_RETENTION_DAYS);
  return (Number.isFinite(days) && days >= 0 && env.EVENT_RETENTION_DAYS !== undefined && env.EVENT_RETENTION_DAYS !== "" ? days : DEFAULT_RETENTION_DAYS) * 86_400_000;
}

/**
 * For `npm run simulate:year` only: an accelerated clock (a simulated day lasting a fraction of a
 * second) must age the object's real-time retentions too (idempotency records, ended hold rows), or
 * a simulated year keeps every one of them. The object divides those retentions by
 * `RETENTION_TIME_SCALE` (default 1; never set in wrangler.toml).
 */
export function retentionScale(env: { RETENTION_TIME_SCALE?: string }): number {
  const scale = Number(env.RETENTION_TIME_SCALE);
  return Number.isFinite(scale) && scale >= 1 ? scale : 1;
}

/** The archive object's key: sorts by range, so a listing reads in sequence order. */
export function chunkKey(region: string, sku: string, from: number, to: number): string {
  const pad = (n: number) => String(n).padStart(12, "0");
  return `events/${region}/${sku}/${pad(from)}-${pad(to)}.ndjson`;
}

export function chunkBody(events: StoredEvent[]): string {
  return events.map((e) => JSON.stringify({ seq: e.seq, type: e.type, at: e.at, payload: e.payload })).join("\n") + "\n";
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return hex(digest);
}

export type ArchiveOutcome = { ok: true; key: string; sha256: string; existed: boolean } | { ok: false; reason: string };

/**
 * Writes one chunk unless its key exists. An existing chunk (a run that died after the write and
 * before the delete) must hold the same bytes: same checksum, or nothing is dropped.
 */
export async function archiveChunk(bucket: R2Bucket, region: string, sku: string, events: StoredEvent[]): Promise<ArchiveOutcome> {
  const from = events[0]!.seq;
  const to = events.at(-1)!.seq;
  const key = chunkKey(region, sku, from, to);
  const body = chunkBody(events);
  const sha256 = await sha256Hex(body);
  const meta = { region, sku, from: String(from), to: String(to), count: String(events.length), sha256 };
  const put = await bucket.put(key, body, { sha256, customMetadata: meta, httpMetadata: { contentType: "application/x-ndjson" }, onlyIf: { etagDoesNotMatch: "*" } });
  if (put) return { ok: true, key, sha256, existed: false };
  const existing = await bucket.head(key);
  if (existing?.customMetadata?.sha256 === sha256) return { ok: true, key, sha256, existed: true };
  return { ok: false, reason: `archive chunk ${key} exists with other contents (sha256 ${existing?.customMetadata?.sha256 ?? "unknown"}); nothing dropped` };
}

/** Reads a chunk back and checks it against its checksum and range. */
export async function readChunk(bucket: R2Bucket, key: string): Promise<{ ok: true; events: StoredEvent[]; sha256: string } | { ok: false; reason: string }> {
  const object = await bucket.get(key);
  if (!object) return { ok: false, reason: `no archive chunk ${key}` };
  const text = await object.text();
  const sha256 = await sha256Hex(text);
  if (object.customMetadata?.sha256 !== sha256) return { ok: false, reason: `archive chunk ${key} does not match its checksum` };
  const events = text.trimEnd().split("\n").map((line) => JSON.parse(line) as StoredEvent);
  const from = Number(object.customMetadata.from);
  if (events[0]?.seq !== from || events.some((e, i) => e.seq !== from + i)) return { ok: false, reason: `archive chunk ${key} is not the range it names` };
  return { ok: true, events, sha256 };
}
