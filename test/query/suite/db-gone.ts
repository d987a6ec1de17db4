import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, testApp } from '../../helpers/app.js';
import type { Mode } from '../../helpers/db.js';
import { expectError, expectOk, NOW, type Reply, url } from '../data.js';
import { TS } from './common.js';

/** A database closed under a running app: the error envelope, and nothing about internals. */
export function dbGoneTests(mode: Mode): void {
  describe('a database that goes away', () => {
    let t: TestApp;
    const logs: string[] = [];
    let token: string;
    beforeAll(async () => {
      t = await testApp({ mode, now: NOW, logs });
      token = await t.token(['read']);
      expectOk(await t.get(TS, token));
      await t.db.close();
    });
    afterAll(async () => {
      try {
        await t?.close();
      } catch {
        // already closed
      }
    });

    // Embedded: a closed PGlite throws a plain Error → 500. Server: the pool's CONNECTION_ENDED
    // is unavailability → 503 with Retry-After.
    it('answers 500 code 2000 (server: 503 code 2003) and says nothing about internals', async () => {
      const r: Reply = await t.get(url(TS, { dateRange: '1d' }), token);
      if (mode === 'embedded') {
        expect(r.status, r.text).toBe(500);
        expect(r.body).toEqual({
          success: false,
          errors: [{ code: 2000, message: 'internal error' }],
          messages: [],
          result: null,
        });
        expect(logs.join('\n')).toContain('unhandled error');
      } else {
        expectError(r, 503, 2003);
        expect(r.headers.get('retry-after')).toBeTruthy();
        expect(logs.join('\n')).toContain('database unavailable');
        expect(r.text).not.toMatch(/pglite|postgres|ECONN|CONNECTION_|stack/i);
      }
    });
  });
}
