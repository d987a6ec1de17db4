/**
 * Windows that end at or before a rollup's watermark are read from its materialized hypertable,
 * others from the real-time view (src/db/rollup-sources.ts). Checked here: which relation each window
 * gets, that the answers equal one GROUP BY over the minutes on both sides of the watermark, that
 * a watermark read before a refresh only ever sends a window to the view, and that a database
 * without the catalog falls back to the views.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshRollups } from '../../src/db/maintenance.js';
import { readSources, sourcesFrom, VIEWS } from '../../src/db/rollup-sources.js';
import { type TestApp, testApp } from '../helpers/app.js';
import { insertTraffic, rowsEvery, type TrafficRow } from '../helpers/db.js';
import { url } from '../query/data.js';

const NOW = '2026-11-20T12:07:00Z';

const rows = (fromMs: number, toMs: number, bytes: number): TrafficRow[] =>
  rowsEvery(fromMs, toMs, 13, (k) => ({
    asn: k % 2 ? 174 : 3320,
    location: k % 3 ? 'DE' : 'US',
    product: k % 4 ? 'HTTP' : 'OTHER',
    direction: 'in',
    bytes: bytes + k,
  }));

describe('sourcesFrom', () => {
  const src = sourcesFrom(new Map([['traffic_asn_1h', { hypertable: 'h.m6', watermarkMs: 1000 }]]));
  it('reads the hypertable up to the watermark and the view past it or when unknown', () => {
    expect(src.table('traffic_asn_1h', 999)).toBe('h.m6');
    expect(src.table('traffic_asn_1h', 1000)).toBe('h.m6');
    expect(src.table('traffic_asn_1h', 1001)).toBe('traffic_asn_1h');
    expect(src.table('traffic_loc_1h', 0)).toBe('traffic_loc_1h');
    expect(VIEWS.table('traffic_asn_1h', 0)).toBe('traffic_asn_1h');
  });

  it('falls back to the views when the catalog cannot be read', async () => {
    const broken = { query: async () => Promise.reject(new Error('no such schema')) };
    const src = await readSources(broken);
    expect(src.table('traffic_asn_1h', 0)).toBe('traffic_asn_1h');
  });
});

describe('rollup sources on a database', () => {
  let t: TestApp;
  let raw: string;
  beforeAll(async () => {
    t = await testApp({ now: NOW });
    raw = await t.token(['read', 'read:raw']);
    // Materialized up to 08:00 (the hour holding the newest minute, 07:xx, ends then).
    await insertTraffic(
      t.db,
      rows(Date.parse('2026-11-19T00:00:00Z'), Date.parse('2026-11-20T07:50:00Z'), 1000),
    );
  });
  afterAll(() => t?.close());

  it('names the materialized hypertable below the watermark and the view above it', async () => {
    const src = await readSources(t.db);
    const below = src.table('traffic_asn_1h', Date.parse('2026-11-20T08:00:00Z'));
    expect(below).toMatch(/^_timescaledb_internal\._materialized_hypertable_\d+$/);
    expect(src.table('traffic_asn_1h', Date.parse('2026-11-20T08:15:00Z'))).toBe('traffic_asn_1h');
    // The hypertable holds the view's rows below the watermark, one for one.
    const [a] = await t.db.query<{ n: number; b: number }>(
      sql.raw(
        `SELECT count(*)::int AS n, sum(bytes)::float8 AS b FROM ${below} WHERE time < '2026-11-20T08:00:00Z'`,
      ),
    );
    const [b] = await t.db.query<{ n: number; b: number }>(
      sql`SELECT count(*)::int AS n, sum(bytes)::float8 AS b FROM traffic_asn_1h WHERE time < '2026-11-20T08:00:00Z'`,
    );
    expect(a).toEqual(b);
    expect(a!.n).toBeGreaterThan(0);
  });

  async function hourly(start: string, end: string, asn: number) {
    const r = await t.get(
      url('/radar/netflows/timeseries', {
        dateStart: start,
        dateEnd: new Date(Date.parse(end) - 15 * 60_000).toISOString(),
        aggInterval: '1h',
        asn: String(asn),
        normalization: 'RAW_VALUES',
      }),
      raw,
    );
    expect(r.status, r.text).toBe(200);
    const serie = (r.body as any).result.serie_0 as { timestamps: string[]; values: string[] };
    const want = await t.db.query<{ b: number; v: number }>(
      sql`SELECT (extract(epoch from time_bucket('1 hour', time)) * 1000)::float8 AS b, sum(bytes)::float8 AS v
            FROM traffic WHERE time >= ${start}::timestamptz AND time < ${end}::timestamptz AND asn = ${asn} GROUP BY 1`,
    );
    const byBucket = new Map(want.map((w) => [w.b, w.v]));
    return serie.timestamps.map((ts, k): [string, number, number] => [
      ts,
      Number(serie.values[k]),
      byBucket.get(Date.parse(ts)) ?? 0,
    ]);
  }

  it('answers equal the minutes on both sides of the watermark, with a watermark read before a refresh', async () => {
    const before = await readSources(t.db);
    // New hours past the watermark: real-time aggregation sees them, the hypertable does not yet.
    await t.db.query(sql`INSERT INTO traffic (time, asn, location, product, direction, bytes, packets, flows)
      VALUES ('2026-11-20T09:10:00Z', 174, 'DE', 'HTTP', 'in', 5000, 1, 1),
             ('2026-11-20T10:20:00Z', 174, 'US', 'OTHER', 'in', 7000, 1, 1)`);
    const past = await hourly('2026-11-20T00:00:00Z', '2026-11-20T12:00:00Z', 174);
    expect(past.filter(([, got]) => got > 0).length).toBeGreaterThan(5);
    for (const [ts, got, want] of past) expect(got, String(ts)).toBe(want);
    expect(past.find(([ts]) => ts === '2026-11-20T10:00:00Z')?.[1]).toBe(7000);
    // A refresh raises the watermark; the snapshot read before it is older and still sends the
    // window to the view, which is exact.
    await refreshRollups(t.db);
    expect(before.table('traffic_asn_1h', Date.parse('2026-11-20T11:00:00Z'))).toBe('traffic_asn_1h');
    const fresh = await readSources(t.db);
    expect(fresh.table('traffic_asn_1h', Date.parse('2026-11-20T11:00:00Z'))).not.toBe('traffic_asn_1h');
    const after = await hourly('2026-11-20T00:00:00Z', '2026-11-20T11:00:00Z', 174);
    for (const [ts, got, want] of after) expect(got, String(ts)).toBe(want);
    expect(after.find(([ts]) => ts === '2026-11-20T09:00:00Z')?.[1]).toBeGreaterThanOrEqual(5000);
  });
});

describe('the 15-minute slot holding now', () => {
  it('stays live: a minute written after a refresh shows at once at 15m', { timeout: 60_000 }, async () => {
    // Not across a slot boundary: the refresh below must see the same current slot as the query.
    const left = 900_000 - (Date.now() % 900_000);
    if (left < 20_000) await new Promise((r) => setTimeout(r, left + 500));
    const nowMs = Math.floor(Date.now() / 60_000) * 60_000;
    const slot = Math.floor(nowMs / 900_000) * 900_000;
    const t = await testApp({ now: new Date(nowMs).toISOString() });
    try {
      const raw = await t.token(['read', 'read:raw']);
      await insertTraffic(t.db, [
        { time: new Date(slot - 30 * 60_000).toISOString(), asn: 174, location: 'DE', bytes: 100 },
        { time: new Date(nowMs).toISOString(), asn: 174, location: 'DE', bytes: 10 },
      ]);
      // Refreshed above (insertTraffic): the earlier slot is materialized, the current one is not.
      const src = await readSources(t.db);
      expect(src.table('traffic_asn_15m', slot - 15 * 60_000)).not.toBe('traffic_asn_15m');
      expect(src.table('traffic_asn_15m', slot + 900_000)).toBe('traffic_asn_15m');
      await t.db.query(sql`INSERT INTO traffic (time, asn, location, product, direction, bytes, packets, flows)
        VALUES (${new Date(nowMs).toISOString()}::timestamptz, 174, 'DE', 'HTTP', 'in', 5, 1, 1)
        ON CONFLICT (time, asn, location, adm1, product, direction) DO UPDATE SET bytes = traffic.bytes + excluded.bytes`);
      const r = await t.get(
        url('/radar/netflows/timeseries', {
          dateRange: '1d',
          aggInterval: '15m',
          asn: '174',
          normalization: 'RAW_VALUES',
        }),
        raw,
      );
      expect(r.status, r.text).toBe(200);
      const serie = (r.body as any).result.serie_0 as { timestamps: string[]; values: string[] };
      expect(serie.timestamps.at(-1)).toBe(new Date(slot).toISOString().replace('.000Z', 'Z'));
      expect(serie.values.at(-1)).toBe('15');
      expect(serie.values.at(-3)).toBe('100');
    } finally {
      await t.close();
    }
  });
});
