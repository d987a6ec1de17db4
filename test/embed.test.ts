import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { canonicalQuery, createEmbed, signEmbed, verifyEmbed } from '../src/embed.js';
import { type Service, startService } from '../src/service.js';
import { renderTimeseriesSvg } from '../src/svg.js';
import { type TestApp, testApp } from './helpers/app.js';
import { artifactPath, launchChromium, listen, seedTwoNetworks } from './helpers/browser.js';

const NOW = '2026-11-23T12:30:00Z';
const NOW_MS = Date.parse(NOW);
const KEY = 'test-embed-key-0123456789abcdefghijklmnop';
const QUERY = 'name=meo&name=dtag&dateRange=1d&dateRange=1d&asn=3243&asn=3320&aggInterval=1h';

/** Path and query of an absolute link, for app.request. */
const local = (url: string) => {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
};

async function post(t: TestApp, token: string | null, body: unknown) {
  const res = await t.app.request('/embeds', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe('signing', () => {
  it('signs the canonical query and its expiry, and nothing else verifies', () => {
    const links = createEmbed({
      key: KEY,
      query: `?${QUERY}`,
      ttl: '1h',
      nowMs: NOW_MS,
      baseUrl: 'http://x/',
    });
    const params = new URL(links.url).searchParams;
    expect(canonicalQuery(params)).toBe(QUERY);
    expect(verifyEmbed(KEY, params, NOW_MS)).toMatchObject({ ok: true, exp: NOW_MS / 1000 + 3600 });
    expect(verifyEmbed(`${KEY}x`, params, NOW_MS)).toEqual({ ok: false, reason: 'signature' });
    expect(verifyEmbed(KEY, params, NOW_MS + 3600_000)).toEqual({ ok: false, reason: 'expired' });
    const sig = params.get('sig')!;
    expect(sig).toBe(signEmbed(KEY, QUERY, NOW_MS / 1000 + 3600));
    // A whole API URL is accepted too, and signs the same query.
    const fromUrl = createEmbed({
      key: KEY,
      query: `http://127.0.0.1:8787/radar/netflows/timeseries?${QUERY}`,
      ttl: '1h',
      nowMs: NOW_MS,
      baseUrl: 'http://x',
    });
    expect(fromUrl.url).toBe(links.url);
  });

  it('refuses what the timeseries endpoint would refuse, and TTLs past a year', () => {
    const make =
      (query: string, ttl = '30d') =>
      () =>
        createEmbed({ key: KEY, query, ttl, nowMs: NOW_MS, baseUrl: 'http://x' });
    expect(make('dateRange=1d&dateRange=7d')).toThrow(/same duration/);
    expect(make('aggInterval=2h')).toThrow(/aggInterval/);
    expect(make('normalization=PERCENTAGE_CHANGE')).toThrow(/two series/);
    expect(make(`${QUERY}&sig=abc`)).toThrow(/sig/);
    expect(make(QUERY, '400d')).toThrow(/ttl/);
    expect(make(QUERY, 'soon')).toThrow(/ttl/);
  });
});

describe('the SVG renderer', () => {
  it('draws a path per series, axes and an escaped legend', () => {
    const svg = renderTimeseriesSvg(
      [
        {
          name: 'a<b>&"c"',
          timestamps: ['2026-11-23T09:00:00Z', '2026-11-23T10:00:00Z'],
          values: ['0.5', '1'],
        },
        { name: 'two', timestamps: ['2026-11-23T09:00:00Z', '2026-11-23T10:00:00Z'], values: [null, '0.25'] },
      ],
      { title: 'x', yLabel: 'min0_max' },
    );
    expect(svg.match(/<path class="series"/g)).toHaveLength(2);
    expect(svg).toContain('a&lt;b&gt;&amp;&quot;c&quot;');
    expect(svg).not.toContain('<b>');
    expect(svg).toContain('<g class="axis x"');
    expect(svg).toMatch(/data-series="two" d="M[\d.]+ [\d.]+"/);
  });
});

describe('embed links over the app', () => {
  let t: TestApp;
  let admin: string;
  let reader: string;
  let links: { url: string; svgUrl: string; dataUrl: string; expiresAt: string };

  beforeAll(async () => {
    t = await testApp({ now: NOW, config: { embedKey: KEY } });
    await seedTwoNetworks(t.db, NOW);
    admin = await t.token(['admin']);
    reader = await t.token(['read']);
    const created = await post(t, admin, { query: QUERY, ttl: '30d' });
    expect(created.status).toBe(200);
    links = created.body.result;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('POST /embeds answers signed links for an admin only', async () => {
    expect(links.url).toMatch(/^http:\/\/localhost\/embed\/timeseries\?name=meo&.*&exp=\d+&sig=[\w-]{43}$/);
    expect(links.svgUrl).toContain('/embed/timeseries.svg?');
    expect(links.dataUrl).toContain('/embed/data?');
    expect(links.expiresAt).toBe(new Date(NOW_MS + 30 * 86_400_000).toISOString());
    expect((await post(t, reader, { query: QUERY })).status).toBe(403);
    expect((await post(t, null, { query: QUERY })).status).toBe(401);
    const bad = await post(t, admin, { query: 'aggInterval=2h' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].message).toContain('aggInterval');
    const behindProxy = await post(t, admin, { query: QUERY, baseUrl: 'https://flows.example.net' });
    expect(behindProxy.body.result.url).toMatch(/^https:\/\/flows\.example\.net\/embed\/timeseries\?/);
  });

  it('serves the chart page without a token, framable as configured, with no token in it', async () => {
    const res = await t.app.request(local(links.url));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-security-policy')).toContain('frame-ancestors *');
    expect(res.headers.get('x-frame-options')).toBeNull();
    const html = await res.text();
    expect(html).toContain('/explorer/embed.js');
    expect(html).not.toMatch(/frt_/);
  });

  it('answers the data URL exactly as the token API answers the query', async () => {
    const res = await t.app.request(local(links.dataUrl), { headers: { accept: 'application/json' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toMatch(/^public, max-age=\d+$/);
    const viaToken = await t.get(`/radar/netflows/timeseries?${QUERY}`, reader);
    expect(await res.json()).toEqual(viaToken.body);
  });

  it('renders the SVG server-side: a path per series, the legend, the annotation', async () => {
    const res = await t.app.request(local(links.svgUrl));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toMatch(/^default-src 'none'/);
    const svg = await res.text();
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    const paths = [...svg.matchAll(/<path class="series" data-series="([^"]+)" d="([^"]*)"/g)];
    expect(paths.map((m) => m[1])).toEqual(['meo', 'dtag']);
    // 24 hourly buckets: a move and 23 lines each.
    for (const m of paths) expect(m[2]!.match(/[ML]/g)).toHaveLength(24);
    expect(svg).toContain('maintenance on the PT uplink');
    expect(svg).not.toContain('<script');
  });

  it('refuses a changed query, a wrong signature and an expired link with 403', async () => {
    const u = new URL(links.url);
    const tampered = [
      u.search.replace('asn=3320', 'asn=3321'),
      u.search.replace('name=meo&', ''),
      u.search.replace('aggInterval=1h', 'aggInterval=15m'),
      u.search.replace('&exp=', '&asn=174&exp='),
      u.search.replace('name=meo&name=dtag', 'name=dtag&name=meo'),
      u.search.replace(/exp=(\d+)/, (_, e) => `exp=${Number(e) + 86400}`),
      u.search.replace(/sig=([\w-])/, (_, ch) => `sig=${ch === 'A' ? 'B' : 'A'}`),
      u.search.replace(/&sig=[\w-]+/, ''),
      `${u.search}&sig=${u.searchParams.get('sig')}`,
    ];
    for (const search of tampered)
      for (const path of ['/embed/timeseries', '/embed/timeseries.svg', '/embed/data']) {
        const res = await t.app.request(`${path}${search}`);
        expect(res.status, `${path}${search}`).toBe(403);
        expect(((await res.json()) as any).errors[0].code).toBe(10000);
      }
    const expired = createEmbed({
      key: KEY,
      query: QUERY,
      ttl: '1h',
      nowMs: NOW_MS - 2 * 3600_000,
      baseUrl: 'http://localhost',
    });
    for (const url of [expired.url, expired.svgUrl, expired.dataUrl]) {
      const res = await t.app.request(local(url));
      expect(res.status).toBe(403);
      expect(((await res.json()) as any).errors[0].message).toContain('expired');
    }
    // Signed with another key: refused.
    const foreign = createEmbed({
      key: `${KEY}!`,
      query: QUERY,
      ttl: '1h',
      nowMs: NOW_MS,
      baseUrl: 'http://x',
    });
    expect((await t.app.request(local(foreign.dataUrl))).status).toBe(403);
  });

  it('a signed link reads its query only: the token API stays closed to it', async () => {
    const u = new URL(links.dataUrl);
    const res = await t.app.request(`/radar/netflows/timeseries${u.search}`);
    expect(res.status).toBe(401);
  });
});

describe('the generated embed key', () => {
  it('is made once, kept in the database and shared by every app on it', async () => {
    const t = await testApp({ now: NOW });
    try {
      const admin = await t.token(['admin']);
      const created = await post(t, admin, { query: 'dateRange=1d', ttl: '1d' });
      expect(created.status).toBe(200);
      const [row] = await t.db.query<{ value: string }>(
        sql`SELECT value FROM settings WHERE name = 'embed_key'`,
      );
      expect(row!.value).toMatch(/^[\w-]{43}$/);
      // Another instance on the same database (a restart, a second server) verifies the link.
      const other = createApp({
        db: t.db,
        config: loadConfig({}),
        logger: pino({ level: 'silent' }),
        now: () => NOW_MS,
      });
      expect((await other.request(local(created.body.result.dataUrl))).status).toBe(200);
      const again = await post(t, admin, { query: 'dateRange=1d', ttl: '1d' });
      expect(again.body.result.url).toBe(created.body.result.url);
    } finally {
      await t.close();
    }
  });

  it('follows embedFrameAncestors in the CSP of embed pages', async () => {
    const t = await testApp({
      now: NOW,
      config: { embedKey: KEY, embedFrameAncestors: "'self' https://grafana.example.com" },
    });
    try {
      const links = createEmbed({
        key: KEY,
        query: 'dateRange=1d',
        ttl: '1h',
        nowMs: NOW_MS,
        baseUrl: 'http://x',
      });
      const page = await t.app.request(local(links.url));
      expect(page.headers.get('content-security-policy')).toContain(
        "frame-ancestors 'self' https://grafana.example.com",
      );
      const svg = await t.app.request(local(links.svgUrl));
      expect(svg.headers.get('content-security-policy')).toContain(
        "frame-ancestors 'self' https://grafana.example.com",
      );
    } finally {
      await t.close();
    }
  });
});

describe('embeds in Debian’s chromium', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof listen>>;
  let browser: Browser;
  let links: { url: string; svgUrl: string; dataUrl: string };

  beforeAll(async () => {
    browser = await launchChromium();
    t = await testApp({ now: NOW, config: { embedKey: KEY } });
    await seedTwoNetworks(t.db, NOW);
    server = await listen(t.app);
    links = createEmbed({ key: KEY, query: QUERY, ttl: '1d', nowMs: NOW_MS, baseUrl: server.url });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await t?.close();
  });

  it('renders the embed page in a cross-origin iframe and the SVG as an image', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    // A dashboard on another origin (another port) embeds both.
    const html = `<!doctype html><h1>dashboard</h1>
      <iframe id="live" src="${links.url}" width="900" height="420"></iframe>
      <img id="static" src="${links.svgUrl}" width="800" height="400">`;
    const dashboard = await listen({
      fetch: () => new Response(html, { headers: { 'content-type': 'text/html' } }),
    });
    await page.goto(`${dashboard.url}/`);
    const frame = (await (await page.waitForSelector('#live')).contentFrame())!;
    expect(frame.url()).toBe(links.url);
    await frame.waitForFunction(() => (window as any).__flowradar?.renders >= 1);
    const shown = await frame.evaluate(() => (window as any).__flowradar);
    expect(shown.error).toBeNull();
    const api = await t.get(`/radar/netflows/timeseries?${QUERY}`);
    expect(shown.series.map((s: any) => s.name)).toEqual(['meo', 'dtag']);
    for (const s of shown.series) expect(s.values).toEqual(api.body.result[s.name].values.map(Number));
    // Nothing in the frame knows a token.
    expect(await frame.evaluate(() => sessionStorage.length + localStorage.length)).toBe(0);
    expect(await frame.content()).not.toContain('frt_');

    // The SVG decodes as an image, and parses as XML with a path per series.
    await page.waitForFunction(() => (document.querySelector('#static') as HTMLImageElement).complete);
    expect(
      await page.evaluate(() => (document.querySelector('#static') as HTMLImageElement).naturalWidth),
    ).toBe(800);
    // Parsed where the fetch is same-origin: inside the embed frame.
    const parsed = await frame.evaluate(async (url) => {
      const text = await (await fetch(url)).text();
      const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
      return {
        error: doc.querySelector('parsererror')?.textContent ?? null,
        root: doc.documentElement.nodeName,
        series: [...doc.querySelectorAll('path.series')].map((p) => p.getAttribute('data-series')),
      };
    }, links.svgUrl);
    expect(parsed).toEqual({ error: null, root: 'svg', series: ['meo', 'dtag'] });
    await page.screenshot({ path: artifactPath('embed.png') });
    expect(problems).toEqual([]);
    await page.close();
    await dashboard.close();
  });

  it('opens a signed query in the explorer read-only, without a token', async () => {
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    const signedQuery = new URL(links.url).search.slice(1);
    await page.goto(`${server.url}/#${signedQuery}`);
    await page.waitForFunction(() => (window as any).__flowradar.renders >= 1);
    const shown = await page.evaluate(() => (window as any).__flowradar);
    expect(shown.signed).toBe(true);
    expect(shown.error).toBeNull();
    expect(shown.series.map((s: any) => s.name)).toEqual(['meo', 'dtag']);
    expect(await page.locator('#token-form').isHidden()).toBe(true);
    expect(await page.locator('#series-list input[name="asn"]').first().isDisabled()).toBe(true);
    expect(await page.locator('#run').isEnabled()).toBe(true);
    // The CSV is built in the page from the signed answer, identical to the API's CSV.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
    const path = artifactPath('embed-explorer.csv');
    await download.saveAs(path);
    const csv = await t.get(`/radar/netflows/timeseries?${QUERY}&format=CSV`);
    expect(readFileSync(path, 'utf8')).toBe(csv.text);
    await context.close();
  });

  it('shows why a tampered link is refused', async () => {
    const page = await browser.newPage();
    await page.goto(links.url.replace('asn=3320', 'asn=3321'));
    expect(await page.textContent('body')).toContain('changed or is not signed');
    await page.close();
  });
});

describe('flowradar embed create', () => {
  const run = promisify(execFile);
  const cli = (args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      // The key is the one the database keeps, whatever this shell has configured.
      env: { ...process.env, FLOWRADAR_LOG_LEVEL: 'silent', FLOWRADAR_EMBED_KEY: undefined },
    });
  const dataDir = mkdtempSync(join(tmpdir(), 'flowradar-embed-'));
  const query = 'name=pt&location=PT&dateRange=1d&aggInterval=1h';
  let svc: Service | undefined;
  afterAll(async () => {
    await svc?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('signs offline with the key kept in the database, which the service then honours', async () => {
    const out = await cli([
      'embed',
      'create',
      query,
      '--ttl',
      '2h',
      '--data-dir',
      dataDir,
      '--base-url',
      'https://flows.example.net/',
    ]);
    const [url, svgUrl, dataUrl, rest] = out.stdout.split('\n');
    expect(url).toMatch(
      /^https:\/\/flows\.example\.net\/embed\/timeseries\?name=pt&.*&exp=\d+&sig=[\w-]{43}$/,
    );
    expect(svgUrl).toBe(url!.replace('/embed/timeseries?', '/embed/timeseries.svg?'));
    expect(dataUrl).toBe(url!.replace('/embed/timeseries?', '/embed/data?'));
    expect(rest).toBe('');
    expect(out.stderr).toMatch(/expire \d{4}-\d\d-\d\dT/);

    svc = await startService(
      loadConfig({ flags: { dataDir, port: 0, host: '127.0.0.1', netflowPort: 0, sflowPort: 0 } }),
      { logger: pino({ level: 'silent' }), print: () => {} },
    );
    const search = new URL(dataUrl!).search;
    const res = await fetch(`${svc.url}/embed/data${search}`, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).result.pt.timestamps).toHaveLength(24);
    const tampered = await fetch(`${svc.url}/embed/data${search.replace('location=PT', 'location=DE')}`);
    expect(tampered.status).toBe(403);
  }, 60_000);

  it('goes through the running service, with its admin token, and names a bad parameter', async () => {
    const out = await cli(['embed', 'create', `?${query}`, '--ttl', '1d', '--data-dir', dataDir]);
    const [url, svgUrl] = out.stdout.split('\n');
    expect(url!.startsWith(`${svc!.url}/embed/timeseries?${query}&exp=`)).toBe(true);
    const svg = await fetch(svgUrl!);
    expect(svg.status).toBe(200);
    expect(svg.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
    expect(await svg.text()).toContain('data-series="pt"');
    await expect(
      cli(['embed', 'create', 'dateRange=1d&aggInterval=2h', '--data-dir', dataDir]),
    ).rejects.toMatchObject({ stderr: expect.stringContaining('aggInterval') });
    await expect(
      cli(['embed', 'create', query, '--ttl', '400d', '--data-dir', dataDir]),
    ).rejects.toMatchObject({ stderr: expect.stringContaining('ttl') });
  }, 60_000);
});
