/**
 * The NetFlows API reading from a streaming replica (DATABASE_READ_URL), on real servers: a
 * PostgreSQL 15 + TimescaleDB primary and a hot standby made from it with pg_basebackup. Replay is
 * paused on purpose to hold the replica behind the primary, which is what a lagging replica is.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { createToken } from '../../src/auth/tokens.js';
import { ResponseCache } from '../../src/cache.js';
import { loadConfig } from '../../src/config.js';
import { type Database, openDatabase } from '../../src/db/client.js';
import { refreshRollups } from '../../src/db/maintenance.js';
import { migrate } from '../../src/db/migrate.js';
import { readSources } from '../../src/db/rollup-sources.js';
import { createEmbed, embedKeyOf } from '../../src/embed.js';
import { newExporterDelta, writeBatches } from '../../src/ingest/writer.js';
import { startService } from '../../src/service.js';
import { type Cluster, startCluster, startReplica } from '../helpers/pg-server.js';
import { sleep } from '../helpers/time.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** Two hours before the hour: every 15-minute slot used is past (refreshable) and within the last day (the cache watermark's span). */
const T0 = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
const NOW = Date.now();
/** As the API writes instants. */
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
/** The dataWatermark default: how long the cache may trust a watermark it read. */
const WATERMARK_TTL_MS = 1000;
describe('databaseReadUrl in the configuration', () => {
  it('is refused without databaseUrl, and must be a URL', () => {
    expect(() => loadConfig({ env: { DATABASE_READ_URL: 'postgres://replica/flowradar' } })).toThrow(
      'invalid configuration: databaseReadUrl: a read replica needs databaseUrl (DATABASE_URL), the primary it replicates',
    );
    expect(() =>
      loadConfig({ env: { DATABASE_URL: 'postgres://primary/flowradar', DATABASE_READ_URL: 'replica' } }),
    ).toThrow(/databaseReadUrl: Invalid URL/);
    expect(
      loadConfig({
        env: { DATABASE_URL: 'postgres://primary/flowradar' },
        flags: { databaseReadUrl: 'postgres://replica/flowradar' },
      }).databaseReadUrl,
    ).toBe('postgres://replica/flowradar');
  });
});

