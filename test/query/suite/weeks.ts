import { beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../helpers/app.js';
import { DAY_MS, expectOk, HOUR_MS, type Params, stamps, total, url, zerosWith } from '../data.js';
import { GROUPS, SUMMARY, TS, type WeeksContext } from './common.js';

/** Windows over weeks of data: rollups give the raw table's results, control ranges, intervals. */
export function weeksTests(weeks: () => WeeksContext): void {
  let t: TestApp;
  let raw: string;

  const rawGet = async (path: string, params: Params) => {
    const r = await t.get(url(path, { ...params, normalization: 'RAW_VALUES' }), raw);
    expectOk(r);
    return r.body.result;
  };

  describe('rollups do not change results', () => {
    beforeAll(() => {
      ({ t, raw } = weeks());
    });

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
    beforeAll(() => {
      ({ t, raw } = weeks());
    });

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
    beforeAll(() => {
      ({ t, raw } = weeks());
    });

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
}
