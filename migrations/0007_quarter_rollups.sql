-- 15-minute rollups without unused dimensions: a 1d@15m series (the default interval up to 3 days)
-- read every minute of every key of its day from `traffic` (~55 k rows on the benchmark's dataset
-- L); it reads one row per slot, product and direction here, or those of one AS, location or
-- continent. A series filtered by AS and location at once still reads the minutes. The service
-- refreshes these only up to the start of the current slot, so the slot holding now is always
-- aggregated live from the minutes (real-time aggregation) and a minute written now shows at once.
-- No indexes on product or direction (see 0006).
--> statement-breakpoint
CREATE MATERIALIZED VIEW traffic_total_15m
WITH (timescaledb.continuous, timescaledb.materialized_only = false, timescaledb.create_group_indexes = false) AS
SELECT time_bucket(INTERVAL '15 minutes', time) AS time, product, direction,
       sum(bytes)::bigint AS bytes, sum(packets)::bigint AS packets, sum(flows)::bigint AS flows
FROM traffic
GROUP BY 1, product, direction
WITH NO DATA;
--> statement-breakpoint
CREATE MATERIALIZED VIEW traffic_asn_15m
WITH (timescaledb.continuous, timescaledb.materialized_only = false, timescaledb.create_group_indexes = false) AS
SELECT time_bucket(INTERVAL '15 minutes', time) AS time, asn, product, direction,
       sum(bytes)::bigint AS bytes, sum(packets)::bigint AS packets, sum(flows)::bigint AS flows
FROM traffic
GROUP BY 1, asn, product, direction
WITH NO DATA;
--> statement-breakpoint
CREATE INDEX traffic_asn_15m_asn_time_idx ON traffic_asn_15m (asn, time DESC);
--> statement-breakpoint
CREATE MATERIALIZED VIEW traffic_loc_15m
WITH (timescaledb.continuous, timescaledb.materialized_only = false, timescaledb.create_group_indexes = false) AS
SELECT time_bucket(INTERVAL '15 minutes', time) AS time, location, product, direction,
       sum(bytes)::bigint AS bytes, sum(packets)::bigint AS packets, sum(flows)::bigint AS flows
FROM traffic
GROUP BY 1, location, product, direction
WITH NO DATA;
--> statement-breakpoint
CREATE INDEX traffic_loc_15m_location_time_idx ON traffic_loc_15m (location, time DESC);
--> statement-breakpoint
CREATE MATERIALIZED VIEW traffic_cont_15m
WITH (timescaledb.continuous, timescaledb.materialized_only = false, timescaledb.create_group_indexes = false) AS
SELECT time_bucket(INTERVAL '15 minutes', time) AS time, continent_of(location) AS continent, product, direction,
       sum(bytes)::bigint AS bytes, sum(packets)::bigint AS packets, sum(flows)::bigint AS flows
FROM traffic_loc_15m
GROUP BY 1, 2, product, direction
WITH NO DATA;
--> statement-breakpoint
CREATE INDEX traffic_cont_15m_continent_time_idx ON traffic_cont_15m (continent, time DESC);
