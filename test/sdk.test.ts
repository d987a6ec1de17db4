import Cloudflare from 'cloudflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, testApp } from './helpers/app.js';
import { insertTraffic } from './helpers/db.js';
import { DAY_ROWS, HOUR_MS, insertAdm1Names, insertAsnNames, NOW, stamps, zerosWith } from './query/data.js';

/**
 * The official Cloudflare SDK, pointed at flowradar: Radar clients must work unchanged.
 * Expected values are those of the "day" dataset (see test/query/data.ts).
 */
describe('the official cloudflare SDK against flowradar', () => {
  let t: TestApp;
  let client: Cloudflare;
  const seen: string[] = [];
  /** Names of every header the SDK sent (lowercase, as Headers gives them). */
  const sentHeaders = new Set<string>();
  const BROWSER_ORIGIN = 'https://dash.example.com';
  const W_DAY = { dateStart: ['2026-11-20T09:00:00Z'], dateEnd: ['2026-11-20T12:14:00Z'] };

  const clientWith = (apiToken: string, legacy = false) =>
    new Cloudflare({
      ...(legacy ? { apiKey: apiToken, apiEmail: 'noc@example.net' } : { apiToken }),
      baseURL: 'http://flowradar.test/client/v4',
      maxRetries: 0,
      fetch: async (input, init) => {
        const req = new Request(input, init);
        seen.push(req.url);
        for (const name of req.headers.keys()) sentHeaders.add(name);
        return t.app.fetch(req);
      },
    });

  beforeAll(async () => {
    t = await testApp({ now: NOW, config: { corsOrigins: [BROWSER_ORIGIN] } });
    await insertTraffic(t.db, DAY_ROWS);
    await insertAsnNames(t.db);
    await insertAdm1Names(t.db);
    client = clientWith(await t.token(['read']));
  });
  afterAll(() => t?.close());

  it('radar.netFlows.timeseries with repeated series parameters', async () => {
    const res = (await client.radar.netFlows.timeseries({
      name: ['all', 'pt'],
      location: ['', 'PT'],
      dateRange: ['1d', '1d'],
      aggInterval: '1h',
    })) as unknown as Record<string, { timestamps: string[]; values: string[] }> & {
      meta: Cloudflare.Radar.NetFlowsTimeseriesResponse['meta'];
    };
    expect(seen.at(-1)).toMatch(/^http:\/\/flowradar\.test\/client\/v4\/radar\/netflows\/timeseries\?/);
    expect(seen.at(-1)).toContain('name=all&name=pt');
    expect(res.meta.aggInterval).toBe('ONE_HOUR');
    expect(res.meta.normalization).toBe('MIN0_MAX');
    expect(res.meta.dateRange).toEqual([
      { startTime: '2026-11-19T13:00:00Z', endTime: '2026-11-20T13:00:00Z' },
      { startTime: '2026-11-19T13:00:00Z', endTime: '2026-11-20T13:00:00Z' },
    ]);
    expect(res.all!.timestamps).toEqual(stamps('2026-11-19T13:00:00Z', 24, HOUR_MS));
    expect(res.all!.values).toEqual(
      zerosWith(24, { 20: '0.421053', 21: '0.631579', 22: '1', 23: '0.157895' }),
    );
    expect(res.pt!.values).toEqual(zerosWith(24, { 20: '0.421053', 23: '0.157895' }));
  });

  it('radar.netFlows.summaryV2 by AS', async () => {
    const res = await client.radar.netFlows.summaryV2('AS', W_DAY);
    expect(res.summary_0).toEqual({
      AS3243: '26.190476',
      AS3356: '23.809524',
      AS4766: '21.428571',
      AS174: '19.047619',
      AS13335: '9.52381',
    });
    expect(res.meta.normalization).toBe('PERCENTAGE');
    expect(res.meta.confidenceInfo).toEqual({ level: 5, annotations: [] });
  });

  it('radar.netFlows.summary (deprecated): HTTP versus OTHER', async () => {
    const res = await client.radar.netFlows.summary(W_DAY);
    expect(res.summary_0).toEqual({ HTTP: '66.666667', OTHER: '33.333333' });
  });

  it('radar.netFlows.timeseriesGroups by PRODUCT', async () => {
    const res = await client.radar.netFlows.timeseriesGroups('PRODUCT', {
      dateRange: ['1d'],
      aggInterval: '1h',
    });
    expect(res.meta.aggInterval).toBe('ONE_HOUR');
    expect(res.serie_0.timestamps).toEqual(stamps('2026-11-19T13:00:00Z', 24, HOUR_MS));
    expect(res.serie_0.HTTP).toEqual(zerosWith(24, { 20: '25', 21: '33.333333', 22: '100', 23: '100' }));
    expect(res.serie_0.OTHER).toEqual(zerosWith(24, { 20: '75', 21: '66.666667' }));
  });

  it('radar.netFlows.timeseriesGroups with PERCENTAGE_CHANGE: strings only, zero baselines annotated', async () => {
    const res = await client.radar.netFlows.timeseriesGroups('AS', {
      name: ['cur', 'base'],
      dateStart: ['2026-11-20T10:00:00Z', '2026-11-20T09:00:00Z'],
      dateEnd: ['2026-11-20T11:59:00Z', '2026-11-20T10:59:00Z'],
      aggInterval: '1h',
      normalization: 'PERCENTAGE_CHANGE',
    });
    expect(res.meta.normalization).toBe('PERCENTAGE_CHANGE');
    const cur = (res as unknown as Record<string, Record<string, string[]>>).cur!;
    expect(cur.AS174).toEqual(['0', '-100']);
    for (const values of Object.values(cur)) for (const v of values) expect(v).toBeTypeOf('string');
    expect(res.meta.confidenceInfo.annotations).toHaveLength(1);
  });

  it('radar.netFlows.timeseries with one dateRange for two series: both over it', async () => {
    const res = await client.radar.netFlows.timeseries({
      name: ['a', 'b'],
      asn: ['3243', '174'],
      dateRange: ['1d'],
      aggInterval: '1h',
    });
    const day = { startTime: '2026-11-19T13:00:00Z', endTime: '2026-11-20T13:00:00Z' };
    expect(res.meta.dateRange).toEqual([day, day]);
  });

  it('radar.netFlows.top.ases with a limit above 100 (no fixed maximum, as at Radar)', async () => {
    const res = await client.radar.netFlows.top.ases({ ...W_DAY, limit: 500 });
    expect(res.top_0).toHaveLength(5);
  });

  it('ADM1 and geoId: summaryV2 and timeseriesGroups by subdivision, a timeseries filtered by geoId', async () => {
    const summary = await client.radar.netFlows.summaryV2('ADM1', { ...W_DAY, limitPerGroup: 3 });
    expect(summary.summary_0).toEqual({
      'geoId:1835848': '28.125',
      Bavaria: '25',
      Porto: '18.75',
      other: '28.125',
    });
    const groups = await client.radar.netFlows.timeseriesGroups('ADM1', {
      dateRange: ['1d'],
      aggInterval: '1h',
      location: ['PT'],
    });
    expect(groups.serie_0.Porto).toEqual(zerosWith(24, { 20: '75' }));
    expect(groups.serie_0.Lisbon).toEqual(zerosWith(24, { 20: '25', 23: '100' }));
    const lisbon = await client.radar.netFlows.summaryV2('PRODUCT', { ...W_DAY, geoId: ['2267056'] });
    expect(lisbon.summary_0).toEqual({ HTTP: '100' });
    expect(seen.at(-1)).toContain('geoId=2267056');
  });

  it('radar.netFlows.top.ases', async () => {
    const res = await client.radar.netFlows.top.ases({ ...W_DAY, limit: 3 });
    expect(res.top_0).toEqual([
      { clientASN: 3243, clientASName: 'MEO-RESIDENCIAL', value: '26.190476' },
      { clientASN: 3356, clientASName: 'LEVEL3', value: '23.809524' },
      { clientASN: 4766, clientASName: 'AS4766', value: '21.428571' },
    ]);
  });

  it('radar.netFlows.top.locations', async () => {
    const res = await client.radar.netFlows.top.locations({ ...W_DAY, location: ['-PT'] });
    // Without PT: FR 500, KR 450, DE 400, US 200 of 1550.
    expect(res.top_0).toEqual([
      { clientCountryAlpha2: 'FR', clientCountryName: 'France', value: '32.258065' },
      { clientCountryAlpha2: 'KR', clientCountryName: 'South Korea', value: '29.032258' },
      { clientCountryAlpha2: 'DE', clientCountryName: 'Germany', value: '25.806452' },
      { clientCountryAlpha2: 'US', clientCountryName: 'United States', value: '12.903226' },
    ]);
  });

  it('errors surface as the SDK error classes with Radar codes', async () => {
    const bad = client.radar.netFlows.timeseries({ dateRange: ['1d', '2x'] });
    await expect(bad).rejects.toBeInstanceOf(Cloudflare.BadRequestError);
    await expect(bad).rejects.toMatchObject({
      status: 400,
      errors: [expect.objectContaining({ code: 2001 })],
    });
    const anon = clientWith('frt_unknown').radar.netFlows.timeseries();
    await expect(anon).rejects.toBeInstanceOf(Cloudflare.AuthenticationError);
    await expect(anon).rejects.toMatchObject({
      status: 401,
      errors: [expect.objectContaining({ code: 10000 })],
    });
  });

  it('an SDK configured with apiKey + apiEmail (X-Auth-Key, X-Auth-Email) works as with apiToken', async () => {
    const legacy = clientWith(await t.token(['read']), true);
    const res = await legacy.radar.netFlows.top.ases({ dateRange: ['1d'], limit: 2 });
    expect(res.top_0).toHaveLength(2);
    const wrong = clientWith('frt_unknown', true).radar.netFlows.top.ases();
    await expect(wrong).rejects.toMatchObject({
      status: 401,
      errors: [expect.objectContaining({ code: 10000 })],
    });
  });

  it('a browser preflight allows every header the SDK sends, so the SDK also works from a page', async () => {
    await clientWith(await t.token(['read']), true).radar.netFlows.top.ases({ dateRange: ['1d'], limit: 1 });
    await client.radar.netFlows.top.ases({ dateRange: ['1d'], limit: 1 });
    // Headers a browser sets itself, or that never need a preflight (CORS-safelisted).
    const SAFELISTED = new Set(['accept', 'accept-language', 'content-language', 'user-agent']);
    const custom = [...sentHeaders].filter((h) => !SAFELISTED.has(h)).sort();
    expect(custom).toEqual(
      expect.arrayContaining(['authorization', 'api-version', 'x-auth-key', 'x-stainless-lang']),
    );
    const res = await t.app.request('/client/v4/radar/netflows/top/ases', {
      method: 'OPTIONS',
      headers: {
        origin: BROWSER_ORIGIN,
        'access-control-request-method': 'GET',
        'access-control-request-headers': custom.join(','),
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(BROWSER_ORIGIN);
    const allowed = (res.headers.get('access-control-allow-headers') ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase());
    expect(custom.filter((h) => !allowed.includes(h))).toEqual([]);
  });
});
