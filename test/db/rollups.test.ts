import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import {
  BASE_TABLES,
  ROLLUPS,
  rollupNamed,
  sourceRetention,
  TRAFFIC_WIDTHS,
  trafficRelation,
} from '../../src/db/rollups.js';
import { testDatabase } from '../helpers/db.js';

describe('the rollup catalogue', () => {
  it('lists each rollup after the relation it reads, so refreshing in its order is complete', () => {
    const seen = new Set(BASE_TABLES.map((t) => t.name));
    for (const r of ROLLUPS) {
      expect(seen.has(r.reads), `${r.name} reads ${r.reads}`).toBe(true);
      seen.add(r.name);
    }
  });

  it('bounds each refresh by the retention of what the rollup reads', () => {
    expect(sourceRetention(rollupNamed('traffic_total_15m'))).toBe('raw');
    expect(sourceRetention(rollupNamed('traffic_cont_15m'))).toBe('raw');
    expect(sourceRetention(rollupNamed('traffic_1h'))).toBe('raw');
    expect(sourceRetention(rollupNamed('exporter_hours'))).toBe('raw');
    expect(sourceRetention(rollupNamed('traffic_asn_1h'))).toBe('hourly');
    expect(sourceRetention(rollupNamed('traffic_1d'))).toBe('hourly');
    expect(sourceRetention(rollupNamed('traffic_cont_1d'))).toBe('hourly');
    expect(sourceRetention(rollupNamed('traffic_adm1_1h'))).toBe('raw');
    expect(sourceRetention(rollupNamed('traffic_adm1_1d'))).toBe('hourly');
  });

  it('gives the planner its widths and the smallest relation per width and key set', () => {
    expect(TRAFFIC_WIDTHS).toEqual([86_400_000, 3_600_000, 900_000, 60_000]);
    expect(trafficRelation(3_600_000, [])?.name).toBe('traffic_total_1h');
    expect(trafficRelation(86_400_000, ['asn', 'location'])?.name).toBe('traffic_1d');
    expect(trafficRelation(900_000, ['continent'])?.name).toBe('traffic_cont_15m');
    expect(trafficRelation(900_000, ['asn', 'location'])).toBeUndefined();
    expect(trafficRelation(60_000, ['asn', 'location'])?.name).toBe('traffic');
    expect(trafficRelation(3_600_000, ['adm1'])?.name).toBe('traffic_adm1_1h');
    // The full rollups lack the subdivision: keyed by it and by AS, a series reads the minutes.
    expect(trafficRelation(86_400_000, ['asn', 'adm1'])).toBeUndefined();
    expect(trafficRelation(60_000, ['asn', 'adm1'])?.name).toBe('traffic');
  });

  it('is what the migrations created: names, widths, kept keys and sources', async () => {
    const db = await testDatabase();
    try {
      const rows = await db.query<{ name: string; width_ms: number; reads: string; keeps: string[] }>(sql`
        SELECT c.view_name::text AS name,
               (extract(epoch FROM substring(c.view_definition FROM 'time_bucket\\(''([^'']+)''')::interval) * 1000)::float8 AS width_ms,
               substring(c.view_definition FROM 'FROM (\\w+)') AS reads,
               (SELECT array_agg(i.column_name::text ORDER BY i.column_name)
                  FROM information_schema.columns i
                 WHERE i.table_schema = 'public' AND i.table_name = c.view_name
                   AND i.column_name IN ('asn', 'location', 'continent', 'adm1', 'product', 'direction', 'exporter')) AS keeps
          FROM timescaledb_information.continuous_aggregates c
         ORDER BY 1`);
      const described = ROLLUPS.map((r) => ({
        name: r.name,
        width_ms: r.widthMs,
        reads: r.reads,
        keeps: [...r.keeps].sort(),
      })).sort((a, b) => a.name.localeCompare(b.name));
      expect(rows).toEqual(described);
    } finally {
      await db.close();
    }
  });
});
