import { beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../helpers/app.js';
import { expectError, expectOk, HOUR_MS, stamps, url, zerosWith } from '../data.js';
import { D1H, type DayContext, TS } from './common.js';

/** GET /timeseries: the normalizations, and the scope RAW_VALUES needs. */
export function normalizationTests(day: () => DayContext): void {
  let t: TestApp;
  let raw: string;
  let admin: string;

  describe('timeseries: normalization', () => {
    beforeAll(() => {
      ({ t, raw, admin } = day());
    });

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

    it('PERCENTAGE_CHANGE: the second series is the baseline; over a zero baseline "0", never null, and an annotation says so', async () => {
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
        values: ['-25', '0', '0', '66.666667', '-100'],
      });
      // 200 over a baseline of 0 (02:00) has no percentage: "0", and meta says where and why.
      // 0 over 0 (01:00) is no change, not noted.
      expect(res.meta.confidenceInfo).toEqual({
        level: 5,
        annotations: [
          {
            dataSource: 'NET',
            eventType: 'GENERAL',
            description: expect.stringMatching(
              /^PERCENTAGE_CHANGE: cur has traffic where the baseline base has none, in 1 bucket; .* 0$/,
            ),
            startDate: '2026-11-05T02:00:00Z',
            endDate: '2026-11-05T03:00:00Z',
            isInstantaneous: false,
            linkedUrl: '',
          },
        ],
      });
      expect(res.base).toEqual({
        timestamps: stamps('2026-11-04T00:00:00Z', 5, HOUR_MS),
        values: ['0', '0', '0', '0', '0'],
      });
    });

    it('PERCENTAGE_CHANGE needs exactly two series', async () => {
      expectError(await t.get(url(TS, { normalization: 'PERCENTAGE_CHANGE' })), 400, 2001, 'normalization');
      expectError(
        await t.get(url(TS, { normalization: 'PERCENTAGE_CHANGE', dateRange: ['1d', '1d', '1d'] })),
        400,
        2001,
        'normalization',
      );
      const ok = await t.get(url(TS, { normalization: 'PERCENTAGE_CHANGE', dateRange: ['7d', '7dControl'] }));
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
}
