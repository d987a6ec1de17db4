/**
 * Top and summary answers tile a window with whole days, whole hours and edge minutes from the
 * rollups that keep the needed columns (src/query/sql.ts windowRows), and timeseries the same way
 * by the widths that divide their interval (seriesFrom). Checked here against one
 * GROUP BY over the minutes, for windows whose edges fall mid-hour and mid-day, with filters and
 * exclusions, part of the data materialized and part not.
 */
import { type SQL, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, testApp } from '../helpers/app.js';
import { insertTraffic, rowsEvery, type TrafficRow } from '../helpers/db.js';
import { url } from './data.js';

const NOW = '2026-11-20T12:07:00Z';
const ASNS = [174, 3320, 3243, 15169, 64500];
const LOCATIONS = ['PT', 'DE', 'US', 'FR'];

/** Deterministic rows every 7 minutes, varied keys and sizes. */
const rows = (fromMs: number, toMs: number): TrafficRow[] =>
  rowsEvery(fromMs, toMs, 7, (k) => ({
    asn: ASNS[k % ASNS.length]!,
    location: LOCATIONS[(k * 3) % LOCATIONS.length]!,
    product: k % 3 === 0 ? 'OTHER' : 'HTTP',
    direction: k % 2 === 0 ? 'in' : 'out',
    bytes: 1000 + ((k * 7919) % 100_000),
  }));

