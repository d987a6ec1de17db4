-- TimescaleDB gives every GROUP BY column of a continuous aggregate an index (column, time DESC).
-- On product and direction (two values each) those indexes only mislead: the embedded database
-- never ANALYZEs, so without statistics the planner took `product = 'HTTP'` for as selective as
-- `asn = 3320` and walked every HTTP row of a chunk to find one AS's (10 ms a chunk on the
-- benchmark's dataset L instead of 0.2 ms). The time, AS, location and continent indexes stay;
-- every refresh also writes two indexes fewer.
--> statement-breakpoint
DO $$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT format('%I.%I', i.schemaname, i.indexname) AS idx
      FROM pg_indexes i
      JOIN timescaledb_information.continuous_aggregates c
        ON i.schemaname = c.materialization_hypertable_schema AND i.tablename = c.materialization_hypertable_name
     WHERE c.view_name LIKE 'traffic\_%'
       AND (i.indexname LIKE '%\_product\_time\_idx' OR i.indexname LIKE '%\_direction\_time\_idx')
  LOOP
    EXECUTE 'DROP INDEX ' || r.idx;
  END LOOP;
END $$;
