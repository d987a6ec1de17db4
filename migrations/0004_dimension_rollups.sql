-- Rollups without the dimensions a series does not filter or group on: an unfiltered series reads
-- one row per (bucket, product, direction) instead of one per key, a series filtered by AS only the
-- rows of that AS. The query picks, per series, the smallest table holding every column it uses, so
-- cost follows the points returned rather than the keys stored. Hourly ones are built on
-- traffic_1h, daily ones on their hourly twins (hierarchical continuous aggregates); real-time
-- aggregation on, created WITH NO DATA (no transaction allows more) and refreshed by the service.
--> statement-breakpoint
CREATE MATERIALIZED VIEW traffic_total_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS time, product, direction,
       sum(bytes)::bigint AS bytes, sum(packets)::bigint AS packets, sum(flows)::bigint AS flows
FROM traffic_1h
GROUP BY 1, product, direction
WITH NO DATA;
--> statement-breakpoint
CREATE MATERIALIZED VIEW traffic_asn_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS time, asn, product, direction,
       sum(bytes)::bigint AS bytes, sum(packets)::bigint AS packets, sum(flows)::bigint AS flows
FROM traffic_1h
GROUP BY 1, asn, product, direction
WITH NO DATA;
--> statement-breakpoint
CREATE MATERIALIZED VIEW traffic_loc_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS time, location, product, direction,
       sum(bytes)::bigint AS bytes, sum(packets)::bigint AS packets, sum(flows)::bigint AS flows
FROM traffic_1h
GROUP BY 1, location, product, direction
WITH NO DATA;
--> statement-breakpoint
CREATE MATERIALIZED VIEW traffic_total_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', time) AS time, product, direction,
       sum(bytes)::bigint AS bytes, sum(packets)::bigint AS packets, sum(flows)::bigint AS flows
FROM traffic_total_1h
GROUP BY 1, product, direction
WITH NO DATA;
--> statement-breakpoint
CREATE MATERIALIZED VIEW traffic_asn_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', time) AS time, asn, product, direction,
       sum(bytes)::bigint AS bytes, sum(packets)::bigint AS packets, sum(flows)::bigint AS flows
FROM traffic_asn_1h
GROUP BY 1, asn, product, direction
WITH NO DATA;
--> statement-breakpoint
CREATE MATERIALIZED VIEW traffic_loc_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', time) AS time, location, product, direction,
       sum(bytes)::bigint AS bytes, sum(packets)::bigint AS packets, sum(flows)::bigint AS flows
FROM traffic_loc_1h
GROUP BY 1, location, product, direction
WITH NO DATA;
--> statement-breakpoint
-- Data quality per exporter and hour, so confidenceInfo over a year reads hours, not minutes. The
-- minutes table becomes a hypertable (its key holds time) so it can feed a continuous aggregate.
SELECT create_hypertable('exporter_minutes', by_range('time', INTERVAL '7 days'), migrate_data => TRUE, if_not_exists => TRUE);
--> statement-breakpoint
CREATE MATERIALIZED VIEW exporter_hours
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS time, exporter,
       sum(records)::bigint AS records, sum(lost_records)::bigint AS lost_records,
       sum(unsampled_records)::bigint AS unsampled_records,
       min(time) AS first_minute, max(time) AS last_minute
FROM exporter_minutes
GROUP BY 1, exporter
WITH NO DATA;
