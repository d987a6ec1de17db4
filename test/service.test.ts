import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/client.js';
import { DataDirLockedError } from '../src/db/embedded.js';
import { DEMO_SAMPLING_RATE, type Service, startService } from '../src/service.js';
import { MODES, serverDatabaseUrl } from './helpers/db.js';

const run = promisify(execFile);
const cli = (args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    env: { ...process.env, FLOWRADAR_LOG_LEVEL: 'silent' },
  });

/** A short token cache, so a revocation made past the service shows soon. */
const TOKEN_TTL_MS = 2000;

describe.each(MODES)('the service on the %s database, over a real socket', (mode) => {
  // Both modes keep the admin token and the spool here; the embedded one its database too.
  const dataDir = mkdtempSync(join(tmpdir(), 'flowradar-svc-'));
  let databaseUrl: string | undefined;
  const flags = (extra: Record<string, unknown> = {}) => ({
    dataDir,
    tokenCacheTtl: `${TOKEN_TTL_MS / 1000}s`,
    ...(databaseUrl ? { databaseUrl } : {}),
    port: 0,
    host: '127.0.0.1',
    netflowPort: 0,
    sflowPort: 0,
    ...extra,
  });
  /** The CLI's database options in this mode. */
  const where = () => ['--data-dir', dataDir, ...(databaseUrl ? ['--database-url', databaseUrl] : [])];
  let svc: Service;
  let admin: string;
  const printed: string[] = [];
  beforeAll(async () => {
    // Server mode starts on an empty database, as a first install does: the service migrates it.
    if (mode === 'server') databaseUrl = await serverDatabaseUrl({ empty: true });
    svc = await startService(loadConfig({ flags: flags({ demo: true }) }), {
      logger: pino({ level: 'silent' }),
      print: (s) => void printed.push(s),
      tty: false,
    });
    admin = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  });
  afterAll(async () => {
    await svc?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('stores the first admin token with mode 0600 and, not on a terminal, prints where, not what', () => {
    expect(admin).toMatch(/^frt_[A-Za-z0-9_-]{43}$/);
    expect(printed.join('')).not.toContain(admin);
    expect(printed.join('')).toContain(`Admin token saved to ${join(dataDir, 'admin.token')}`);
    expect(statSync(join(dataDir, 'admin.token')).mode & 0o777).toBe(0o600);
  });

  it("answers the README's comparison with demo data: same timestamps, overall max 1", async () => {
    const res = await fetch(
      `${svc.url}/radar/netflows/timeseries?name=AS3243_all&product=ALL&dateRange=1d&asn=3243&name=AS3243_http&product=HTTP&dateRange=1d&asn=3243&aggInterval=1h`,
      { headers: { authorization: `Bearer ${admin}` } },
    );
    expect(res.status).toBe(200);
    const { result } = (await res.json()) as any;
    expect(result.AS3243_all.timestamps).toHaveLength(24);
    expect(result.AS3243_http.timestamps).toEqual(result.AS3243_all.timestamps);
    const all = [...result.AS3243_all.values, ...result.AS3243_http.values].map(Number);
    expect(Math.max(...all)).toBe(1);
    // HTTP is part of ALL, so never above it, and the demo makes it differ.
    result.AS3243_http.values.forEach((v: string, i: number) => {
      expect(Number(v)).toBeLessThanOrEqual(Number(result.AS3243_all.values[i]));
    });
    expect(result.AS3243_http.values).not.toEqual(result.AS3243_all.values);
  });

  it('receives live demo traffic from its simulator through the UDP collector', async () => {
    const deadline = Date.now() + 60_000;
    let records = 0;
    while (Date.now() < deadline) {
      const [row] = await svc.db.query<{ records: number }>(
        sql`SELECT coalesce(sum(records), 0)::float8 AS records FROM exporters WHERE address = '127.0.0.1'`,
      );
      records = row?.records ?? 0;
      if (records > 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(records).toBeGreaterThan(0);
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).toMatch(/flowradar_records_total\{protocol="ipfix"\} [1-9]/);
  }, 90_000);

  it('locates the live demo traffic to subdivisions through its City database', async () => {
    // The seeded history ends at the 5 minutes holding the start; what follows came through the collector.
    const deadline = Date.now() + 60_000;
    let live = 0;
    while (Date.now() < deadline) {
      const [row] = await svc.db.query<{ n: number }>(
        sql`SELECT count(*)::float8 AS n FROM traffic
             WHERE adm1 = 2267056 AND location = 'PT' AND time >= date_bin('5 minutes', now(), 'epoch') - INTERVAL '5 minutes'`,
      );
      live = row?.n ?? 0;
      if (live > 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(live).toBeGreaterThan(0);
    const res = await fetch(`${svc.url}/radar/netflows/summary/ADM1?dateRange=1d`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(res.status).toBe(200);
    const { result } = (await res.json()) as any;
    expect(Object.keys(result.summary_0)).toContain('Lisbon');
    expect(JSON.stringify(result.meta.confidenceInfo.annotations)).not.toContain('City database');
  }, 90_000);

  it('answers at full confidence: the demo exporter announces its sampling', async () => {
    // After the live test above: the simulator's records are in the window.
    const res = await fetch(`${svc.url}/radar/netflows/summary/PRODUCT?dateRange=1d`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(res.status).toBe(200);
    const { meta } = ((await res.json()) as any).result;
    const [exporter] = await svc.db.query<{ records: number; unsampled: number; rates: object }>(
      sql`SELECT records::float8, unsampled_records::float8 AS unsampled, sampling_rates AS rates
            FROM exporters WHERE address = '127.0.0.1'`,
    );
    expect(exporter?.records).toBeGreaterThan(0);
    expect(exporter?.unsampled).toBe(0);
    expect(Object.keys(exporter?.rates ?? {})).toEqual([String(DEMO_SAMPLING_RATE)]);
    expect(meta.confidenceInfo).toEqual({ level: 5, annotations: [] });
  });

  it('serves /healthz, /openapi.json and /docs without a token', async () => {
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
    const spec = (await (await fetch(`${svc.url}/openapi.json`)).json()) as { paths: object };
    expect(Object.keys(spec.paths)).toContain('/radar/netflows/timeseries');
    const docs = await fetch(`${svc.url}/docs`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('<html');
  });

  it(
    mode === 'embedded'
      ? 'refuses a second process on the same data directory'
      : 'lets a second process use the same database, and writes no service file',
    async () => {
      if (mode === 'embedded') {
        await expect(openDatabase({ dataDir })).rejects.toBeInstanceOf(DataDirLockedError);
        expect(existsSync(join(dataDir, 'service.json'))).toBe(true);
        return;
      }
      const other = await openDatabase({ databaseUrl });
      try {
        const [row] = await other.query<{ n: number }>(
          sql`SELECT count(*)::int AS n FROM api_tokens WHERE name = 'admin'`,
        );
        expect(row?.n).toBe(1);
      } finally {
        await other.close();
      }
      // Nothing to find the service by: the CLI goes to the database, not through the service.
      expect(existsSync(join(dataDir, 'service.json'))).toBe(false);
    },
  );

  it(
    mode === 'embedded'
      ? 'manages tokens through the running service from the CLI'
      : 'manages tokens on the database from the CLI; the service sees a revocation within tokenCacheTtl',
    async () => {
      const created = await cli(['token', 'create', ...where(), '--name', 'dash', '--scope', 'read']);
      const token = created.stdout.trim();
      expect(token).toMatch(/^frt_/);
      const status = async () =>
        (
          await fetch(`${svc.url}/radar/netflows/top/ases?dateRange=1d`, {
            headers: { authorization: `Bearer ${token}` },
          })
        ).status;
      expect(await status()).toBe(200);
      const listed = await cli(['token', 'list', ...where()]);
      expect(listed.stdout).toContain('dash');
      expect(listed.stdout).not.toContain(token);
      await cli(['token', 'revoke', ...where(), 'dash']);
      const revoked = Date.now();
      // Embedded: the CLI revoked through the service, which forgets the token at once. Server:
      // the CLI revoked in the database, and the service trusts what it looked up for TOKEN_TTL_MS.
      let answer = await status();
      while (mode === 'server' && answer === 200 && Date.now() - revoked < TOKEN_TTL_MS + 1000) {
        await new Promise((r) => setTimeout(r, 100));
        answer = await status();
      }
      expect(answer).toBe(401);
      if (mode === 'server') expect(Date.now() - revoked).toBeLessThanOrEqual(TOKEN_TTL_MS + 1000);
    },
  );

  it(
    mode === 'embedded'
      ? 'says what to do when the service runs and no admin token is at hand'
      : 'manages tokens without an admin token while the service runs',
    async () => {
      const moved = join(dataDir, 'admin.token');
      const saved = readFileSync(moved);
      rmSync(moved);
      try {
        if (mode === 'embedded')
          await expect(cli(['token', 'list', ...where()])).rejects.toMatchObject({
            stderr: expect.stringContaining('FLOWRADAR_TOKEN'),
          });
        // The database is the server's to share: whoever reaches it needs no admin token.
        else expect((await cli(['token', 'list', ...where()])).stdout).toContain('admin');
      } finally {
        const { writeFileSync } = await import('node:fs');
        writeFileSync(moved, saved, { mode: 0o600 });
      }
    },
  );

  it(`${mode === 'embedded' ? 'removes its service file on stop and ' : ''}reopens the same database without a new admin token`, async () => {
    await svc.stop();
    expect(existsSync(join(dataDir, 'service.json'))).toBe(false);
    const listed = await cli(['token', 'list', ...where()]);
    expect(listed.stdout).toContain('admin');
    const again: string[] = [];
    svc = await startService(loadConfig({ flags: flags() }), {
      logger: pino({ level: 'silent' }),
      print: (s) => void again.push(s),
    });
    expect(again.join('')).not.toContain('Admin token');
  });
});
