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

    it('PERCENTAGE_CHANGE: each group against the same group of the second series (the baseline)', async () => {
      // 10:00 and 11:00 against 09:00 and 10:00. PRODUCT: HTTP 200, 950 against 100, 200; OTHER 400, 0
      // against 300, 400.
      const r = await t.get(
        url(`${GROUPS}/PRODUCT`, {
          name: ['cur', 'base'],
          dateStart: ['2026-11-20T10:00:00Z', '2026-11-20T09:00:00Z'],
          dateEnd: ['2026-11-20T11:59:00Z', '2026-11-20T10:59:00Z'],
          aggInterval: '1h',
          normalization: 'percentage_change',
        }),
      );
      expectOk(r);
      const res = r.body.result;
      expect(res.meta).toMatchObject({
        aggInterval: 'ONE_HOUR',
        normalization: 'PERCENTAGE_CHANGE',
        confidenceInfo: { level: 5, annotations: [] },
      });
      expect(res.cur).toEqual({
        timestamps: stamps('2026-11-20T10:00:00Z', 2, HOUR_MS),
        HTTP: ['100', '375'],
        OTHER: ['33.333333', '-100'],
      });
      expect(res.base).toEqual({
        timestamps: stamps('2026-11-20T09:00:00Z', 2, HOUR_MS),
        HTTP: ['0', '0'],
        OTHER: ['0', '0'],
      });
      expectWellFormed(res);
    });

    it('PERCENTAGE_CHANGE over a zero baseline: "0", never null, and an annotation names the groups', async () => {
      // AS at 10:00, 11:00: 13335 200, 174 400 | 3356 500, 4766 450; baseline 09:00, 10:00: 3243 400 |
      // 13335 200, 174 400. Every AS of `cur` meets a zero baseline in one of the two buckets.
      const r = await t.get(
        url(`${GROUPS}/AS`, {
          name: ['cur', 'base'],
          dateStart: ['2026-11-20T10:00:00Z', '2026-11-20T09:00:00Z'],
          dateEnd: ['2026-11-20T11:59:00Z', '2026-11-20T10:59:00Z'],
          aggInterval: '1h',
          normalization: 'PERCENTAGE_CHANGE',
        }),
      );
      expectOk(r);
      const res = r.body.result;
      expect(res.cur).toEqual({
        timestamps: stamps('2026-11-20T10:00:00Z', 2, HOUR_MS),
        AS3356: ['0', '0'],
        AS4766: ['0', '0'],
        AS174: ['0', '-100'],
        AS13335: ['0', '-100'],
      });
      for (const [g, values] of Object.entries(res.base))
        if (g !== 'timestamps') expect(values, g).toEqual(['0', '0']);
      expect(res.meta.confidenceInfo).toEqual({
        level: 5,
        annotations: [
          {
            dataSource: 'NET',
            eventType: 'GENERAL',
            description:
              'PERCENTAGE_CHANGE: cur has traffic where the baseline base has none (groups AS3356, AS4766, AS174, AS13335), in 2 buckets; a change from zero has no percentage, so those values are 0',
            startDate: '2026-11-20T10:00:00Z',
            endDate: '2026-11-20T12:00:00Z',
            isInstantaneous: false,
            linkedUrl: '',
          },
        ],
      });
      const csv = await t.get(
        url(`${GROUPS}/AS`, {
          dateStart: ['2026-11-20T10:00:00Z', '2026-11-20T09:00:00Z'],
          dateEnd: ['2026-11-20T11:59:00Z', '2026-11-20T10:59:00Z'],
          aggInterval: '1h',
          normalization: 'PERCENTAGE_CHANGE',
          format: 'CSV',
        }),
      );
      expect(csv.status, csv.text).toBe(200);
      expect(csv.text.split('\n')[1]).toBe('2026-11-20T10:00:00Z,0,0,0,0,2026-11-20T09:00:00Z,0,0,0');
    });

    it('PERCENTAGE_CHANGE needs exactly two series', async () => {
      expectError(
        await t.get(url(`${GROUPS}/PRODUCT`, { normalization: 'PERCENTAGE_CHANGE' })),
        400,
        2001,
        'normalization',
        'two series',
      );
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
