/**
 * The abuse limits not covered elsewhere: list sizes, body size, revocation seen by every instance
 * at once, token handling that answers alike whatever is wrong (each in both modes), and the
 * statement timeout of server mode (on a real PostgreSQL: PGlite does not enforce it).
 */
import { readFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../src/app.js';
import { createToken } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/client.js';
import { dbErrorCode } from '../src/db/errors.js';
import { createEnricher } from '../src/ingest/enrich.js';
import { type TestApp, testApp } from './helpers/app.js';
import { MODES, testDatabase } from './helpers/db.js';
import { type Cluster, holdLock, startMigratedCluster } from './helpers/pg-server.js';

const NOW = '2026-11-20T12:07:00Z';
const TS = '/radar/netflows/timeseries';

describe.each(MODES)('request limits (%s)', (mode) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp({
      mode,
      now: NOW,
      enricher: await createEnricher({
        localNetworks: ['10.0.0.0/8'],
        useExporterAs: true,
        asnTsv: [],
        mmdb: [],
      }),
    });
  });
  afterAll(() => t.close());

  it('takes 100 items in a filter list and refuses 101 with a 400 naming the parameter', async () => {
    const asns = (n: number) => Array.from({ length: n }, (_, i) => 64500 + i).join(',');
    expect((await t.get(`${TS}?dateRange=1d&asn=${asns(100)}`)).status).toBe(200);
    const r = await t.get(`${TS}?dateRange=1d&asn=${asns(101)}`);
    expect(r.status).toBe(400);
    expect((r.body as any).errors[0].code).toBe(2001);
    expect((r.body as any).errors[0].message).toContain('asn');
    const locations = Array.from({ length: 101 }, () => 'PT').join(',');
    const l = await t.get(`${TS}?dateRange=1d&location=${locations}`);
    expect(l.status).toBe(400);
    expect((l.body as any).errors[0].message).toContain('location');
  });

  it('refuses an ingest body over 16 MiB with 413, writing nothing', async () => {
    const token = await t.token(['ingest']);
    const line = `${JSON.stringify({ type: 'IPFIX', bytes: 1, packets: 1, src_addr: '10.0.0.1', dst_addr: '192.0.2.1' })}\n`;
    const body = line.repeat(Math.ceil((16 * 1024 * 1024 + 1) / line.length));
    const res = await t.app.request('/ingest/flows', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' },
      body,
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).errors[0].message).toContain('body');
    const [row] = await t.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM traffic`);
    expect(row!.n).toBe(0);
  });
});

describe.each(MODES)('tokens (%s)', (mode) => {
  it('a revocation shows at once on the instance that made it, within tokenCacheTtl on the others', async () => {
    const db = await testDatabase(mode);
    try {
      let nowMs = Date.parse(NOW);
      const make = () =>
        createApp({
          db,
          config: loadConfig({
            flags: { tokenCacheTtl: '5s', rateLimit: { requests: 1_000_000, authFailures: 1_000_000 } },
          }),
          logger: pino({ level: 'silent' }),
          now: () => nowMs,
        });
      const [a, b] = [make(), make()];
      const admin = (await createToken(db, { name: 'admin', scopes: ['admin'] })).token;
      const { token, info } = await createToken(db, { name: 'reader', scopes: ['read'] });
      const ask = async (app: ReturnType<typeof make>) =>
        (await app.request(`${TS}?dateRange=1d`, { headers: { authorization: `Bearer ${token}` } })).status;
      expect(await ask(a)).toBe(200);
      expect(await ask(b)).toBe(200);
      const revoked = await a.request(`/admin/tokens/${info.id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(revoked.status).toBe(200);
      expect(await ask(a)).toBe(401);
      // b trusts what it looked up for at most 5 s of its clock, then asks the database again.
      nowMs += 4_999;
      expect(await ask(b)).toBe(200);
      nowMs += 2;
      expect(await ask(b)).toBe(401);
    } finally {
      await db.close();
    }
  });

  it('keeps only hashes, and answers a wrong secret as it answers an unknown token', async () => {
    const t = await testApp({ mode, now: NOW });
    try {
      const good = await t.token(['read']);
      const rows = await t.db.query<Record<string, unknown>>(sql`SELECT * FROM api_tokens`);
      expect(JSON.stringify(rows)).not.toContain(good.slice(4));
      // Same prefix and length, one character changed; and something that is no token at all.
      const last = good.at(-1) === 'A' ? 'B' : 'A';
      const answers = [];
      for (const tok of [`${good.slice(0, -1)}${last}`, `frt_${'x'.repeat(good.length - 4)}`, 'nonsense']) {
        const r = await t.get(`${TS}?dateRange=1d`, tok);
        answers.push({ status: r.status, body: r.text, auth: r.headers.get('www-authenticate') });
      }
      expect(answers[0]!.status).toBe(401);
      expect(answers[1]).toEqual(answers[0]);
      expect(answers[2]).toEqual(answers[0]);
    } finally {
      await t.close();
    }
  });
});

