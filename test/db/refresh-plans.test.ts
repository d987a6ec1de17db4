/**
 * A rollup's refresh is planned for the span it materializes (Database.execPlannedForValues), while
 * the service's own statements keep one plan for any values (ServerClientOptions.genericPlans). A
 * refresh runs `INSERT … SELECT … FROM traffic WHERE time >= $1 AND time < $2` inside; planned for
 * any span, with the sorted aggregation the planner sometimes picks (a MergeAppend of every chunk,
 * which TimescaleDB cannot prune when it runs), the refresh of one day read and decompressed every
 * chunk of the minute table: on dataset XL a 15-minute rollup's day took 32 s instead of 1.3.
 * Here the planner is made to pick that shape every time (enable_hashagg off), and materializing a
 * minute of the newest day must read no block of the compressed older days.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../src/db/client.js';
import { refreshRollups } from '../../src/db/maintenance.js';
import { addTraffic } from '../../src/db/traffic.js';
import { testDatabase } from '../helpers/db.js';
import { type Cluster, startMigratedCluster } from '../helpers/pg-server.js';
import { DAY, iso, T0, trafficRow } from '../helpers/plans.js';

const MINUTE = 60_000;

/** Three days of minutes, a chunk each, the older two compressed as maintenance leaves them. */
async function threeDays(db: Database): Promise<void> {
  await addTraffic(db, [
    trafficRow(T0 + MINUTE, 10),
    trafficRow(T0 + DAY + MINUTE, 20),
    trafficRow(T0 + 2 * DAY + MINUTE, 40),
  ]);
  await refreshRollups(db);
  await db.exec(
    `SELECT compress_chunk(c) FROM show_chunks('traffic', older_than => '${iso(T0 + 2 * DAY)}'::timestamptz) c`,
  );
}

const planCacheMode = async (db: Database) =>
  (await db.query<{ m: string }>(sql`SELECT current_setting('plan_cache_mode') AS m`))[0]!.m;

describe('server mode: a rollup refresh is planned for its span', () => {
  let pg: Cluster;
  beforeAll(async () => {
    pg = await startMigratedCluster();
    await pg.psql(`ALTER DATABASE flowradar SET enable_hashagg = off`);
  });
  afterAll(async () => {
    await pg?.destroy();
  });

  it('reads none of the compressed days when it materializes a minute of the newest', async () => {
    // One connection: the statistics it reports are those of the refresh.
    const db = await openDatabase({ databaseUrl: pg.url, max: 1 });
    /** Blocks read (from shared buffers or not) of the compressed days' tables, as reported. */
    const compressedBlocks = async () => {
      await db.query(sql`SELECT pg_stat_force_next_flush()`);
      // Reported when that statement's session goes idle, before the next one runs.
      await db.query(sql`SELECT 1`);
      return Number(
        await pg.psql(
          `SELECT coalesce(sum(heap_blks_read + heap_blks_hit), 0) FROM pg_statio_all_tables
            WHERE relname LIKE 'compress_hyper_%'`,
        ),
      );
    };
    try {
      await threeDays(db);
      await addTraffic(db, [trafficRow(T0 + 2 * DAY + 2 * MINUTE, 100)]);
      const before = await compressedBlocks();
      expect(before).toBeGreaterThan(0);
      await refreshRollups(db);
      expect(await compressedBlocks()).toBe(before);
      // The new minute is materialized: read without the real-time part.
      await db.exec(`ALTER MATERIALIZED VIEW traffic_asn_15m SET (timescaledb.materialized_only = true)`);
      const [asn] = await db.query<{ b: number }>(sql`SELECT sum(bytes)::float8 AS b FROM traffic_asn_15m`);
      expect(asn!.b).toBe(170);
      expect(await planCacheMode(db)).toBe('force_generic_plan');
    } finally {
      await db.close();
    }
  });
});

describe('embedded: a rollup refresh is planned for its span', () => {
  it('and the session plans once for any values after it, even when the refresh fails', async () => {
    const db = await testDatabase('embedded');
    try {
      await threeDays(db);
      expect(await planCacheMode(db)).toBe('force_generic_plan');
      await expect(
        db.execPlannedForValues(`CALL refresh_continuous_aggregate('no_such_rollup', NULL, NULL)`),
      ).rejects.toThrow();
      expect(await planCacheMode(db)).toBe('force_generic_plan');
    } finally {
      await db.close();
    }
  });
});
