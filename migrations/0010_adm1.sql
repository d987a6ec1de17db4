-- First-level subdivisions (ADM1: state, province, region) as a traffic dimension, for Radar's
-- `geoId` filter and ADM1 groups (docs/decisions/0008-adm1.md). `traffic.adm1` is the GeoNames id
-- a City database gives the remote address (`subdivisions[0].geoname_id`), 0 when unknown; rows
-- written before this migration, and every row without a City database, have 0. It joins the key
-- every writer upserts on. adm1_names holds the names the ADM1 groups are keyed by.
CREATE TABLE "adm1_names" (
	"geoname_id" integer PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"country" char(2)
);
--> statement-breakpoint
ALTER TABLE "traffic" DROP CONSTRAINT "traffic_key";--> statement-breakpoint
ALTER TABLE "traffic" ADD COLUMN "adm1" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "traffic" ADD CONSTRAINT "traffic_key" UNIQUE("time","asn","location","adm1","product","direction");
--> statement-breakpoint
-- Chunks compressed from now on segment by adm1 too, as by every other key (chunks compressed
-- before keep their settings; an upsert into them still finds its row).
ALTER TABLE traffic SET (timescaledb.compress_segmentby = 'asn, location, adm1, product, direction');
--> statement-breakpoint
-- Rollups per subdivision at each width, like the per-AS and per-location ones (0004, 0007): a
-- geoId filter or an ADM1 breakdown reads one row per (bucket, subdivision, product, direction).
-- The full hourly and daily rollups (traffic_1h, traffic_1d) are left as they are: recreating them
-- with the new key would drop the history kept past the minutes' retention, so the hourly one here
-- reads the minutes, and subdivision history starts with this migration. No product or direction
-- indexes (see 0006); live bucket at 15 minutes (see 0007).
CREATE MATERIALIZED VIEW traffic_adm1_15m
WITH (timescaledb.continuous, timescaledb.materialized_only = false, timescaledb.create_group_indexes = false) AS
SELECT time_bucket(INTERVAL '15 minutes', time) AS time, adm1, product, direction,
       sum(bytes)::bigint AS bytes, sum(packets)::bigint AS packets, sum(flows)::bigint AS flows
FROM traffic
GROUP BY 1, adm1, product, direction
WITH NO DATA;
--> statement-breakpoint
CREATE INDEX traffic_adm1_15m_adm1_time_idx ON traffic_adm1_15m (adm1, time DESC);
--> statement-breakpoint
CREATE MATERIALIZED VIEW traffic_adm1_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false, timescaledb.create_group_indexes = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS time, adm1, product, direction,
       sum(bytes)::bigint AS bytes, sum(packets)::bigint AS packets, sum(flows)::bigint AS flows
FROM traffic
GROUP BY 1, adm1, product, direction
WITH NO DATA;
--> statement-breakpoint
CREATE INDEX traffic_adm1_1h_adm1_time_idx ON traffic_adm1_1h (adm1, time DESC);
--> statement-breakpoint
CREATE MATERIALIZED VIEW traffic_adm1_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false, timescaledb.create_group_indexes = false) AS
SELECT time_bucket(INTERVAL '1 day', time) AS time, adm1, product, direction,
       sum(bytes)::bigint AS bytes, sum(packets)::bigint AS packets, sum(flows)::bigint AS flows
FROM traffic_adm1_1h
GROUP BY 1, adm1, product, direction
WITH NO DATA;
--> statement-breakpoint
CREATE INDEX traffic_adm1_1d_adm1_time_idx ON traffic_adm1_1d (adm1, time DESC);
