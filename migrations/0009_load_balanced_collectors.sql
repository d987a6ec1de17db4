-- Collectors behind a load balancer (README "Load-balanced collectors"): each exporter minute
-- records which collectors received its datagrams. When more than one did, sequence gaps are the
-- other collectors' datagrams, so the minute's loss is unknown: `split` holds the number of
-- collectors and lost_records stays 0 (src/ingest/writer.ts). exporter_hours is left as it is: it
-- sums lost_records, which a refresh re-materializes when a minute becomes split, and the API
-- finds split minutes through the partial index below (recreating the aggregate would drop its
-- history beyond exporter_minutes' retention).
ALTER TABLE "exporter_minutes" ADD COLUMN "collectors" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "exporter_minutes" ADD COLUMN "split" smallint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "exporters" ADD COLUMN "collectors" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
CREATE INDEX "exporter_minutes_split_idx" ON "exporter_minutes" USING btree ("time") WHERE split > 0;