// The allocation saga of a confirmed sale, inside its SKU-region object:
//   confirmed -> dispatched -> allocated -> shipped (done)
//   rejected, or no answer by the deadline -> a compensating release (units back on sale)
// A late "allocated" after a timeout takes the units back if they are still available, and
// otherwise asks an operator to reconcile. Every step appends events; none deletes or edits one.
// All functions run inside the object's transaction.
import type { WarehouseEvent } from "../warehouses/contracts";
import type { HoldRow, StockLedger } from "./stock-ledger";

export type WarehouseEventOutcome =
  | { ok: true; result: "applied" | "ignored"; detail?: string; version: number }
  | { ok: false; code: "reservation_not_found" | "wrong_warehouse"; detail: string };

/** Picks the warehouse that ships a sale and starts its clock; returns the event's saga fields. */
export function startAllocation(ledger: StockLedger, hold: HoldRow, now: number, timeoutMs: number) {
  const warehouse = ledger.fullestWarehouse();
  const deadline = now + timeoutMs;
  ledger.setAllocation(hold, null, deadline, warehouse);
  return { warehouse, allocationDeadline: deadline };
}

export function markDispatched(ledger: StockLedger, holdId: string, deliveryId: string, now: number): void {
  const hold = ledger.findHold(holdId);
  if (!hold || hold.status !== "confirmed" || (hold.allocation !== null && hold.allocation !== "dispatch_failed")) return;
  ledger.setAllocation(hold, "dispatched", hold.allocation_due_at);
  ledger.append("dispatched", now, { holdId, warehouse: hold.warehouse, deliveryId });
}

/** The warehouse could not be told; the deadline still runs and compensates if nobody answers. */
export function recordDispatchFailure(ledger: StockLedger, holdId: string, reason: string, now: number): void {
  const hold = ledger.findHold(holdId);
  if (!hold || hold.status !== "confirmed" || hold.allocation !== null) return;
  ledger.setAllocation(hold, "dispatch_failed", hold.allocation_due_at);
  ledger.append("dispatch_failed", now, { holdId, warehouse: hold.warehouse, reason });
}

/** Confirmed sales whose warehouse has not allocated them by the deadline go back on sale. */
export function timeOutAllocations(ledger: StockLedger, due: HoldRow[], now: number): void {
  for (const hold of due) {
    if (hold.status !== "confirmed" || hold.allocation === "allocated") {
      ledger.setAllocation(hold, hold.allocation, null); // nothing left to wait for
      continue;
    }
    ledger.append("allocation_timed_out", now, { holdId: hold.id, warehouse: hold.warehouse }, hold.trace);
    compensate(ledger, hold, "timed_out", now, hold.trace);
  }
}

function compensate(ledger: StockLedger, hold: HoldRow, why: "rejected" | "timed_out", now: number, trace = ledger.trace): void {
  ledger.setHoldStatus(hold, "released", now);
  ledger.setAllocation(hold, why, null);
  ledger.append("sale_released", now, { holdId: hold.id, qty: hold.qty, cause: `allocation_${why}` }, trace);
}

