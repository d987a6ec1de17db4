/**
 * Operators review anomalies: the admin API and the CLI set VERIFIED / DISMISSED, and a verified
 * anomaly is annotated in the NetFlows confidenceInfo of the windows it overlaps.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertAsnNames } from '../../src/db/asn-names.js';
import { openDatabase } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';
import { type TestApp, testApp } from '../helpers/app.js';
import { storeAnomaly } from './data.js';

const NOW = '2026-11-20T12:00:00Z';

describe('reviewing anomalies through the admin API', () => {
  let t: TestApp;
  let admin: string;
  let outage: string;
  let other: string;
  beforeAll(async () => {
    t = await testApp({ now: NOW });
    admin = await t.token(['admin']);
    await upsertAsnNames(t.db, [[64500, 'EXAMPLE-PT', 'PT']]);
    outage = await storeAnomaly(t.db, {
      type: 'AS',
      asn: 64500,
      start: '2026-11-19T13:00:00Z',
      end: '2026-11-19T15:30:00Z',
    });
    other = await storeAnomaly(t.db, {
      type: 'LOCATION',
      location: 'DE',
      start: '2026-11-20T10:00:00Z',
      end: null,
    });
  });
  afterAll(() => t?.close());

  const put = (uuid: string, body: unknown, token = admin) =>
    t.app.request(`/admin/traffic_anomalies/${uuid}/status`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const annotations = async (query: string) =>
    (await t.get(`/radar/netflows/timeseries?${query}`)).body.result.meta.confidenceInfo.annotations as {
      eventType: string;
      description: string;
      startDate: string;
      endDate: string;
    }[];

  it('verifies, dismisses and undoes, recording who; the list shows it', async () => {
    const res = await put(outage, { status: 'VERIFIED' });
    expect(res.status).toBe(200);
    expect((await res.json()).result).toEqual({
      uuid: outage,
      type: 'AS',
      asn: 64500,
      location: null,
      startDate: '2026-11-19T13:00:00Z',
      endDate: '2026-11-19T15:30:00Z',
      status: 'VERIFIED',
    });
    const [row] = await t.db.query<{ by: string }>(
      sql`SELECT status_changed_by AS by FROM traffic_anomalies WHERE uuid = ${outage}::uuid`,
    );
    expect(row!.by).toMatch(/^token:/);
    const listed = await t.get('/radar/traffic_anomalies?status=VERIFIED');
    expect(listed.body.result.trafficAnomalies.map((a: { uuid: string }) => a.uuid)).toEqual([outage]);

    expect((await put(other, { status: 'DISMISSED' })).status).toBe(200);
    expect(
      (await t.get('/radar/traffic_anomalies')).body.result.trafficAnomalies.map(
        (a: { uuid: string }) => a.uuid,
      ),
    ).toEqual([outage]);
    expect((await put(other, { status: 'UNVERIFIED' })).status).toBe(200);
    expect((await t.get('/radar/traffic_anomalies')).body.result.trafficAnomalies).toHaveLength(2);
  });

  it('404 for an unknown anomaly, 400 for a bad status, 403 without admin', async () => {
    const missing = await put('00000000-0000-4000-8000-000000000000', { status: 'VERIFIED' });
    expect(missing.status).toBe(404);
    expect((await put('not-a-uuid', { status: 'VERIFIED' })).status).toBe(404);
    const bad = await put(outage, { status: 'MAYBE' });
    expect(bad.status).toBe(400);
    expect((await bad.json()).errors[0].code).toBe(2001);
    expect((await put(outage, { status: 'VERIFIED' }, await t.token(['read']))).status).toBe(403);
  });

  it('annotates a verified anomaly in the confidenceInfo of windows it overlaps, and only those', async () => {
    expect((await put(outage, { status: 'VERIFIED' })).status).toBe(200);
    const overlapping = await annotations('dateStart=2026-11-19T00:00:00Z&dateEnd=2026-11-19T23:59:00Z');
    expect(overlapping).toEqual([
      {
        dataSource: 'NET',
        eventType: 'OUTAGE',
        description: `traffic anomaly (verified): AS64500 EXAMPLE-PT fell 90% below its expected traffic [${outage}]`,
        isInstantaneous: false,
        linkedUrl: '',
        startDate: '2026-11-19T13:00:00Z',
        endDate: '2026-11-19T15:30:00Z',
      },
    ]);
    expect(await annotations('dateStart=2026-11-18T00:00:00Z&dateEnd=2026-11-18T23:59:00Z')).toEqual([]);
    // Unverified ones are not annotated: the ongoing DE anomaly overlaps today.
    expect(await annotations('dateStart=2026-11-20T00:00:00Z&dateEnd=2026-11-20T11:59:00Z')).toEqual([]);
    expect((await put(other, { status: 'VERIFIED' })).status).toBe(200);
    const ongoing = await annotations('dateStart=2026-11-20T00:00:00Z&dateEnd=2026-11-20T11:59:00Z');
    expect(ongoing.map((a) => [a.description.replace(/ \[.*\]$/, ''), a.startDate, a.endDate])).toEqual([
      [
        'traffic anomaly (verified): DE (Germany) fell 90% below its expected traffic, ongoing',
        '2026-11-20T10:00:00Z',
        '2026-11-20T12:00:00Z',
      ],
    ]);
  });
});

describe('flowradar anomaly (CLI) on an embedded data directory', () => {
  const run = promisify(execFile);
  const cli = (args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      env: { ...process.env, FLOWRADAR_LOG_LEVEL: 'silent' },
    });
  const dataDir = mkdtempSync(join(tmpdir(), 'flowradar-anom-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('lists, verifies and dismisses by uuid', async () => {
    let db = await openDatabase({ dataDir });
    await migrate(db);
    const uuid = await storeAnomaly(db, { type: 'AS', asn: 64500, start: '2026-11-19T13:00:00Z', end: null });
    await db.close();

    const listed = await cli(['anomaly', 'list', '--data-dir', dataDir]);
    expect(listed.stdout).toBe(`${uuid}\tAS\tAS64500\t2026-11-19T13:00:00Z\tongoing\tUNVERIFIED\n`);
    expect((await cli(['anomaly', 'verify', uuid, '--data-dir', dataDir])).stdout).toBe(`${uuid} VERIFIED\n`);
    await expect(
      cli(['anomaly', 'dismiss', '00000000-0000-4000-8000-000000000000', '--data-dir', dataDir]),
    ).rejects.toMatchObject({
      stderr: expect.stringContaining('no traffic anomaly'),
    });

    db = await openDatabase({ dataDir });
    const [row] = await db.query<{ status: string; by: string }>(
      sql`SELECT status, status_changed_by AS by FROM traffic_anomalies WHERE uuid = ${uuid}::uuid`,
    );
    await db.close();
    expect(row).toEqual({ status: 'VERIFIED', by: 'cli' });
  });
});
