import { beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../helpers/app.js';
import {
  expectError,
  expectOk,
  expectWellFormed,
  HOUR_MS,
  type Params,
  stamps,
  url,
  zerosWith,
} from '../data.js';
import {
  D1H,
  type DayContext,
  GROUPS,
  SUMMARY,
  TOP_ASES,
  TOP_LOCATIONS,
  TS,
  W_DAY,
  type WeeksContext,
} from './common.js';

/**
 * First-level subdivisions: the `geoId` filter on every endpoint and the ADM1 dimension, on the
 * day dataset (rows located to subdivisions, names known for all but 1835848; see DAY_ROWS).
 */
export function subdivisionTests(day: () => DayContext): void {
  let t: TestApp;
  let raw: string;

  const rawSeries = async (params: Params) => {
    const r = await t.get(url(TS, { aggInterval: '1h', ...params, normalization: 'RAW_VALUES' }), raw);
    expectOk(r);
    return r.body.result;
  };

  describe('subdivisions: geoId and ADM1', () => {
    beforeAll(() => {
      ({ t, raw } = day());
    });

    it('geoId includes and excludes subdivisions, per series, like asn', async () => {
      const res = await rawSeries({
        name: ['lisbon', 'lisbon_porto', 'not_lisbon', 'porto_as3243'],
        geoId: ['2267056', '2267056, 2735941', '-2267056', '2735941'],
        asn: ['', '', '', '3243'],
        dateRange: ['1d', '1d', '1d', '1d'],
      });
      // Hours 09 (b+c), 10 (d+e), 11 (f+g), 12 (h) are buckets 20–23.
      expect(res.lisbon.values).toEqual(zerosWith(24, { 20: '100', 23: '150' }));
      expect(res.lisbon_porto.values).toEqual(zerosWith(24, { 20: '400', 23: '150' }));
      // Everything but Lisbon, the unknown subdivision (row f) included: 2100 − 250.
      expect(res.not_lisbon.values).toEqual(zerosWith(24, { 20: '300', 21: '600', 22: '950' }));
      // AS and subdivision at once: no rollup keeps both, the minutes answer.
      expect(res.porto_as3243.values).toEqual(zerosWith(24, { 20: '300' }));
      expect(res.meta.confidenceInfo).toEqual({ level: 5, annotations: [] });
    });

    it('an excluding geoId over 15-minute rollups, the minutes and days agrees with the including one', async () => {
      const quarter = await rawSeries({ dateRange: '1d', aggInterval: '15m', geoId: '-2267056,-2735941' });
      const sum = (v: string[]) => v.reduce((a, x) => a + Number(x), 0);
      expect(sum(quarter.serie_0.values)).toBe(2100 + 50 - 250 - 50 - 300); // row a is in 1d@15m
      const days = await t.get(
        url(TS, {
          dateStart: '2026-11-18',
          dateEnd: '2026-11-20T23:59:00Z',
          aggInterval: '1d',
          geoId: '-2267056',
          normalization: 'RAW_VALUES',
        }),
        raw,
      );
      expectOk(days);
      expect(days.body.result.serie_0.values).toEqual(['0', '0', String(2100 - 250)]);
    });

    it('geoId filters summary, timeseries_groups and top on every endpoint', async () => {
      const s = await t.get(url(`${SUMMARY}/LOCATION`, { ...W_DAY, geoId: '2267056,5332921' }));
      expectOk(s);
      expect(s.body.result.summary_0).toEqual({ PT: '55.555556', US: '44.444444' });
      const legacy = await t.get(url(SUMMARY, { ...W_DAY, geoId: '2735941' }));
      expectOk(legacy);
      expect(legacy.body.result.summary_0).toEqual({ HTTP: '0', OTHER: '100' });
      const g = await t.get(url(`${GROUPS}/PRODUCT`, { ...D1H, geoId: '2267056' }));
      expectOk(g);
      expect(g.body.result.serie_0.HTTP).toEqual(zerosWith(24, { 20: '100', 23: '100' }));
      const ases = await t.get(url(TOP_ASES, { ...W_DAY, geoId: '-2267056,-2735941,-0' }));
      expect(ases.status).toBe(400); // 0 is no GeoNames id
      const top = await t.get(url(TOP_ASES, { ...W_DAY, geoId: '2951839' }));
      expectOk(top);
      expect(top.body.result.top_0).toEqual([{ clientASN: 174, clientASName: 'COGENT-174', value: '100' }]);
      const locs = await t.get(url(TOP_LOCATIONS, { ...W_DAY, geoId: '-2267056,-2735941' }));
      expectOk(locs);
      expect(
        locs.body.result.top_0.map((e: { clientCountryAlpha2: string }) => e.clientCountryAlpha2),
      ).toEqual(['FR', 'KR', 'DE', 'US']);
    });

    it('a bad geoId is a 400 naming the parameter and series', async () => {
      for (const bad of ['abc', 'Lisbon', '2267056x', '99999999999'])
        expectError(await t.get(url(TS, { geoId: bad })), 400, 2001, 'geoId');
      expectError(await t.get(url(TS, { name: ['a', 'b'], geoId: ['1', 'x'] })), 400, 2001, 'geoId');
    });

    it('summary/ADM1: shares of the located traffic, keyed by name (by id when none is known)', async () => {
      const r = await t.get(url(`${SUMMARY}/ADM1`, W_DAY));
      expectOk(r);
      // Located: 1600 of 2100 (row f has no subdivision and is no group).
      expect(r.body.result.summary_0).toEqual({
        'geoId:1835848': '28.125',
        Bavaria: '25',
        Porto: '18.75',
        Lisbon: '15.625',
        California: '12.5',
      });
      expect(r.body.result.meta.confidenceInfo).toEqual({ level: 5, annotations: [] });
      expectWellFormed(r.body.result);
      const two = await t.get(url(`${SUMMARY}/adm1`, { ...W_DAY, limitPerGroup: '2' }));
      expectOk(two);
      expect(two.body.result.summary_0).toEqual({
        'geoId:1835848': '28.125',
        Bavaria: '25',
        other: '46.875',
      });
      // Filters apply before the breakdown: PT only.
      const pt = await t.get(url(`${SUMMARY}/ADM1`, { ...W_DAY, location: 'PT' }));
      expectOk(pt);
      expect(pt.body.result.summary_0).toEqual({ Porto: '54.545455', Lisbon: '45.454545' });
    });

    it('timeseries_groups/ADM1: per bucket, limitPerGroup and other as for AS', async () => {
      const r = await t.get(url(`${GROUPS}/ADM1`, D1H));
      expectOk(r);
      const s = r.body.result.serie_0;
      expect(Object.keys(s)).toEqual([
        'timestamps',
        'geoId:1835848',
        'Bavaria',
        'Porto',
        'Lisbon',
        'California',
      ]);
      expect(s).toEqual({
        timestamps: stamps('2026-11-19T13:00:00Z', 24, HOUR_MS),
        'geoId:1835848': zerosWith(24, { 22: '100' }),
        Bavaria: zerosWith(24, { 21: '66.666667' }),
        Porto: zerosWith(24, { 20: '75' }),
        Lisbon: zerosWith(24, { 20: '25', 23: '100' }),
        California: zerosWith(24, { 21: '33.333333' }),
      });
      const two = await t.get(url(`${GROUPS}/ADM1`, { ...D1H, limitPerGroup: '2' }));
      expectOk(two);
      expect(two.body.result.serie_0).toEqual({
        timestamps: stamps('2026-11-19T13:00:00Z', 24, HOUR_MS),
        'geoId:1835848': zerosWith(24, { 22: '100' }),
        Bavaria: zerosWith(24, { 21: '66.666667' }),
        other: zerosWith(24, { 20: '100', 21: '33.333333', 23: '100' }),
      });
      // Two series, each its own groups.
      const both = await t.get(
        url(`${GROUPS}/ADM1`, { dateRange: ['1d', '1d'], aggInterval: '1h', location: ['PT', 'US'] }),
      );
      expectOk(both);
      expect(Object.keys(both.body.result.serie_0)).toEqual(['timestamps', 'Porto', 'Lisbon']);
      expect(Object.keys(both.body.result.serie_1)).toEqual(['timestamps', 'California']);
    });

    it('CSV carries the subdivision names', async () => {
      const r = await t.get(url(`${SUMMARY}/ADM1`, { ...W_DAY, format: 'CSV' }));
      expect(r.status).toBe(200);
      expect(r.text).toContain('Bavaria');
    });
  });
}

/** Without any subdivision known (the weeks dataset: no City database ever located traffic). */
export function noCityDatabaseTests(weeks: () => WeeksContext): void {
  let t: TestApp;
  let raw: string;
  const W = { dateRange: '7d', aggInterval: '1d' };
  const noCity = expect.objectContaining({
    dataSource: 'NET',
    description: expect.stringContaining('no City database is configured (cityMmdb)'),
  });

  describe('subdivisions without a City database', () => {
    beforeAll(() => {
      ({ t, raw } = weeks());
    });

    it('ADM1 breakdowns are empty, never an error, and meta says why', async () => {
      const s = await t.get(url(`${SUMMARY}/ADM1`, W));
      expectOk(s);
      expect(s.body.result.summary_0).toEqual({});
      expect(s.body.result.meta.confidenceInfo.annotations).toContainEqual(noCity);
      const g = await t.get(url(`${GROUPS}/ADM1`, { ...W, limitPerGroup: '3' }));
      expectOk(g);
      expect(Object.keys(g.body.result.serie_0)).toEqual(['timestamps']);
      expect(g.body.result.meta.confidenceInfo.annotations).toContainEqual(noCity);
      // Other dimensions carry no such note.
      const as = await t.get(url(`${SUMMARY}/AS`, W));
      expect(as.body.result.meta.confidenceInfo.annotations).not.toContainEqual(noCity);
    });

    it('geoId: an including filter matches nothing, an excluding one everything; both say why', async () => {
      const r = await t.get(
        url(TS, {
          ...W,
          dateRange: ['7d', '7d'],
          geoId: ['2267056', '-2267056'],
          normalization: 'RAW_VALUES',
        }),
        raw,
      );
      expectOk(r);
      expect(r.body.result.serie_0.values.every((v: string) => v === '0')).toBe(true);
      expect(r.body.result.serie_1.values.reduce((a: number, v: string) => a + Number(v), 0)).toBe(31000);
      expect(r.body.result.meta.confidenceInfo.annotations).toContainEqual(noCity);
    });
  });
}