export function applyWarehouseEvent(
  ledger: StockLedger,
  warehouse: string,
  event: WarehouseEvent,
  now: number,
): WarehouseEventOutcome {
  const version = () => ledger.version();
  switch (event.type) {
    case "stock.counted": {
      const current = ledger.onHandAt(warehouse);
      if (current?.countedSequence != null && event.sequence <= current.countedSequence) {
        return { ok: true, result: "ignored", detail: `count ${event.sequence} is not newer than ${current.countedSequence}`, version: version() };
      }
      ledger.setOnHand(warehouse, event.onHand, now, event.sequence);
      ledger.append("stock_counted", now, { warehouse, onHand: event.onHand, sequence: event.sequence, previousOnHand: current?.onHand ?? 0 });
      return { ok: true, result: "applied", version: version() };
    }
    case "stock.received":
    case "stock.damaged": {
      const before = ledger.onHandAt(warehouse)?.onHand ?? 0;
      const onHand = event.type === "stock.received" ? before + event.qty : Math.max(0, before - event.qty);
      ledger.setOnHand(warehouse, onHand, now);
      ledger.append(event.type === "stock.received" ? "stock_received" : "stock_damaged", now, { warehouse, qty: event.qty, onHand });
      return { ok: true, result: "applied", version: version() };
    }
  }
  const hold = ledger.findHold(event.reservationId);
  if (!hold || hold.qty === 0) {
    return { ok: false, code: "reservation_not_found", detail: `no sale ${event.reservationId} of ${event.sku} here` };
  }
  if (hold.warehouse === null && hold.confirmed_at === null && event.type !== "allocation.rejected") {
    // Never a sale here (a cart line that was rolled back, a hold that lapsed): nothing was sent to
    // any warehouse, yet one set units aside or shipped them. An operator must look.
    const seq = ledger.append("reconciliation_required", now, {
      holdId: hold.id, warehouse, qty: hold.qty, reason: `${event.type} although it is not a sale (${hold.status})`,
    });
    ledger.needsAttention(hold.id, event.type === "allocation.confirmed" ? "allocated_not_a_sale" : "shipped_not_a_sale", seq, now);
    return { ok: true, result: "applied", detail: "not a sale: reconciliation required", version: version() };
  }
  if (hold.warehouse !== warehouse) {
    return { ok: false, code: "wrong_warehouse", detail: `sale ${hold.id} ships from ${hold.warehouse ?? "no warehouse"}, not ${warehouse}` };
  }
  const ignored = (detail: string): WarehouseEventOutcome => ({ ok: true, result: "ignored", detail, version: version() });
  switch (event.type) {
    case "allocation.confirmed":
      if (hold.status === "confirmed") {
        if (hold.allocation === "allocated") return ignored("already allocated");
        ledger.setAllocation(hold, "allocated", null);
        ledger.append("allocation_confirmed", now, { holdId: hold.id, warehouse });
        return { ok: true, result: "applied", version: version() };
      }
      if (hold.status === "released" && hold.allocation === "timed_out") {
        // Too late: we already gave the units back. Take them again if nobody bought them since.
        if (ledger.totals(now).available >= hold.qty) {
          ledger.setHoldStatus(hold, "confirmed", now);
          ledger.setAllocation(hold, "allocated", null);
          ledger.append("allocation_confirmed", now, { holdId: hold.id, warehouse, late: true });
          return { ok: true, result: "applied", detail: "late allocation: units taken back", version: version() };
        }
        const seq = ledger.append("reconciliation_required", now, {
          holdId: hold.id, warehouse, qty: hold.qty, reason: "allocated after its timeout; the units were sold again",
        });
        ledger.needsAttention(hold.id, "late_allocation_units_resold", seq, now);
        return { ok: true, result: "applied", detail: "late allocation: reconciliation required", version: version() };
      }
      if (hold.status === "shipped") return ignored("already shipped");
      {
        // Allocated, but it is not a sale (its cart was never confirmed, or it was given back
        // otherwise): the warehouse set units aside for nothing. An operator must look.
        const seq = ledger.append("reconciliation_required", now, {
          holdId: hold.id, warehouse, qty: hold.qty, reason: `allocated although it is not a sale (${hold.status})`,
        });
        ledger.needsAttention(hold.id, "allocated_not_a_sale", seq, now);
        return { ok: true, result: "applied", detail: "not a sale: reconciliation required", version: version() };
      }
    case "allocation.rejected":
      if (hold.status !== "confirmed" || hold.allocation === "allocated") return ignored(`sale is ${hold.status}, ${hold.allocation ?? "not dispatched"}`);
      ledger.append("allocation_rejected", now, { holdId: hold.id, warehouse, reason: event.reason ?? null });
      compensate(ledger, hold, "rejected", now);
      return { ok: true, result: "applied", version: version() };
    case "shipment.shipped": {
      if (hold.status === "shipped") return ignored("already shipped");
      if (hold.status !== "confirmed") {
        const seq = ledger.append("reconciliation_required", now, {
          holdId: hold.id, warehouse, qty: hold.qty, reason: `shipped although the sale is ${hold.status}`,
        });
        ledger.needsAttention(hold.id, "shipped_after_release", seq, now);
        return { ok: true, result: "applied", detail: "reconciliation required", version: version() };
      }
      // Shipping implies allocation, even if that message is still on its way.
      ledger.setHoldStatus(hold, "shipped", now);
      ledger.setAllocation(hold, "allocated", null);
      const onHand = Math.max(0, (ledger.onHandAt(warehouse)?.onHand ?? 0) - hold.qty);
      ledger.setOnHand(warehouse, onHand, now);
      ledger.append("shipped", now, { holdId: hold.id, qty: hold.qty, warehouse, onHand, trackingId: event.trackingId ?? null });
      return { ok: true, result: "applied", version: version() };
    }
  }
}
