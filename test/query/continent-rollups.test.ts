/**
 * Series whose location filter is whole continents read the per-continent rollups (migration
 * 0005, src/query/sql.ts). Checked here: the SQL continent_of() is the partition of geo.ts, and
 * every kind of answer with a continent filter (included, excluded, several, with a product,
 * against a plain location list) equals one GROUP BY over the minutes, hourly and daily, with the
 * newest hours not materialized yet (real-time aggregation answers for them).
 */
import { sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTINENTS, continentsCovering, countriesOf } from '../../src/query/geo.js';
import { granularityFor, seriesRowsAt } from '../../src/query/sql.js';
import { parseSearchQuery } from '../../src/routes/schemas.js';
import { type TestApp, testApp } from '../helpers/app.js';
import { insertTraffic, rowsEvery, type TrafficRow } from '../helpers/db.js';
import { url } from './data.js';

const NOW = '2026-11-20T12:07:00Z';
const LOCATIONS = ['DE', 'FR', 'US', 'JP', 'BR', 'XX', 'TR', 'AU'];
const ASNS = [174, 3320, 15169, 64500];

/** Deterministic rows every 11 minutes, varied keys and sizes. */
const rows = (fromMs: number, toMs: number): TrafficRow[] =>
  rowsEvery(fromMs, toMs, 11, (k) => ({
    asn: ASNS[k % ASNS.length]!,
    location: LOCATIONS[(k * 5) % LOCATIONS.length]!,
    product: k % 3 === 0 ? 'OTHER' : 'HTTP',
    direction: k % 2 === 0 ? 'in' : 'out',
    bytes: 1000 + ((k * 7919) % 100_000),
  }));

describe('continentsCovering', () => {
  it('names the continents a list is exactly made of, else nothing', () => {
    expect(continentsCovering(countriesOf('EU')!)).toEqual(['EU']);
    expect(continentsCovering([...countriesOf('AS')!, ...countriesOf('EU')!])?.sort()).toEqual(['AS', 'EU']);
    expect(continentsCovering([...countriesOf('EU')!, ...countriesOf('EU')!])).toEqual(['EU']);
    expect(continentsCovering(countriesOf('EU')!.slice(1))).toBeUndefined();
    expect(continentsCovering([...countriesOf('EU')!, 'US'])).toBeUndefined();
    expect(continentsCovering(['XX'])).toBeUndefined();
    expect(continentsCovering(['--'])).toBeUndefined();
    expect(continentsCovering([])).toBeUndefined();
  });
});

