// Sends committed events out of a SKU-region object: every event to the inventory-events queue
// (the system of record), confirmed sales also to the warehouse-dispatch queue. Events are sent
// from the log itself: `sent_seq` moves past them only once the queue has accepted them, and a
// dispatch row leaves its table only then too, so a crash between commit and send loses nothing:
// the next start or the alarm sends them again (consumers skip what they already have).
// Sends are coalesced: a write asks for a send, and one send a short window later carries every
// event committed meanwhile, so a burst of writes costs one queue call and one position update.
import type { DispatchMessage, InventoryEventMessage } from "../schema/messages";

const BATCH = 100; // sendBatch's limit
/** How long a write waits for others to share its queue send. */
export const SEND_WINDOW_MS = 25;

interface Queues {
  events: Queue<InventoryEventMessage>;
  dispatch: Queue<DispatchMessage>;
}

type Row = { seq: number; type: string; at: number; payload: string };

export class Outbox {
  private sending: Promise<void> | null = null;
  private sendAgain = false;
  private soon: Promise<void> | null = null;

  constructor(
    private readonly sql: SqlStorage,
    private readonly queues: Queues,
    private readonly identity: () => { sku: string; region: string } | null,
    private readonly waitUntil: (p: Promise<unknown>) => void,
  ) {}

  hasUnsent(): boolean {
    return (
      this.sql
        .exec("SELECT 1 FROM sku_region WHERE version > sent_seq UNION ALL SELECT 1 FROM dispatch_outbox LIMIT 1")
        .toArray().length > 0
    );
  }

  /** Sends events after `after` again, for a system of record that lost them. */
  requeue(after: number): number {
    this.sql.exec("UPDATE sku_region SET sent_seq = min(sent_seq, ?)", Math.max(0, after));
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
        .exec<Row>("SELECT seq, type, at, payload FROM events WHERE seq > (SELECT sent_seq FROM sku_region) ORDER BY seq LIMIT ?", BATCH)
        .toArray();
      if (rows.length === 0) return true;
      if (!(await this.send("events", () => this.queues.events.sendBatch(rows.map((e) => ({ body: eventMessage(id, e), contentType: "json" }))), rows.length, id))) return false;
      // max(): a requeue meanwhile may have moved the position back; never skip what it asked for.
      this.sql.exec("UPDATE sku_region SET sent_seq = CASE WHEN sent_seq >= ? THEN ? ELSE sent_seq END", rows[0]!.seq - 1, rows.at(-1)!.seq);
    }
  }

  private async drainDispatches(id: { sku: string; region: string }): Promise<boolean> {
    for (;;) {
      const rows = this.sql
        .exec<Row>("SELECT e.seq, e.type, e.at, e.payload FROM dispatch_outbox o JOIN events e ON e.seq = o.seq ORDER BY o.seq LIMIT ?", BATCH)
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
      console.warn(`outbox ${id.region}:${id.sku}: the queue refused ${n} ${what}, the alarm retries`, err);
      return false;
    }
  }
}

function eventMessage(id: { sku: string; region: string }, e: Row): InventoryEventMessage {
  return { region: id.region, sku: id.sku, seq: e.seq, type: e.type, at: e.at, payload: JSON.parse(e.payload) };
}

function dispatchMessage(id: { sku: string; region: string }, e: Row): DispatchMessage {
  const p = JSON.parse(e.payload) as { holdId: string; qty: number; warehouse: string | null };
  return { region: id.region, sku: id.sku, seq: e.seq, reservationId: p.holdId, qty: p.qty, warehouse: p.warehouse ?? null, confirmedAt: e.at };
}
