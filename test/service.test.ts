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
import { type Service, startService } from '../src/service.js';

const run = promisify(execFile);
const cli = (args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    env: { ...process.env, FLOWRADAR_LOG_LEVEL: 'silent' },
  });

describe('the service on the embedded database, over a real socket', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flowradar-svc-'));
  const config = loadConfig({
    flags: { dataDir, port: 0, host: '127.0.0.1', demo: true, netflowPort: 0, sflowPort: 0 },
  });
  let svc: Service;
  let admin: string;
  const printed: string[] = [];
  beforeAll(async () => {
    svc = await startService(config, {
      logger: pino({ level: 'silent' }),
      print: (s) => void printed.push(s),
    });
    admin = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  });
  afterAll(async () => {
    await svc?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints the first admin token once and stores it with mode 0600', () => {
    expect(admin).toMatch(/^frt_[A-Za-z0-9_-]{43}$/);
    expect(printed.join('')).toContain(admin);
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

  it('serves /healthz, /openapi.json and /docs without a token', async () => {
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
    const spec = (await (await fetch(`${svc.url}/openapi.json`)).json()) as { paths: object };
    expect(Object.keys(spec.paths)).toContain('/radar/netflows/timeseries');
    const docs = await fetch(`${svc.url}/docs`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('<html');
  });

  it('refuses a second process on the same data directory', async () => {
    await expect(openDatabase({ dataDir })).rejects.toBeInstanceOf(DataDirLockedError);
  });

  it('manages tokens through the running service from the CLI', async () => {
    const created = await cli([
      'token',
      'create',
      '--data-dir',
      dataDir,
      '--name',
      'dash',
      '--scope',
      'read',
    ]);
    const token = created.stdout.trim();
    expect(token).toMatch(/^frt_/);
    const ok = await fetch(`${svc.url}/radar/netflows/top/ases?dateRange=1d`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(ok.status).toBe(200);
    const listed = await cli(['token', 'list', '--data-dir', dataDir]);
    expect(listed.stdout).toContain('dash');
    expect(listed.stdout).not.toContain(token);
    await cli(['token', 'revoke', '--data-dir', dataDir, 'dash']);
    const denied = await fetch(`${svc.url}/radar/netflows/top/ases?dateRange=1d`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(denied.status).toBe(401);
  });

  it('says what to do when the service runs and no admin token is at hand', async () => {
    const moved = join(dataDir, 'admin.token');
    const saved = readFileSync(moved);
    rmSync(moved);
    try {
      await expect(cli(['token', 'list', '--data-dir', dataDir])).rejects.toMatchObject({
        stderr: expect.stringContaining('FLOWRADAR_TOKEN'),
      });
    } finally {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(moved, saved, { mode: 0o600 });
    }
  });

  it('removes its service file on stop and reopens the same database without a new admin token', async () => {
    await svc.stop();
    expect(existsSync(join(dataDir, 'service.json'))).toBe(false);
    const listed = await cli(['token', 'list', '--data-dir', dataDir]);
    expect(listed.stdout).toContain('admin');
    const again: string[] = [];
    svc = await startService(
      loadConfig({ flags: { dataDir, port: 0, host: '127.0.0.1', netflowPort: 0, sflowPort: 0 } }),
      {
        logger: pino({ level: 'silent' }),
        print: (s) => void again.push(s),
      },
    );
    expect(again.join('')).not.toContain('Admin token');
  });
});
