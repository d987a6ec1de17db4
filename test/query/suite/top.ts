import { beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../helpers/app.js';
import { expectError, expectOk, url } from '../data.js';
import { type DayContext, TOP_ASES, TOP_LOCATIONS, twice, W_ASES, W_DAY } from './common.js';

/** GET /top/ases and /top/locations. */
export function topTests(day: () => DayContext): void {
  let t: TestApp;

  describe('top', () => {
    beforeAll(() => {
      ({ t } = day());
    });

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

    it('limit: default 5; values stay shares of the whole series', async () => {
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
      expectError(await t.get(url(TOP_ASES, { limit: '0' })), 400, 2001, 'limit');
      expectError(await t.get(url(TOP_LOCATIONS, { limit: 'five' })), 400, 2001, 'limit');
    });

    it('limit has no fixed maximum: series × limit up to the cost rule, else 422 code 2002', async () => {
      // Radar has no maximum; 101 was refused when the maximum was a fixed 100.
      const many = await t.get(url(TOP_ASES, { ...W_ASES, limit: '101' }));
      expectOk(many);
      expect(many.body.result.top_0).toHaveLength(12);
      expectOk(await t.get(url(TOP_ASES, { ...W_ASES, limit: '10000' })));
      expectOk(await t.get(url(TOP_LOCATIONS, { name: ['a', 'b'], limit: '5000' })));
      expectError(
        await t.get(url(TOP_LOCATIONS, { name: ['a', 'b'], limit: '5001' })),
        422,
        2002,
        '2 series × limit 5001',
      );
      expectError(
        await t.get(url(TOP_ASES, { limit: '10001' })),
        400,
        2001,
        'limit: must be between 1 and 10000',
      );
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
}
