import { sql } from 'drizzle-orm';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheKey, dataWatermark, ResponseCache, responseCache, SLOT_MS } from '../src/cache.js';
import type { AppEnv, Deps } from '../src/deps.js';
import { testApp } from './helpers/app.js';
import { insertTraffic, testDatabase } from './helpers/db.js';

const answer = (body: string) => ({ status: 200, contentType: 'application/json', body });

describe('ResponseCache', () => {
  it('answers only under the watermark an entry was stored with', () => {
    const cache = new ResponseCache();
    cache.set('k', 'w1', answer('a'));
    expect(cache.get('k', 'w1')?.body).toBe('a');
    expect(cache.get('k', 'w2')).toBeUndefined();
    // A stale entry is dropped, not kept for the old watermark.
    expect(cache.get('k', 'w1')).toBeUndefined();
    expect(cache.hits).toBe(1);
    expect(cache.misses).toBe(2);
  });

  it('evicts the least recently used entry beyond maxEntries', () => {
    const cache = new ResponseCache({ maxEntries: 2 });
    cache.set('a', 'w', answer('1'));
    cache.set('b', 'w', answer('2'));
    cache.get('a', 'w');
    cache.set('c', 'w', answer('3'));
    expect(cache.size).toBe(2);
    expect(cache.get('b', 'w')).toBeUndefined();
    expect(cache.get('a', 'w')?.body).toBe('1');
    expect(cache.get('c', 'w')?.body).toBe('3');
  });

  it('keeps the body bytes under maxBytes and refuses a body larger than all of it', () => {
    const cache = new ResponseCache({ maxBytes: 15 });
    cache.set('a', 'w', answer('12345'));
    cache.set('b', 'w', answer('67890'));
    expect(cache.size).toBe(1);
    expect(cache.get('b', 'w')?.body).toBe('67890');
    cache.set('huge', 'w', answer('x'.repeat(8)));
    expect(cache.get('huge', 'w')).toBeUndefined();
    expect(cache.get('b', 'w')?.body).toBe('67890');
  });

  it('forgets answers older than maxAgeMs whatever the watermark', () => {
    let t = 0;
    const cache = new ResponseCache({ maxAgeMs: 1000, now: () => t });
    cache.set('k', 'w', answer('a'));
    t = 1000;
    expect(cache.get('k', 'w')?.body).toBe('a');
    t = 1001;
    expect(cache.get('k', 'w')).toBeUndefined();
  });

  it('replacing an entry does not count its bytes twice', () => {
    const cache = new ResponseCache({ maxBytes: 12 });
    cache.set('k', 'w', answer('abc'));
    cache.set('k', 'w', answer('abcdef'));
    expect(cache.get('k', 'w')?.body).toBe('abcdef');
  });
});

describe('cacheKey', () => {
  const key = (q: string, scopes = ['read'], now = 0) =>
    cacheKey(new URL(`http://h/radar/netflows/timeseries?${q}`), scopes, now);

  it('ignores the order of parameter names but keeps the order of the values of one name', () => {
    expect(key('name=a&asn=1&name=b&asn=2')).toBe(key('asn=1&asn=2&name=a&name=b'));
    expect(key('asn=1&asn=2')).not.toBe(key('asn=2&asn=1'));
    // Positions stay distinct: an empty value is a position too.
    expect(key('asn=&asn=2')).not.toBe(key('asn=2'));
  });

  it('separates scopes (in any order) and 15-minute slots of the clock', () => {
    expect(key('x=1', ['read', 'read:raw'])).toBe(key('x=1', ['read:raw', 'read']));
    expect(key('x=1', ['read'])).not.toBe(key('x=1', ['read', 'read:raw']));
    expect(key('x=1', ['read'], SLOT_MS - 1)).toBe(key('x=1', ['read'], 0));
    expect(key('x=1', ['read'], SLOT_MS)).not.toBe(key('x=1', ['read'], 0));
  });

  it('separates paths', () => {
    expect(cacheKey(new URL('http://h/a?x=1'), [], 0)).not.toBe(cacheKey(new URL('http://h/b?x=1'), [], 0));
  });
});

describe('dataWatermark, on the real database', () => {
  let db: Awaited<ReturnType<typeof testDatabase>>;
  beforeAll(async () => {
    db = await testDatabase('embedded');
  });
  afterAll(() => db?.close());

  it('moves when a minute lands or an annotation is added; asks once per ttl', async () => {
    let t = 0;
    const wm = dataWatermark(db, 1000, () => t);
    const [a, b] = await Promise.all([wm(), wm()]);
    expect(a).toBe(b);
    const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString();
    await insertTraffic(db, [{ time: minute, asn: 64500, location: 'PT', bytes: 10 }]);
    // Within the ttl the old answer stands; after it, the new minute shows.
    t = 999;
    expect(await wm()).toBe(a);
    t = 1000;
    const afterTraffic = await wm();
    expect(afterTraffic).not.toBe(a);
    expect(afterTraffic).toContain(minute.slice(0, 10));
    await db.query(sql`INSERT INTO annotations (start_time, end_time, description)
      VALUES (now() - interval '1 hour', now(), 'maintenance')`);
    t = 2000;
    expect(await wm()).not.toBe(afterTraffic);
  });
});

