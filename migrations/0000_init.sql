CREATE TABLE "annotations" (
	"id" serial PRIMARY KEY NOT NULL,
	"start_time" timestamp with time zone NOT NULL,
	"end_time" timestamp with time zone,
	"description" text NOT NULL,
	"event_type" text DEFAULT 'GENERAL' NOT NULL,
	"linked_url" text DEFAULT '' NOT NULL,
	"level" integer DEFAULT 4 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "api_tokens" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"hash" text NOT NULL,
	"scopes" text[] NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"last_used_at" timestamp with time zone,
	CONSTRAINT "api_tokens_hash_unique" UNIQUE("hash")
);
--> statement-breakpoint
CREATE TABLE "asn_names" (
	"asn" integer PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"country" char(2)
);
--> statement-breakpoint
CREATE TABLE "exporter_minutes" (
	"time" timestamp with time zone NOT NULL,
	"exporter" text NOT NULL,
	"records" bigint DEFAULT 0 NOT NULL,
	"lost_records" bigint DEFAULT 0 NOT NULL,
	"unsampled_records" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "exporter_minutes_time_exporter_pk" PRIMARY KEY("time","exporter")
);
--> statement-breakpoint
CREATE TABLE "exporters" (
	"address" text PRIMARY KEY NOT NULL,
	"first_seen" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen" timestamp with time zone DEFAULT now() NOT NULL,
	"datagrams" bigint DEFAULT 0 NOT NULL,
	"records" bigint DEFAULT 0 NOT NULL,
	"errors" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"lost_records" bigint DEFAULT 0 NOT NULL,
	"unsampled_records" bigint DEFAULT 0 NOT NULL,
	"sampling_rates" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "flow_templates" (
	"exporter" text NOT NULL,
	"domain" bigint NOT NULL,
	"template_id" integer NOT NULL,
	"protocol" text NOT NULL,
	"definition" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "flow_templates_exporter_domain_protocol_template_id_pk" PRIMARY KEY("exporter","domain","protocol","template_id")
);
--> statement-breakpoint
CREATE TABLE "ingest_batches" (
	"id" text PRIMARY KEY NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"rows" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "traffic" (
	"time" timestamp with time zone NOT NULL,
	"asn" integer NOT NULL,
	"location" char(2) NOT NULL,
	"product" text NOT NULL,
	"direction" text NOT NULL,
	"bytes" bigint DEFAULT 0 NOT NULL,
	"packets" bigint DEFAULT 0 NOT NULL,
	"flows" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "traffic_key" UNIQUE("time","asn","location","product","direction")
);
