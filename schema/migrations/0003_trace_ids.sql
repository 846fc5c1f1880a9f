ALTER TABLE "inventory_events" ADD COLUMN "trace_id" text;--> statement-breakpoint
ALTER TABLE "reservation_ledger" ADD COLUMN "trace_id" text;