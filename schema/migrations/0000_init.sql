CREATE TABLE "dead_letters" (
	"id" serial PRIMARY KEY NOT NULL,
	"queue" text NOT NULL,
	"message_id" text NOT NULL,
	"region" text,
	"body" jsonb NOT NULL,
	"attempts" integer NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "dead_letters_message_id_unique" UNIQUE("message_id")
);
--> statement-breakpoint
CREATE TABLE "inventory_events" (
	"region" text NOT NULL,
	"sku" text NOT NULL,
	"seq" integer NOT NULL,
	"type" text NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"payload" jsonb NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "inventory_events_region_sku_seq_pk" PRIMARY KEY("region","sku","seq")
);
--> statement-breakpoint
CREATE TABLE "inventory_levels" (
	"region" text NOT NULL,
	"sku" text NOT NULL,
	"warehouse" text NOT NULL,
	"on_hand" integer NOT NULL,
	"as_of_seq" integer NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "inventory_levels_region_sku_warehouse_pk" PRIMARY KEY("region","sku","warehouse")
);
--> statement-breakpoint
CREATE TABLE "reservation_ledger" (
	"region" text NOT NULL,
	"reservation_id" text NOT NULL,
	"sku" text NOT NULL,
	"qty" integer NOT NULL,
	"status" text NOT NULL,
	"held_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"confirmed_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	"last_seq" integer NOT NULL,
	CONSTRAINT "reservation_ledger_region_reservation_id_sku_pk" PRIMARY KEY("region","reservation_id","sku")
);
--> statement-breakpoint
CREATE TABLE "sku_region_levels" (
	"region" text NOT NULL,
	"sku" text NOT NULL,
	"on_hand" integer NOT NULL,
	"held" integer NOT NULL,
	"confirmed" integer NOT NULL,
	"safety_stock" integer NOT NULL,
	"available" integer NOT NULL,
	"version" integer NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "sku_region_levels_region_sku_pk" PRIMARY KEY("region","sku")
);
--> statement-breakpoint
CREATE TABLE "stream_positions" (
	"region" text NOT NULL,
	"sku" text NOT NULL,
	"applied_seq" integer DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "stream_positions_region_sku_pk" PRIMARY KEY("region","sku")
);
