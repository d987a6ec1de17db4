import { readFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { storeAnomaly } from './anomalies/data.js';
import { type TestApp, testApp } from './helpers/app.js';
import { artifactPath, launchChromium, listen, seedTwoNetworks } from './helpers/browser.js';

const NOW = '2026-11-23T12:30:00Z';

/** Counts the canvas pixels of each colour (#rrggbb), within `tolerance` per channel. */
function pixelsOf(page: Page, selector: string, colors: string[], tolerance = 24): Promise<number[]> {
  return page.evaluate(
    ([sel, hexes, tol]) => {
      const canvas = document.querySelector(`${sel} canvas`) as HTMLCanvasElement;
      const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      return hexes.map((hex) => {
        const [r, g, b] = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
        let hits = 0;
        for (let p = 0; p < data.length; p += 4)
          if (
            Math.abs(data[p]! - r!) < tol &&
            Math.abs(data[p + 1]! - g!) < tol &&
            Math.abs(data[p + 2]! - b!) < tol &&
            data[p + 3]! > 200
          )
            hits++;
        return hits;
      });
    },
    [selector, colors, tolerance] as const,
  );
}

/** Counts the canvas pixels drawn in each of the first `n` palette colours. */
async function pixelsPerSeries(page: Page, selector: string, n: number): Promise<number[]> {
  const colors = await page.evaluate((count) => (window as any).__flowradar.colors.slice(0, count), n);
  return pixelsOf(page, selector, colors);
}

/**
 * Counts the canvas pixels of the annotation shade, rgba(255, 165, 0, 0.18): the canvas is
 * transparent, so the shade is read back as translucent orange.
 */
function shadePixels(page: Page, selector: string): Promise<{ shade: number; area: number }> {
  return page.evaluate((sel) => {
    const canvas = document.querySelector(`${sel} canvas`) as HTMLCanvasElement;
    const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    let shade = 0;
    for (let p = 0; p < data.length; p += 4)
      if (
        data[p]! > 235 &&
        Math.abs(data[p + 1]! - 165) < 20 &&
        data[p + 2]! < 30 &&
        Math.abs(data[p + 3]! - 46) < 12
      )
        shade++;
    return { shade, area: canvas.width * canvas.height };
  }, selector);
}

/**
 * The canvas columns (device pixels) holding the traffic anomaly shade, rgba(220, 20, 60, 0.16),
 * read back from the transparent canvas as translucent crimson; and how many pixels hold it.
 */
function anomalyShade(
  page: Page,
  selector: string,
): Promise<{ columns: number[]; pixels: number; area: number }> {
  return page.evaluate((sel) => {
    const canvas = document.querySelector(`${sel} canvas`) as HTMLCanvasElement;
    const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    const columns = new Set<number>();
    let pixels = 0;
    for (let p = 0; p < data.length; p += 4)
      if (
        Math.abs(data[p]! - 220) < 20 &&
        data[p + 1]! < 45 &&
        Math.abs(data[p + 2]! - 60) < 20 &&
        Math.abs(data[p + 3]! - 41) < 12
      ) {
        pixels++;
        columns.add((p / 4) % canvas.width);
      }
    return { columns: [...columns].sort((a, b) => a - b), pixels, area: canvas.width * canvas.height };
  }, selector);
}

/** Runs of consecutive numbers, as [first, last] pairs. */
function runsOf(sorted: number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const n of sorted) {
    const last = runs.at(-1);
    if (last && n === last[1] + 1) last[1] = n;
    else runs.push([n, n]);
  }
  return runs;
}