describe('the NetFlows API on a read replica (real primary and hot standby)', () => {
  let primary: Cluster;
  let replica: Cluster;
  let db: Database;
  let readDb: Database;

  beforeAll(async () => {
    primary = await startCluster();
    replica = await startReplica(primary);
    db = await openDatabase({ databaseUrl: primary.url });
    // After the base backup: the schema reaches the replica by replay, as any later migration would.
    await migrate(db);
    readDb = await openDatabase({ databaseUrl: replica.url });
    await replayed();
  });

  afterAll(async () => {
    await readDb?.close();
    await db?.close();
    await replica?.destroy();
    await primary?.destroy();
  });

  /** Waits until the replica has replayed everything the primary has written so far. */
  async function replayed(timeoutMs = 20_000): Promise<void> {
    const lsn = (await primary.psql('SELECT pg_current_wal_lsn()')).trim();
    const deadline = Date.now() + timeoutMs;
    while ((await replica.psql(`SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn`)).trim() !== 't') {
      if (Date.now() > deadline)
        throw new Error(`the replica did not replay up to ${lsn}:\n${replica.log()}`);
      await sleep(50);
    }
  }

  /** Holds the replica where it is until resume(): the primary goes on alone. */
  async function pause(): Promise<void> {
    await replica.psql('SELECT pg_wal_replay_pause()');
    while ((await replica.psql('SELECT pg_get_wal_replay_pause_state()')).trim() !== 'paused')
      await sleep(20);
  }
  const resume = () => replica.psql('SELECT pg_wal_replay_resume()');

  function appOf(opts: { readDb?: Database; cache?: ResponseCache } = {}) {
    const config = loadConfig({ flags: { rateLimit: { requests: 1_000_000, authFailures: 1_000_000 } } });
    const app = createApp({
      db,
      ...(opts.readDb ? { readDb: opts.readDb } : {}),
      config,
      logger: pino({ level: 'silent' }),
      now: () => NOW,
      ...(opts.cache ? { responseCache: opts.cache } : {}),
    });
    const request = async (path: string, headers: Record<string, string> = {}) => {
      const res = await app.request(path, { headers });
      const text = await res.text();
      return {
        status: res.status,
        headers: res.headers,
        text,
        body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text,
      };
    };
    return { app, config, request };
  }

  /** One collector flush: traffic minutes and the exporter that reported them, as the pipeline writes. */
  async function flush(
    id: string,
    fromMinute: number,
    count: number,
    row: { asn: number; location: string; product: 'HTTP' | 'OTHER'; bytes: (k: number) => number },
  ): Promise<void> {
    const traffic = Array.from({ length: count }, (_, k) => ({
      minuteMs: T0 + (fromMinute + k) * MINUTE,
      asn: row.asn,
      location: row.location,
      product: row.product,
      direction: 'in' as const,
      bytes: row.bytes(k),
      packets: 1,
      flows: 1,
    }));
    const exporter = { ...newExporterDelta('192.0.2.7', Date.now()), datagrams: count, records: count };
    expect(await writeBatches(db, [{ id, traffic, exporters: [exporter], minutes: [] }])).toEqual(
      new Set([id]),
    );
  }

  it('answers, lastUpdated and cached answers all come from the lagging replica, and show new traffic within the watermark TTL once it replays', async () => {
    const window = `name=pt&dateStart=${iso(T0)}&dateEnd=${iso(T0 + 15 * MINUTE)}`;
    const timeseries = `/radar/netflows/timeseries?${window}&aggInterval=15m&normalization=RAW_VALUES`;
    const paths = [
      timeseries,
      `/radar/netflows/timeseries_groups/AS?${window}&aggInterval=15m`,
      `/radar/netflows/summary/AS?${window}`,
      `/radar/netflows/summary?${window}`,
      `/radar/netflows/top/ases?${window}`,
      `/radar/netflows/top/locations?${window}`,
    ];
    const stamps = [iso(T0), iso(T0 + 15 * MINUTE)];
    /** Each endpoint's result without meta: before the primary moves on, then with its new flush. */
    const before = [
      { pt: { timestamps: stamps, values: ['10045', '10000'] } },
      { pt: { timestamps: stamps, AS64500: ['100', '100'] } },
      { pt: { AS64500: '100' } },
      { pt: { HTTP: '100', OTHER: '0' } },
      { pt: [{ clientASN: 64500, clientASName: 'AS64500', value: '100' }] },
      { pt: [{ clientCountryAlpha2: 'PT', clientCountryName: 'Portugal', value: '100' }] },
    ];
    const after = [
      { pt: { timestamps: stamps, values: ['10045', '11500'] } },
      { pt: { timestamps: stamps, AS64500: ['100', '86.956522'], AS64501: ['0', '13.043478'] } },
      { pt: { AS64500: '93.037828', AS64501: '6.962172' } },
      { pt: { HTTP: '93.037828', OTHER: '6.962172' } },
      {
        pt: [
          { clientASN: 64500, clientASName: 'AS64500', value: '93.037828' },
          { clientASN: 64501, clientASName: 'AS64501', value: '6.962172' },
        ],
      },
      {
        pt: [
          { clientCountryAlpha2: 'PT', clientCountryName: 'Portugal', value: '93.037828' },
          { clientCountryAlpha2: 'ES', clientCountryName: 'Spain', value: '6.962172' },
        ],
      },
    ];
    const withoutMeta = (body: { result: Record<string, unknown> }) => {
      const { meta: _, ...rest } = body.result;
      return rest;
    };

    // The first 15-minute slot materialized; the second written after that refresh, so both servers
    // show it through real-time aggregation above the rollups' watermark.
    const pt = { asn: 64500, location: 'PT', product: 'HTTP' as const };
    await flush('replica-1', 0, 10, { ...pt, bytes: (k) => 1000 + k });
    await refreshRollups(db);
    await flush('replica-2', 15, 5, { ...pt, bytes: () => 2000 });
    await replayed();

    const cache = new ResponseCache();
    const { config, request } = appOf({ readDb, cache });
    const raw = (await createToken(db, { name: 'replica-raw', scopes: ['read', 'read:raw'] })).token;
    const get = (path: string, headers: Record<string, string> = {}) =>
      request(path, { authorization: `Bearer ${raw}`, ...headers });

    const first = await Promise.all(paths.map((p) => get(p)));
    first.forEach((r, i) => {
      expect(r.status, r.text).toBe(200);
      expect(r.headers.get('x-cache')).toBe('MISS');
      expect(withoutMeta(r.body)).toEqual(before[i]);
      expect(r.body.result.meta.lastUpdated).toBe(iso(T0 + 19 * MINUTE));
    });

    await pause();
    try {
      await flush('replica-3', 20, 5, { asn: 64501, location: 'ES', product: 'OTHER', bytes: () => 300 });
      await refreshRollups(db);
      // The primary has moved on: its answer, and its rollup watermark, which would send this window
      // to a materialized table the replica has not filled yet.
      const onPrimary = await appOf().request(timeseries, { authorization: `Bearer ${raw}` });
      expect(onPrimary.body.result.pt.values).toEqual(['10045', '11500']);
      expect(onPrimary.body.result.meta.lastUpdated).toBe(iso(T0 + 24 * MINUTE));
      expect((await readSources(db)).table('traffic_total_15m', T0 + 30 * MINUTE)).not.toBe(
        'traffic_total_15m',
      );
      expect((await readSources(readDb)).table('traffic_total_15m', T0 + 30 * MINUTE)).toBe(
        'traffic_total_15m',
      );

      // Past the watermark TTL: a watermark asked of the primary would have changed by now.
      await sleep(WATERMARK_TTL_MS + 100);
      for (const [i, p] of paths.entries()) {
        const cached = await get(p);
        expect(cached.headers.get('x-cache'), p).toBe('HIT');
        expect(cached.text).toBe(first[i]!.text);
        // Computed again, on the replica: the same rows, the same lastUpdated.
        const fresh = await get(p, { 'cache-control': 'no-cache' });
        expect(fresh.headers.get('x-cache'), p).toBe('MISS');
        expect(withoutMeta(fresh.body)).toEqual(before[i]);
        expect(fresh.body.result.meta.lastUpdated).toBe(iso(T0 + 19 * MINUTE));
      }

      // An embed link signed now (its key made on the primary) verifies there, its chart from the replica.
      const links = createEmbed({
        key: await embedKeyOf(db, config),
        query: timeseries.slice(timeseries.indexOf('?') + 1),
        ttl: '1d',
        nowMs: NOW,
        baseUrl: 'http://flowradar.test',
      });
      expect((await replica.psql(`SELECT count(*) FROM settings WHERE name = 'embed_key'`)).trim()).toBe('0');
      const embedded = await request(links.dataUrl.replace('http://flowradar.test', ''), {
        accept: 'application/json',
      });
      expect(embedded.status, embedded.text).toBe(200);
      expect(embedded.body.result.pt.values).toEqual(['10045', '10000']);
      expect(embedded.body.result.meta.lastUpdated).toBe(iso(T0 + 19 * MINUTE));
      const svg = await request(links.svgUrl.replace('http://flowradar.test', ''));
      expect(svg.status, svg.text).toBe(200);
      expect(svg.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
    } finally {
      await resume();
    }

    await replayed();
    // The watermark the cache holds may be up to its TTL old; past it, no old answer is served.
    await sleep(WATERMARK_TTL_MS + 100);
    for (const [i, p] of paths.entries()) {
      const r = await get(p);
      expect(r.headers.get('x-cache'), p).toBe('MISS');
      expect(withoutMeta(r.body)).toEqual(after[i]);
      expect(r.body.result.meta.lastUpdated).toBe(iso(T0 + 24 * MINUTE));
    }
  });

  it('authenticates on the primary: a token made during the lag works at once, a revoked one is refused at once', async () => {
    const { app, request } = appOf({ readDb, cache: new ResponseCache() });
    const path = '/radar/netflows/summary/LOCATION?dateRange=1d';
    const admin = (await createToken(db, { name: 'replica-admin', scopes: ['admin'] })).token;
    const old = await createToken(db, { name: 'replica-old', scopes: ['read'] });
    await replayed();
    expect((await request(path, { authorization: `Bearer ${old.token}` })).status).toBe(200);

    await pause();
    try {
      const fresh = (await createToken(db, { name: 'replica-fresh', scopes: ['read'] })).token;
      expect(
        (await replica.psql(`SELECT count(*) FROM api_tokens WHERE name = 'replica-fresh'`)).trim(),
      ).toBe('0');
      expect((await request(path, { authorization: `Bearer ${fresh}` })).status).toBe(200);

      // Through this instance's admin API, which also forgets the token it looked up a moment ago.
      const revoke = await app.request(`/admin/tokens/${old.info.id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(revoke.status).toBe(200);
      expect(
        (await replica.psql(`SELECT revoked_at IS NULL FROM api_tokens WHERE name = 'replica-old'`)).trim(),
      ).toBe('t');
      const refused = await request(path, { authorization: `Bearer ${old.token}` });
      expect(refused.status).toBe(401);
      expect(refused.body.errors[0].message).toBe('the token is revoked');
    } finally {
      await resume();
    }
  });

  it('/readyz reports the replica and its lag, and answers 503 while it is down; the primary still serves what it serves', async () => {
    const { request } = appOf({ readDb, cache: new ResponseCache() });
    const admin = (await createToken(db, { name: 'replica-readyz', scopes: ['admin'] })).token;
    await replayed();
    expect((await request('/readyz')).body).toEqual({
      status: 'ready',
      readReplica: { status: 'ready', lagBytes: 0 },
    });

    await pause();
    try {
      await createToken(db, { name: 'replica-lag-probe', scopes: ['read'] });
      const lagging = await request('/readyz');
      expect(lagging.status).toBe(200);
      expect(lagging.body.readReplica.lagBytes).toBeGreaterThan(0);
    } finally {
      await resume();
    }

    await replica.stop();
    try {
      const ready = await request('/readyz');
      expect(ready.status).toBe(503);
      expect(ready.headers.get('retry-after')).toBe('5');
      expect(ready.body).toEqual({
        status: 'read replica unavailable',
        readReplica: { status: 'unavailable' },
      });
      const series = await request('/radar/netflows/timeseries?dateRange=1d', {
        authorization: `Bearer ${admin}`,
      });
      expect(series.status).toBe(503);
      expect(series.body.errors).toEqual([
        { code: 2003, message: 'the database is unavailable; retry shortly' },
      ]);
      expect((await request('/admin/tokens', { authorization: `Bearer ${admin}` })).status).toBe(200);
    } finally {
      await replica.start();
    }
    let status = 0;
    for (const deadline = Date.now() + 10_000; status !== 200 && Date.now() < deadline; await sleep(100))
      status = (await request('/readyz')).status;
    expect(status).toBe(200);
  });

  it('serve opens databaseReadUrl beside the primary, reads NetFlows there and closes both on stop', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'flowradar-replica-service-'));
    const service = await startService(
      loadConfig({
        flags: {
          databaseUrl: primary.url,
          databaseReadUrl: replica.url,
          dataDir,
          host: '127.0.0.1',
          port: 0,
          logLevel: 'silent',
        },
      }),
      { collect: false, print: () => {} },
    );
    try {
      const ready = await (await fetch(`${service.url}/readyz`)).json();
      expect(ready).toMatchObject({ status: 'ready', readReplica: { status: 'ready' } });
      expect(await service.readDb!.query(sql`SELECT pg_is_in_recovery() AS standby`)).toEqual([
        { standby: true },
      ]);
      expect(await service.db.query(sql`SELECT pg_is_in_recovery() AS standby`)).toEqual([
        { standby: false },
      ]);
    } finally {
      await service.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
    await expect(service.readDb!.query(sql`SELECT 1`)).rejects.toThrow();
    await expect(service.db.query(sql`SELECT 1`)).rejects.toThrow();
  });
});
