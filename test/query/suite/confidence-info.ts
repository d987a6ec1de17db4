import { beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../helpers/app.js';
import { expectOk, url } from '../data.js';
import { GROUPS, SUMMARY, TOP_ASES, TOP_LOCATIONS, TS, type WeeksContext } from './common.js';

/** meta.confidenceInfo: operator annotations and exporter quality. */
export function confidenceInfoTests(weeks: () => WeeksContext): void {
  let t: TestApp;

  describe('meta.confidenceInfo', () => {
    beforeAll(() => {
      ({ t } = weeks());
    });

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
}
