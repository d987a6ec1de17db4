import { beforeAll, describe, expect, it } from 'vitest';
import { createToken, revokeToken } from '../../../src/auth/tokens.js';
import type { TestApp } from '../../helpers/app.js';
import { expectError, expectOk } from '../data.js';
import { type DayContext, TS } from './common.js';

/** Bearer tokens on the API routes: missing, unknown, revoked, expired, wrong scope, path tricks. */
export function authTests(day: () => DayContext): void {
  let t: TestApp;

  describe('auth', () => {
    beforeAll(() => {
      ({ t } = day());
    });

    const paths = [
      '/radar/netflows/timeseries',
      '/radar/netflows/summary/AS',
      '/client/v4/radar/netflows/timeseries',
      '/client/v4/radar/netflows/top/ases',
    ];

    it('a read token answers under /radar and /client/v4/radar', async () => {
      for (const p of paths) expectOk(await t.get(p));
    });

    it('no token: 401 code 9106', async () => {
      for (const p of paths) expectError(await t.get(p, null), 401, 9106);
      const basic = await t.app.request(TS, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
      expect(basic.status).toBe(401);
      expect((await basic.json()).errors[0].code).toBe(9106);
    });

    it('an unknown token: 401 code 10000 with a WWW-Authenticate: Bearer challenge', async () => {
      for (const p of paths) {
        const r = await t.get(p, 'frt_not-a-token');
        expectError(r, 401, 10000);
        expect(r.headers.get('www-authenticate') ?? '').toMatch(/^Bearer /);
      }
    });

    it('a revoked token: 401 code 10000', async () => {
      const { token, info } = await createToken(t.db, { name: 'to-revoke', scopes: ['read'] });
      expectOk(await t.get(TS, token));
      expect(await revokeToken(t.db, info.id)).toBe(1);
      for (const p of paths) expectError(await t.get(p, token), 401, 10000);
    });

    it('expiry is judged by the pinned clock', async () => {
      const expired = await createToken(t.db, {
        name: 'expired',
        scopes: ['read'],
        expiresAt: new Date('2026-11-20T12:00:00Z'),
      });
      for (const p of paths) expectError(await t.get(p, expired.token), 401, 10000);
      // Still valid at the pinned 12:07, whatever the wall clock says.
      const later = await createToken(t.db, {
        name: 'later',
        scopes: ['read'],
        expiresAt: new Date('2026-11-20T13:00:00Z'),
      });
      expectOk(await t.get(TS, later.token));
    });

    it('a token with only scope ingest: 403 code 10000', async () => {
      const ingest = await t.token(['ingest']);
      for (const p of paths) expectError(await t.get(p, ingest), 403, 10000);
    });

    it('/healthz and /openapi.json need no token', async () => {
      const h = await t.get('/healthz', null);
      expect(h.status, h.text).toBe(200);
      expect(h.body).toEqual({ status: 'ok' });
      const o = await t.get('/openapi.json', null);
      expect(o.status, o.text).toBe(200);
      expect(o.body.openapi).toBe('3.1.0');
    });

    it('path tricks never bypass auth', async () => {
      for (const p of [
        '/radar//netflows/timeseries',
        '//radar/netflows/timeseries',
        '/RADAR/netflows/timeseries',
        '/Radar/netflows/timeseries',
        '/radar/NETFLOWS/timeseries',
        '/radar/netflows/timeseries/',
        '/radar/netflows/./timeseries',
        '/radar/netflows/x/../timeseries',
        '/%72adar/netflows/timeseries',
        '/radar%2Fnetflows/timeseries',
        '/radar/netflows/%74imeseries',
        '/client/v4/radar/netflows/timeseries',
        '/client/v4//radar/netflows/timeseries',
        '/client/v4/client/v4/radar/netflows/timeseries',
        '/CLIENT/v4/radar/netflows/timeseries',
        '/client/v4/RADAR/netflows/timeseries',
        '/client/v4/%72adar/netflows/timeseries',
        '/healthz/../radar/netflows/timeseries',
      ]) {
        const r = await t.get(p, null);
        expect(r.status, `${p}: ${r.text}`).not.toBe(200);
        expect(r.text, p).not.toContain('serie_0');
      }
      const admin = await t.get('/admin/tokens', null);
      expectError(admin, 401, 9106);
      expect((await t.get('/ADMIN/tokens', null)).status).not.toBe(200);
      expect((await t.get('/client/v4/admin/tokens', null)).status).not.toBe(200);
    });
  });
}