describe('the Node app with a response cache, on the real database', () => {
  it('answers repeats from the cache, per scope set, and recomputes when traffic lands', async () => {
    const cache = new ResponseCache();
    const t = await testApp({ now: new Date().toISOString(), responseCache: cache });
    try {
      const minute = (ago: number) => new Date(Math.floor(Date.now() / 60_000 - ago) * 60_000).toISOString();
      await insertTraffic(t.db, [{ time: minute(30), asn: 64500, location: 'PT', bytes: 100 }]);
      const q =
        '/radar/netflows/timeseries?dateRange=1d&aggInterval=15m&normalization=RAW_VALUES&format=json';
      const raw = await t.token(['read', 'read:raw']);
      const first = await t.get(q, raw);
      expect(first.status).toBe(200);
      expect(first.headers.get('x-cache')).toBe('MISS');
      const second = await t.get(q, raw);
      expect(second.headers.get('x-cache')).toBe('HIT');
      expect(second.text).toBe(first.text);
      // Another scope set never gets this answer (read alone may not see RAW_VALUES).
      const plain = await t.get(q, await t.token(['read']));
      expect(plain.status).toBe(403);
      expect(plain.headers.get('x-cache')).toBeNull();
      // New traffic moves the watermark: the next answer is computed again and holds it.
      await insertTraffic(t.db, [{ time: minute(1), asn: 64500, location: 'PT', bytes: 50 }]);
      await new Promise((r) => setTimeout(r, 1100));
      const third = await t.get(q, raw);
      expect(third.headers.get('x-cache')).toBe('MISS');
      const sum = (b: unknown) =>
        ((b as any).result.serie_0.values as string[]).reduce((acc, v) => acc + Number(v), 0);
      expect(sum(third.body)).toBe(sum(first.body) + 50);
      expect(cache.hits).toBe(1);
    } finally {
      await t.close();
    }
  });
});

describe('responseCache middleware', () => {
  function appWith(watermark: { value: string }, scopes: string[] = ['read']) {
    let computed = 0;
    const app = new Hono<AppEnv>();
    app.use('*', async (c, next) => {
      c.set('deps', { now: () => 0 } as unknown as Deps);
      c.set('caller', { tokenId: 't', scopes });
      await next();
    });
    app.use('*', responseCache({ watermark: async () => watermark.value }));
    app.get('/q', (c) => {
      computed++;
      return c.json({ n: computed, q: c.req.query('x') });
    });
    app.get('/bad', (c) => {
      computed++;
      return c.json({ error: true }, 400);
    });
    return { app, computed: () => computed };
  }

  it('answers a repeated GET from the cache until the watermark moves', async () => {
    const wm = { value: 'a' };
    const { app, computed } = appWith(wm);
    const first = await app.request('/q?x=1');
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect(await first.json()).toEqual({ n: 1, q: '1' });
    const second = await app.request('/q?x=1');
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(second.headers.get('content-type')).toContain('application/json');
    expect(second.headers.get('etag')).toMatch(/^W\/"/);
    expect(await second.json()).toEqual({ n: 1, q: '1' });
    expect(computed()).toBe(1);
    await app.request('/q?x=2');
    expect(computed()).toBe(2);
    wm.value = 'b';
    expect(await (await app.request('/q?x=1')).json()).toEqual({ n: 3, q: '1' });
  });

  it('gives 304 on a hit whose ETag the client holds', async () => {
    const { app } = appWith({ value: 'a' });
    await app.request('/q?x=1');
    const hit = await app.request('/q?x=1');
    const etag = hit.headers.get('etag')!;
    const again = await app.request('/q?x=1', { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });

  it('computes afresh for Cache-Control: no-cache and stores that answer', async () => {
    const { app, computed } = appWith({ value: 'a' });
    await app.request('/q?x=1');
    const fresh = await app.request('/q?x=1', { headers: { 'cache-control': 'no-cache' } });
    expect(fresh.headers.get('x-cache')).toBe('MISS');
    expect(await fresh.json()).toEqual({ n: 2, q: '1' });
    expect(await (await app.request('/q?x=1')).json()).toEqual({ n: 2, q: '1' });
    expect(computed()).toBe(2);
  });

  it('stores neither errors nor other methods', async () => {
    const { app, computed } = appWith({ value: 'a' });
    await app.request('/bad');
    await app.request('/bad');
    expect(computed()).toBe(2);
    const post = await app.request('/q?x=1', { method: 'POST' });
    expect(post.status).toBe(404);
  });
});
