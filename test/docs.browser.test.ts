import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../src/app.js';
import { DOCS_SCRIPT_PATH } from '../src/routes/docs.js';
import { type TestApp, testApp } from './helpers/app.js';
import { artifactPath, launchChromium, listen } from './helpers/browser.js';

const NOW = '2026-11-23T12:30:00Z';

describe('the API reference at /docs', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp({ now: NOW });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('loads its viewer from our own origin, not a CDN', async () => {
    const page = await t.get('/docs', null);
    expect(page.status).toBe(200);
    const scripts = [...page.text.matchAll(/<script[^>]*\ssrc="([^"]*)"/g)].map((m) => m[1]);
    expect(scripts).toEqual([DOCS_SCRIPT_PATH]);
    expect(page.text).not.toMatch(/https?:\/\//);
  });
});

describe('the API reference in Debian’s chromium with no network', () => {
  let t: TestApp;
  let browser: Browser;
  let server: Awaited<ReturnType<typeof listen>>;
  beforeAll(async () => {
    browser = await launchChromium();
    t = await testApp({ now: NOW });
    server = await listen(t.app);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await t?.close();
  });

  it('renders every operation of the OpenAPI document', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    // No internet: whatever is not our own origin fails as it would offline.
    const blocked: string[] = [];
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(`${server.url}/`)) return route.continue();
      blocked.push(url);
      return route.abort('internetdisconnected');
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const script = page.waitForResponse((r) => r.url().endsWith(DOCS_SCRIPT_PATH));
    await page.goto(`${server.url}/docs`);
    expect((await script).status()).toBe(200);

    const doc = openApiDocument(t.app);
    const summaries = Object.values(doc.paths ?? {}).flatMap((item) =>
      Object.values(item ?? {}).flatMap((op) =>
        op && typeof op === 'object' && 'summary' in op ? [String(op.summary)] : [],
      ),
    );
    expect(summaries.length).toBeGreaterThanOrEqual(10);
    await page.waitForFunction(
      (want) => want.every((s) => (document.body.textContent ?? '').includes(s)),
      summaries,
      {
        timeout: 30_000,
      },
    );
    await page.screenshot({ path: artifactPath('docs-offline.png') });
    expect(errors).toEqual([]);
    await context.close();
  }, 90_000);
});
