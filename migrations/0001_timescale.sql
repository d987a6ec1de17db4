-- TimescaleDB objects drizzle-kit does not model. The programmatic migrator runs every pending
-- migration in one transaction, and a continuous aggregate can only be created WITH DATA outside
-- one: so the views are created WITH NO DATA here and the service refreshes them after migrating.
CREATE EXTENSION IF NOT EXISTS timescaledb;
--> statement-breakpoint
SELECT create_hypertable('traffic', by_range('time', INTERVAL '1 day'), if_not_exists => TRUE);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS traffic_asn_time_idx ON traffic (asn, time DESC);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS traffic_location_time_idx ON traffic (location, time DESC);
--> statement-breakpoint
ALTER TABLE traffic SET (
  timescaledb.compress,
  timescaledb.compress_segmentby = 'asn, location, product, direction',
  timescaledb.compress_orderby = 'time DESC'
);
--> statement-breakpoint
CREATE MATERIALIZED VIEW traffic_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS time, asn, location, product, direction,
       sum(bytes)::bigint AS bytes, sum(packets)::bigint AS packets, sum(flows)::bigint AS flows
FROM traffic
GROUP BY 1, asn, location, product, direction
WITH NO DATA;
--> statement-breakpoint
CREATE MATERIALIZED VIEW traffic_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', time) AS time, asn, location, product, direction,
       sum(bytes)::bigint AS bytes, sum(packets)::bigint AS packets, sum(flows)::bigint AS flows
FROM traffic_1h
GROUP BY 1, asn, location, product, direction
WITH NO DATA;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS exporter_minutes_time_idx ON exporter_minutes (time);
