import { connect } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.js';
import { SERVER_TIMEOUTS } from '../src/service.js';
import { type TestApp, testApp } from './helpers/app.js';
import { insertTraffic, MODES } from './helpers/db.js';

const NOW = '2026-11-20T12:07:00Z';
const TS = '/radar/netflows/timeseries';

describe.each(MODES)('rate limits (%s)', (mode) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp({
      mode,
      now: NOW,
      config: { rateLimit: { requests: 3, authFailures: 2, window: '5m' } },
    });
  });
  afterAll(() => t.close());

  it('limits requests per token: 429 code 1015 with Retry-After and RateLimit headers', async () => {
    const token = await t.token();
    for (let i = 0; i < 3; i++) {
      const ok = await t.get(`${TS}?dateRange=1d`, token);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('ratelimit')).toBe(`limit=3, remaining=${2 - i}, reset=300`);
      expect(ok.headers.get('ratelimit-policy')).toBe('3;w=300');
    }
    const limited = await t.get(`${TS}?dateRange=1d`, token);
    expect(limited.status).toBe(429);
    expect(limited.body.errors[0].code).toBe(1015);
    expect(limited.headers.get('retry-after')).toBe('300');
    // Another token has its own budget.
    expect((await t.get(`${TS}?dateRange=1d`, await t.token())).status).toBe(200);
  });

  it('limits failed authentications per client address, even for a good token afterwards', async () => {
    expect((await t.get(TS, 'frt_wrong1')).status).toBe(401);
    expect((await t.get(TS, null)).status).toBe(401);
    const blocked = await t.get(TS, 'frt_wrong2');
    expect(blocked.status).toBe(429);
    expect(blocked.body.errors[0].code).toBe(1015);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe.each(MODES)('token restrictions (%s)', (mode) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp({ mode, now: NOW, clientIp: '192.0.2.10' });
  });
  afterAll(() => t.close());

  it('honours allowed client networks and not_before', async () => {
    const make = async (o: { allowedCidrs?: string[]; notBefore?: Date }) =>
      (await createToken(t.db, { name: 'r', scopes: ['read'], ...o })).token;
    expect((await t.get(`${TS}?dateRange=1d`, await make({ allowedCidrs: ['192.0.2.0/24'] }))).status).toBe(
      200,
    );
    const elsewhere = await t.get(
      `${TS}?dateRange=1d`,
      await make({ allowedCidrs: ['198.51.100.0/24', '2001:db8::/32'] }),
    );
    expect(elsewhere.status).toBe(401);
    expect(elsewhere.body.errors[0]).toEqual({
      code: 10000,
      message: 'the token is not allowed from this address',
    });
    const early = await t.get(
      `${TS}?dateRange=1d`,
      await make({ notBefore: new Date(Date.parse(NOW) + 60_000) }),
    );
    expect(early.status).toBe(401);
    expect(early.body.errors[0].message).toContain('not yet valid');
    expect(
      (await t.get(`${TS}?dateRange=1d`, await make({ notBefore: new Date(Date.parse(NOW) - 1) }))).status,
    ).toBe(200);
  });

  it('takes restrictions through the admin API and refuses a bad CIDR', async () => {
    const admin = await t.token(['admin']);
    const post = (body: unknown) =>
      t.app.request('/admin/tokens', {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const ok = await post({ name: 'x', scopes: ['read'], allowedCidrs: ['192.0.2.10'] });
    expect(ok.status).toBe(201);
    expect((await ok.json()).result.allowedCidrs).toEqual(['192.0.2.10']);
    const bad = await post({ name: 'x', scopes: ['read'], allowedCidrs: ['not-a-net'] });
    expect(bad.status).toBe(400);
    expect((await bad.json()).errors[0].message).toContain('allowedCidrs');
  });
});

describe.each(MODES)('hostile input (%s)', (mode) => {
  const logs: string[] = [];
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    t = await testApp({ mode, now: NOW, logs });
    token = await t.token();
    await insertTraffic(t.db, [{ time: '2026-11-20T11:00:00Z', asn: 3243, location: 'PT', bytes: 10 }]);
  });
  afterAll(() => t.close());

  it('refuses URLs over 8 KiB with 414', async () => {
    const r = await t.get(`${TS}?name=${'a'.repeat(8200)}`, token);
    expect(r.status).toBe(414);
    expect(r.body.errors[0].code).toBe(2001);
  });

  it('keeps SQL metacharacters and unicode inert', async () => {
    const name = "x' OR 1=1; DROP TABLE traffic;-- ☃";
    const r = await t.get(
      `${TS}?dateRange=1d&name=${encodeURIComponent(name)}&normalization=RAW_VALUES`,
      await t.token(['read:raw']),
    );
    expect(r.status).toBe(200);
    expect(r.body.result[name].values.map(Number).reduce((a: number, b: number) => a + b, 0)).toBe(10);
    for (const [param, value] of [
      ['asn', "1'; DROP TABLE traffic;--"],
      ['location', 'P☃'],
      ['continent', "EU' OR '1'='1"],
      ['dateRange', '7d;--'],
      ['dateStart', "2026-11-01' --"],
    ]) {
      const bad = await t.get(
        `${TS}?${param}=${encodeURIComponent(value!)}${param === 'dateStart' ? '&dateEnd=2026-11-02' : ''}`,
        token,
      );
      expect(bad.status, `${param}=${value}`).toBe(400);
      expect(bad.body.errors[0].message).toContain(param);
    }
    const still = await t.get(`${TS}?dateRange=1d&normalization=RAW_VALUES`, await t.token(['read:raw']));
    expect(still.body.result.serie_0.values.map(Number).reduce((a: number, b: number) => a + b, 0)).toBe(10);
  });

  it('lets no path trick past authentication', async () => {
    for (const path of [
      '/radar//netflows/timeseries',
      '/radar/netflows//timeseries',
      '/RADAR/netflows/timeseries',
      '/radar/NetFlows/timeseries',
      '/radar%2Fnetflows/timeseries',
      '/radar/netflows%2Ftimeseries',
      '/radar/netflows/timeseries.',
      '/radar/netflows/./timeseries',
      '/radar/x/../netflows/timeseries',
      '/client/v4/radar/netflows/timeseries',
      '/client/v4//radar/netflows/timeseries',
      '/CLIENT/v4/radar/netflows/timeseries',
      '/client/v4/client/v4/radar/netflows/timeseries',
    ]) {
      const r = await t.get(path, null);
      expect(r.status, path).not.toBe(200);
      expect([401, 404], path).toContain(r.status);
    }
  });

  it('never writes a token to the logs', async () => {
    await t.get(`${TS}?dateRange=1d`, token);
    await t.get(`${TS}?dateRange=bogus`, token);
    await t.get(TS, 'frt_not_a_real_token_but_secret');
    const text = logs.join('');
    expect(text).toContain('"path":"/radar/netflows/timeseries"');
    expect(text).not.toContain(token);
    expect(text).not.toContain(token.slice(4));
    expect(text).not.toContain('frt_not_a_real_token_but_secret');
  });
});

// About the HTTP server's timeouts, not the database: one mode is enough.
describe('slow clients', () => {
  it('cuts off a client that trickles its headers', async () => {
    const t = await testApp({ now: NOW });
    const server = serve({
      fetch: t.app.fetch,
      port: 0,
      hostname: '127.0.0.1',
      serverOptions: { ...SERVER_TIMEOUTS, headersTimeout: 1500, requestTimeout: 3000 },
    });
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as { port: number };
    try {
      const started = Date.now();
      const closedAfter = await new Promise<number>((resolve) => {
        const s = connect(port, '127.0.0.1', () => {
          s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
          const drip = setInterval(() => s.write('X-Slow: 1\r\n'), 300);
          s.on('close', () => {
            clearInterval(drip);
            resolve(Date.now() - started);
          });
          s.on('error', () => {});
        });
      });
      expect(closedAfter).toBeLessThan(6000);
    } finally {
      server.close();
      await t.close();
    }
  });
});
