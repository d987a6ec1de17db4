import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.js';
import { compressAndRetain, maintenanceRound, refreshRollups } from '../../src/db/maintenance.js';
import { insertTraffic, testDatabase } from '../helpers/db.js';

const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString().slice(0, 16).concat(':00Z');
// Fixed once: the late write below must land on the very same minute.
const [D40, D10, D1] = [ago(40), ago(10), ago(1)];

describe('maintenance: compression and retention per table, run by the service itself', () => {
  let db: Database;
  beforeAll(async () => {
    db = await testDatabase();
    await insertTraffic(db, [
      { time: D40, asn: 1, location: 'PT', bytes: 100 },
      { time: D10, asn: 1, location: 'PT', bytes: 10 },
      { time: D1, asn: 1, location: 'PT', bytes: 1 },
    ]);
    await refreshRollups(db);
  });
  afterAll(() => db.close());

  it('compresses chunks older than compressAfter, drops rows past retention, keeps rollups longer', async () => {
    await compressAndRetain(db, {
      compressAfter: 7 * DAY,
      retention: { raw: 30 * DAY, hourly: 365 * DAY, daily: 3650 * DAY },
    });
    const chunks = await db.query<{ compressed: boolean; end_ms: number }>(
      sql`SELECT is_compressed AS compressed, (extract(epoch from range_end) * 1000)::float8 AS end_ms
            FROM timescaledb_information.chunks WHERE hypertable_name = 'traffic' ORDER BY range_start`,
    );
    expect(chunks.map((c) => c.compressed)).toEqual([true, false]);
    const [raw] = await db.query<{ v: number }>(sql`SELECT sum(bytes)::float8 AS v FROM traffic`);
    expect(raw?.v).toBe(11);
    const [hourly] = await db.query<{ v: number }>(sql`SELECT sum(bytes)::float8 AS v FROM traffic_1h`);
    expect(hourly?.v).toBe(111);
  });

  it('still adds late data into a compressed chunk, counted once', async () => {
    await insertTraffic(db, [{ time: D10, asn: 1, location: 'PT', bytes: 5 }]);
    const [raw] = await db.query<{ v: number; n: number }>(
      sql`SELECT sum(bytes)::float8 AS v, count(*)::int AS n FROM traffic WHERE time < now() - interval '5 days'`,
    );
    expect(raw).toEqual({ v: 15, n: 1 });
  });
});

describe('retention of the minutes and the rollups made of them', () => {
  it('keeps the hourly and daily rollups past the retention of the minutes they were made of', async () => {
    const db = await testDatabase();
    try {
      await insertTraffic(db, [
        { time: D40, asn: 1, location: 'PT', bytes: 100 },
        { time: D1, asn: 1, location: 'PT', bytes: 10 },
      ]);
      await db.query(sql`INSERT INTO exporter_minutes (time, exporter, records, lost_records)
        VALUES (${D40}::timestamptz, '192.0.2.1', 100, 7), (${D1}::timestamptz, '192.0.2.1', 10, 1)`);
      await refreshRollups(db);
      const retention = { raw: 30 * DAY, hourly: 365 * DAY, daily: 3650 * DAY };
      await compressAndRetain(db, { compressAfter: 7 * DAY, retention });
      // The next maintenance round's refresh, after the minutes past retention were dropped.
      await refreshRollups(db, retention);
      const [minutes] = await db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM exporter_minutes`);
      expect(minutes!.n).toBe(1);
      const [hours] = await db.query<{ records: number; lost: number }>(
        sql`SELECT sum(records)::float8 AS records, sum(lost_records)::float8 AS lost FROM exporter_hours`,
      );
      expect(hours).toEqual({ records: 110, lost: 8 });
      for (const view of [
        'traffic_1h',
        'traffic_asn_1h',
        'traffic_cont_1h',
        'traffic_1d',
        'traffic_loc_1d',
      ]) {
        const [v] = await db.query<{ v: number }>(sql.raw(`SELECT sum(bytes)::float8 AS v FROM ${view}`));
        expect(v, view).toEqual({ v: 110 });
      }
    } finally {
      await db.close();
    }
  });
});

describe('rollup indexes', () => {
  it('every traffic rollup keeps its time and key indexes and none on product or direction', async () => {
    const db = await testDatabase();
    try {
      const rows = await db.query<{ view: string; idx: string; def: string }>(
        sql`SELECT c.view_name::text AS view, i.indexname::text AS idx, i.indexdef::text AS def FROM pg_indexes i
              JOIN timescaledb_information.continuous_aggregates c
                ON i.schemaname = c.materialization_hypertable_schema AND i.tablename = c.materialization_hypertable_name
             WHERE c.view_name LIKE 'traffic%'`,
      );
      const of = (view: string) =>
        rows
          .filter((r) => r.view === view)
          .map((r) => r.idx.replace(/^_materialized_hypertable_\d+_|^traffic_[a-z]+_(15m|1h|1d)_/, ''))
          .sort();
      for (const p of ['15m', '1h', '1d']) {
        if (p !== '15m')
          expect(of(`traffic_${p}`)).toEqual(['asn_time_idx', 'location_time_idx', 'time_idx']);
        expect(of(`traffic_total_${p}`)).toEqual(['time_idx']);
        expect(of(`traffic_asn_${p}`)).toEqual(['asn_time_idx', 'time_idx']);
        // Every column a location series reads is in its key index: planned once, a series of
        // several locations must not find the time index cheaper (migration 0014).
        expect(of(`traffic_loc_${p}`)).toEqual(['location_covering_idx', 'time_idx']);
        const covering = rows.find(
          (r) => r.view === `traffic_loc_${p}` && r.idx.endsWith('location_covering_idx'),
        );
        expect(covering?.def).toMatch(
          /\(location, "time" DESC\) INCLUDE \(product, direction, bytes, packets, flows\)$/,
        );
        expect(of(`traffic_cont_${p}`)).toEqual(['continent_time_idx', 'time_idx']);
      }
    } finally {
      await db.close();
    }
  });
});

describe('maintenance rounds', () => {
  it('runs a round when the last one is an interval old, records it, and skips it before', async () => {
    const db = await testDatabase();
    try {
      const config = {
        compressAfter: 7 * DAY,
        retention: { raw: 30 * DAY, hourly: 365 * DAY, daily: 3650 * DAY },
        maintenanceInterval: 60_000,
      };
      expect(await maintenanceRound(db, config, 'a')).toBe(true);
      // Another instance ticking a moment later finds the round done.
      expect(await maintenanceRound(db, config, 'b')).toBe(false);
      await db.query(sql`UPDATE maintenance_runs SET started_at = started_at - interval '55 seconds'`);
      expect(await maintenanceRound(db, config, 'b')).toBe(true);
      const runs = await db.query<{ instance: string; done: boolean; error: string | null }>(
        sql`SELECT instance, finished_at IS NOT NULL AS done, error FROM maintenance_runs ORDER BY id`,
      );
      expect(runs).toEqual([
        { instance: 'a', done: true, error: null },
        { instance: 'b', done: true, error: null },
      ]);
    } finally {
      await db.close();
    }
  });
});
