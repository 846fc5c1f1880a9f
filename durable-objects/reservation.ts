// One object per reservation (a shopper's cart hold), named by region, storefront and
// Idempotency-Key, so a retried request reaches the same object and gets the same outcome. It holds
// the token and the lines, and drives the SKU-region objects: hold every line or none, confirm every
// line or revert, release every line. It never decides stock; the SKU-region objects do.
import { DurableObject } from "cloudflare:workers";
import { inventoryName, type InventoryObject } from "./inventory";
import type { Env } from "../workers/env";

export interface Line {
  sku: string;
  qty: number;
}

export interface ReservationRecord {
  id: string;
  region: string;
  requestHash: string;
  token: string;
  lines: Line[];
  createdAt: number;
  expiresAt: number;
  state: "pending" | "held" | "rejected" | "confirming" | "confirmed" | "released" | "expired";
  confirmedAt?: number;
  releasedAt?: number;
  createOutcome?: CreateOutcome;
}

export interface ReservationView {
  id: string;
  region: string;
  status: "held" | "confirmed" | "released" | "expired";
  lines: Line[];
  createdAt: number;
  expiresAt: number;
  confirmedAt?: number;
  releasedAt?: number;
}

export type ShortLine = { sku: string; requested: number; available: number };

export type CreateOutcome =
  | { ok: true; reservation: ReservationView; token: string }
  | { ok: false; code: "insufficient_stock"; lines: ShortLine[] }
  | { ok: false; code: "idempotency_key_reused" }
  | { ok: false; code: "try_again"; detail: string };

export type ReservationFailure =
  | { ok: false; code: "reservation_not_found" | "invalid_token" | "reservation_released" | "already_confirmed" }
  | { ok: false; code: "hold_expired"; reservation: ReservationView }
  | { ok: false; code: "try_again"; detail: string };

export type ReservationOutcome = { ok: true; reservation: ReservationView } | ReservationFailure;

export interface CreateRequest {
  region: string;
  requestHash: string;
  lines: Line[];
  ttlSeconds: number;
}

/** SKU objects keep a hold this much past the reservation's expiry, so a confirm accepted just
 * before expiry reaches every line even if their clocks differ slightly. */
export const CONFIRM_GRACE_MS = 2_000;
/** A create that died half-way is compensated (its holds released) this long after it began. */
export const ABANDONED_AFTER_MS = 30_000;
/** Reservations (and so their Idempotency-Keys) are kept this long, well over the promised 24 h. */
export const RETENTION_MS = 7 * 24 * 3600_000;

const KEY = "reservation";

export class ReservationObject extends DurableObject<Env> {
  private queue: Promise<unknown> = Promise.resolve();

  async create(req: CreateRequest): Promise<CreateOutcome> {
    return this.serially(async () => {
      let record = await this.ctx.storage.get<ReservationRecord>(KEY);
      if (record && record.requestHash !== req.requestHash) return { ok: false, code: "idempotency_key_reused" };
      if (record?.createOutcome) return record.createOutcome;
      if (!record) {
        const now = Date.now();
        record = {
          id: this.ctx.id.toString(),
          region: req.region,
          requestHash: req.requestHash,
          token: randomToken(),
          lines: req.lines,
          createdAt: now,
          expiresAt: now + req.ttlSeconds * 1000,
          state: "pending",
        };
        await this.ctx.storage.put(KEY, record);
        await this.ctx.storage.setAlarm(now + ABANDONED_AFTER_MS);
      }
      // A record still pending here means an earlier attempt died half-way: finish it now.
      return this.holdAllLines(record);
    });
  }

  async view(token: string): Promise<ReservationOutcome> {
    const record = await this.ctx.storage.get<ReservationRecord>(KEY);
    const denied = await checkAccess(record, token);
    if (denied) return denied;
    return { ok: true, reservation: toView(record!) };
  }

  async confirm(token: string): Promise<ReservationOutcome> {
    return this.serially(async () => {
      const record = await this.ctx.storage.get<ReservationRecord>(KEY);
      const denied = await checkAccess(record, token);
      if (denied) return denied;
      const r = record!;
      if (r.state === "confirmed") return { ok: true, reservation: toView(r) };
      if (r.state === "released") return { ok: false, code: "reservation_released" };
      if (r.state === "held" && Date.now() >= r.expiresAt) r.state = "expired";
      if (r.state === "expired") return { ok: false, code: "hold_expired", reservation: toView(r) };
      r.state = "confirming";
      await this.ctx.storage.put(KEY, r);
      return this.confirmAllLines(r);
    });
  }

  async release(token: string): Promise<ReservationOutcome> {
    return this.serially(async () => {
      const record = await this.ctx.storage.get<ReservationRecord>(KEY);
      const denied = await checkAccess(record, token);
      if (denied) return denied;
      const r = record!;
      if (r.state === "confirmed" || r.state === "confirming") return { ok: false, code: "already_confirmed" };
      if (r.state === "held") {
        const failed = await this.releaseAllLines(r);
        if (failed) return { ok: false, code: "try_again", detail: failed };
        r.state = Date.now() >= r.expiresAt ? "expired" : "released";
        if (r.state === "released") r.releasedAt = Date.now();
        await this.ctx.storage.put(KEY, r);
      }
      return { ok: true, reservation: toView(r) };
    });
  }

