-- A series filtered by several locations (`location=DE,FR`) read the location rollups through their
-- time index: with each statement planned once (server mode and the embedded database plan
-- generically, src/db/server.ts, src/db/embedded.ts) the planner cannot see that a week covers
-- the newest chunk whole, and on a chunk written in time order it took the time index as cheaper
-- than two descents of the (location, time) one, then filtered every location's rows of the week:
-- 16 ms on the benchmarks' dataset XL (245 locations) against 0.8 with the index below. The
-- (location, time) index now carries every column those reads take, so they scan it alone
-- (index-only where the visibility map allows), whatever the window; a location rollup holds a
-- few hundred keys, so the wider index costs about its table's size again (XL: ~720 MB of 200 M
-- minute rows' 33 GB). Grouping by location over a window reads it too (7d: 193 → 138 ms on XL).
--> statement-breakpoint
DO $$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT format('%I.%I', i.schemaname, i.indexname) AS idx
      FROM pg_indexes i
      JOIN timescaledb_information.continuous_aggregates c
        ON i.schemaname = c.materialization_hypertable_schema AND i.tablename = c.materialization_hypertable_name
     WHERE c.view_name IN ('traffic_loc_15m', 'traffic_loc_1h', 'traffic_loc_1d')
       AND i.indexname LIKE '%\_location\_time\_idx'
  LOOP
    EXECUTE 'DROP INDEX ' || r.idx;
  END LOOP;
END $$;
--> statement-breakpoint
CREATE INDEX traffic_loc_15m_location_covering_idx ON traffic_loc_15m (location, time DESC) INCLUDE (product, direction, bytes, packets, flows);
--> statement-breakpoint
CREATE INDEX traffic_loc_1h_location_covering_idx ON traffic_loc_1h (location, time DESC) INCLUDE (product, direction, bytes, packets, flows);
--> statement-breakpoint
CREATE INDEX traffic_loc_1d_location_covering_idx ON traffic_loc_1d (location, time DESC) INCLUDE (product, direction, bytes, packets, flows);
