import { beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../helpers/app.js';
import { expectError, expectOk, expectWellFormed, HOUR_MS, stamps, url, zerosWith } from '../data.js';
import { D1H, type DayContext, GROUPS, twice, W_ASES } from './common.js';

/** GET /timeseries_groups/{dimension}. */
export function timeseriesGroupsTests(day: () => DayContext): void {
  let t: TestApp;

  describe('timeseries_groups', () => {
    beforeAll(() => {
      ({ t } = day());
    });

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
      expect(Object.keys(l.body.result.serie_0).sort()).toEqual(['DE', 'FR', 'KR', 'PT', 'US', 'timestamps']);
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

    it('unknown dimensions and bad limitPerGroup are 400 (ADM1: suite/subdivisions.ts)', async () => {
      expectError(await t.get(url(`${GROUPS}/COLOR`)), 400, 2001, 'dimension');
      expectError(await t.get(url(`${GROUPS}/PRODUCT`, { limitPerGroup: '3' })), 400, 2001, 'limitPerGroup');
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
}