describe('top and summary over tiled windows', () => {
  let t: TestApp;
  let raw: string;
  beforeAll(async () => {
    t = await testApp({ now: NOW });
    raw = await t.token(['read', 'read:raw']);
    await insertTraffic(t.db, rows(Date.parse('2026-11-17T00:00:00Z'), Date.parse('2026-11-19T18:00:00Z')));
    // The last hours are not materialized: real-time aggregation answers for them.
    await t.db.query(sql`INSERT INTO traffic (time, asn, location, product, direction, bytes, packets, flows)
      SELECT time, asn, location, product, direction, bytes, 1, 1 FROM (VALUES
        ('2026-11-20T09:31:00Z'::timestamptz, 174, 'PT', 'HTTP', 'in', 777),
        ('2026-11-20T11:59:00Z'::timestamptz, 3320, 'DE', 'OTHER', 'out', 555)) v(time, asn, location, product, direction, bytes)`);
  });
  afterAll(() => t?.close());

  async function minutes(start: string, end: string, group: 'asn' | 'location', where = sql`true`) {
    const got = await t.db.query<{ g: string; v: number }>(
      sql`SELECT ${sql.raw(group)}::text AS g, sum(bytes)::float8 AS v FROM traffic
          WHERE time >= ${start}::timestamptz AND time < ${end}::timestamptz AND ${where} GROUP BY 1`,
    );
    const total = got.reduce((a, r) => a + r.v, 0);
    return new Map(got.map((r) => [r.g, (100 * r.v) / total]));
  }

  const windows: [string, string][] = [
    ['2026-11-17T05:15:00Z', '2026-11-19T10:45:00Z'],
    ['2026-11-17T00:00:00Z', '2026-11-18T00:00:00Z'],
    ['2026-11-18T13:15:00Z', '2026-11-18T13:45:00Z'],
    ['2026-11-19T16:30:00Z', '2026-11-20T12:00:00Z'],
  ];

  it.each(windows)('top/locations and summary/AS from %s to %s equal the minutes', async (start, end) => {
    const dateEnd = new Date(Date.parse(end) - 15 * 60_000).toISOString();
    const top = await t.get(
      url('/radar/netflows/top/locations', { dateStart: start, dateEnd, limit: '10', asn: '-3243' }),
      raw,
    );
    expect(top.status, top.text).toBe(200);
    const want = await minutes(start, end, 'location', sql`asn <> 3243`);
    const entries = (top.body as any).result.top_0 as { clientCountryAlpha2: string; value: string }[];
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries) expect(Number(e.value)).toBeCloseTo(want.get(e.clientCountryAlpha2)!, 2);
    const summary = await t.get(
      url('/radar/netflows/summary/AS', { dateStart: start, dateEnd, location: 'PT,DE' }),
      raw,
    );
    expect(summary.status, summary.text).toBe(200);
    const wantAs = await minutes(start, end, 'asn', sql`location IN ('PT', 'DE')`);
    const got = (summary.body as any).result.summary_0 as Record<string, string>;
    expect(Object.keys(got).length).toBeGreaterThan(1);
    for (const [k, v] of Object.entries(got)) {
      if (k === 'other') continue;
      expect(Number(v), k).toBeCloseTo(wantAs.get(k.replace(/^AS/, ''))!, 2);
    }
  });

  it.each([
    ['1h', '2026-11-17T05:00:00Z', '2026-11-19T10:00:00Z'],
    ['15m', '2026-11-18T22:15:00Z', '2026-11-19T03:45:00Z'],
  ])('timeseries_groups/AS at %s, top 2 and other, equal the minutes per bucket', async (agg, start, end) => {
    const width = agg === '1h' ? 3_600_000 : 900_000;
    const r = await t.get(
      url('/radar/netflows/timeseries_groups/AS', {
        dateStart: start,
        dateEnd: new Date(Date.parse(end) - 15 * 60_000).toISOString(),
        aggInterval: agg,
        limitPerGroup: '2',
        location: '-US',
      }),
      raw,
    );
    expect(r.status, r.text).toBe(200);
    const got = (r.body as any).result.serie_0 as Record<string, string[]>;
    const totals = await t.db.query<{ asn: number; v: number }>(
      sql`SELECT asn, sum(bytes)::float8 AS v FROM traffic WHERE time >= ${start}::timestamptz AND time < ${end}::timestamptz
          AND location <> 'US' GROUP BY 1 ORDER BY 2 DESC, ('AS' || asn::text) LIMIT 2`,
    );
    const top = totals.map((x) => `AS${x.asn}`);
    expect(Object.keys(got).filter((k) => k !== 'timestamps')).toEqual([...top, 'other']);
    const per = await t.db.query<{ b: number; g: string; v: number }>(
      sql`SELECT (extract(epoch from time_bucket(${`${width / 1000} seconds`}::interval, time)) * 1000)::float8 AS b,
                 CASE WHEN ('AS' || asn::text) IN (${sql.join(
                   top.map((g) => sql`${g}`),
                   sql`, `,
                 )}) THEN 'AS' || asn::text ELSE 'other' END AS g,
                 sum(bytes)::float8 AS v
            FROM traffic WHERE time >= ${start}::timestamptz AND time < ${end}::timestamptz AND location <> 'US'
           GROUP BY 1, 2`,
    );
    const buckets = (Date.parse(end) - Date.parse(start)) / width;
    for (let k = 0; k < buckets; k++) {
      const b = Date.parse(start) + k * width;
      const mine = per.filter((x) => x.b === b);
      const sum = mine.reduce((a, x) => a + x.v, 0);
      for (const g of [...top, 'other']) {
        const v = mine.find((x) => x.g === g)?.v ?? 0;
        expect(Number(got[g]![k]), `${g} @ ${new Date(b).toISOString()}`).toBeCloseTo(
          sum === 0 ? 0 : (100 * v) / sum,
          2,
        );
      }
    }
  });

  /** A RAW_VALUES timeseries over [start, end) equals, per bucket, the minutes matching `where`. */
  async function expectSeriesEqualsMinutes(
    agg: '15m' | '1h' | '1d',
    start: string,
    end: string,
    params: Record<string, string>,
    where: SQL,
  ) {
    const width = { '15m': 900_000, '1h': 3_600_000, '1d': 86_400_000 }[agg];
    const r = await t.get(
      url('/radar/netflows/timeseries', {
        dateStart: start,
        dateEnd: new Date(Date.parse(end) - 15 * 60_000).toISOString(),
        aggInterval: agg,
        normalization: 'RAW_VALUES',
        ...params,
      }),
      raw,
    );
    expect(r.status, r.text).toBe(200);
    const { timestamps, values } = (r.body as any).result.serie_0 as {
      timestamps: string[];
      values: string[];
    };
    const want = await t.db.query<{ b: number; v: number }>(
      sql`SELECT (extract(epoch from time_bucket(${`${width / 1000} seconds`}::interval, time, TIMESTAMPTZ '2000-01-03')) * 1000)::float8 AS b,
                 sum(bytes)::float8 AS v
            FROM traffic WHERE time >= ${start}::timestamptz AND time < ${end}::timestamptz AND ${where}
           GROUP BY 1`,
    );
    expect(want.length, `${agg} ${start}`).toBeGreaterThan(0);
    expect(timestamps.length).toBe(
      Math.ceil((Date.parse(end) - Math.floor(Date.parse(start) / width) * width) / width),
    );
    timestamps.forEach((ts, k) => {
      expect(Number(values[k]), `${agg} ${ts}`).toBe(want.find((x) => x.b === Date.parse(ts))?.v ?? 0);
    });
  }

  // Windows whose edges are not on the interval: whole buckets come from the rollups of the
  // interval's width (or a coarser one that divides it), the edges from quarters or minutes.
  it.each([
    ['asn=174 and location=PT', { asn: '174', location: 'PT' }, sql`asn = 174 AND location = 'PT'`],
    ['asn=-3243', { asn: '-3243' }, sql`asn <> 3243`],
    ['location=DE', { location: 'DE' }, sql`location = 'DE'`],
    ['no filter', {}, sql`true`],
  ] as const)(
    'timeseries with %s over windows off the interval equals the minutes per bucket',
    async (_, params, where) => {
      await expectSeriesEqualsMinutes('1h', '2026-11-17T05:15:00Z', '2026-11-19T10:45:00Z', params, where);
      await expectSeriesEqualsMinutes('1d', '2026-11-17T05:15:00Z', '2026-11-20T12:00:00Z', params, where);
      await expectSeriesEqualsMinutes('1h', '2026-11-18T13:15:00Z', '2026-11-18T13:45:00Z', params, where);
    },
  );

  it.each([
    ['asn', '-3243', sql`asn <> 3243`, '1h', '2026-11-17T05:00:00Z', '2026-11-19T10:00:00Z'],
    [
      'location',
      '-US,-DE',
      sql`location NOT IN ('US', 'DE')`,
      '1d',
      '2026-11-17T00:00:00Z',
      '2026-11-20T00:00:00Z',
    ],
    [
      'asn',
      '-174,-15169',
      sql`asn NOT IN (174, 15169)`,
      '15m',
      '2026-11-18T22:15:00Z',
      '2026-11-19T03:45:00Z',
    ],
  ] as const)(
    'timeseries with %s=%s at %s: total minus the excluded keys equals the minutes',
    (param, value, where, agg, start, end) =>
      expectSeriesEqualsMinutes(
        agg,
        start,
        end,
        { [param]: value, product: 'HTTP' },
        sql`product = 'HTTP' AND ${where}`,
      ),
  );
});
