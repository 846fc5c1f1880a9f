-- Hand-written (drizzle-kit does not model partitions); the schema snapshot next to it matches
-- schema/tables.ts. inventory_events becomes partitioned by month of occurred_at, so retention drops
-- whole months behind a projection snapshot instead of deleting rows (system-of-record/snapshot.ts),
-- and each month's index stays the size of a month. Its key gains occurred_at (a partitioned table's
-- keys must hold the partition column); an event's time is fixed by its object, so a redelivery
-- still hits the key. Rows land in the DEFAULT partition when no month partition exists yet; the
-- daily maintenance creates months ahead and moves such rows into their month.
ALTER TABLE "inventory_events" RENAME TO "inventory_events_unpartitioned";--> statement-breakpoint
ALTER TABLE "inventory_events_unpartitioned" RENAME CONSTRAINT "inventory_events_region_sku_seq_pk" TO "inventory_events_unpartitioned_pk";--> statement-breakpoint
CREATE TABLE "inventory_events" (LIKE "inventory_events_unpartitioned" INCLUDING DEFAULTS) PARTITION BY RANGE ("occurred_at");--> statement-breakpoint
ALTER TABLE "inventory_events" ADD CONSTRAINT "inventory_events_region_sku_seq_occurred_at_pk" PRIMARY KEY("region","sku","seq","occurred_at");--> statement-breakpoint
CREATE TABLE "inventory_events_default" PARTITION OF "inventory_events" DEFAULT;--> statement-breakpoint
DO $$
DECLARE
  month date := date_trunc('month', coalesce((SELECT min(occurred_at) FROM inventory_events_unpartitioned), now()) AT TIME ZONE 'UTC')::date;
  last date := (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '2 months')::date;
BEGIN
  WHILE month <= last LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF inventory_events FOR VALUES FROM (%L) TO (%L)',
      'inventory_events_' || to_char(month, 'YYYY_MM'), month::timestamp AT TIME ZONE 'UTC', (month + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    month := (month + interval '1 month')::date;
  END LOOP;
END $$;--> statement-breakpoint
INSERT INTO "inventory_events" SELECT * FROM "inventory_events_unpartitioned";--> statement-breakpoint
DROP TABLE "inventory_events_unpartitioned";--> statement-breakpoint
CREATE INDEX "reservation_ledger_sku_seq_idx" ON "reservation_ledger" USING btree ("region","sku","last_seq");