describe('the explorer in Debian’s chromium', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof listen>>;
  let browser: Browser;
  let context: BrowserContext;
  let token: string;
  const problems: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    t = await testApp({ now: NOW });
    await seedTwoNetworks(t.db, NOW);
    token = await t.token(['read']);
    server = await listen(t.app);
    context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 1000 } });
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.close();
    await t?.close();
  });

  // Every page of every test: no script error, no CSP violation. A refusal of the API is a
  // failed fetch the console reports; that alone may appear.
  afterEach(() => {
    const seen = problems.splice(0).filter((p) => !p.includes('400 (Bad Request)'));
    expect(seen).toEqual([]);
  });

  const watch = (page: Page) => {
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
  };
  const renders = (page: Page) => page.evaluate(() => (window as any).__flowradar.renders as number);

  it('compares two ASes on one chart with the API’s values, as a table and as CSV', async () => {
    const page = await context.newPage();
    watch(page);
    await page.goto(`${server.url}/`);
    await page.fill('#token', token);
    await page.click('#save-token');
    await page.waitForFunction(() => (window as any).__flowradar.renders >= 1);
    // The token stays in this tab's sessionStorage: not in the URL, not in localStorage.
    expect(await page.evaluate(() => sessionStorage.getItem('flowradar.token'))).toBe(token);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    expect(page.url()).not.toContain(token);

    const row0 = page.locator('#series-list .series[data-index="0"]');
    await row0.locator('input[name="name"]').fill('meo');
    await row0.locator('input[name="asn"]').fill('3243');
    await row0.locator('input[name="dateRange"]').fill('1d');
    await page.click('#add-series');
    const row1 = page.locator('#series-list .series[data-index="1"]');
    await row1.locator('input[name="name"]').fill('dtag');
    await row1.locator('input[name="asn"]').fill('3320');
    expect(await row1.locator('input[name="dateRange"]').inputValue()).toBe('1d');
    await page.selectOption('#options select[name="aggInterval"]', '1h');
    const before = await renders(page);
    await page.click('#run');
    await page.waitForFunction((n) => (window as any).__flowradar.renders > n, before);

    const shown = await page.evaluate(() => (window as any).__flowradar);
    expect(shown.error).toBeNull();
    expect(shown.query).toBe('name=meo&name=dtag&dateRange=1d&dateRange=1d&asn=3243&asn=3320&aggInterval=1h');
    const api = await t.get(`/radar/netflows/timeseries?${shown.query}`, token);
    expect(api.status).toBe(200);
    expect(shown.series.map((s: any) => s.name)).toEqual(['meo', 'dtag']);
    for (const s of shown.series) {
      const expected = api.body.result[s.name];
      expect(s.timestamps).toEqual(expected.timestamps);
      expect(s.values).toEqual(expected.values.map(Number));
      expect(s.show).toBe(true);
    }
    expect(shown.series[0].timestamps).toHaveLength(24);
    expect(Math.max(...shown.series.flatMap((s: any) => s.values))).toBe(1);
    // Both lines are on the canvas, in their colours.
    const drawn = await pixelsPerSeries(page, '#chart', 2);
    expect(drawn[0]).toBeGreaterThan(40);
    expect(drawn[1]).toBeGreaterThan(40);

    // The operator annotation is shaded on the chart (two of 24 hours), listed below it and
    // lowers the confidence; the top lists are beside.
    const { shade, area } = await shadePixels(page, '#chart');
    expect(shade).toBeGreaterThan(area / 40);
    expect(shade).toBeLessThan(area / 5);
    await expect.poll(() => page.locator('#annotations li').count()).toBe(1);
    expect(await page.locator('#annotations').textContent()).toContain('maintenance on the PT uplink');
    expect(await page.locator('#confidence').textContent()).toContain('Confidence 3/5');
    await expect
      .poll(() => page.locator('#top-ases li').first().textContent())
      .toContain('AS3243 MEO-RESIDENCIAL');
    expect(await page.locator('#top-locations li').first().textContent()).toContain('PT');

    // Hovering shows values in the legend; clicking a legend entry hides its series.
    const box = (await page.locator('#chart .u-over').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const hovered = await page.locator('#chart .u-legend .u-series').nth(1).locator('.u-value').textContent();
    expect(hovered).toMatch(/^\d/);
    await page.locator('#chart .u-legend .u-series').nth(2).click();
    expect(await page.locator('#chart .u-legend .u-series').nth(2).getAttribute('class')).toContain('u-off');
    await page.locator('#chart .u-legend .u-series').nth(2).click();
    await page.mouse.move(0, 0);

    await page.screenshot({ path: artifactPath('explorer.png'), fullPage: true });

    // The table holds the same buckets.
    await page.click('#view-table');
    expect(await page.locator('#data-table tbody tr').count()).toBe(24);
    const firstRow = await page.locator('#data-table tbody tr').first().locator('th, td').allTextContents();
    expect(firstRow).toEqual([
      api.body.result.meo.timestamps[0],
      api.body.result.meo.values[0],
      api.body.result.dtag.values[0],
    ]);
    await page.screenshot({ path: artifactPath('explorer-table.png') });
    await page.click('#view-chart');

    // CSV: what format=CSV answers, byte for byte.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
    expect(download.suggestedFilename()).toBe('flowradar-timeseries.csv');
    const csvPath = artifactPath('explorer.csv');
    await download.saveAs(csvPath);
    const csv = await t.get(`/radar/netflows/timeseries?${shown.query}&format=CSV`, token);
    expect(readFileSync(csvPath, 'utf8')).toBe(csv.text);
    expect(csv.text.split('\n')[0]).toBe('Meo timestamps,Meo values,Dtag timestamps,Dtag values');

    // The curl command names the token by variable, never by value.
    await page.click('#copy-curl');
    const curl = await page.locator('#copy-output').inputValue();
    expect(curl).toBe(
      `curl -s -H "Authorization: Bearer $FLOWRADAR_TOKEN" '${server.url}/radar/netflows/timeseries?${shown.query}'`,
    );
    expect(curl).not.toContain(token);

    await page.click('#copy-share');
    const share = await page.locator('#copy-output').inputValue();
    expect(share).toBe(`${server.url}/#${shown.query}`);
    expect(share).not.toContain(token);
    await page.close();
  });

  it('restores the page from a share link in a new tab, which asks for the token again', async () => {
    const query = 'name=meo&name=dtag&dateRange=1d&dateRange=1d&asn=3243&asn=3320&aggInterval=1h';
    const page = await context.newPage();
    watch(page);
    await page.goto(`${server.url}/#${query}`);
    const row1 = page.locator('#series-list .series[data-index="1"]');
    expect(await row1.locator('input[name="name"]').inputValue()).toBe('dtag');
    expect(await row1.locator('input[name="asn"]').inputValue()).toBe('3320');
    expect(await page.locator('#options select[name="aggInterval"]').inputValue()).toBe('1h');
    expect(await page.locator('#status').textContent()).toContain('token');
    await page.fill('#token', token);
    await page.click('#save-token');
    await page.waitForFunction(() => (window as any).__flowradar.renders >= 1);
    const shown = await page.evaluate(() => (window as any).__flowradar);
    expect(shown.query).toBe(query);
    expect(shown.series).toHaveLength(2);

    // Metric and normalization change the request, and the chart follows the API.
    await page.selectOption('#options select[name="metric"]', 'packets');
    await page.selectOption('#options select[name="normalization"]', 'MIN_MAX');
    const before = await renders(page);
    await page.click('#run');
    await page.waitForFunction((n) => (window as any).__flowradar.renders > n, before);
    const changed = await page.evaluate(() => (window as any).__flowradar);
    expect(changed.error).toBeNull();
    expect(changed.query).toBe(`${query}&normalization=MIN_MAX&metric=packets`);
    expect(changed.meta.normalization).toBe('MIN_MAX');
    const api = await t.get(`/radar/netflows/timeseries?${changed.query}`, token);
    for (const s of changed.series) expect(s.values).toEqual(api.body.result[s.name].values.map(Number));
    // The share link now carries them, so a reload restores them.
    expect(new URL(page.url()).hash).toBe(`#${changed.query}`);
    await page.reload();
    expect(await page.locator('#options select[name="metric"]').inputValue()).toBe('packets');
    expect(await page.locator('#options select[name="normalization"]').inputValue()).toBe('MIN_MAX');
    await page.close();
  });

  /** Opens the explorer on `query` with the token, once the anomalies are in. */
  async function openWithAnomalies(query: string): Promise<Page> {
    const page = await context.newPage();
    watch(page);
    await page.goto(`${server.url}/#${query}`);
    await page.evaluate((tok) => sessionStorage.setItem('flowradar.token', tok), token);
    await page.reload();
    await page.waitForFunction(() => Array.isArray((window as any).__flowradar.anomalies));
    expect(await page.evaluate(() => (window as any).__flowradar.error)).toBeNull();
    return page;
  }

  it('shades the traffic anomalies of the charted ASes and locations and lists them, an ongoing one up to the chart’s end', async () => {
    const hour = Math.floor(Date.parse(NOW) / 3_600_000) * 3_600_000;
    const iso = (hoursAgo: number) =>
      new Date(hour - hoursAgo * 3_600_000).toISOString().replace('.000Z', 'Z');
    const meo = await storeAnomaly(t.db, { type: 'AS', asn: 3243, start: iso(6), end: iso(4) });
    const pt = await storeAnomaly(t.db, { type: 'LOCATION', location: 'PT', start: iso(2), end: null });
    // Outside the window, of another AS, dismissed: none of them is shown.
    await storeAnomaly(t.db, { type: 'AS', asn: 3243, start: iso(24 * 5), end: iso(24 * 5 - 2) });
    await storeAnomaly(t.db, { type: 'AS', asn: 64999, start: iso(6), end: iso(5) });
    await storeAnomaly(t.db, { type: 'AS', asn: 3243, start: iso(12), end: iso(11), status: 'DISMISSED' });

    const page = await openWithAnomalies(
      'name=meo&name=pt&dateRange=1d&dateRange=1d&asn=3243&asn=&location=&location=PT&aggInterval=1h',
    );
    expect(await page.evaluate(() => (window as any).__flowradar.anomalies)).toEqual([pt, meo]);
    const items = page.locator('#anomalies li');
    expect(await items.count()).toBe(2);
    expect(await items.nth(0).getAttribute('data-uuid')).toBe(pt);
    expect(await items.nth(0).textContent()).toBe(`LOCATION PT Portugal · ${iso(2)} – ongoing · UNVERIFIED`);
    expect(await items.nth(1).textContent()).toBe(
      `AS AS3243 MEO-RESIDENCIAL · ${iso(6)} – ${iso(4)} · UNVERIFIED`,
    );
    expect(await page.locator('#anomalies-state').textContent()).toBe('2 in this window');

    // Two bands in the anomaly shade: the two hours of AS3243's, and the ongoing one from two hours
    // ago up to the chart's end (its last bucket).
    const shade = await anomalyShade(page, '#chart');
    const runs = runsOf(shade.columns);
    expect(runs).toHaveLength(2);
    const [meoRun, ptRun] = runs as [[number, number], [number, number]];
    const lastBucket = await page.evaluate(() => (window as any).__flowradar.series[0].timestamps.at(-1));
    const ptHours = (Date.parse(lastBucket) - Date.parse(iso(2))) / 3_600_000;
    expect(ptHours).toBeGreaterThan(0);
    const ratio = (meoRun[1] - meoRun[0] + 1) / (ptRun[1] - ptRun[0] + 1);
    expect(ratio).toBeGreaterThan((2 / ptHours) * 0.9);
    expect(ratio).toBeLessThan((2 / ptHours) * 1.1);
    expect(shade.pixels).toBeGreaterThan(shade.area / 40);
    // The ongoing band ends where the plot does: nothing to its right but the axis' padding.
    const plot = (await page.locator('#chart .u-over').boundingBox())!;
    const canvas = (await page.locator('#chart canvas').boundingBox())!;
    expect(Math.abs(canvas.x + ptRun[1] + 1 - (plot.x + plot.width))).toBeLessThan(3);
    // The annotation keeps its own orange, apart from the anomalies.
    expect((await shadePixels(page, '#chart')).shade).toBeGreaterThan(shade.area / 40);

    // Hovering a band names its anomaly in the plot's tooltip; elsewhere there is none.
    const y = plot.y + plot.height / 2;
    await page.mouse.move(canvas.x + (meoRun[0] + meoRun[1]) / 2, y);
    await expect
      .poll(() => page.locator('#chart .u-over').getAttribute('title'))
      .toContain('AS3243 MEO-RESIDENCIAL');
    await page.mouse.move(canvas.x + (ptRun[0] + ptRun[1]) / 2, y);
    await expect.poll(() => page.locator('#chart .u-over').getAttribute('title')).toContain('PT Portugal');
    expect(await page.locator('#chart .u-over').getAttribute('title')).toContain('ongoing');
    await page.mouse.move(plot.x + 5, y);
    await expect.poll(() => page.locator('#chart .u-over').getAttribute('title')).toBeNull();
    await page.mouse.move(0, 0);
    await page.screenshot({ path: artifactPath('explorer-anomalies.png'), fullPage: true });

    // Through the table view and back, the chart keeps its bands.
    await page.click('#view-table');
    await page.click('#view-chart');
    expect(runsOf((await anomalyShade(page, '#chart')).columns)).toHaveLength(2);
    await page.close();
  });

  it('lists no anomaly and shades none when the charted AS has none', async () => {
    const page = await openWithAnomalies('name=dtag&dateRange=1d&asn=3320&aggInterval=1h');
    expect(await page.evaluate(() => (window as any).__flowradar.anomalies)).toEqual([]);
    expect(await page.locator('#anomalies li').count()).toBe(0);
    expect(await page.locator('#anomalies-state').textContent()).toBe('None in this window');
    expect((await anomalyShade(page, '#chart')).pixels).toBe(0);
    expect((await pixelsPerSeries(page, '#chart', 1))[0]).toBeGreaterThan(40);
    await page.close();
  });

  it('keeps the chart when the anomalies are refused', async () => {
    const page = await context.newPage();
    watch(page);
    // The API's answer to a token without the scope, for the anomalies alone.
    await page.route('**/radar/traffic_anomalies?**', (route) =>
      route.fulfill({
        status: 400,
        contentType: 'application/json',
        body: JSON.stringify({
          success: false,
          errors: [{ code: 10000, message: 'missing scope' }],
          messages: [],
          result: null,
        }),
      }),
    );
    await page.goto(`${server.url}/#name=meo&dateRange=1d&asn=3243&aggInterval=1h`);
    await page.evaluate((tok) => sessionStorage.setItem('flowradar.token', tok), token);
    await page.reload();
    await page.waitForFunction(() => Array.isArray((window as any).__flowradar.anomalies));
    const shown = await page.evaluate(() => (window as any).__flowradar);
    expect(shown.error).toBeNull();
    expect(shown.anomalies).toEqual([]);
    expect(shown.series[0].timestamps).toHaveLength(24);
    expect((await pixelsPerSeries(page, '#chart', 1))[0]).toBeGreaterThan(40);
    expect(await page.locator('#anomalies li').count()).toBe(0);
    expect(await page.locator('#anomalies-state').textContent()).toBe(
      'Traffic anomalies unavailable: missing scope',
    );
    expect(await page.locator('#status').textContent()).toBe('1 series × 24 buckets');
    await page.close();
  });

  it('builds at most ten series', async () => {
    const page = await context.newPage();
    watch(page);
    await page.goto(`${server.url}/`);
    for (let i = 1; i < 10; i++) await page.click('#add-series');
    expect(await page.locator('#series-list .series').count()).toBe(10);
    expect(await page.locator('#add-series').isDisabled()).toBe(true);
    expect(await page.locator('#series-count').textContent()).toBe('10 of 10');
    await page.locator('#series-list .series[data-index="9"] button.remove').click();
    expect(await page.locator('#add-series').isEnabled()).toBe(true);
    await page.close();
  });

  it('cuts a link of more series than the chart has colours to the first ten, and says so', async () => {
    const page = await context.newPage();
    watch(page);
    await page.goto(`${server.url}/#${Array.from({ length: 12 }, (_, i) => `name=s${i}`).join('&')}`);
    expect(await page.locator('#series-list .series').count()).toBe(10);
    expect(await page.locator('#series-count').textContent()).toBe(
      '10 of 10 (the link has 12: the explorer shows the first 10)',
    );
    await page.close();
  });

  it('shows what the API refuses, in words', async () => {
    const page = await context.newPage();
    watch(page);
    await page.goto(`${server.url}/#dateRange=1d&dateRange=7d`);
    await page.evaluate((tok) => sessionStorage.setItem('flowradar.token', tok), token);
    await page.reload();
    await page.waitForFunction(() => (window as any).__flowradar.error !== null);
    expect(await page.locator('#status').textContent()).toContain('same duration');
    await page.close();
  });
});
