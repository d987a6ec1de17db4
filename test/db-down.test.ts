import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { createToken } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/client.js';
import { freePort, testDatabase } from './helpers/db.js';

describe('the API while the database is down (server mode)', () => {
  it('answers 503 with Retry-After in the Radar envelope, /readyz follows, /healthz stays up, and it recovers by itself', async () => {
    const embedded = await testDatabase();
    const port = await freePort();
    let server = new PGLiteSocketServer({ db: embedded.pglite!, port, host: '127.0.0.1' });
    await server.start();
    const db = await openDatabase({
      databaseUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
      max: 1,
      prepare: false,
    });
    const { token } = await createToken(db, { name: 'r', scopes: ['read'] });
    const app = createApp({ db, config: loadConfig({}), logger: pino({ level: 'silent' }), now: Date.now });
    const get = (path: string) => app.request(path, { headers: { authorization: `Bearer ${token}` } });
    try {
      expect((await get('/readyz')).status).toBe(200);
      expect((await get('/radar/netflows/timeseries?dateRange=1d')).status).toBe(200);

      await server.stop();
      const down = await get('/radar/netflows/timeseries?dateRange=1d');
      expect(down.status).toBe(503);
      expect(down.headers.get('retry-after')).toBe('5');
      expect(await down.json()).toEqual({
        success: false,
        errors: [{ code: 2003, message: 'the database is unavailable; retry shortly' }],
        messages: [],
        result: null,
      });
      const ready = await get('/readyz');
      expect(ready.status).toBe(503);
      expect(ready.headers.get('retry-after')).toBe('5');
      expect((await get('/healthz')).status).toBe(200);

      server = new PGLiteSocketServer({ db: embedded.pglite!, port, host: '127.0.0.1' });
      await server.start();
      let status = 0;
      for (let i = 0; i < 20 && status !== 200; i++) {
        status = (await get('/radar/netflows/timeseries?dateRange=1d')).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 250));
      }
      expect(status).toBe(200);
      expect((await get('/readyz')).status).toBe(200);
    } finally {
      await db.close();
      await server.stop().catch(() => {});
      await embedded.close();
    }
  });
});
