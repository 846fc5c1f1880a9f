// Sends committed events out of a SKU-region object: every event to the inventory-events queue
// (the system of record), confirmed sales also to the warehouse-dispatch queue. Events are sent
// from the log itself, past a send position that moves only once the queue has accepted them; a
// dispatch row leaves its table only then too. So a crash between commit and send loses nothing:
// the next start or the alarm sends them again (consumers skip what they already have).
// The position moves in memory after a send and is stored with the object's next write (or by the
// alarm), not by a commit of its own: a restart may send a few events twice, never zero times.
// Sends are coalesced: a write asks for a send, and one send a short window later carries every
// event committed meanwhile, so a burst of writes costs one queue call and one position update.
import type { DispatchMessage, InventoryEventMessage } from "../schema/messages";
import { warn } from "../observability/log";

const BATCH = 100; // sendBatch's limit
/** How long a write waits for others to share its queue send. */
export const SEND_WINDOW_MS = 25;

interface Queues {
  events: Queue<InventoryEventMessage>;
  dispatch: Queue<DispatchMessage>;
}

type Row = { seq: number; type: string; at: number; payload: string; trace: string | null };

/** Events up to `sent` reached the queue (kept in memory; stored as sku_region.sent_seq later). */
export interface SendPosition {
  sent: number;
}

export class Outbox {
  private sending: Promise<void> | null = null;
  private sendAgain = false;
  private soon: Promise<void> | null = null;
  private requeues = 0;

  constructor(
    private readonly sql: SqlStorage,
    private readonly queues: Queues,
    private readonly identity: () => { sku: string; region: string } | null,
    private readonly waitUntil: (p: Promise<unknown>) => void,
    readonly position: SendPosition,
    /** A send failed: the owner makes sure its alarm retries soon. */
    private readonly retrySoon: () => void,
  ) {}

  /** Stores the send position, inside a transaction that commits anyway (no commit of its own). */
  persistPosition(): void {
    if (this.position.sent > 0) this.sql.exec("UPDATE sku_region SET sent_seq = ? WHERE sent_seq < ?", this.position.sent, this.position.sent);
  }

  hasUnsent(): boolean {
    return (
      this.sql
        .exec("SELECT 1 FROM sku_region WHERE version > max(sent_seq, ?) UNION ALL SELECT 1 FROM dispatch_outbox LIMIT 1", this.position.sent)
        .toArray().length > 0
    );
  }

  /** Sends events after `after` again, for a system of record that lost them. */
  requeue(after: number): number {
    this.sql.exec("UPDATE sku_region SET sent_seq = min(sent_seq, ?)", Math.max(0, after));
    this.position.sent = Math.min(this.position.sent, Math.max(0, after));
    this.requeues++;
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM events WHERE seq > (SELECT sent_seq FROM sku_region)").one().n;
  }

  /** Asks for a send within SEND_WINDOW_MS, sharing it with every write until then. */
  flushSoon(): void {
    if (this.soon) return;
    this.soon = new Promise<void>((resolve) => setTimeout(resolve, SEND_WINDOW_MS)).then(() => {
      this.soon = null;
      return this.flush();
    });
    this.waitUntil(this.soon);
  }

  /**
   * Sends what is pending, oldest first, without holding up the caller. One sender at a time; a
   * commit during a send asks for another round. Failures stay for the alarm (set before any send).
   */
  flush(): Promise<void> {
    if (this.sending) {
      this.sendAgain = true;
      return this.sending;
    }
    this.sending = (async () => {
      do {
        this.sendAgain = false;
        const id = this.identity();
        if (!id) return;
        if (!(await this.drainEvents(id))) return;
        if (!(await this.drainDispatches(id))) return;
      } while (this.sendAgain);
    })().finally(() => {
      this.sending = null;
    });
    this.waitUntil(this.sending);
    return this.sending;
  }

  private async drainEvents(id: { sku: string; region: string }): Promise<boolean> {
    for (;;) {
      const rows = this.sql
        .exec<Row>("SELECT seq, type, at, payload, trace FROM events WHERE seq > max((SELECT sent_seq FROM sku_region), ?) ORDER BY seq LIMIT ?", this.position.sent, BATCH)
        .toArray();
      if (rows.length === 0) return true;
      const requeues = this.requeues;
      if (!(await this.send("events", () => this.queues.events.sendBatch(rows.map((e) => ({ body: eventMessage(id, e), contentType: "json" }))), rows.length, id))) return false;
      // Unless a requeue meanwhile moved the position back: never skip what it asked for.
      if (requeues === this.requeues) this.position.sent = Math.max(this.position.sent, rows.at(-1)!.seq);
    }
  }

  private async drainDispatches(id: { sku: string; region: string }): Promise<boolean> {
    for (;;) {
      const rows = this.sql
        .exec<Row>("SELECT e.seq, e.type, e.at, e.payload, e.trace FROM dispatch_outbox o JOIN events e ON e.seq = o.seq ORDER BY o.seq LIMIT ?", BATCH)
        .toArray();
      if (rows.length === 0) return true;
      if (!(await this.send("dispatches", () => this.queues.dispatch.sendBatch(rows.map((e) => ({ body: dispatchMessage(id, e), contentType: "json" }))), rows.length, id))) return false;
      this.sql.exec("DELETE FROM dispatch_outbox WHERE seq >= ? AND seq <= ?", rows[0]!.seq, rows.at(-1)!.seq);
    }
  }

  private async send(what: string, call: () => Promise<unknown>, n: number, id: { sku: string; region: string }): Promise<boolean> {
    try {
      await call();
      return true;
    } catch (err) {
      warn("outbox_send_refused", { region: id.region, sku: id.sku, what, count: n, error: err, retry: "the alarm retries" });
      this.retrySoon();
      return false;
    }
  }
}

function eventMessage(id: { sku: string; region: string }, e: Row): InventoryEventMessage {
  return { region: id.region, sku: id.sku, seq: e.seq, type: e.type, at: e.at, payload: JSON.parse(e.payload), ...(e.trace && { trace: e.trace }) };
}

function dispatchMessage(id: { sku: string; region: string }, e: Row): DispatchMessage {
  const p = JSON.parse(e.payload) as { holdId: string; qty: number; warehouse: string | null };
  return {
    region: id.region, sku: id.sku, seq: e.seq, reservationId: p.holdId, qty: p.qty, warehouse: p.warehouse ?? null, confirmedAt: e.at,
    ...(e.trace && { trace: e.trace }),
  };
}
