import { beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../helpers/app.js';
import { expectError, expectOk, parseCsv, url } from '../data.js';
import { type DayContext, GROUPS, SUMMARY, TOP_LOCATIONS, TS, twice, W_DAY } from './common.js';

/** format=CSV on every endpoint. */
export function csvTests(day: () => DayContext): void {
  let t: TestApp;

  describe('format=CSV', () => {
    beforeAll(() => {
      ({ t } = day());
    });

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
      expect(rows.slice(1).map((row) => row[1])).toEqual(['-25', '0', '0', '66.666667', '-100']);
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
}
