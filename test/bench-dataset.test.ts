/**
 * The benchmarks' server datasets are written in PostgreSQL's binary COPY format, each day's rows
 * by key (the minute table's compression order) rather than by time: the same rows as the CSV the
 * embedded datasets are written with, in that order, on a real server. The indexes the
 * generator drops for the load come back as they were.
 */
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIndexes, dayGenerator, loadIndexes, serverSink } from '../bench/dataset.js';
import { openDatabase } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';
import { type Cluster, startCluster } from './helpers/pg-server.js';

describe('bench datasets: binary COPY by key', () => {
  let pg: Cluster;
  let client: postgres.Sql;
  beforeAll(async () => {
    pg = await startCluster();
    client = postgres(pg.url, { max: 1, onnotice: () => {} });
    await client.unsafe(`CREATE TABLE t (time timestamptz NOT NULL, asn int NOT NULL, location char(2) NOT NULL,
      product text NOT NULL, direction text NOT NULL, bytes bigint NOT NULL, packets bigint NOT NULL,
      flows bigint NOT NULL, adm1 int NOT NULL DEFAULT 0);
      CREATE TABLE csv (LIKE t INCLUDING DEFAULTS); CREATE TABLE bin (LIKE t INCLUDING DEFAULTS);`);
  });
  afterAll(async () => {
    await client?.end({ timeout: 5 });
    await pg?.destroy();
  });

  it('gives the CSV rows of a day, keys in compression order, minutes newest first', async () => {
    const end = Date.UTC(2026, 11, 7, 12, 34);
    const columns = '(time, asn, location, product, direction, bytes, packets, flows)';
    const sink = serverSink(client);
    // Day 0 is the partial first calendar day; day 1 a whole one. Two generators: a day's draws
    // depend only on the day with calendar days.
    const csvCount = { rows: 0 };
    const binCount = { rows: 0 };
    for (const day of [0, 1]) {
      await sink.copy(`csv ${columns}`, dayGenerator('S', end, true).traffic(day, csvCount));
      await sink.copyBinary(`bin ${columns}`, dayGenerator('S', end, true).trafficBinary(day, binCount));
    }
    expect(binCount.rows).toBe(csvCount.rows);
    expect(csvCount.rows).toBeGreaterThan(3000);
    const [diff] = await client.unsafe(`SELECT
        (SELECT count(*) FROM bin)::int AS bin,
        (SELECT count(*) FROM (SELECT * FROM csv EXCEPT ALL SELECT * FROM bin) x)::int AS csv_only,
        (SELECT count(*) FROM (SELECT * FROM bin EXCEPT ALL SELECT * FROM csv) x)::int AS bin_only`);
    expect(diff).toEqual({ bin: csvCount.rows, csv_only: 0, bin_only: 0 });
    // Physical order (one COPY per day, so ctid order within a day) against the compression order.
    const [order] = await client.unsafe(`SELECT count(*)::int AS out_of_order FROM (
        SELECT time, asn, location, product, direction, date_trunc('day', time) AS day,
               lag(ROW(asn, location, product, direction)) OVER w AS prev_key,
               lag(time) OVER w AS prev_time
          FROM bin WINDOW w AS (PARTITION BY date_trunc('day', time) ORDER BY ctid)) x
       WHERE prev_key > ROW(asn, location, product, direction)
          OR (prev_key = ROW(asn, location, product, direction) AND prev_time <= time)`);
    expect(order).toEqual({ out_of_order: 0 });
  });

  it('builds again, either way, the indexes it drops for the load', async () => {
    await pg.psql('CREATE DATABASE load_indexes');
    const url = pg.urlOf('load_indexes');
    const db = await openDatabase({ databaseUrl: url, max: 1 });
    const conns = await Promise.all([0, 1].map(() => openDatabase({ databaseUrl: url, max: 1 })));
    try {
      await migrate(db);
      const everyIndex = () =>
        db.query<{ name: string; def: string }>(
          sql`SELECT schemaname || '.' || indexname AS name, indexdef AS def FROM pg_indexes
               WHERE schemaname IN ('public', '_timescaledb_internal') ORDER BY 1`,
        );
      const before = await everyIndex();
      const dropped = await loadIndexes(db);
      const names = dropped.map((i) => i.name);
      // The minute table's secondary indexes and the rollups' key indexes; not the unique key, not
      // a time index the refreshes read by.
      expect(names).toEqual(
        expect.arrayContaining([
          'public.traffic_asn_time_idx',
          '_timescaledb_internal.traffic_asn_15m_asn_time_idx',
          '_timescaledb_internal.traffic_loc_15m_location_covering_idx',
        ]),
      );
      expect(names).not.toContain('public.traffic_key');
      expect(names.some((n) => /_materialized_hypertable_\d+_time_idx$/.test(n))).toBe(false);
      for (const way of ['largest first', 'listed'] as const) {
        for (const index of dropped) await db.exec(`DROP INDEX ${index.name};`);
        expect((await everyIndex()).length).toBe(before.length - dropped.length);
        const built: string[] = [];
        await buildIndexes(db, conns, dropped, way, (index) => built.push(index.name));
        expect(built.sort()).toEqual([...names].sort());
        expect(await everyIndex()).toEqual(before);
      }
    } finally {
      for (const c of conns) await c.close();
      await db.close();
    }
  });
});
