import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { createToken } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/client.js';
import { type Cluster, holdLock, startMigratedCluster } from './helpers/pg-server.js';

describe('the API while the database is down (server mode)', () => {
  // A server of its own: this test stops it.
  let pg: Cluster;
  beforeAll(async () => {
    pg = await startMigratedCluster();
  });
  afterAll(() => pg?.destroy());

  it('answers 503 with Retry-After in the Radar envelope, /readyz follows, /healthz stays up, and it recovers by itself', async () => {
    // The production pool: ten connections, prepared statements.
    const db = await openDatabase({ databaseUrl: pg.url });
    const { token } = await createToken(db, { name: 'r', scopes: ['read'] });
    // Tokens the app has not looked up yet (it caches those it has): their lookup meets the outage.
    const inFlight = (await createToken(db, { name: 'in-flight', scopes: ['read'] })).token;
    const unseen = (await createToken(db, { name: 'unseen', scopes: ['read'] })).token;
    const app = createApp({ db, config: loadConfig({}), logger: pino({ level: 'silent' }), now: Date.now });
    const get = (path: string, tok = token) =>
      app.request(path, { headers: { authorization: `Bearer ${tok}` } });
    const unavailable = {
      success: false,
      errors: [{ code: 2003, message: 'the database is unavailable; retry shortly' }],
      messages: [],
      result: null,
    };
    try {
      expect((await get('/readyz')).status).toBe(200);
      // Several at once, so the pool holds several connections when the server goes away.
      const answers = await Promise.all(
        Array.from({ length: 5 }, () => get('/radar/netflows/timeseries?dateRange=1d')),
      );
      expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);

      // A request whose token lookup is under way when the server stops.
      const lock = await holdLock(pg, 'LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE');
      const cut = get('/radar/netflows/timeseries?dateRange=1d', inFlight);
      await lock.stopWhenWaiting('select "id", "scopes"');
      const cutAnswer = await cut;
      expect(cutAnswer.status).toBe(503);
      expect(await cutAnswer.json()).toEqual(unavailable);

      const down = await get('/radar/netflows/timeseries?dateRange=1d');
      expect(down.status).toBe(503);
      expect(down.headers.get('retry-after')).toBe('5');
      expect(await down.json()).toEqual(unavailable);
      // An outage is never an authentication failure.
      const unknown = await get('/radar/netflows/timeseries?dateRange=1d', unseen);
      expect(unknown.status).toBe(503);
      expect(await unknown.json()).toEqual(unavailable);
      const ready = await get('/readyz');
      expect(ready.status).toBe(503);
      expect(ready.headers.get('retry-after')).toBe('5');
      expect((await get('/healthz')).status).toBe(200);

      await pg.start();
      let status = 0;
      for (let i = 0; i < 20 && status !== 200; i++) {
        status = (await get('/radar/netflows/timeseries?dateRange=1d')).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 250));
      }
      expect(status).toBe(200);
      expect((await get('/readyz')).status).toBe(200);
      // The pool closes at once: the query the stop cut does not hold a connection until end()'s
      // timeout (5 s; scripts/patch-postgres.mjs, guard 2).
      const t0 = performance.now();
      await db.close();
      expect(performance.now() - t0).toBeLessThan(2000);
    } finally {
      await db.close();
    }
  });
});
