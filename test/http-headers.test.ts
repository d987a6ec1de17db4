import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { etagMatches, weakEtag } from '../src/middleware/http-cache.js';
import { type TestApp, testApp } from './helpers/app.js';
import { insertTraffic } from './helpers/db.js';

const NOW = '2026-11-23T12:30:00Z';
const ALLOWED = 'https://dash.example.com';
const PATH = '/radar/netflows/timeseries?name=pt&location=PT&dateRange=1d&aggInterval=1h';

const vary = (h: Headers) => (h.get('vary') ?? '').split(',').map((v) => v.trim().toLowerCase());

describe('HTTP headers for browsers and dashboards', () => {
  let t: TestApp;
  let reader: string;
  let other: string;
  let raw: string;
  /** Another app with other settings over the same database (and tokens). */
  const appWith = (config: Record<string, unknown>) =>
    createApp({
      db: t.db,
      config: loadConfig({ flags: config }),
      logger: pino({ level: 'silent' }),
      now: () => Date.parse(NOW),
    });
  const req = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    t.app.request(path, { method, headers });

  beforeAll(async () => {
    t = await testApp({ now: NOW, config: { corsOrigins: [ALLOWED, 'https://grafana.example.com'] } });
    await insertTraffic(t.db, [
      { time: '2026-11-23T09:10:00Z', asn: 3243, location: 'PT', bytes: 100 },
      { time: '2026-11-23T10:10:00Z', asn: 3243, location: 'PT', bytes: 250 },
    ]);
    reader = await t.token(['read']);
    other = await t.token(['read']);
    raw = await t.token(['read:raw']);
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('CORS', () => {
    it('answers an allowed origin with that origin, never with credentials', async () => {
      const res = await req(PATH, { origin: ALLOWED, authorization: `Bearer ${reader}` });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
      expect(vary(res.headers)).toContain('origin');
      expect(res.headers.get('access-control-expose-headers')).toContain('ETag');
    });

    it('gives a refused origin no CORS header (the browser then blocks the read)', async () => {
      const res = await req(PATH, { origin: 'https://evil.example', authorization: `Bearer ${reader}` });
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    });

    it('answers a preflight without a token: 204 with methods, headers and max-age', async () => {
      const res = await req(
        PATH,
        {
          origin: ALLOWED,
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization',
        },
        'OPTIONS',
      );
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
      expect(res.headers.get('access-control-allow-methods')).toContain('GET');
      expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
      expect(res.headers.get('access-control-max-age')).toBe('600');
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
      const refused = await req(
        PATH,
        { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
        'OPTIONS',
      );
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    });

    it('reads * as any origin, still without credentials', async () => {
      const res = await appWith({ corsOrigins: ['*'] }).request(PATH, {
        headers: { origin: 'https://anywhere.example', authorization: `Bearer ${reader}` },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    });

    it('sends no CORS header at all when no origin is configured', async () => {
      const res = await appWith({}).request(PATH, {
        headers: { origin: ALLOWED, authorization: `Bearer ${reader}` },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    });
  });

  describe('ETag and 304', () => {
    it('tags a GET and answers 304 to If-None-Match, with the cache headers and no body', async () => {
      const first = await req(PATH, { authorization: `Bearer ${reader}` });
      expect(first.status).toBe(200);
      const etag = first.headers.get('etag')!;
      expect(etag).toMatch(/^W\/"[\w-]+"$/);
      const again = await req(PATH, { authorization: `Bearer ${reader}`, 'if-none-match': etag });
      expect(again.status).toBe(304);
      expect(await again.text()).toBe('');
      expect(again.headers.get('etag')).toBe(etag);
      expect(again.headers.get('cache-control')).toBe(first.headers.get('cache-control'));
      expect(vary(again.headers)).toContain('authorization');
      expect(again.headers.get('content-type')).toBeNull();
      // A list of tags, or the strong form of the weak tag, matches too.
      const listed = await req(PATH, {
        authorization: `Bearer ${reader}`,
        'if-none-match': `"nope", ${etag.slice(2)}`,
      });
      expect(listed.status).toBe(304);
      // Same answer, same tag: under /client/v4 and for a HEAD.
      const v4 = await req(`/client/v4${PATH}`, { authorization: `Bearer ${reader}`, 'if-none-match': etag });
      expect(v4.status).toBe(304);
      const head = await req(PATH, { authorization: `Bearer ${reader}` }, 'HEAD');
      expect(head.headers.get('etag')).toBe(etag);
    });

    it('tags the bytes it sends: a miss, a hit, JSON and CSV, a name outside ASCII', async () => {
      // The tag of a rendered answer is hashed from its text, a cache hit's from the stored text:
      // both must be the tag of the UTF-8 bytes on the wire.
      const named =
        '/radar/netflows/timeseries?name=z%C3%BCrich%E2%80%94%F0%9F%93%88&location=PT&dateRange=1d&aggInterval=1h';
      for (const path of [named, `${named}&format=CSV`]) {
        for (const turn of ['miss', 'hit']) {
          const res = await req(path, { authorization: `Bearer ${reader}` });
          expect(res.status, `${path} ${turn}`).toBe(200);
          const bytes = await res.arrayBuffer();
          expect(new TextDecoder().decode(bytes)).toContain('ürich—📈');
          expect(res.headers.get('etag'), `${path} ${turn}`).toBe(weakEtag(bytes));
          expect(res.headers.get('ratelimit'), `${path} ${turn}`).toMatch(/remaining=/);
        }
      }
    });

    it('gives CSV its own tag, and a new tag when the data changes', async () => {
      const json = await req(PATH, { authorization: `Bearer ${reader}` });
      const csv = await req(`${PATH}&format=CSV`, { authorization: `Bearer ${reader}` });
      expect(csv.headers.get('etag')).not.toBe(json.headers.get('etag'));
      await insertTraffic(t.db, [{ time: '2026-11-23T11:10:00Z', asn: 3243, location: 'PT', bytes: 900 }]);
      const changed = await req(PATH, {
        authorization: `Bearer ${reader}`,
        'if-none-match': json.headers.get('etag')!,
      });
      expect(changed.status).toBe(200);
      expect(changed.headers.get('etag')).not.toBe(json.headers.get('etag'));
    });

    it('checks the token before any 304', async () => {
      const first = await req(PATH, { authorization: `Bearer ${reader}` });
      const etag = first.headers.get('etag')!;
      const noToken = await req(PATH, { 'if-none-match': etag });
      expect(noToken.status).toBe(401);
      const badToken = await req(PATH, { authorization: 'Bearer frt_nope', 'if-none-match': etag });
      expect(badToken.status).toBe(401);
    });

    it('weak comparison per RFC 9110', () => {
      expect(etagMatches('W/"a"', '"a"')).toBe(true);
      expect(etagMatches('"b", W/"a"', 'W/"a"')).toBe(true);
      expect(etagMatches('*', 'W/"a"')).toBe(true);
      expect(etagMatches('"ab"', 'W/"a"')).toBe(false);
    });
  });

  describe('caching per token', () => {
    it('marks every authenticated answer private and varying by Authorization', async () => {
      for (const token of [reader, other]) {
        const res = await req(PATH, { authorization: `Bearer ${token}` });
        expect(res.headers.get('cache-control')).toBe('private, max-age=15');
        expect(res.headers.get('cache-control')).not.toContain('public');
        expect(vary(res.headers)).toContain('authorization');
      }
    });

    it('never lets one token revalidate what only another token may read', async () => {
      const rawPath = `${PATH}&normalization=RAW_VALUES`;
      const ofRaw = await req(rawPath, { authorization: `Bearer ${raw}` });
      expect(ofRaw.status).toBe(200);
      const etag = ofRaw.headers.get('etag')!;
      const ofReader = await req(rawPath, { authorization: `Bearer ${reader}`, 'if-none-match': etag });
      expect(ofReader.status).toBe(403);
      expect(ofReader.headers.get('etag')).toBeNull();
      expect(ofReader.headers.get('cache-control')).toBe('no-store');
      // Different bodies for different rights, so different tags.
      const normalized = await req(PATH, { authorization: `Bearer ${raw}` });
      expect(normalized.headers.get('etag')).not.toBe(etag);
    });

    it('makes refusals vary by Authorization and revalidates token administration', async () => {
      const refused = await req(PATH);
      expect(refused.status).toBe(401);
      expect(vary(refused.headers)).toContain('authorization');
      const admin = await t.token(['admin']);
      const tokens = await req('/admin/tokens', { authorization: `Bearer ${admin}` });
      expect(tokens.headers.get('cache-control')).toBe('private, no-cache');
    });
  });

  describe('security headers', () => {
    it('lets the explorer be framed by itself only', async () => {
      const res = await req('/');
      expect(res.status).toBe(200);
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("frame-ancestors 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    });

    it('forbids rendering and framing API answers', async () => {
      const res = await req(PATH, { authorization: `Bearer ${reader}` });
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    });

    it('serves the page assets from our own routes, and nothing else', async () => {
      for (const path of [
        '/explorer/app.js',
        '/explorer/chart.js',
        '/explorer/query.js',
        '/explorer/embed.js',
        '/explorer/app.css',
        '/vendor/uplot/uPlot.iife.min.js',
        '/vendor/uplot/uPlot.min.css',
      ]) {
        const res = await req(path);
        expect(res.status, path).toBe(200);
        expect(res.headers.get('content-type'), path).toMatch(/^text\/(javascript|css); charset=utf-8$/);
        expect(res.headers.get('etag'), path).toBeTruthy();
      }
      const page = await (await req('/')).text();
      expect(page).not.toMatch(/https?:\/\//);
      for (const path of [
        '/explorer/..%2F..%2Fpackage.json',
        '/explorer/index.html',
        '/explorer/constructor',
        '/vendor/uplot/__proto__',
        '/vendor/uplot/uPlot.d.ts',
      ])
        expect((await req(path)).status, path).toBe(404);
    });
  });
});
