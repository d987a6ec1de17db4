import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken, revokeToken } from '../../src/auth/tokens.js';
import { type TestApp, testApp } from '../helpers/app.js';
import { insertTraffic, type Mode } from '../helpers/db.js';
import {
  DAY_MS,
  DAY_ROWS,
  expectError,
  expectOk,
  expectWellFormed,
  HOUR_MS,
  insertAsnNames,
  insertQuality,
  NOW,
  type Params,
  parseCsv,
  type Reply,
  stamps,
  total,
  url,
  WEEK_ROWS,
  zerosWith,
} from './data.js';

const TS = '/radar/netflows/timeseries';
const GROUPS = '/radar/netflows/timeseries_groups';
const SUMMARY = '/radar/netflows/summary';
const TOP_ASES = '/radar/netflows/top/ases';
const TOP_LOCATIONS = '/radar/netflows/top/locations';

/** The explicit window 2026-11-20 09:00 … 12:15 that holds rows b–h (2100 bytes). */
const W_DAY = { dateStart: '2026-11-20T09:00:00Z', dateEnd: '2026-11-20T12:14:00Z' };
/** 2026-11-10, the day of the twelve ASes (780 bytes). */
const W_ASES = { dateStart: '2026-11-10T00:00:00Z', dateEnd: '2026-11-10T23:59:00Z' };
/** Last day, hourly: 2026-11-19T13:00 … 2026-11-20T13:00. */
const D1H = { dateRange: '1d', aggInterval: '1h' };

const twice = (p: Record<string, string>) =>
  Object.fromEntries(Object.entries(p).map(([k, v]) => [k, [v, v]])) as Params;

/**
 * The query API, against known rows, with hand-computed expectations. `mode` picks the driver:
 * embedded PGlite in-process, or postgres.js over the wire protocol.
 */
