import { beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../helpers/app.js';
import {
  expectError,
  expectOk,
  expectWellFormed,
  HOUR_MS,
  type Params,
  stamps,
  total,
  url,
  zerosWith,
} from '../data.js';
import { D1H, type DayContext, TS } from './common.js';

/** GET /timeseries: windows, bucket alignment, series parameters and filters. */
export function timeseriesTests(day: () => DayContext): void {
  let t: TestApp;
  let raw: string;

  const rawSeries = async (params: Params) => {
    const r = await t.get(url(TS, { ...params, normalization: 'RAW_VALUES' }), raw);
    expectOk(r);
    return r;
  };

  describe('timeseries: windows, buckets and series', () => {
    beforeAll(() => {
      ({ t, raw } = day());
    });

    it('dateRange=1d at 1h ends with the hour holding now: 24 buckets, MIN0_MAX by default', async () => {
      const r = await t.get(url(TS, D1H));
      expectOk(r);
      expect(Object.keys(r.body.result).sort()).toEqual(['meta', 'serie_0']);
      expect(r.body.result.meta).toEqual({
        aggInterval: 'ONE_HOUR',
        dateRange: [{ startTime: '2026-11-19T13:00:00Z', endTime: '2026-11-20T13:00:00Z' }],
        lastUpdated: '2026-11-20T12:05:00Z',
        normalization: 'MIN0_MAX',
        units: [{ name: '*', value: 'bytes' }],
        confidenceInfo: { level: 5, annotations: [] },
      });
      // hours 09, 10, 11, 12 hold 400, 600, 950, 150 bytes; 950 is the largest.
      expect(r.body.result.serie_0).toEqual({
        timestamps: stamps('2026-11-19T13:00:00Z', 24, HOUR_MS),
        values: zerosWith(24, { 20: '0.421053', 21: '0.631579', 22: '1', 23: '0.157895' }),
      });
      expectWellFormed(r.body.result);
    });

    it('dateRange=1d defaults to 15m buckets, ending with the 15 minutes holding now', async () => {
      const r = await rawSeries({ dateRange: '1d' });
      expect(r.body.result.meta.aggInterval).toBe('FIFTEEN_MINUTES');
      expect(r.body.result.meta.dateRange).toEqual([
        { startTime: '2026-11-19T12:15:00Z', endTime: '2026-11-20T12:15:00Z' },
      ]);
      expect(r.body.result.meta.normalization).toBe('RAW_VALUES');
      expect(r.body.result.serie_0.timestamps).toEqual(stamps('2026-11-19T12:15:00Z', 96, 15 * 60_000));
      expect(r.body.result.serie_0.values).toEqual(
        zerosWith(96, {
          1: '50',
          83: '100',
          84: '300',
          87: '200',
          89: '400',
          91: '500',
          93: '450',
          95: '150',
        }),
      );
    });

    it('no parameters at all: one series over 7d at 1h', async () => {
      const r = await t.get(TS);
      expectOk(r);
      expect(r.body.result.meta.aggInterval).toBe('ONE_HOUR');
      expect(r.body.result.meta.dateRange).toEqual([
        { startTime: '2026-11-13T13:00:00Z', endTime: '2026-11-20T13:00:00Z' },
      ]);
      expect(r.body.result.serie_0.timestamps).toHaveLength(168);
      expect(r.body.result.serie_0.values).toHaveLength(168);
    });

    it('position i of every parameter belongs to series i; missing or empty positions do not filter', async () => {
      const r = await rawSeries({
        name: ['a', 'b', 'c'],
        asn: ['3243', '', ' -3243 , -174 '],
        product: ['http'],
        dateRange: ['1d', '1d', '1d'],
        aggInterval: '1h',
      });
      const res = r.body.result;
      expect(Object.keys(res).sort()).toEqual(['a', 'b', 'c', 'meta']);
      expect(res.meta.dateRange).toHaveLength(3);
      expect(res.a.values).toEqual(zerosWith(24, { 20: '100', 23: '150' }));
      expect(res.b.values).toEqual(zerosWith(24, { 20: '400', 21: '600', 22: '950', 23: '150' }));
      expect(res.c.values).toEqual(zerosWith(24, { 21: '200', 22: '950' }));
    });

    it('`asn=-174, 3356` excludes AS174 and keeps AS3356', async () => {
      const r = await rawSeries({ ...D1H, asn: '-174, 3356' });
      expect(r.body.result.serie_0.values).toEqual(zerosWith(24, { 22: '500' }));
    });

    it('the series count is the longest array; default names serie_<i>', async () => {
      const r = await rawSeries({ asn: ['3243', '174'] });
      const res = r.body.result;
      expect(Object.keys(res).sort()).toEqual(['meta', 'serie_0', 'serie_1']);
      expect(res.meta.dateRange).toEqual([
        { startTime: '2026-11-13T13:00:00Z', endTime: '2026-11-20T13:00:00Z' },
        { startTime: '2026-11-13T13:00:00Z', endTime: '2026-11-20T13:00:00Z' },
      ]);
      expect(total(res.serie_0.values)).toBe(600);
      expect(total(res.serie_1.values)).toBe(400);
      expect(res.serie_0.values).toHaveLength(res.serie_1.values.length);
    });

    it('locations and continents: case-insensitive, trimmed, `-` excludes, both filters must hold', async () => {
      // 7d (default) holds a–h: PT 600, DE 400, FR 500, US 200, KR 450 = 2150.
      const cases: [string, string, number][] = [
        ['pt', '', 600],
        [' Pt , us ', '', 800],
        ['-PT', '', 1550],
        ['', 'eu', 1500],
        ['', '-EU', 650],
        ['', 'As', 450],
        ['', '-eu, na', 200],
        ['PT,US', 'EU', 600],
        ['us', 'eu', 0],
        ['PT', '-EU', 0],
        ['', '', 2150],
      ];
      const r = await rawSeries({
        name: cases.map((_, i) => `s${i}`),
        location: cases.map((c) => c[0]),
        continent: cases.map((c) => c[1]),
      });
      cases.forEach(([location, continent, bytes], i) => {
        expect(total(r.body.result[`s${i}`].values), `location=${location} continent=${continent}`).toBe(
          bytes,
        );
      });
    });

    it('product=HTTP keeps web traffic only; ALL is every product; values are case-insensitive', async () => {
      const r = await rawSeries({
        name: ['http', 'all'],
        product: ['http', 'All'],
        dateRange: ['1d', '1d'],
        aggInterval: '1h',
      });
      expect(r.body.result.http.values).toEqual(
        zerosWith(24, { 20: '100', 21: '200', 22: '950', 23: '150' }),
      );
      expect(total(r.body.result.all.values)).toBe(2100);
    });

    it('metric=packets|flows counts other things; units follow', async () => {
      const p = await rawSeries({ ...D1H, metric: 'packets' });
      expect(p.body.result.serie_0.values).toEqual(zerosWith(24, { 20: '15', 21: '12', 22: '22', 23: '1' }));
      expect(p.body.result.meta.units).toEqual([{ name: '*', value: 'packets' }]);
      const f = await rawSeries({ ...D1H, metric: 'FLOWS' });
      expect(f.body.result.serie_0.values).toEqual(zerosWith(24, { 20: '3', 21: '4', 22: '2', 23: '1' }));
      expect(f.body.result.meta.units).toEqual([{ name: '*', value: 'flows' }]);
      const b = await rawSeries({ ...D1H, metric: 'bytes' });
      expect(b.body.result.meta.units).toEqual([{ name: '*', value: 'bytes' }]);
      expect(total(b.body.result.serie_0.values)).toBe(2100);
    });

    it('direction=in|out keeps one direction; default both', async () => {
      const i = await rawSeries({ ...D1H, direction: 'in' });
      expect(i.body.result.serie_0.values).toEqual(
        zerosWith(24, { 20: '100', 21: '600', 22: '450', 23: '150' }),
      );
      const o = await rawSeries({ ...D1H, direction: 'OUT' });
      expect(o.body.result.serie_0.values).toEqual(zerosWith(24, { 20: '300', 22: '500' }));
      const po = await rawSeries({ ...D1H, direction: 'out', metric: 'packets' });
      expect(po.body.result.serie_0.values).toEqual(zerosWith(24, { 20: '5', 22: '20' }));
      expectError(await t.get(url(TS, { direction: 'both' })), 400, 2001, 'direction');
      expectError(await t.get(url(TS, { metric: 'bits' })), 400, 2001, 'metric');
    });

    it('dateStart/dateEnd: floored to 15 minutes, dateEnd inclusive, zones honoured', async () => {
      const a = await rawSeries({
        dateStart: '2026-11-20T09:07:00Z',
        dateEnd: '2026-11-20T12:00:00Z',
        aggInterval: '1h',
      });
      expect(a.body.result.meta.dateRange).toEqual([
        { startTime: '2026-11-20T09:00:00Z', endTime: '2026-11-20T12:15:00Z' },
      ]);
      expect(a.body.result.serie_0).toEqual({
        timestamps: stamps('2026-11-20T09:00:00Z', 4, HOUR_MS),
        values: ['400', '600', '950', '150'],
      });
      const b = await rawSeries({
        dateStart: '2026-11-20T10:00:00+01:00',
        dateEnd: '2026-11-20T11:59:59Z',
        aggInterval: '1h',
      });
      expect(b.body.result.meta.dateRange).toEqual([
        { startTime: '2026-11-20T09:00:00Z', endTime: '2026-11-20T12:00:00Z' },
      ]);
      expect(b.body.result.serie_0.values).toEqual(['400', '600', '950']);
    });

    it('differently aligned windows of one duration get the same bucket count', async () => {
      // a: 09:00 … 12:00, b: 08:30 … 11:30 → b spans the hours 08–11, so both get 4 buckets.
      const r = await rawSeries({
        name: ['a', 'b'],
        dateStart: ['2026-11-20T09:00:00Z', '2026-11-20T08:30:00Z'],
        dateEnd: ['2026-11-20T11:59:00Z', '2026-11-20T11:29:00Z'],
        aggInterval: '1h',
      });
      expect(r.body.result.a).toEqual({
        timestamps: stamps('2026-11-20T09:00:00Z', 4, HOUR_MS),
        values: ['400', '600', '950', '0'],
      });
      expect(r.body.result.b).toEqual({
        timestamps: stamps('2026-11-20T08:00:00Z', 4, HOUR_MS),
        values: ['0', '400', '600', '500'],
      });
    });

    it('an explicit window and a relative one of the same duration compare', async () => {
      const r = await rawSeries({
        dateRange: ['1d', ''],
        dateStart: ['', '2026-11-18T13:00:00Z'],
        dateEnd: ['', '2026-11-19T12:59:00Z'],
        aggInterval: '1h',
      });
      expect(r.body.result.meta.dateRange).toEqual([
        { startTime: '2026-11-19T13:00:00Z', endTime: '2026-11-20T13:00:00Z' },
        { startTime: '2026-11-18T13:00:00Z', endTime: '2026-11-19T13:00:00Z' },
      ]);
      expect(r.body.result.serie_1.timestamps).toEqual(stamps('2026-11-18T13:00:00Z', 24, HOUR_MS));
      expect(r.body.result.serie_1.values).toEqual(zerosWith(24, { 23: '50' }));
    });

    it('at most 4000 buckets per series', async () => {
      const ok = await t.get(url(TS, { dateRange: '41d', aggInterval: '15m' }));
      expectOk(ok);
      expect(ok.body.result.serie_0.timestamps).toHaveLength(41 * 96);
      expectError(await t.get(url(TS, { dateRange: '42d', aggInterval: '15m' })), 400, 2001, 'aggInterval');
      expectError(await t.get(url(TS, { dateRange: '52w', aggInterval: '15m' })), 400, 2001, 'aggInterval');
    });

    it('dateRange bounds: 1d…364d, 1w…52w', async () => {
      for (const ok of ['1d', '364d', '1w', '52w', '364dControl'])
        expect((await t.get(url(TS, { dateRange: ok }))).status, ok).toBe(200);
      for (const bad of ['0d', '365d', '0w', '53w', '7', '7x', 'd7', '7dcontrolx', '-7d'])
        expectError(await t.get(url(TS, { dateRange: bad })), 400, 2001, 'dateRange[0]');
    });

    it('aggInterval is one of 15m, 1h, 1d, 1w, case-insensitive', async () => {
      const r = await t.get(url(TS, { dateRange: '1d', aggInterval: '1H' }));
      expectOk(r);
      expect(r.body.result.meta.aggInterval).toBe('ONE_HOUR');
      expectError(await t.get(url(TS, { aggInterval: '2h' })), 400, 2001, 'aggInterval');
      expectError(await t.get(url(TS, { aggInterval: '1m' })), 400, 2001, 'aggInterval');
    });

    it('a date parameter given once applies to every series', async () => {
      // name=a&asn=3243&name=b&asn=174&dateRange=1d: both over the last day, not b over the default 7d.
      const r = await t.get(
        url(TS, { name: ['a', 'b'], asn: ['3243', '174'], dateRange: '1d', aggInterval: '1h' }),
      );
      expectOk(r);
      const day = { startTime: '2026-11-19T13:00:00Z', endTime: '2026-11-20T13:00:00Z' };
      expect(r.body.result.meta.dateRange).toEqual([day, day]);
      // AS3243: 400 at 09:00, 150 at 12:00; AS174: 400 at 10:00.
      expect(r.body.result.a.values).toEqual(zerosWith(24, { 20: '1', 23: '0.375' }));
      expect(r.body.result.b.values).toEqual(zerosWith(24, { 21: '1' }));
      const explicit = await t.get(
        url(TS, {
          name: ['a', 'b', 'c'],
          dateStart: '2026-11-20T09:00:00Z',
          dateEnd: '2026-11-20T12:14:00Z',
          aggInterval: '1h',
        }),
      );
      expectOk(explicit);
      const w = { startTime: '2026-11-20T09:00:00Z', endTime: '2026-11-20T12:15:00Z' };
      expect(explicit.body.result.meta.dateRange).toEqual([w, w, w]);
      // A series that names its own window keeps it; given twice, a date parameter is positional again.
      const own = await t.get(url(TS, { name: ['a', 'b'], dateRange: ['1d', '1dControl'] }));
      expectOk(own);
      expect(own.body.result.meta.dateRange[1]).toEqual({
        startTime: '2026-11-12T12:15:00Z',
        endTime: '2026-11-13T12:15:00Z',
      });
      expectError(
        await t.get(url(TS, { name: ['a', 'b'], dateRange: ['1d', ''] })),
        400,
        2001,
        'dateRange[1]',
      );
    });
  });
}
