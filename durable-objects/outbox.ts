// Sends committed events out of a SKU-region object: every event to the inventory-events queue
// (the system of record), confirmed sales also to the warehouse-dispatch queue. Rows leave their
// outbox table only once the queue has accepted them, so a crash between commit and send loses
// nothing: the next start or the alarm sends them again (consumers skip what they already have).
import type { DispatchMessage, InventoryEventMessage } from "../schema/messages";

const BATCH = 100; // sendBatch's limit

interface Queues {
  events: Queue<InventoryEventMessage>;
  dispatch: Queue<DispatchMessage>;
}

type Row = { seq: number; type: string; at: number; payload: string };

export class Outbox {
  private sending: Promise<void> | null = null;
  private sendAgain = false;

  constructor(
    private readonly sql: SqlStorage,
    private readonly queues: Queues,
    private readonly identity: () => { sku: string; region: string } | null,
    private readonly waitUntil: (p: Promise<unknown>) => void,
  ) {}

  hasUnsent(): boolean {
    return this.sql.exec("SELECT 1 FROM outbox UNION ALL SELECT 1 FROM dispatch_outbox LIMIT 1").toArray().length > 0;
  }

  /** Puts events after `after` back in the outbox, for a system of record that lost them. */
  requeue(after: number): number {
    this.sql.exec("INSERT OR IGNORE INTO outbox (seq) SELECT seq FROM events WHERE seq > ?", after);
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
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
        if (!(await this.drain("outbox", (r) => this.queues.events.sendBatch(r.map((e) => ({ body: eventMessage(id, e), contentType: "json" }))), id))) return;
        if (!(await this.drain("dispatch_outbox", (r) => this.queues.dispatch.sendBatch(r.map((e) => ({ body: dispatchMessage(id, e), contentType: "json" }))), id))) return;
      } while (this.sendAgain);
    })().finally(() => {
      this.sending = null;
    });
    this.waitUntil(this.sending);
    return this.sending;
  }

  private async drain(table: "outbox" | "dispatch_outbox", send: (rows: Row[]) => Promise<unknown>, id: { sku: string; region: string }): Promise<boolean> {
    for (;;) {
      const rows = this.sql
        .exec<Row>(`SELECT e.seq, e.type, e.at, e.payload FROM ${table} o JOIN events e ON e.seq = o.seq ORDER BY o.seq LIMIT ?`, BATCH)
        .toArray();
      if (rows.length === 0) return true;
      try {
        await send(rows);
      } catch (err) {
        console.warn(`${table} ${id.region}:${id.sku}: queue refused ${rows.length} messages, the alarm retries`, err);
        return false;
      }
      this.sql.exec(`DELETE FROM ${table} WHERE seq >= ? AND seq <= ?`, rows[0]!.seq, rows.at(-1)!.seq);
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