export function querySuite(mode: Mode): void {
  describe(`query API (${mode})`, () => {
    describe('dataset: the last day', () => {
      let t: TestApp;
      let raw: string;
      let admin: string;
      beforeAll(async () => {
        t = await testApp({ mode, now: NOW });
        await insertTraffic(t.db, DAY_ROWS);
        await insertAsnNames(t.db);
        raw = await t.token(['read', 'read:raw']);
        admin = await t.token(['admin']);
      });
      afterAll(() => t?.close());

      const rawSeries = async (params: Params) => {
        const r = await t.get(url(TS, { ...params, normalization: 'RAW_VALUES' }), raw);
        expectOk(r);
        return r;
      };

      describe('timeseries: windows, buckets and series', () => {
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
          expect(p.body.result.serie_0.values).toEqual(
            zerosWith(24, { 20: '15', 21: '12', 22: '22', 23: '1' }),
          );
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
          expectError(
            await t.get(url(TS, { dateRange: '42d', aggInterval: '15m' })),
            400,
            2001,
            'aggInterval',
          );
          expectError(
            await t.get(url(TS, { dateRange: '52w', aggInterval: '15m' })),
            400,
            2001,
            'aggInterval',
          );
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
      });

      describe('timeseries: normalization', () => {
        it('MIN0_MAX divides every value by the largest value of all series', async () => {
          const r = await t.get(
            url(TS, {
              name: ['all', 'pt'],
              location: ['', 'PT'],
              dateRange: ['1d', '1d'],
              aggInterval: '1h',
            }),
          );
          expectOk(r);
          expect(r.body.result.all.values).toEqual(
            zerosWith(24, { 20: '0.421053', 21: '0.631579', 22: '1', 23: '0.157895' }),
          );
          expect(r.body.result.pt.values).toEqual(zerosWith(24, { 20: '0.421053', 23: '0.157895' }));
          const explicit = await t.get(url(TS, { ...D1H, normalization: 'min0_max' }));
          expect(explicit.body.result.meta.normalization).toBe('MIN0_MAX');
        });

        it('MIN_MAX scales (v − min) / (max − min)', async () => {
          // 09:00 … 12:00: 400, 600, 950.
          const r = await t.get(
            url(TS, {
              dateStart: '2026-11-20T09:00:00Z',
              dateEnd: '2026-11-20T11:59:00Z',
              aggInterval: '1h',
              normalization: 'MIN_MAX',
            }),
          );
          expectOk(r);
          expect(r.body.result.meta.normalization).toBe('MIN_MAX');
          expect(r.body.result.serie_0).toEqual({
            timestamps: ['2026-11-20T09:00:00Z', '2026-11-20T10:00:00Z', '2026-11-20T11:00:00Z'],
            values: ['0', '0.363636', '1'],
          });
        });

        it('PERCENTAGE_CHANGE: the second series is the baseline; 0 over 0 is "0", v over 0 is null', async () => {
          // 2026-11-05 hours 0–4: 300, 0, 200, 500, 0 against 2026-11-04: 400, 0, 0, 300, 100.
          const r = await t.get(
            url(TS, {
              name: ['cur', 'base'],
              dateStart: ['2026-11-05T00:00:00Z', '2026-11-04T00:00:00Z'],
              dateEnd: ['2026-11-05T04:59:00Z', '2026-11-04T04:59:00Z'],
              aggInterval: '1h',
              normalization: 'percentage_change',
            }),
          );
          expectOk(r);
          const res = r.body.result;
          expect(res.meta.normalization).toBe('PERCENTAGE_CHANGE');
          expect(res.cur).toEqual({
            timestamps: stamps('2026-11-05T00:00:00Z', 5, HOUR_MS),
            values: ['-25', '0', null, '66.666667', '-100'],
          });
          expect(res.base).toEqual({
            timestamps: stamps('2026-11-04T00:00:00Z', 5, HOUR_MS),
            values: ['0', '0', '0', '0', '0'],
          });
        });

        it('PERCENTAGE_CHANGE needs exactly two series', async () => {
          expectError(
            await t.get(url(TS, { normalization: 'PERCENTAGE_CHANGE' })),
            400,
            2001,
            'normalization',
          );
          expectError(
            await t.get(url(TS, { normalization: 'PERCENTAGE_CHANGE', dateRange: ['1d', '1d', '1d'] })),
            400,
            2001,
            'normalization',
          );
          const ok = await t.get(
            url(TS, { normalization: 'PERCENTAGE_CHANGE', dateRange: ['7d', '7dControl'] }),
          );
          expectOk(ok);
          expect(ok.body.result.meta.dateRange[1]).toEqual({
            startTime: '2026-11-06T13:00:00Z',
            endTime: '2026-11-13T13:00:00Z',
          });
        });

        it('a token with only read:raw reads, raw values included', async () => {
          const only = await t.token(['read:raw']);
          expectOk(await t.get(url(TS, { ...D1H, normalization: 'RAW_VALUES' }), only));
          expectOk(await t.get(url(TS, D1H), only));
        });

        it('RAW_VALUES needs scope read:raw (or admin); a plain read token gets 403 code 10000', async () => {
          expectError(await t.get(url(TS, { ...D1H, normalization: 'RAW_VALUES' })), 403, 10000, 'read:raw');
          for (const tok of [raw, admin]) {
            const r = await t.get(url(TS, { ...D1H, normalization: 'raw_values' }), tok);
            expectOk(r);
            expect(r.body.result.meta.normalization).toBe('RAW_VALUES');
            expect(r.body.result.serie_0.values).toEqual(
              zerosWith(24, { 20: '400', 21: '600', 22: '950', 23: '150' }),
            );
          }
        });

        it('an unknown normalization is a 400 naming it', async () => {
          expectError(await t.get(url(TS, { normalization: 'PERCENTAGE' })), 400, 2001, 'normalization');
          expectError(await t.get(url(TS, { normalization: 'ROLLING_AVERAGE' })), 400, 2001, 'normalization');
        });
      });

      describe('format=CSV', () => {
        const params = {
          name: ['all', 'pt'],
          location: ['', 'PT'],
          ...twice({ dateStart: '2026-11-20T09:00:00Z', dateEnd: '2026-11-20T11:59:00Z' }),
          aggInterval: '1h',
        };

        it("Radar's wide layout: <Name> timestamps,<Name> values per series, equal to the JSON values", async () => {
          const csv = await t.get(url(TS, { ...params, format: 'csv' }));
          expect(csv.status, csv.text).toBe(200);
          expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
          expect(parseCsv(csv.text)).toEqual([
            ['All timestamps', 'All values', 'Pt timestamps', 'Pt values'],
            ['2026-11-20T09:00:00Z', '0.421053', '2026-11-20T09:00:00Z', '0.421053'],
            ['2026-11-20T10:00:00Z', '0.631579', '2026-11-20T10:00:00Z', '0'],
            ['2026-11-20T11:00:00Z', '1', '2026-11-20T11:00:00Z', '0'],
          ]);
          const json = await t.get(url(TS, { ...params, format: 'Json' }));
          expectOk(json);
          const rows = parseCsv(csv.text).slice(1);
          expect(rows.map((r) => r[0])).toEqual(json.body.result.all.timestamps);
          expect(rows.map((r) => r[1])).toEqual(json.body.result.all.values);
          expect(rows.map((r) => r[3])).toEqual(json.body.result.pt.values);
        });

        it('a series name that a spreadsheet would run is neutralised; negative numbers are not', async () => {
          const r = await t.get(
            url(TS, {
              name: ['=HYPERLINK("x")', 'base'],
              dateStart: ['2026-11-05T00:00:00Z', '2026-11-04T00:00:00Z'],
              dateEnd: ['2026-11-05T04:59:00Z', '2026-11-04T04:59:00Z'],
              aggInterval: '1h',
              normalization: 'PERCENTAGE_CHANGE',
              format: 'CSV',
            }),
          );
          expect(r.status, r.text).toBe(200);
          const rows = parseCsv(r.text);
          expect(rows[0]).toEqual([
            `'=HYPERLINK("x") timestamps`,
            `'=HYPERLINK("x") values`,
            'Base timestamps',
            'Base values',
          ]);
          expect(rows.slice(1).map((row) => row[1])).toEqual(['-25', '0', '', '66.666667', '-100']);
          expect(r.text.split('\n')[0]!.startsWith('"\'=HYPERLINK(""x"") timestamps"')).toBe(true);
        });

        it('timeseries_groups, summary and top answer CSV too', async () => {
          const g = await t.get(url(`${GROUPS}/PRODUCT`, { ...W_DAY, aggInterval: '1h', format: 'CSV' }));
          expect(g.status, g.text).toBe(200);
          expect(g.headers.get('content-type')).toMatch(/^text\/csv/);
          expect(parseCsv(g.text)).toEqual([
            ['Serie_0 timestamps', 'Serie_0 HTTP', 'Serie_0 OTHER'],
            ['2026-11-20T09:00:00Z', '25', '75'],
            ['2026-11-20T10:00:00Z', '33.333333', '66.666667'],
            ['2026-11-20T11:00:00Z', '100', '0'],
            ['2026-11-20T12:00:00Z', '100', '0'],
          ]);
          const s = await t.get(url(`${SUMMARY}/PRODUCT`, { ...W_DAY, format: 'CSV' }));
          expect(s.status, s.text).toBe(200);
          expect(s.headers.get('content-type')).toMatch(/^text\/csv/);
          expect(s.text).toContain('66.666667');
          const top = await t.get(url(TOP_LOCATIONS, { ...W_DAY, format: 'CSV', limit: '1' }));
          expect(top.status, top.text).toBe(200);
          expect(top.headers.get('content-type')).toMatch(/^text\/csv/);
          expect(top.text).toContain('Portugal');
        });

        it('format is JSON or CSV', async () => {
          expectError(await t.get(url(TS, { format: 'xml' })), 400, 2001, 'format');
        });
      });

      describe('timeseries_groups', () => {
        it('PRODUCT, PERCENTAGE by default: per bucket the groups sum to 100', async () => {
          const r = await t.get(url(`${GROUPS}/PRODUCT`, D1H));
          expectOk(r);
          const res = r.body.result;
          expect(res.meta).toMatchObject({
            aggInterval: 'ONE_HOUR',
            normalization: 'PERCENTAGE',
            dateRange: [{ startTime: '2026-11-19T13:00:00Z', endTime: '2026-11-20T13:00:00Z' }],
            units: [{ name: '*', value: 'bytes' }],
          });
          expect(Object.keys(res.serie_0)).toEqual(['timestamps', 'HTTP', 'OTHER']);
          expect(res.serie_0).toEqual({
            timestamps: stamps('2026-11-19T13:00:00Z', 24, HOUR_MS),
            HTTP: zerosWith(24, { 20: '25', 21: '33.333333', 22: '100', 23: '100' }),
            OTHER: zerosWith(24, { 20: '75', 21: '66.666667' }),
          });
          for (const k of [20, 21, 22, 23])
            expect(Number(res.serie_0.HTTP[k]) + Number(res.serie_0.OTHER[k])).toBeCloseTo(100, 5);
          expectWellFormed(res);
        });

        it('MIN0_MAX scales every group by the largest value of all groups', async () => {
          const r = await t.get(url(`${GROUPS}/product`, { ...D1H, normalization: 'min0_max' }));
          expectOk(r);
          expect(r.body.result.meta.normalization).toBe('MIN0_MAX');
          expect(r.body.result.serie_0.HTTP).toEqual(
            zerosWith(24, { 20: '0.105263', 21: '0.210526', 22: '1', 23: '0.157895' }),
          );
          expect(r.body.result.serie_0.OTHER).toEqual(zerosWith(24, { 20: '0.315789', 21: '0.421053' }));
        });

        it('AS with limitPerGroup=2 keeps the two largest ASes and folds the rest into other', async () => {
          const r = await t.get(url(`${GROUPS}/AS`, { ...D1H, limitPerGroup: '2' }));
          expectOk(r);
          expect(r.body.result.serie_0).toEqual({
            timestamps: stamps('2026-11-19T13:00:00Z', 24, HOUR_MS),
            AS3243: zerosWith(24, { 20: '100', 23: '100' }),
            AS3356: zerosWith(24, { 22: '52.631579' }),
            other: zerosWith(24, { 21: '100', 22: '47.368421' }),
          });
        });

        it('AS and LOCATION keep 10 groups by default', async () => {
          const r = await t.get(url(`${GROUPS}/AS`, { ...W_ASES, aggInterval: '1d' }));
          expectOk(r);
          const s = r.body.result.serie_0;
          expect(Object.keys(s).sort()).toEqual(
            [...Array.from({ length: 10 }, (_, i) => `AS${64503 + i}`), 'other', 'timestamps'].sort(),
          );
          expect(s.timestamps).toEqual(['2026-11-10T00:00:00Z']);
          // 120 / 780 and (10 + 20) / 780
          expect(s.AS64512).toEqual(['15.384615']);
          // Largest first, other last, in the JSON text itself.
          expect(Object.keys(s).slice(0, 2)).toEqual(['timestamps', 'AS64512']);
          expect(Object.keys(s).at(-1)).toBe('other');
          expect(s.other).toEqual(['3.846154']);
          const l = await t.get(url(`${GROUPS}/LOCATION`, D1H));
          expectOk(l);
          expect(Object.keys(l.body.result.serie_0).sort()).toEqual([
            'DE',
            'FR',
            'KR',
            'PT',
            'US',
            'timestamps',
          ]);
          expect(l.body.result.serie_0.FR[22]).toBe('52.631579');
          expect(l.body.result.serie_0.KR[22]).toBe('47.368421');
          expect(l.body.result.serie_0.PT[20]).toBe('100');
        });

        it('several series, each with its own groups', async () => {
          const r = await t.get(
            url(`${GROUPS}/PRODUCT`, {
              name: ['pt', 'de'],
              location: ['PT', 'de'],
              ...twice(D1H),
              aggInterval: '1h',
            }),
          );
          expectOk(r);
          expect(r.body.result.meta.dateRange).toHaveLength(2);
          expect(r.body.result.pt.HTTP).toEqual(zerosWith(24, { 20: '25', 23: '100' }));
          expect(r.body.result.pt.OTHER).toEqual(zerosWith(24, { 20: '75' }));
          expect(r.body.result.de.OTHER).toEqual(zerosWith(24, { 21: '100' }));
        });

        it('the widest allowed groups (4000 buckets × limitPerGroup=100) still answer', async () => {
          // 41d at 15m = 3936 buckets; the window holds 48 ASes, all kept with limitPerGroup=100.
          const r = await t.get(
            url(`${GROUPS}/AS`, { dateRange: '41d', aggInterval: '15m', limitPerGroup: '100' }),
          );
          expectOk(r);
          const s = r.body.result.serie_0;
          expect(Object.keys(s)).toHaveLength(49);
          expect(s.timestamps).toHaveLength(3936);
          expect(s.AS65130).toHaveLength(3936);
          expect(s.other).toBeUndefined();
        });

        it('ADM1 is not supported; unknown dimensions and bad limitPerGroup are 400', async () => {
          expectError(await t.get(url(`${GROUPS}/ADM1`)), 400, 2001, 'not supported');
          expectError(await t.get(url(`${GROUPS}/COLOR`)), 400, 2001, 'dimension');
          expectError(
            await t.get(url(`${GROUPS}/PRODUCT`, { limitPerGroup: '3' })),
            400,
            2001,
            'limitPerGroup',
          );
          expectError(await t.get(url(`${GROUPS}/AS`, { limitPerGroup: '1' })), 400, 2001, 'limitPerGroup');
          expectError(await t.get(url(`${GROUPS}/AS`, { limitPerGroup: 'x' })), 400, 2001, 'limitPerGroup');
          expectError(
            await t.get(url(`${GROUPS}/AS`, { normalization: 'RAW_VALUES' })),
            400,
            2001,
            'normalization',
          );
        });
      });

      describe('summary', () => {
        it('summary/AS: shares in percent, summary_0, no aggInterval', async () => {
          const r = await t.get(url(`${SUMMARY}/AS`, W_DAY));
          expectOk(r);
          expect(r.body.result.summary_0).toEqual({
            AS3243: '26.190476',
            AS3356: '23.809524',
            AS4766: '21.428571',
            AS174: '19.047619',
            AS13335: '9.52381',
          });
          expect(r.body.result.meta).toEqual({
            dateRange: [{ startTime: '2026-11-20T09:00:00Z', endTime: '2026-11-20T12:15:00Z' }],
            lastUpdated: '2026-11-20T12:05:00Z',
            normalization: 'PERCENTAGE',
            units: [{ name: '*', value: 'bytes' }],
            confidenceInfo: { level: 5, annotations: [] },
          });
          expectWellFormed(r.body.result);
        });

        it('summary/LOCATION and summary/PRODUCT', async () => {
          const l = await t.get(url(`${SUMMARY}/LOCATION`, W_DAY));
          expectOk(l);
          expect(l.body.result.summary_0).toEqual({
            PT: '26.190476',
            FR: '23.809524',
            KR: '21.428571',
            DE: '19.047619',
            US: '9.52381',
          });
          expect(Object.keys(l.body.result.summary_0)).toEqual(['PT', 'FR', 'KR', 'DE', 'US']);
          const p = await t.get(url(`${SUMMARY}/PRODUCT`, W_DAY));
          expectOk(p);
          expect(p.body.result.summary_0).toEqual({ HTTP: '66.666667', OTHER: '33.333333' });
        });

        it('limitPerGroup folds the rest into other; AS keeps 10 by default', async () => {
          const l = await t.get(url(`${SUMMARY}/LOCATION`, { ...W_DAY, limitPerGroup: '3' }));
          expectOk(l);
          expect(l.body.result.summary_0).toEqual({
            PT: '26.190476',
            FR: '23.809524',
            KR: '21.428571',
            other: '28.571429',
          });
          const a = await t.get(url(`${SUMMARY}/AS`, W_ASES));
          expectOk(a);
          expect(Object.keys(a.body.result.summary_0)).toHaveLength(11);
          expect(a.body.result.summary_0.other).toBe('3.846154');
          expect(a.body.result.summary_0.AS64512).toBe('15.384615');
          expectError(
            await t.get(url(`${SUMMARY}/PRODUCT`, { limitPerGroup: '2' })),
            400,
            2001,
            'limitPerGroup',
          );
          expectError(await t.get(url(`${SUMMARY}/AS`, { limitPerGroup: '1' })), 400, 2001, 'limitPerGroup');
        });

        it('several series: summary_<i> names, each series its own shares', async () => {
          const r = await t.get(url(`${SUMMARY}/PRODUCT`, { location: ['PT', 'DE'], ...twice(W_DAY) }));
          expectOk(r);
          expect(r.body.result.summary_0).toEqual({ OTHER: '54.545455', HTTP: '45.454545' });
          expect(r.body.result.summary_1).toEqual({ OTHER: '100' });
          expect(r.body.result.meta.dateRange).toHaveLength(2);
        });

        it('a relative window ends with the 15 minutes holding now', async () => {
          // 2026-11-19T12:15 … 2026-11-20T12:15 holds a–h: PT 600 of 2150.
          const r = await t.get(url(`${SUMMARY}/LOCATION`, { dateRange: '1d' }));
          expectOk(r);
          expect(r.body.result.summary_0.PT).toBe('27.906977');
        });

        it('ADM1 is not supported; unknown dimensions are 400', async () => {
          expectError(await t.get(url(`${SUMMARY}/ADM1`)), 400, 2001, 'not supported');
          expectError(await t.get(url(`${SUMMARY}/ASN`)), 400, 2001, 'dimension');
        });

        it('the deprecated /summary: {HTTP, OTHER} in percent', async () => {
          const r = await t.get(url(SUMMARY, W_DAY));
          expectOk(r);
          expect(r.body.result.summary_0).toEqual({ HTTP: '66.666667', OTHER: '33.333333' });
          expect(r.body.result.meta.normalization).toBe('PERCENTAGE');
          const de = await t.get(url(SUMMARY, { ...W_DAY, location: 'DE', name: 'de' }));
          expectOk(de);
          expect(de.body.result.de).toEqual({ HTTP: '0', OTHER: '100' });
        });
      });

      describe('top', () => {
        it('top/ases: clientASN, clientASName from asn_names (else AS<n>), share in percent', async () => {
          const r = await t.get(url(TOP_ASES, W_DAY));
          expectOk(r);
          expect(Object.keys(r.body.result).sort()).toEqual(['meta', 'top_0']);
          expect(r.body.result.top_0).toEqual([
            { clientASN: 3243, clientASName: 'MEO-RESIDENCIAL', value: '26.190476' },
            { clientASN: 3356, clientASName: 'LEVEL3', value: '23.809524' },
            { clientASN: 4766, clientASName: 'AS4766', value: '21.428571' },
            { clientASN: 174, clientASName: 'COGENT-174', value: '19.047619' },
            { clientASN: 13335, clientASName: 'CLOUDFLARENET', value: '9.52381' },
          ]);
          expect(r.body.result.meta).toMatchObject({
            dateRange: [{ startTime: '2026-11-20T09:00:00Z', endTime: '2026-11-20T12:15:00Z' }],
            lastUpdated: '2026-11-20T12:05:00Z',
            units: [{ name: '*', value: 'bytes' }],
            confidenceInfo: { level: 5, annotations: [] },
          });
          expect(r.body.result.meta.aggInterval).toBeUndefined();
        });

        it('top/locations: clientCountryAlpha2, clientCountryName, share in percent', async () => {
          const r = await t.get(url(TOP_LOCATIONS, W_DAY));
          expectOk(r);
          expect(r.body.result.top_0).toEqual([
            { clientCountryAlpha2: 'PT', clientCountryName: 'Portugal', value: '26.190476' },
            { clientCountryAlpha2: 'FR', clientCountryName: 'France', value: '23.809524' },
            { clientCountryAlpha2: 'KR', clientCountryName: 'South Korea', value: '21.428571' },
            { clientCountryAlpha2: 'DE', clientCountryName: 'Germany', value: '19.047619' },
            { clientCountryAlpha2: 'US', clientCountryName: 'United States', value: '9.52381' },
          ]);
        });

        it('limit: default 5, at most 100; values stay shares of the whole series', async () => {
          const two = await t.get(url(TOP_ASES, { ...W_DAY, limit: '2' }));
          expectOk(two);
          expect(two.body.result.top_0.map((e: { value: string }) => e.value)).toEqual([
            '26.190476',
            '23.809524',
          ]);
          const five = await t.get(url(TOP_ASES, W_ASES));
          expectOk(five);
          expect(five.body.result.top_0.map((e: { clientASN: number }) => e.clientASN)).toEqual([
            64512, 64511, 64510, 64509, 64508,
          ]);
          const all = await t.get(url(TOP_ASES, { ...W_ASES, limit: '100' }));
          expectOk(all);
          expect(all.body.result.top_0).toHaveLength(12);
          expect(all.body.result.top_0[11]).toEqual({
            clientASN: 64501,
            clientASName: 'AS64501',
            value: '1.282051',
          });
          expectError(await t.get(url(TOP_ASES, { limit: '101' })), 400, 2001, 'limit');
          expectError(await t.get(url(TOP_ASES, { limit: '0' })), 400, 2001, 'limit');
          expectError(await t.get(url(TOP_LOCATIONS, { limit: 'five' })), 400, 2001, 'limit');
        });

        it('several series: top_<i>, each with its own shares', async () => {
          const r = await t.get(
            url(TOP_ASES, { asn: ['3243,3356', ''], location: ['', '-PT'], ...twice(W_DAY) }),
          );
          expectOk(r);
          expect(r.body.result.top_0).toEqual([
            { clientASN: 3243, clientASName: 'MEO-RESIDENCIAL', value: '52.380952' },
            { clientASN: 3356, clientASName: 'LEVEL3', value: '47.619048' },
          ]);
          expect(
            r.body.result.top_1.map((e: { clientASN: number; value: string }) => [e.clientASN, e.value]),
          ).toEqual([
            [3356, '32.258065'],
            [4766, '29.032258'],
            [174, '25.806452'],
            [13335, '12.903226'],
          ]);
        });
      });

      describe('errors', () => {
        it('a bad series parameter: 400 code 2001 naming the parameter and its position', async () => {
          expectError(await t.get(url(TS, { dateRange: ['1d', '2x'] })), 400, 2001, 'dateRange[1]');
          expectError(await t.get(url(TS, { asn: ['1', '2', 'AS3'] })), 400, 2001, 'asn[2]');
          expectError(await t.get(url(TS, { location: 'ZZ' })), 400, 2001, 'location[0]');
          expectError(await t.get(url(TS, { location: ['', 'PRT'] })), 400, 2001, 'location[1]');
          expectError(await t.get(url(TS, { continent: 'EUR' })), 400, 2001, 'continent[0]');
          expectError(await t.get(url(TS, { product: 'DNS' })), 400, 2001, 'product[0]');
          expectError(
            await t.get(url(TS, { dateStart: 'yesterday', dateEnd: 'today' })),
            400,
            2001,
            'dateStart[0]',
          );
        });

        it('every series covers the same duration', async () => {
          expectError(await t.get(url(TS, { dateRange: ['1d', '2d'] })), 400, 2001, 'dateRange[1]');
          const r = await t.get(
            url(TS, {
              dateStart: ['2026-11-20T09:00:00Z', '2026-11-20T09:00:00Z'],
              dateEnd: ['2026-11-20T10:59:00Z', '2026-11-20T11:59:00Z'],
            }),
          );
          expectError(r, 400, 2001);
          expect(r.body.errors[0].message).toMatch(/date(Start|End|Range)\[1\]/);
        });

        it('dateStart and dateEnd go together, and not with dateRange', async () => {
          const a = await t.get(url(TS, { dateStart: '2026-11-20T09:00:00Z' }));
          expectError(a, 400, 2001, 'dateStart', 'dateEnd');
          const b = await t.get(url(TS, { dateEnd: '2026-11-20T09:00:00Z' }));
          expectError(b, 400, 2001, 'dateStart', 'dateEnd');
          expectError(
            await t.get(
              url(TS, {
                dateRange: '1d',
                dateStart: '2026-11-19T00:00:00Z',
                dateEnd: '2026-11-19T23:59:00Z',
              }),
            ),
            400,
            2001,
            'dateRange[0]',
          );
          expectError(
            await t.get(url(TS, { dateStart: '2026-11-20T09:00:00Z', dateEnd: '2026-11-19T09:00:00Z' })),
            400,
            2001,
            'dateEnd[0]',
          );
        });

        it('series names are unique and never `meta`', async () => {
          expectError(await t.get(url(TS, { name: ['x', 'x'] })), 400, 2001, 'name[1]');
          expectError(await t.get(url(TS, { name: ['serie_1', ''] })), 400, 2001, 'name[1]');
          expectError(await t.get(url(TS, { name: 'meta' })), 400, 2001, 'name[0]');
          expectError(await t.get(url(SUMMARY, { name: ['a', 'meta'] })), 400, 2001, 'name[1]');
        });

        it('a scalar given twice is a 400 naming it', async () => {
          expectError(await t.get(url(TS, { aggInterval: ['1h', '1h'] })), 400, 2001, 'aggInterval');
          expectError(
            await t.get(url(TS, { normalization: ['MIN0_MAX', 'MIN0_MAX'] })),
            400,
            2001,
            'normalization',
          );
          expectError(await t.get(url(TOP_ASES, { limit: ['1', '2'] })), 400, 2001, 'limit');
          expectError(await t.get(url(`${SUMMARY}/AS`, { format: ['JSON', 'CSV'] })), 400, 2001, 'format');
          expectError(
            await t.get(url(`${GROUPS}/AS`, { limitPerGroup: ['2', '3'] })),
            400,
            2001,
            'limitPerGroup',
          );
        });

        it('geoId is not supported, on every endpoint', async () => {
          for (const path of [TS, `${GROUPS}/AS`, `${SUMMARY}/AS`, SUMMARY, TOP_ASES, TOP_LOCATIONS])
            expectError(await t.get(url(path, { geoId: '2267056' })), 400, 2001, 'geoId');
        });

        it('more than 10,000 points per request: 422 code 2002', async () => {
          // 41d at 15m = 3936 buckets per series: two series fit, three do not.
          expectOk(await t.get(url(TS, { dateRange: ['41d', '41d'], aggInterval: '15m' })));
          expectError(
            await t.get(url(TS, { dateRange: ['41d', '41d', '41d'], aggInterval: '15m' })),
            422,
            2002,
          );
          expectError(
            await t.get(url(`${GROUPS}/AS`, { dateRange: ['41d', '41d', '41d'], aggInterval: '15m' })),
            422,
            2002,
          );
        });

        it('at most 20 series', async () => {
          const r = await t.get(url(TS, { asn: Array.from({ length: 21 }, () => '3243') }));
          expectError(r, 400, 2001);
        });

        it('unknown routes: 404 code 7003, with a token and without', async () => {
          expectError(await t.get('/radar/netflows/nope'), 404, 7003);
          expectError(await t.get('/radar/netflows/top/nope'), 404, 7003);
          expectError(await t.get('/nope', null), 404, 7003);
          expectError(await t.get('/client/v4/nope', null), 404, 7003);
        });
      });

      describe('auth', () => {
        const paths = [
          '/radar/netflows/timeseries',
          '/radar/netflows/summary/AS',
          '/client/v4/radar/netflows/timeseries',
          '/client/v4/radar/netflows/top/ases',
        ];

        it('a read token answers under /radar and /client/v4/radar', async () => {
          for (const p of paths) expectOk(await t.get(p));
        });

        it('no token: 401 code 9106', async () => {
          for (const p of paths) expectError(await t.get(p, null), 401, 9106);
          const basic = await t.app.request(TS, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
          expect(basic.status).toBe(401);
          expect((await basic.json()).errors[0].code).toBe(9106);
        });

        it('an unknown token: 401 code 10000 with a WWW-Authenticate: Bearer challenge', async () => {
          for (const p of paths) {
            const r = await t.get(p, 'frt_not-a-token');
            expectError(r, 401, 10000);
            expect(r.headers.get('www-authenticate') ?? '').toMatch(/^Bearer /);
          }
        });

        it('a revoked token: 401 code 10000', async () => {
          const { token, info } = await createToken(t.db, { name: 'to-revoke', scopes: ['read'] });
          expectOk(await t.get(TS, token));
          expect(await revokeToken(t.db, info.id)).toBe(1);
          for (const p of paths) expectError(await t.get(p, token), 401, 10000);
        });

        it('expiry is judged by the pinned clock', async () => {
          const expired = await createToken(t.db, {
            name: 'expired',
            scopes: ['read'],
            expiresAt: new Date('2026-11-20T12:00:00Z'),
          });
          for (const p of paths) expectError(await t.get(p, expired.token), 401, 10000);
          // Still valid at the pinned 12:07, whatever the wall clock says.
          const later = await createToken(t.db, {
            name: 'later',
            scopes: ['read'],
            expiresAt: new Date('2026-11-20T13:00:00Z'),
          });
          expectOk(await t.get(TS, later.token));
        });

        it('a token with only scope ingest: 403 code 10000', async () => {
          const ingest = await t.token(['ingest']);
          for (const p of paths) expectError(await t.get(p, ingest), 403, 10000);
        });

        it('/healthz and /openapi.json need no token', async () => {
          const h = await t.get('/healthz', null);
          expect(h.status, h.text).toBe(200);
          expect(h.body).toEqual({ status: 'ok' });
          const o = await t.get('/openapi.json', null);
          expect(o.status, o.text).toBe(200);
          expect(o.body.openapi).toBe('3.1.0');
        });

        it('path tricks never bypass auth', async () => {
          for (const p of [
            '/radar//netflows/timeseries',
            '//radar/netflows/timeseries',
            '/RADAR/netflows/timeseries',
            '/Radar/netflows/timeseries',
            '/radar/NETFLOWS/timeseries',
            '/radar/netflows/timeseries/',
            '/radar/netflows/./timeseries',
            '/radar/netflows/x/../timeseries',
            '/%72adar/netflows/timeseries',
            '/radar%2Fnetflows/timeseries',
            '/radar/netflows/%74imeseries',
            '/client/v4/radar/netflows/timeseries',
            '/client/v4//radar/netflows/timeseries',
            '/client/v4/client/v4/radar/netflows/timeseries',
            '/CLIENT/v4/radar/netflows/timeseries',
            '/client/v4/RADAR/netflows/timeseries',
            '/client/v4/%72adar/netflows/timeseries',
            '/healthz/../radar/netflows/timeseries',
          ]) {
            const r = await t.get(p, null);
            expect(r.status, `${p}: ${r.text}`).not.toBe(200);
            expect(r.text, p).not.toContain('serie_0');
          }
          const admin = await t.get('/admin/tokens', null);
          expectError(admin, 401, 9106);
          expect((await t.get('/ADMIN/tokens', null)).status).not.toBe(200);
          expect((await t.get('/client/v4/admin/tokens', null)).status).not.toBe(200);
        });
      });

      describe('admin token API', () => {
        const call = (method: string, path: string, token: string | null, body?: unknown) =>
          t.app.request(path, {
            method,
            headers: {
              ...(token ? { authorization: `Bearer ${token}` } : {}),
              ...(body ? { 'content-type': 'application/json' } : {}),
            },
            ...(body ? { body: JSON.stringify(body) } : {}),
          });

        it('POST creates a token usable at once; GET lists without secrets; DELETE revokes', async () => {
          const created = await call('POST', '/admin/tokens', admin, { name: 'grafana', scopes: ['read'] });
          const c = await created.json();
          expect(created.status, JSON.stringify(c)).toBe(201);
          expect(c).toMatchObject({
            success: true,
            errors: [],
            messages: [],
            result: { name: 'grafana', scopes: ['read'], expiresAt: null, revokedAt: null },
          });
          const { token, id } = c.result as { token: string; id: string };
          expect(token).toMatch(/^frt_/);
          expectOk(await t.get(TS, token));

          const listed = await call('GET', '/admin/tokens', admin);
          const listText = await listed.text();
          expect(listed.status, listText).toBe(200);
          const list = JSON.parse(listText).result as Record<string, unknown>[];
          const mine = list.find((x) => x.id === id);
          expect(mine).toMatchObject({ name: 'grafana', scopes: ['read'], revokedAt: null });
          for (const x of list) {
            expect(x).not.toHaveProperty('token');
            expect(x).not.toHaveProperty('hash');
          }
          expect(listText).not.toContain(token);
          expect(listText).not.toContain(token.slice(4));

          const deleted = await call('DELETE', `/admin/tokens/${id}`, admin);
          expect(deleted.status).toBe(200);
          expect(await deleted.json()).toMatchObject({ success: true, result: { revoked: 1 } });
          expectError(await t.get(TS, token), 401, 10000);
          const again = await call('DELETE', `/admin/tokens/${id}`, admin);
          expect(again.status).toBe(404);
          expect((await again.json()).errors[0].code).toBe(7003);
        });

        it('expires is relative to the pinned clock', async () => {
          const created = await call('POST', '/admin/tokens', admin, {
            name: 'short',
            scopes: ['read'],
            expires: '1h',
          });
          const c = await created.json();
          expect(created.status, JSON.stringify(c)).toBe(201);
          expect(c.result.expiresAt).toBe('2026-11-20T13:07:00.000Z');
          expectOk(await t.get(TS, c.result.token));
        });

        it('bad bodies are 400 code 2001', async () => {
          for (const body of [
            { name: 'x', scopes: ['root'] },
            { name: '', scopes: ['read'] },
            { scopes: ['read'] },
          ]) {
            const r = await call('POST', '/admin/tokens', admin, body);
            expect(r.status, JSON.stringify(body)).toBe(400);
            expect((await r.json()).errors[0].code).toBe(2001);
          }
        });

        it('a read token gets 403 on /admin; no token 401', async () => {
          const read = await t.token(['read']);
          for (const [method, path] of [
            ['GET', '/admin/tokens'],
            ['POST', '/admin/tokens'],
            ['DELETE', '/admin/tokens/whatever'],
          ] as const) {
            const r = await call(
              method,
              path,
              read,
              method === 'POST' ? { name: 'x', scopes: ['admin'] } : undefined,
            );
            expect(r.status, `${method} ${path}`).toBe(403);
            expect((await r.json()).errors[0].code).toBe(10000);
            const anon = await call(method, path, null);
            expect(anon.status, `${method} ${path}`).toBe(401);
          }
          const raw2 = await t.token(['read', 'read:raw', 'ingest']);
          expect((await call('GET', '/admin/tokens', raw2)).status).toBe(403);
        });
      });
    });

    describe('dataset: weeks (windows, intervals, rollups, meta)', () => {
      let t: TestApp;
      let raw: string;
      beforeAll(async () => {
        t = await testApp({ mode, now: NOW });
        await insertTraffic(t.db, WEEK_ROWS);
        await insertQuality(t.db);
        raw = await t.token(['read', 'read:raw']);
      });
      afterAll(() => t?.close());

      const rawGet = async (path: string, params: Params) => {
        const r = await t.get(url(path, { ...params, normalization: 'RAW_VALUES' }), raw);
        expectOk(r);
        return r.body.result;
      };

      describe('rollups do not change results', () => {
        it('7d at 1h (traffic_1h)', async () => {
          const res = await rawGet(TS, { dateRange: '7d', aggInterval: '1h' });
          expect(res.meta.dateRange).toEqual([
            { startTime: '2026-11-13T13:00:00Z', endTime: '2026-11-20T13:00:00Z' },
          ]);
          expect(res.meta.lastUpdated).toBe('2026-11-20T11:20:00Z');
          expect(res.meta.confidenceInfo).toEqual({ level: 5, annotations: [] });
          expect(res.serie_0.timestamps).toEqual(stamps('2026-11-13T13:00:00Z', 168, HOUR_MS));
          expect(res.serie_0.values).toEqual(
            zerosWith(168, { 0: '32000', 11: '16000', 91: '8000', 154: '4000', 155: '2000', 166: '1000' }),
          );
        });

        it('7d at 1d (traffic_1d): the window ends with the day holding now', async () => {
          const res = await rawGet(TS, { dateRange: '7d', aggInterval: '1d' });
          expect(res.meta.aggInterval).toBe('ONE_DAY');
          expect(res.meta.dateRange).toEqual([
            { startTime: '2026-11-14T00:00:00Z', endTime: '2026-11-21T00:00:00Z' },
          ]);
          expect(res.serie_0).toEqual({
            timestamps: stamps('2026-11-14T00:00:00Z', 7, DAY_MS),
            values: ['16000', '0', '0', '8000', '0', '4000', '3000'],
          });
        });

        it('7d at 15m (raw table)', async () => {
          const res = await rawGet(TS, { dateRange: '7d', aggInterval: '15m' });
          expect(res.meta.dateRange).toEqual([
            { startTime: '2026-11-13T12:15:00Z', endTime: '2026-11-20T12:15:00Z' },
          ]);
          expect(res.serie_0.values).toHaveLength(672);
          expect(res.serie_0.timestamps[0]).toBe('2026-11-13T12:15:00Z');
          expect(res.serie_0.values[1]).toBe('64000');
          expect(total(res.serie_0.values)).toBe(127000);
        });

        it('an unaligned explicit window (dateStart at :15) reads the raw rows', async () => {
          const res = await rawGet(TS, {
            dateStart: '2026-11-13T13:15:00Z',
            dateEnd: '2026-11-20T11:14:59Z',
            aggInterval: '1h',
          });
          expect(res.meta.dateRange).toEqual([
            { startTime: '2026-11-13T13:15:00Z', endTime: '2026-11-20T11:15:00Z' },
          ]);
          expect(res.serie_0.timestamps).toEqual(stamps('2026-11-13T13:00:00Z', 167, HOUR_MS));
          expect(res.serie_0.values).toEqual(
            zerosWith(167, { 0: '32000', 11: '16000', 91: '8000', 154: '4000', 155: '2000' }),
          );
        });

        it('daily buckets over unaligned, floored and hour-aligned windows', async () => {
          const unaligned = await rawGet(TS, {
            dateStart: '2026-11-14T00:15:00Z',
            dateEnd: '2026-11-20T23:59:00Z',
            aggInterval: '1d',
          });
          expect(unaligned.serie_0.values).toEqual(['0', '0', '0', '8000', '0', '4000', '3000']);
          const floored = await rawGet(TS, {
            dateStart: '2026-11-14T00:07:00Z',
            dateEnd: '2026-11-20T23:59:00Z',
            aggInterval: '1d',
          });
          expect(floored.meta.dateRange).toEqual([
            { startTime: '2026-11-14T00:00:00Z', endTime: '2026-11-21T00:00:00Z' },
          ]);
          expect(floored.serie_0.values).toEqual(['16000', '0', '0', '8000', '0', '4000', '3000']);
          const hourly = await rawGet(TS, {
            dateStart: '2026-11-13T13:00:00Z',
            dateEnd: '2026-11-20T12:59:00Z',
            aggInterval: '1d',
          });
          expect(hourly.serie_0).toEqual({
            timestamps: stamps('2026-11-13T00:00:00Z', 8, DAY_MS),
            values: ['32000', '16000', '0', '0', '8000', '0', '4000', '3000'],
          });
        });

        it('summary over a day-aligned window and over an unaligned one', async () => {
          const aligned = await t.get(url(`${SUMMARY}/AS`, { dateRange: '7d', aggInterval: '1d' }));
          expectOk(aligned);
          // 3356 16000, 3243 11000, 174 4000 of 31000
          expect(aligned.body.result.summary_0).toEqual({
            AS3356: '51.612903',
            AS3243: '35.483871',
            AS174: '12.903226',
          });
          const unaligned = await t.get(
            url(`${SUMMARY}/AS`, { dateStart: '2026-11-14T00:15:00Z', dateEnd: '2026-11-20T23:59:00Z' }),
          );
          expectOk(unaligned);
          expect(unaligned.body.result.summary_0).toEqual({ AS3243: '73.333333', AS174: '26.666667' });
        });

        it('groups over the daily rollup', async () => {
          const r = await t.get(
            url(`${GROUPS}/LOCATION`, { dateRange: '7d', aggInterval: '1d', normalization: 'MIN0_MAX' }),
          );
          expectOk(r);
          expect(r.body.result.serie_0).toEqual({
            timestamps: stamps('2026-11-14T00:00:00Z', 7, DAY_MS),
            FR: ['1', '0', '0', '0', '0', '0', '0'],
            PT: ['0', '0', '0', '0.5', '0', '0', '0.1875'],
            DE: ['0', '0', '0', '0', '0', '0.25', '0'],
          });
        });
      });

      describe('control ranges', () => {
        it('7d and 7dControl at 1h and at 1d', async () => {
          const h = await rawGet(TS, { dateRange: ['7d', '7dControl'], aggInterval: '1h' });
          expect(h.meta.dateRange).toEqual([
            { startTime: '2026-11-13T13:00:00Z', endTime: '2026-11-20T13:00:00Z' },
            { startTime: '2026-11-06T13:00:00Z', endTime: '2026-11-13T13:00:00Z' },
          ]);
          expect(h.serie_1.timestamps).toEqual(stamps('2026-11-06T13:00:00Z', 168, HOUR_MS));
          expect(total(h.serie_0.values)).toBe(63000);
          expect(total(h.serie_1.values)).toBe(192000);
          const d = await rawGet(TS, { dateRange: ['7d', '7dcontrol'], aggInterval: '1d' });
          expect(d.meta.dateRange).toEqual([
            { startTime: '2026-11-14T00:00:00Z', endTime: '2026-11-21T00:00:00Z' },
            { startTime: '2026-11-07T00:00:00Z', endTime: '2026-11-14T00:00:00Z' },
          ]);
          expect(total(d.serie_0.values)).toBe(31000);
          expect(total(d.serie_1.values)).toBe(224000);
        });

        it('10dcontrol covers days −24 … −14', async () => {
          const r = await rawGet(TS, { dateRange: ['10d', '10dcontrol'], aggInterval: '1h' });
          expect(r.meta.dateRange).toEqual([
            { startTime: '2026-11-10T13:00:00Z', endTime: '2026-11-20T13:00:00Z' },
            { startTime: '2026-10-27T13:00:00Z', endTime: '2026-11-06T13:00:00Z' },
          ]);
          expect(total(r.serie_0.values)).toBe(127000);
          expect(total(r.serie_1.values)).toBe(768000);
        });

        it('weeks: 1wcontrol equals 7dcontrol; 2wcontrol shifts two weeks', async () => {
          const w = await rawGet(TS, { dateRange: ['1w', '1WCONTROL'] });
          expect(w.meta.aggInterval).toBe('ONE_HOUR');
          expect(w.meta.dateRange).toEqual([
            { startTime: '2026-11-13T13:00:00Z', endTime: '2026-11-20T13:00:00Z' },
            { startTime: '2026-11-06T13:00:00Z', endTime: '2026-11-13T13:00:00Z' },
          ]);
          const w2 = await rawGet(TS, { dateRange: ['2w', '2wcontrol'], aggInterval: '1d' });
          expect(w2.meta.dateRange).toEqual([
            { startTime: '2026-11-07T00:00:00Z', endTime: '2026-11-21T00:00:00Z' },
            { startTime: '2026-10-24T00:00:00Z', endTime: '2026-11-07T00:00:00Z' },
          ]);
          expect(total(w2.serie_0.values)).toBe(255000);
          expect(total(w2.serie_1.values)).toBe(1792000);
        });

        it('3dcontrol at the default 15m', async () => {
          const r = await rawGet(TS, { dateRange: ['3d', '3dcontrol'] });
          expect(r.meta.aggInterval).toBe('FIFTEEN_MINUTES');
          expect(r.meta.dateRange).toEqual([
            { startTime: '2026-11-17T12:15:00Z', endTime: '2026-11-20T12:15:00Z' },
            { startTime: '2026-11-10T12:15:00Z', endTime: '2026-11-13T12:15:00Z' },
          ]);
        });
      });

      describe('intervals', () => {
        it('1w buckets start on Monday 00:00 UTC', async () => {
          const r = await rawGet(TS, { dateRange: '8w', aggInterval: '1w' });
          expect(r.meta.aggInterval).toBe('ONE_WEEK');
          expect(r.meta.dateRange).toEqual([
            { startTime: '2026-09-28T00:00:00Z', endTime: '2026-11-23T00:00:00Z' },
          ]);
          expect(r.serie_0).toEqual({
            timestamps: stamps('2026-09-28T00:00:00Z', 8, 7 * DAY_MS),
            values: ['2048000', '0', '0', '0', '1536000', '256000', '240000', '15000'],
          });
          const explicit = await rawGet(TS, {
            dateStart: '2026-11-04T00:00:00Z',
            dateEnd: '2026-11-17T23:59:00Z',
            aggInterval: '1w',
          });
          expect(explicit.serie_0).toEqual({
            timestamps: ['2026-11-02T00:00:00Z', '2026-11-09T00:00:00Z', '2026-11-16T00:00:00Z'],
            values: ['256000', '240000', '8000'],
          });
          const long = await rawGet(TS, { dateRange: '26w' });
          expect(long.meta.aggInterval).toBe('ONE_WEEK');
          for (const ts of long.serie_0.timestamps as string[]) {
            expect(new Date(ts).getUTCDay(), ts).toBe(1);
            expect(ts.endsWith('T00:00:00Z'), ts).toBe(true);
          }
          expect(total(long.serie_0.values)).toBe(4095000 + 4096000);
        });

        it('the default interval follows the span: ≤3d 15m, ≤30d 1h, ≤180d 1d, else 1w', async () => {
          const cases: [Params, string, number][] = [
            [{ dateRange: '3d' }, 'FIFTEEN_MINUTES', 288],
            [{ dateRange: '4d' }, 'ONE_HOUR', 96],
            [{ dateRange: '30d' }, 'ONE_HOUR', 720],
            [{ dateRange: '31d' }, 'ONE_DAY', 31],
            [{ dateRange: '180d' }, 'ONE_DAY', 180],
            [{ dateRange: '181d' }, 'ONE_WEEK', 26],
            [{ dateRange: '52w' }, 'ONE_WEEK', 52],
            [{ dateStart: '2026-11-01T00:00:00Z', dateEnd: '2026-11-03T23:59:00Z' }, 'FIFTEEN_MINUTES', 288],
            [{ dateStart: '2026-11-01T00:00:00Z', dateEnd: '2026-11-04T00:00:00Z' }, 'ONE_HOUR', 73],
          ];
          for (const [params, interval, buckets] of cases) {
            const r = await t.get(url(TS, params));
            expectOk(r);
            expect(r.body.result.meta.aggInterval, JSON.stringify(params)).toBe(interval);
            expect(r.body.result.serie_0.timestamps, JSON.stringify(params)).toHaveLength(buckets);
          }
          const r = await t.get(url(TS, { dateRange: '181d' }));
          expect(r.body.result.meta.dateRange).toEqual([
            { startTime: '2026-05-26T00:00:00Z', endTime: '2026-11-23T00:00:00Z' },
          ]);
          expect(r.body.result.serie_0.timestamps[0]).toBe('2026-05-25T00:00:00Z');
        });
      });

      describe('meta.confidenceInfo', () => {
        const oct = (day: string) => ({
          dateStart: `2026-10-${day}T00:00:00Z`,
          dateEnd: `2026-10-${day}T23:59:00Z`,
        });

        it('annotations overlapping the window appear and lower the level; others do not', async () => {
          const r = await t.get(url(TS, { ...oct('05'), aggInterval: '1h' }));
          expectOk(r);
          expect(r.body.result.meta.confidenceInfo).toEqual({
            level: 2,
            annotations: [
              {
                dataSource: 'ALL',
                description: 'fiber cut in Lisbon',
                startDate: '2026-10-05T10:00:00Z',
                endDate: '2026-10-05T12:00:00Z',
                eventType: 'OUTAGE',
                isInstantaneous: false,
                linkedUrl: 'https://status.example/1',
              },
              {
                dataSource: 'ALL',
                description: 'router reboot',
                startDate: '2026-10-05T11:00:00Z',
                endDate: '2026-10-05T11:00:00Z',
                eventType: 'GENERAL',
                isInstantaneous: true,
                linkedUrl: '',
              },
            ],
          });
          const quiet = await t.get(url(TS, oct('03')));
          expectOk(quiet);
          expect(quiet.body.result.meta.confidenceInfo).toEqual({ level: 5, annotations: [] });
        });

        it('every endpoint carries them', async () => {
          for (const path of [`${GROUPS}/AS`, `${SUMMARY}/AS`, SUMMARY, TOP_ASES, TOP_LOCATIONS]) {
            const r = await t.get(url(path, oct('05')));
            expectOk(r);
            expect(r.body.result.meta.confidenceInfo.level, path).toBe(2);
            expect(r.body.result.meta.confidenceInfo.annotations, path).toHaveLength(2);
          }
        });

        it('an annotation in any series window counts (control windows too)', async () => {
          const cur = await t.get(url(TS, { dateRange: '7d' }));
          expect(cur.body.result.meta.confidenceInfo).toEqual({ level: 5, annotations: [] });
          const both = await t.get(url(TS, { dateRange: ['7d', '7dcontrol'] }));
          expectOk(both);
          expect(both.body.result.meta.confidenceInfo.level).toBe(4);
          expect(both.body.result.meta.confidenceInfo.annotations).toEqual([
            expect.objectContaining({ description: 'control week note', startDate: '2026-11-08T00:00:00Z' }),
          ]);
        });

        it('an exporter losing more than 1% of its records: level 3 and an annotation naming it', async () => {
          const r = await t.get(url(TS, oct('10')));
          expectOk(r);
          const ci = r.body.result.meta.confidenceInfo;
          expect(ci.level).toBe(3);
          expect(ci.annotations).toHaveLength(1);
          expect(ci.annotations[0]).toMatchObject({
            dataSource: 'NET',
            eventType: 'PIPELINE',
            isInstantaneous: false,
            startDate: '2026-10-10T10:00:00Z',
            endDate: '2026-10-10T10:03:00Z',
          });
          expect(ci.annotations[0].description).toContain('192.0.2.1');
          expect(ci.annotations[0].description).toContain('4.8%');
          expect(JSON.stringify(ci)).not.toContain('192.0.2.2');
        });

        it('records without a known sampling rate: level 4', async () => {
          const r = await t.get(url(TS, oct('12')));
          expectOk(r);
          const ci = r.body.result.meta.confidenceInfo;
          expect(ci.level).toBe(4);
          expect(ci.annotations).toHaveLength(1);
          expect(ci.annotations[0].description).toContain('192.0.2.3');
        });
      });
    });

    describe('a database that goes away', () => {
      let t: TestApp;
      const logs: string[] = [];
      let token: string;
      beforeAll(async () => {
        t = await testApp({ mode, now: NOW, logs });
        token = await t.token(['read']);
        expectOk(await t.get(TS, token));
        await t.db.close();
      });
      afterAll(async () => {
        try {
          await t?.close();
        } catch {
          // already closed
        }
      });

      // Embedded: a closed PGlite throws a plain Error → 500. Server: the pool's CONNECTION_ENDED
      // is unavailability → 503 with Retry-After.
      it('answers 500 code 2000 (server: 503 code 2003) and says nothing about internals', async () => {
        const r: Reply = await t.get(url(TS, { dateRange: '1d' }), token);
        if (mode === 'embedded') {
          expect(r.status, r.text).toBe(500);
          expect(r.body).toEqual({
            success: false,
            errors: [{ code: 2000, message: 'internal error' }],
            messages: [],
            result: null,
          });
          expect(logs.join('\n')).toContain('unhandled error');
        } else {
          expectError(r, 503, 2003);
          expect(r.headers.get('retry-after')).toBeTruthy();
          expect(logs.join('\n')).toContain('database unavailable');
          expect(r.text).not.toMatch(/pglite|postgres|ECONN|CONNECTION_|stack/i);
        }
      });
    });
  });
}
