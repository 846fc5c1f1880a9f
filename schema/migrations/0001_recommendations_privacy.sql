CREATE TABLE "catalog_items" (
	"region" text NOT NULL,
	"sku" text NOT NULL,
	"name" text NOT NULL,
	"brand" text NOT NULL,
	"category" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "catalog_items_region_sku_pk" PRIMARY KEY("region","sku")
);
--> statement-breakpoint
CREATE TABLE "recommendation_builds" (
	"region" text NOT NULL,
	"version" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"swapped_at" timestamp with time zone,
	"deleted_at" timestamp with time zone,
	"summary" jsonb,
	CONSTRAINT "recommendation_builds_region_version_pk" PRIMARY KEY("region","version")
);
--> statement-breakpoint
CREATE TABLE "shopper_erasures" (
	"region" text NOT NULL,
	"shopper_digest" text NOT NULL,
	"erased_at" timestamp with time zone NOT NULL,
	CONSTRAINT "shopper_erasures_region_shopper_digest_pk" PRIMARY KEY("region","shopper_digest")
);
--> statement-breakpoint
CREATE TABLE "shopper_orders" (
	"region" text NOT NULL,
	"reservation_id" text NOT NULL,
	"shopper" text NOT NULL,
	"recorded_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "shopper_orders_region_reservation_id_pk" PRIMARY KEY("region","reservation_id")
);
--> statement-breakpoint
CREATE INDEX "shopper_orders_by_shopper" ON "shopper_orders" USING btree ("region","shopper");