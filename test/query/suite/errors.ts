import { beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../helpers/app.js';
import { expectError, expectOk, url } from '../data.js';
import { type DayContext, GROUPS, SUMMARY, TOP_ASES, TOP_LOCATIONS, TS } from './common.js';

/** Parameter errors shared by the endpoints, and unknown routes. */
export function errorTests(day: () => DayContext): void {
  let t: TestApp;

  describe('errors', () => {
    beforeAll(() => {
      ({ t } = day());
    });

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

    it('the route validates the contract: enums in any case, bad values named with their position', async () => {
      expectError(
        await t.get(url(TS, { product: ['', 'dns'] })),
        400,
        2001,
        'product[1]: expected one of HTTP, ALL, got "dns"',
      );
      expectError(
        await t.get(url(TS, { aggInterval: '2h' })),
        400,
        2001,
        'aggInterval: expected one of 15m, 1h, 1d, 1w, got "2h"',
      );
      expectError(
        await t.get(url(TOP_ASES, { limit: ['1', '2'] })),
        400,
        2001,
        'limit: given more than once',
      );
      expectError(
        await t.get(url(`${GROUPS}/AS`, { limitPerGroup: 'x' })),
        400,
        2001,
        'limitPerGroup: "x" is not a whole number',
      );
      expectError(
        await t.get(url(`${GROUPS}/color`)),
        400,
        2001,
        'dimension: expected one of ADM1, AS, LOCATION, PRODUCT, got "color"',
      );
      const csv = await t.get(
        url(TS, { product: ['http', 'All'], format: 'csv', aggInterval: '1H', dateRange: ['1d', '1d'] }),
      );
      expect(csv.status, csv.text).toBe(200);
      expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
      const groups = await t.get(
        url(`${GROUPS}/product`, { metric: 'Packets', direction: 'IN', ...{ dateRange: '1d' } }),
      );
      expectOk(groups);
      expect(groups.body.result.meta.units).toEqual([{ name: '*', value: 'packets' }]);
    });

    it('a geoId that is no GeoNames id is a 400, on every endpoint', async () => {
      for (const path of [TS, `${GROUPS}/AS`, `${SUMMARY}/AS`, SUMMARY, TOP_ASES, TOP_LOCATIONS]) {
        expectOk(await t.get(url(path, { geoId: '2267056' })));
        expectError(await t.get(url(path, { geoId: 'Lisbon' })), 400, 2001, 'geoId');
      }
    });

    it('more than 10,000 points per request: 422 code 2002', async () => {
      // 41d at 15m = 3936 buckets per series: two series fit, three do not.
      expectOk(await t.get(url(TS, { dateRange: ['41d', '41d'], aggInterval: '15m' })));
      expectError(await t.get(url(TS, { dateRange: ['41d', '41d', '41d'], aggInterval: '15m' })), 422, 2002);
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
}
