ALTER TABLE "catalog_items" ADD COLUMN "names" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "catalog_items" ADD COLUMN "prices" jsonb DEFAULT '{}'::jsonb NOT NULL;