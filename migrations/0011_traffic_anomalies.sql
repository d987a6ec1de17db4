-- Traffic anomalies (issue 13, docs/decisions/0009-anomalies.md): the anomalies the detector
-- finds, where it has got to, and the minutes each ingest batch wrote, so late data has the
-- windows it touched re-evaluated; and the anomalies' state changes with each webhook's cursor over them.
CREATE TABLE "anomaly_detector" (
	"id" smallint PRIMARY KEY DEFAULT 1 NOT NULL,
	"evaluated_through" timestamp with time zone,
	"batches_seen_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "anomaly_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "anomaly_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"anomaly_uuid" uuid NOT NULL,
	"event" text NOT NULL,
	"anomaly" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "traffic_anomalies" (
	"uuid" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"type" text NOT NULL,
	"asn" integer,
	"location" char(2),
	"start_time" timestamp with time zone NOT NULL,
	"end_time" timestamp with time zone,
	"status" text DEFAULT 'UNVERIFIED' NOT NULL,
	"depth" real NOT NULL,
	"baseline_bytes" bigint NOT NULL,
	"observed_bytes" bigint NOT NULL,
	"params" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"status_changed_at" timestamp with time zone,
	"status_changed_by" text,
	CONSTRAINT "traffic_anomalies_type" CHECK ("traffic_anomalies"."type" IN ('AS', 'LOCATION')),
	CONSTRAINT "traffic_anomalies_status" CHECK ("traffic_anomalies"."status" IN ('UNVERIFIED', 'VERIFIED', 'DISMISSED')),
	CONSTRAINT "traffic_anomalies_entity" CHECK (("traffic_anomalies"."type" = 'AS' AND "traffic_anomalies"."asn" IS NOT NULL) OR ("traffic_anomalies"."type" = 'LOCATION' AND "traffic_anomalies"."location" IS NOT NULL))
);
--> statement-breakpoint
CREATE TABLE "webhook_cursors" (
	"url" text PRIMARY KEY NOT NULL,
	"last_event_id" bigint NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone,
	"last_error" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "ingest_batches" ADD COLUMN "first_minute" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "ingest_batches" ADD COLUMN "last_minute" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "anomaly_events_created_idx" ON "anomaly_events" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "traffic_anomalies_start_idx" ON "traffic_anomalies" USING btree ("start_time");--> statement-breakpoint
CREATE INDEX "traffic_anomalies_asn_idx" ON "traffic_anomalies" USING btree ("asn","start_time");--> statement-breakpoint
CREATE INDEX "traffic_anomalies_location_idx" ON "traffic_anomalies" USING btree ("location","start_time");--> statement-breakpoint
CREATE INDEX "ingest_batches_created_idx" ON "ingest_batches" USING btree ("created_at");