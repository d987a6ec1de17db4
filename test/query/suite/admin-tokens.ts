import { beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../helpers/app.js';
import { expectError, expectOk } from '../data.js';
import { type DayContext, TS } from './common.js';

/** The admin token API (/admin/tokens). */
export function adminTokenTests(day: () => DayContext): void {
  let t: TestApp;
  let admin: string;

  describe('admin token API', () => {
    beforeAll(() => {
      ({ t, admin } = day());
    });

    const call = (method: string, path: string, token: string | null, body?: unknown) =>
      t.app.request(path, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });

    it('POST creates a token usable at once; GET lists without secrets; DELETE revokes', async () => {
      const created = await call('POST', '/admin/tokens', admin, { name: 'grafana', scopes: ['read'] });
      const c = await created.json();
      expect(created.status, JSON.stringify(c)).toBe(201);
      expect(c).toMatchObject({
        success: true,
        errors: [],
        messages: [],
        result: { name: 'grafana', scopes: ['read'], expiresAt: null, revokedAt: null },
      });
      const { token, id } = c.result as { token: string; id: string };
      expect(token).toMatch(/^frt_/);
      expectOk(await t.get(TS, token));

      const listed = await call('GET', '/admin/tokens', admin);
      const listText = await listed.text();
      expect(listed.status, listText).toBe(200);
      const list = JSON.parse(listText).result as Record<string, unknown>[];
      const mine = list.find((x) => x.id === id);
      expect(mine).toMatchObject({ name: 'grafana', scopes: ['read'], revokedAt: null });
      for (const x of list) {
        expect(x).not.toHaveProperty('token');
        expect(x).not.toHaveProperty('hash');
      }
      expect(listText).not.toContain(token);
      expect(listText).not.toContain(token.slice(4));

      const deleted = await call('DELETE', `/admin/tokens/${id}`, admin);
      expect(deleted.status).toBe(200);
      expect(await deleted.json()).toMatchObject({ success: true, result: { revoked: 1 } });
      expectError(await t.get(TS, token), 401, 10000);
      const again = await call('DELETE', `/admin/tokens/${id}`, admin);
      expect(again.status).toBe(404);
      expect((await again.json()).errors[0].code).toBe(7003);
    });

    it('expires is relative to the pinned clock', async () => {
      const created = await call('POST', '/admin/tokens', admin, {
        name: 'short',
        scopes: ['read'],
        expires: '1h',
      });
      const c = await created.json();
      expect(created.status, JSON.stringify(c)).toBe(201);
      expect(c.result.expiresAt).toBe('2026-11-20T13:07:00.000Z');
      expectOk(await t.get(TS, c.result.token));
    });

    it('bad bodies are 400 code 2001', async () => {
      for (const body of [
        { name: 'x', scopes: ['root'] },
        { name: '', scopes: ['read'] },
        { scopes: ['read'] },
      ]) {
        const r = await call('POST', '/admin/tokens', admin, body);
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect((await r.json()).errors[0].code).toBe(2001);
      }
    });

    it('a read token gets 403 on /admin; no token 401', async () => {
      const read = await t.token(['read']);
      for (const [method, path] of [
        ['GET', '/admin/tokens'],
        ['POST', '/admin/tokens'],
        ['DELETE', '/admin/tokens/whatever'],
      ] as const) {
        const r = await call(
          method,
          path,
          read,
          method === 'POST' ? { name: 'x', scopes: ['admin'] } : undefined,
        );
        expect(r.status, `${method} ${path}`).toBe(403);
        expect((await r.json()).errors[0].code).toBe(10000);
        const anon = await call(method, path, null);
        expect(anon.status, `${method} ${path}`).toBe(401);
      }
      const raw2 = await t.token(['read', 'read:raw', 'ingest']);
      expect((await call('GET', '/admin/tokens', raw2)).status).toBe(403);
    });
  });
}
