import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NEVER_UPDATED } from '../../src/query/meta.js';
import { type TestApp, testApp } from '../helpers/app.js';

/** A first install: no traffic yet. Radar's clients type meta.lastUpdated as a string, never null. */
describe('an empty database', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp({ now: '2026-11-20T12:05:00Z' });
  });
  afterAll(() => t?.close());

  it.each([
    '/radar/netflows/timeseries',
    '/radar/netflows/timeseries_groups/PRODUCT',
    '/radar/netflows/summary/AS',
    '/radar/netflows/summary',
    '/radar/netflows/top/ases',
    '/radar/netflows/top/locations',
  ])('%s answers lastUpdated as the epoch date-time string', async (path) => {
    const r = await t.get(path);
    expect(r.status).toBe(200);
    expect(r.body.result.meta.lastUpdated).toBe(NEVER_UPDATED);
    expect(Number.isNaN(Date.parse(r.body.result.meta.lastUpdated))).toBe(false);
  });
});
