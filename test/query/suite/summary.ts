import { beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../helpers/app.js';
import { expectError, expectOk, expectWellFormed, url } from '../data.js';
import { type DayContext, SUMMARY, twice, W_ASES, W_DAY } from './common.js';

/** GET /summary/{dimension} and the deprecated /summary. */
export function summaryTests(day: () => DayContext): void {
  let t: TestApp;

  describe('summary', () => {
    beforeAll(() => {
      ({ t } = day());
    });

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
      expectError(await t.get(url(`${SUMMARY}/PRODUCT`, { limitPerGroup: '2' })), 400, 2001, 'limitPerGroup');
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

    it('unknown dimensions are 400 (ADM1: suite/subdivisions.ts)', async () => {
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
}
