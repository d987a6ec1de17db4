/**
 * GET /radar/traffic_anomalies and /locations: through the app, and through the official
 * cloudflare SDK (`radar.trafficAnomalies.get`, `.locations.get`) pointed at it.
 */
import Cloudflare from 'cloudflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertAsnNames } from '../../src/db/asn-names.js';
import { type TestApp, testApp } from '../helpers/app.js';
import { storeAnomaly } from './data.js';

const NOW = '2026-11-20T12:00:00Z';

describe('traffic anomalies API', () => {
  let t: TestApp;
  let client: Cloudflare;
  const seen: string[] = [];
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    t = await testApp({ now: NOW });
    await upsertAsnNames(t.db, [[64500, 'EXAMPLE-PT', 'PT']]);
    ids.asPt = await storeAnomaly(t.db, {
      type: 'AS',
      asn: 64500,
      start: '2026-11-19T13:00:00Z',
      end: '2026-11-19T15:30:00Z',
    });
    ids.locPt = await storeAnomaly(t.db, {
      type: 'LOCATION',
      location: 'PT',
      start: '2026-11-19T13:00:00Z',
      end: '2026-11-19T15:30:00Z',
      status: 'VERIFIED',
    });
    ids.open = await storeAnomaly(t.db, { type: 'AS', asn: 64501, start: '2026-11-20T10:00:00Z', end: null });
    ids.old = await storeAnomaly(t.db, {
      type: 'LOCATION',
      location: 'DE',
      start: '2026-10-01T08:00:00Z',
      end: '2026-10-01T09:00:00Z',
    });
    ids.dismissed = await storeAnomaly(t.db, {
      type: 'LOCATION',
      location: 'FR',
      start: '2026-11-18T08:00:00Z',
      end: '2026-11-18T09:00:00Z',
      status: 'DISMISSED',
    });
    const token = await t.token(['read']);
    client = new Cloudflare({
      apiToken: token,
      baseURL: 'http://flowradar.test/client/v4',
      maxRetries: 0,
      fetch: async (input, init) => {
        const req = new Request(input, init);
        seen.push(req.url);
        return t.app.fetch(req);
      },
    });
  });
  afterAll(() => t?.close());

  it('radar.trafficAnomalies.get: newest first (AS before LOCATION at one start), Radar fields, endDate null while open, dismissed hidden', async () => {
    const res = await client.radar.trafficAnomalies.get();
    expect(seen.at(-1)).toBe('http://flowradar.test/client/v4/radar/traffic_anomalies');
    expect(res.trafficAnomalies.map((a) => a.uuid)).toEqual([ids.open, ids.asPt, ids.locPt, ids.old]);
    const [open, asPt] = res.trafficAnomalies;
    expect(open).toMatchObject({
      type: 'AS',
      status: 'UNVERIFIED',
      startDate: '2026-11-20T10:00:00Z',
      endDate: null,
    });
    expect(asPt).toEqual({
      uuid: ids.asPt,
      type: 'AS',
      status: 'UNVERIFIED',
      startDate: '2026-11-19T13:00:00Z',
      endDate: '2026-11-19T15:30:00Z',
      asnDetails: { asn: '64500', name: 'EXAMPLE-PT', location: { code: 'PT', name: 'Portugal' } },
      locationDetails: { code: 'PT', name: 'Portugal' },
      originDetails: null,
      visibleInDataSources: ['NET'],
    });
    expect(res.trafficAnomalies[2]).toMatchObject({
      type: 'LOCATION',
      status: 'VERIFIED',
      asnDetails: null,
      locationDetails: { code: 'PT', name: 'Portugal' },
    });
  });

  it('filters by asn, location, status, type, window, limit and offset', async () => {
    const uuids = async (q: Cloudflare.Radar.TrafficAnomalyGetParams) =>
      (await client.radar.trafficAnomalies.get(q)).trafficAnomalies.map((a) => a.uuid);
    expect(await uuids({ asn: 64500 })).toEqual([ids.asPt]);
    expect(await uuids({ location: 'pt' })).toEqual([ids.asPt, ids.locPt]);
    expect(await uuids({ status: 'VERIFIED' })).toEqual([ids.locPt]);
    expect(await uuids({ type: ['LOCATION'] })).toEqual([ids.locPt, ids.old]);
    expect(await uuids({ type: ['AS', 'LOCATION'], dateRange: '7d' })).toEqual([
      ids.open,
      ids.asPt,
      ids.locPt,
    ]);
    expect(await uuids({ dateStart: '2026-10-01T00:00:00Z', dateEnd: '2026-10-02T00:00:00Z' })).toEqual([
      ids.old,
    ]);
    expect(await uuids({ limit: 2, offset: 1 })).toEqual([ids.asPt, ids.locPt]);
    expect(await uuids({ dataSource: 'NET' })).toHaveLength(4);
    expect(await uuids({ dataSource: 'BGP' })).toEqual([]);
    expect(await uuids({ type: ['ORIGIN'] })).toEqual([]);
    expect(seen.at(-1)).toContain('type=ORIGIN');
    const dismissed = await t.get('/radar/traffic_anomalies?status=DISMISSED');
    expect(dismissed.body.result.trafficAnomalies.map((a: { uuid: string }) => a.uuid)).toEqual([
      ids.dismissed,
    ]);
  });

  it('radar.trafficAnomalies.locations.get counts anomalies per location', async () => {
    const res = await client.radar.trafficAnomalies.locations.get({ dateRange: '7d' });
    expect(seen.at(-1)).toBe(
      'http://flowradar.test/client/v4/radar/traffic_anomalies/locations?dateRange=7d',
    );
    expect(res.trafficAnomalies).toEqual([
      { clientCountryAlpha2: 'PT', clientCountryName: 'Portugal', value: '2' },
    ]);
    const verified = await client.radar.trafficAnomalies.locations.get({ status: 'VERIFIED' });
    expect(verified.trafficAnomalies).toEqual([
      { clientCountryAlpha2: 'PT', clientCountryName: 'Portugal', value: '1' },
    ]);
  });

  it('answers CSV with format=CSV', async () => {
    const res = await t.get('/radar/traffic_anomalies?format=CSV&asn=64500');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/csv');
    expect(res.text).toBe(
      'uuid,type,status,startDate,endDate,asn,asnName,locationCode,locationName,visibleInDataSources\n' +
        `${ids.asPt},AS,UNVERIFIED,2026-11-19T13:00:00Z,2026-11-19T15:30:00Z,64500,EXAMPLE-PT,PT,Portugal,NET\n`,
    );
    const locs = await client.radar.trafficAnomalies.locations.get({ format: 'CSV' }).asResponse();
    expect(await locs.text()).toBe(
      'clientCountryAlpha2,clientCountryName,value\nPT,Portugal,2\nDE,Germany,1\n',
    );
  });

  it('refuses bad parameters with 400 code 2001 naming them', async () => {
    for (const [query, param] of [
      ['asn=AS1', 'asn'],
      ['location=XYZ', 'location'],
      ['status=LATER', 'status'],
      ['type=CITY', 'type'],
      ['limit=0', 'limit'],
      ['dateRange=3x', 'dateRange'],
      ['dataSource=FOO', 'dataSource'],
    ]) {
      const res = await t.get(`/radar/traffic_anomalies?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.errors[0].code).toBe(2001);
      expect(res.body.errors[0].message).toMatch(new RegExp(`^${param}`));
    }
  });

  it('needs a token', async () => {
    expect((await t.get('/radar/traffic_anomalies', null)).status).toBe(401);
  });
});