describe('token cache setting', () => {
  it('refuses a token cache longer than 60 s, naming the setting', () => {
    expect(() => loadConfig({ flags: { tokenCacheTtl: '61s' } })).toThrow(/tokenCacheTtl/);
  });
});

/** The statement timeout is a server-mode setting (README): only a real server enforces it. */
describe('statement timeout', () => {
  // Its own server: a lock taken on it makes a statement run long.
  let pg: Cluster;
  beforeAll(async () => {
    pg = await startMigratedCluster();
  });
  afterAll(() => pg?.destroy());

  it('every connection carries queryTimeout, and the server stops a statement past it', async () => {
    const db = await openDatabase({ databaseUrl: pg.url, max: 2, statementTimeoutMs: 300 });
    try {
      const [row] = await db.query<{ statement_timeout: string }>(sql`SHOW statement_timeout`);
      expect(row!.statement_timeout).toBe('300ms');
      const t0 = performance.now();
      const err = (await db.query(sql`SELECT pg_sleep(5)`).catch((e: unknown) => e)) as Error & {
        cause?: { code?: string; message?: string };
      };
      expect(err).toBeInstanceOf(Error);
      // Named prepared statements throw the driver's error, drizzle wraps it: either way its code.
      expect(dbErrorCode(err)).toBe('57014');
      expect(`${err.message} ${err.cause?.message ?? ''}`).toContain('statement timeout');
      expect(performance.now() - t0).toBeLessThan(4000);
      // The connection stays usable.
      expect(await db.query(sql`SELECT 1 AS one`)).toEqual([{ one: 1 }]);
    } finally {
      await db.close();
    }
  });

  it('connections plan without parallel workers unless databaseParallelQueries says so', async () => {
    expect(loadConfig({}).databaseParallelQueries).toBe(false);
    expect(loadConfig({ env: { FLOWRADAR_DATABASE_PARALLEL_QUERIES: '1' } }).databaseParallelQueries).toBe(
      true,
    );
    const workers = async (parallelQueries?: boolean) => {
      const db = await openDatabase({
        databaseUrl: pg.url,
        max: 2,
        ...(parallelQueries === undefined ? {} : { parallelQueries }),
      });
      try {
        const [server] = await db.query<{ n: string }>(
          sql`SELECT reset_val AS n FROM pg_settings WHERE name = 'max_parallel_workers_per_gather'`,
        );
        const [row] = await db.query<{ n: string }>(
          sql`SELECT current_setting('max_parallel_workers_per_gather') AS n`,
        );
        return { session: row!.n, server: server!.n };
      } finally {
        await db.close();
      }
    };
    expect((await workers()).session).toBe('0');
    expect((await workers(false)).session).toBe('0');
    const on = await workers(true);
    expect(on.session).not.toBe('0');
    expect(on.session).toBe(on.server);
  });

  it('a request the server stops answers 503 with Retry-After, logged as a warning, not an internal error', async () => {
    const db = await openDatabase({ databaseUrl: pg.url, statementTimeoutMs: 300 });
    const logs: string[] = [];
    const app = createApp({
      db,
      config: loadConfig({}),
      logger: pino({ level: 'warn' }, { write: (s: string) => void logs.push(s) }),
      now: () => Date.parse(NOW),
    });
    const { token } = await createToken(db, { name: 'slow', scopes: ['read'] });
    // Its token lookup waits for the lock past the timeout.
    const lock = await holdLock(pg, 'LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE');
    try {
      const r = await app.request(`${TS}?dateRange=1d`, { headers: { authorization: `Bearer ${token}` } });
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('5');
      expect(await r.json()).toEqual({
        success: false,
        errors: [{ code: 2003, message: 'the query took longer than the database allows; retry shortly' }],
        messages: [],
        result: null,
      });
      expect(logs.map((l) => JSON.parse(l) as { level: number; msg: string })).toEqual([
        expect.objectContaining({ level: 40, msg: 'query stopped by the database' }),
      ]);
    } finally {
      await lock.release();
      await db.close();
    }
  });

  it('the embedded database does not enforce it', async () => {
    const db = await openDatabase({
      loadDataDir: new Blob([readFileSync(inject('templatePath'))]),
      statementTimeoutMs: 300,
    });
    try {
      expect(await db.query(sql`SELECT pg_sleep(0.6)::text AS slept`)).toEqual([{ slept: '' }]);
    } finally {
      await db.close();
    }
  });
});
