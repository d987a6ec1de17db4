/**
 * confidenceInfo reads exporter quality from exporter_hours where a window covers whole hours and
 * from exporter_minutes at the edges (src/db/confidence.ts). This checks that split against one sum
 * over the minutes, for windows with minute edges, overlapping windows and hours both materialized
 * and not yet materialized.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshRollups } from '../../src/db/maintenance.js';
import { type TestApp, testApp } from '../helpers/app.js';
import { url } from '../query/data.js';

const NOW = '2026-11-20T12:00:00Z';
const EXPORTER = '192.0.2.9';

describe('exporter quality over hours and edge minutes', () => {
  let t: TestApp;
  let raw: string;
  beforeAll(async () => {
    t = await testApp({ now: NOW });
    raw = await t.token(['read', 'read:raw']);
    // Every minute of 2026-11-19 06:00–18:00: 1000 records, and a loss that varies per minute so
    // any minute counted twice or missed changes the totals.
    const start = Date.parse('2026-11-19T06:00:00Z');
    const values = Array.from({ length: 12 * 60 }, (_, m) => {
      const time = new Date(start + m * 60_000).toISOString();
      return sql`(${time}::timestamptz, ${EXPORTER}, 1000, ${(m * 7) % 23}, 0)`;
    });
    await t.db.query(sql`INSERT INTO exporter_minutes (time, exporter, records, lost_records, unsampled_records)
      VALUES ${sql.join(values, sql`, `)}`);
    // Materialize the first half; the rest is answered by real-time aggregation.
    await refreshRollups(t.db);
    const later = Array.from({ length: 60 }, (_, m) => {
      const time = new Date(Date.parse('2026-11-19T18:00:00Z') + m * 60_000).toISOString();
      return sql`(${time}::timestamptz, ${EXPORTER}, 1000, ${10 + ((m * 5) % 17)}, 0)`;
    });
    await t.db.query(sql`INSERT INTO exporter_minutes (time, exporter, records, lost_records, unsampled_records)
      VALUES ${sql.join(later, sql`, `)}`);
  });
  afterAll(() => t?.close());

  /** What one WHERE over the minutes says for the union of the windows. */
  async function expected(windows: [string, string][]) {
    const cond = sql.join(
      windows.map(([s, e]) => sql`(time >= ${s}::timestamptz AND time < ${e}::timestamptz)`),
      sql` OR `,
    );
    const [row] = await t.db.query<{ records: number; lost: number }>(
      sql`SELECT sum(records)::float8 AS records, sum(lost_records)::float8 AS lost FROM exporter_minutes
          WHERE exporter = ${EXPORTER} AND (${cond})`,
    );
    return `(${row!.lost} of ${row!.records + row!.lost})`;
  }

  it.each([
    ['one window with minute edges', [['2026-11-19T06:15:00Z', '2026-11-19T17:45:00Z']]],
    ['inside one hour', [['2026-11-19T09:15:00Z', '2026-11-19T09:45:00Z']]],
    [
      'two overlapping windows (of equal length, as the API wants)',
      [
        ['2026-11-19T06:45:00Z', '2026-11-19T12:15:00Z'],
        ['2026-11-19T10:30:00Z', '2026-11-19T16:00:00Z'],
      ],
    ],
    [
      'two disjoint windows, one on unmaterialized minutes',
      [
        ['2026-11-19T07:00:00Z', '2026-11-19T08:30:00Z'],
        ['2026-11-19T17:30:00Z', '2026-11-19T19:00:00Z'],
      ],
    ],
  ] as [string, [string, string][]][])('%s', async (_name, windows) => {
    const r = await t.get(
      url('/radar/netflows/timeseries', {
        dateStart: windows.map((w) => w[0]),
        dateEnd: windows.map((w) => new Date(Date.parse(w[1]) - 15 * 60_000).toISOString()),
        aggInterval: '15m',
        normalization: 'RAW_VALUES',
      }),
      raw,
    );
    expect(r.status, r.text).toBe(200);
    const notes = (r.body as any).result.meta.confidenceInfo.annotations as { description: string }[];
    const note = notes.find((n) => n.description.startsWith(`exporter ${EXPORTER}`));
    expect(note?.description).toContain(await expected(windows));
  });
});