describe('per-continent rollups', () => {
  let t: TestApp;
  let raw: string;
  beforeAll(async () => {
    t = await testApp({ now: NOW });
    raw = await t.token(['read', 'read:raw']);
    await insertTraffic(t.db, rows(Date.parse('2026-11-17T00:00:00Z'), Date.parse('2026-11-20T08:00:00Z')));
    // After the refresh: only real-time aggregation sees these.
    await t.db.query(sql`INSERT INTO traffic (time, asn, location, product, direction, bytes, packets, flows)
      SELECT time, asn, location, product, direction, bytes, 1, 1 FROM (VALUES
        ('2026-11-20T09:31:00Z'::timestamptz, 174, 'DE', 'HTTP', 'in', 777),
        ('2026-11-20T10:02:00Z'::timestamptz, 3320, 'XX', 'OTHER', 'out', 555),
        ('2026-11-20T11:59:00Z'::timestamptz, 3320, 'JP', 'HTTP', 'out', 333)) v(time, asn, location, product, direction, bytes)`);
  });
  afterAll(() => t?.close());

  it('continent_of() in the database is the partition of geo.ts', async () => {
    const want: [string, string][] = CONTINENTS.flatMap((c) =>
      countriesOf(c)!.map((code) => [code, c] as [string, string]),
    );
    want.push(['XX', 'XX'], ['ZZ', 'XX']);
    const got = await t.db.query<{ code: string; c: string }>(
      sql`SELECT code, continent_of(code)::text AS c FROM (VALUES ${sql.join(
        want.map(([code]) => sql`(${code})`),
        sql`, `,
      )}) v(code)`,
    );
    expect(got.map((r) => [r.code, r.c])).toEqual(want);
  });

  it.each([
    ['continent=EU', '7d', '1h', 'traffic_cont_1h'],
    ['continent=-EU,-AS', '7d', '1h', 'traffic_cont_1h'],
    ['location=DE,FR', '7d', '1h', 'traffic_loc_1h'],
    ['continent=EU&location=-DE', '7d', '1h', 'traffic_loc_1h'],
    ['continent=EU&asn=174', '7d', '1h', 'traffic_1h'],
    ['continent=EU', '1d', '15m', 'traffic_cont_15m'],
    ['asn=174', '1d', '15m', 'traffic_asn_15m'],
    ['location=DE', '1d', '15m', 'traffic_loc_15m'],
    ['product=HTTP', '1d', '15m', 'traffic_total_15m'],
    ['continent=EU&asn=174', '1d', '15m', 'traffic'],
  ])('%s over %s at %s reads %s', (params, range, agg, table) => {
    const q = parseSearchQuery(
      new URLSearchParams(`dateRange=${range}&aggInterval=${agg}&${params}`),
      'timeseries',
      Date.parse(NOW),
    );
    const text = new PgDialect().sqlToQuery(
      seriesRowsAt(granularityFor(q.series, q.interval.ms), q.series[0]!, q),
    ).sql;
    expect(text.split(' WHERE ')[0]).toBe(table);
  });

  /** Raw series values per bucket from the minutes, for a WHERE over `traffic`. */
  async function minutes(start: string, end: string, widthMs: number, where: ReturnType<typeof sql>) {
    const got = await t.db.query<{ b: number; v: number }>(
      sql`SELECT (extract(epoch from time_bucket(${`${widthMs / 1000} seconds`}::interval, time, TIMESTAMPTZ '2000-01-03')) * 1000)::float8 AS b,
                 sum(bytes)::float8 AS v
            FROM traffic WHERE time >= ${start}::timestamptz AND time < ${end}::timestamptz AND ${where} GROUP BY 1`,
    );
    return new Map(got.map((r) => [r.b, r.v]));
  }

  const eu = sql.raw(`location IN (${countriesOf('EU')!.map((c) => `'${c}'`)})`);
  const euAs = sql.raw(
    `location IN (${[...countriesOf('EU')!, ...countriesOf('AS')!].map((c) => `'${c}'`)})`,
  );
  const cases: [string, Record<string, string>, ReturnType<typeof sql>][] = [
    ['continent=EU', { continent: 'EU' }, eu],
    ['continent=EU,AS', { continent: 'EU,AS' }, euAs],
    ['continent=EU&product=HTTP', { continent: 'EU', product: 'HTTP' }, sql`${eu} AND product = 'HTTP'`],
    ['continent=-EU (XX stays in)', { continent: '-EU' }, sql`NOT ${eu}`],
    ['continent=-EU,-AS', { continent: '-EU,-AS' }, sql`NOT ${euAs}`],
    [
      'continent=AS&location=-JP (not whole continents)',
      { continent: 'AS', location: '-JP' },
      sql.raw(
        `location IN (${countriesOf('AS')!
          .filter((c) => c !== 'JP')
          .map((c) => `'${c}'`)})`,
      ),
    ],
    [
      'continent=EU&location=DE,FR,US',
      { continent: 'EU', location: 'DE,FR,US' },
      sql`location IN ('DE', 'FR')`,
    ],
  ];
  const windows: [string, number, string, string][] = [
    ['15m', 900_000, '2026-11-19T20:00:00Z', '2026-11-20T12:00:00Z'],
    ['1h', 3_600_000, '2026-11-17T05:00:00Z', '2026-11-20T12:00:00Z'],
    // Whole days: a refresh materializes the day holding the newest minute, and minutes landing in
    // it afterwards show in daily buckets at the next refresh (maintenanceInterval).
    ['1d', 86_400_000, '2026-11-17T00:00:00Z', '2026-11-20T00:00:00Z'],
  ];

  for (const [label, params, where] of cases)
    it.each(windows)(`timeseries ${label} at %s equals the minutes`, async (agg, width, start, end) => {
      const r = await t.get(
        url('/radar/netflows/timeseries', {
          ...params,
          dateStart: start,
          dateEnd: new Date(Date.parse(end) - 15 * 60_000).toISOString(),
          aggInterval: agg,
          normalization: 'RAW_VALUES',
        }),
        raw,
      );
      expect(r.status, r.text).toBe(200);
      const serie = (r.body as any).result.serie_0 as { timestamps: string[]; values: string[] };
      const want = await minutes(start, end, width, where);
      expect([...want.values()].some((v) => v > 0)).toBe(true);
      serie.timestamps.forEach((ts, k) => {
        expect(Number(serie.values[k]), ts).toBe(want.get(Date.parse(ts)) ?? 0);
      });
    });

  it('summary/PRODUCT and top/ases with continent=EU over a window with ragged edges equal the minutes', async () => {
    const start = '2026-11-17T05:15:00Z';
    const end = '2026-11-20T10:45:00Z';
    const dateEnd = new Date(Date.parse(end) - 15 * 60_000).toISOString();
    const share = async (group: 'asn' | 'product') => {
      const got = await t.db.query<{ g: string; v: number }>(
        sql`SELECT ${sql.raw(group)}::text AS g, sum(bytes)::float8 AS v FROM traffic
            WHERE time >= ${start}::timestamptz AND time < ${end}::timestamptz AND ${eu} GROUP BY 1`,
      );
      const total = got.reduce((a, x) => a + x.v, 0);
      return new Map(got.map((x) => [x.g, (100 * x.v) / total]));
    };
    const summary = await t.get(
      url('/radar/netflows/summary/PRODUCT', { dateStart: start, dateEnd, continent: 'EU' }),
      raw,
    );
    expect(summary.status, summary.text).toBe(200);
    const products = await share('product');
    const got = (summary.body as any).result.summary_0 as Record<string, string>;
    expect(Object.keys(got).sort()).toEqual([...products.keys()].sort());
    for (const [k, v] of Object.entries(got)) expect(Number(v), k).toBeCloseTo(products.get(k)!, 2);
    const top = await t.get(
      url('/radar/netflows/top/ases', { dateStart: start, dateEnd, continent: 'EU' }),
      raw,
    );
    expect(top.status, top.text).toBe(200);
    const ases = await share('asn');
    const entries = (top.body as any).result.top_0 as { clientASN: number; value: string }[];
    expect(entries.length).toBe(ases.size);
    for (const e of entries) expect(Number(e.value)).toBeCloseTo(ases.get(String(e.clientASN))!, 2);
  });

  it('timeseries_groups/PRODUCT with continent=-EU at 1h equals the minutes per bucket', async () => {
    const start = '2026-11-19T00:00:00Z';
    const end = '2026-11-20T12:00:00Z';
    const r = await t.get(
      url('/radar/netflows/timeseries_groups/PRODUCT', {
        dateStart: start,
        dateEnd: new Date(Date.parse(end) - 15 * 60_000).toISOString(),
        aggInterval: '1h',
        continent: '-EU',
      }),
      raw,
    );
    expect(r.status, r.text).toBe(200);
    const got = (r.body as any).result.serie_0 as Record<string, string[]> & { timestamps: string[] };
    const http = await minutes(start, end, 3_600_000, sql`NOT ${eu} AND product = 'HTTP'`);
    const all = await minutes(start, end, 3_600_000, sql`NOT ${eu}`);
    got.timestamps.forEach((ts, k) => {
      const b = Date.parse(ts);
      const sum = all.get(b) ?? 0;
      expect(Number(got.HTTP![k]), ts).toBeCloseTo(sum === 0 ? 0 : (100 * (http.get(b) ?? 0)) / sum, 2);
    });
  });
});