  override async alarm(): Promise<void> {
    await this.serially(async () => {
      const r = await this.ctx.storage.get<ReservationRecord>(KEY);
      if (!r) return;
      const now = Date.now();
      if (now >= r.createdAt + RETENTION_MS) {
        await this.ctx.storage.deleteAll();
        return;
      }
      if (r.state === "pending") {
        // Nobody came back to finish this create: give its units back now rather than at expiry,
        // and forget it so a late retry with the same key starts afresh.
        const failed = await this.releaseAllLines(r);
        if (failed) throw new Error(`compensating abandoned reservation ${r.id}: ${failed}`); // alarm retries
        await this.ctx.storage.delete(KEY);
        return;
      }
      if (r.state === "confirming") await this.confirmAllLines(r);
      await this.ctx.storage.setAlarm(r.createdAt + RETENTION_MS);
    });
  }

  // ------------------------------------------------------------------ the saga steps

  private async holdAllLines(r: ReservationRecord): Promise<CreateOutcome> {
    const skuExpiry = r.expiresAt + CONFIRM_GRACE_MS;
    const settled = await Promise.allSettled(
      r.lines.map((line) => this.inventory(r.region, line.sku).hold(line.sku, r.region, r.id, line.qty, skuExpiry)),
    );
    const broken = settled.find((s) => s.status === "rejected");
    if (broken) {
      // Leave the record pending: a retry with the same key resumes, the alarm compensates otherwise.
      return { ok: false, code: "try_again", detail: `a stock object did not answer: ${String(broken.reason)}` };
    }
    const results = settled.map((s) => (s as PromiseFulfilledResult<Awaited<ReturnType<InventoryObject["hold"]>>>).value);
    let outcome: CreateOutcome;
    if (results.every((h) => h.ok)) {
      r.state = "held";
      outcome = { ok: true, reservation: toView(r), token: r.token };
    } else {
      const failed = await this.releaseAllLines(r);
      if (failed) return { ok: false, code: "try_again", detail: failed };
      r.state = "rejected";
      const lines = r.lines.flatMap((line, i): ShortLine[] => {
        const h = results[i]!;
        if (h.ok) return [];
        const available = h.code === "insufficient_stock" ? h.available : 0;
        return [{ sku: line.sku, requested: line.qty, available }];
      });
      outcome = { ok: false, code: "insufficient_stock", lines };
    }
    r.createOutcome = outcome;
    await this.ctx.storage.put(KEY, r);
    await this.ctx.storage.setAlarm(r.createdAt + RETENTION_MS);
    return outcome;
  }

  private async confirmAllLines(r: ReservationRecord): Promise<ReservationOutcome> {
    const settled = await Promise.allSettled(r.lines.map((line) => this.inventory(r.region, line.sku).confirm(r.id)));
    const broken = settled.find((s) => s.status === "rejected");
    if (broken) {
      await this.ctx.storage.setAlarm(Date.now() + 5_000); // finish (or revert) from the alarm
      return { ok: false, code: "try_again", detail: `a stock object did not answer: ${String(broken.reason)}` };
    }
    const results = settled.map((s) => (s as PromiseFulfilledResult<Awaited<ReturnType<InventoryObject["confirm"]>>>).value);
    if (results.every((c) => c.ok)) {
      r.state = "confirmed";
      r.confirmedAt = Date.now();
      await this.ctx.storage.put(KEY, r);
      return { ok: true, reservation: toView(r) };
    }
    // Some line's hold was gone (past its grace period): the sale cannot be whole, so give back the
    // lines that did confirm and release the rest.
    await Promise.all(
      r.lines.map(async (line, i) => {
        const stock = this.inventory(r.region, line.sku);
        if (results[i]!.ok) await stock.revertConfirmation(r.id);
        else await stock.release(r.id);
      }),
    );
    r.state = "expired";
    await this.ctx.storage.put(KEY, r);
    return { ok: false, code: "hold_expired", reservation: toView(r) };
  }

  /** Returns a description of what failed, or null when every line is released. */
  private async releaseAllLines(r: ReservationRecord): Promise<string | null> {
    const settled = await Promise.allSettled(r.lines.map((line) => this.inventory(r.region, line.sku).release(r.id)));
    const broken = settled.find((s) => s.status === "rejected");
    return broken ? `releasing holds failed: ${String((broken as PromiseRejectedResult).reason)}` : null;
  }

  private inventory(region: string, sku: string): DurableObjectStub<InventoryObject> {
    return this.env.INVENTORY.get(this.env.INVENTORY.idFromName(inventoryName(region, sku)));
  }

  /** Mutations run one at a time even though RPC awaits let other requests in between. */
  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function toView(r: ReservationRecord): ReservationView {
  let status: ReservationView["status"];
  if (r.state === "confirmed") status = "confirmed";
  else if (r.state === "released") status = "released";
  else if (r.state === "expired" || Date.now() >= r.expiresAt) status = "expired";
  else status = "held";
  return {
    id: r.id,
    region: r.region,
    status,
    lines: r.lines,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    ...(r.confirmedAt !== undefined && { confirmedAt: r.confirmedAt }),
    ...(r.releasedAt !== undefined && { releasedAt: r.releasedAt }),
  };
}

async function checkAccess(record: ReservationRecord | undefined, token: string): Promise<ReservationFailure | null> {
  // A reservation that was never held (rejected, or still being made) does not exist for its readers.
  if (!record || record.state === "pending" || record.state === "rejected") return { ok: false, code: "reservation_not_found" };
  if (!(await sameSecret(record.token, token))) return { ok: false, code: "invalid_token" };
  return null;
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Compares digests, so the time taken says nothing about how much of the token matched. */
async function sameSecret(expected: string, given: string): Promise<boolean> {
  const enc = new TextEncoder();
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", enc.encode(expected)),
    crypto.subtle.digest("SHA-256", enc.encode(given)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}
