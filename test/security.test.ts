/**
 * Every operation of the OpenAPI document, one table: no token and a bad token get 401, a token
 * without the scope the document names gets 403, a token with it gets past authentication, a token
 * over its request budget and an address over its failure budget get 429. The scope comes from the
 * document (`security: [{ bearerAuth: [scope] }]`), so the test also holds the document to what the
 * middleware enforces. New operations are covered as soon as they are routed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES, type Scope } from '../src/auth/scopes.js';
import { ErrorCode } from '../src/errors.js';
import { createEnricher } from '../src/ingest/enrich.js';
import { generateOpenApi } from '../src/openapi.js';
import { type TestApp, testApp } from './helpers/app.js';

const NOW = '2026-11-20T12:05:00Z';

interface Operation {
  id: string;
  method: string;
  path: string;
  scope: Scope;
}

interface OpenApiOperation {
  operationId: string;
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string; schema?: { enum?: string[]; example?: string } }[];
}

/** A concrete URL for a templated path: the first enum value of a path parameter, else a UUID. */
function concrete(path: string, op: OpenApiOperation): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const p = op.parameters?.find((x) => x.in === 'path' && x.name === name);
    return p?.schema?.enum?.[0] ?? p?.schema?.example ?? '00000000-0000-4000-8000-000000000000';
  });
}

const doc = JSON.parse(generateOpenApi()) as { paths: Record<string, Record<string, OpenApiOperation>> };
const OPERATIONS: Operation[] = Object.entries(doc.paths).flatMap(([path, ops]) =>
  Object.entries(ops).map(([method, op]) => {
    const scopes = op.security?.flatMap((s) => s.bearerAuth ?? []) ?? [];
    if (scopes.length !== 1)
      throw new Error(`${op.operationId}: expected one bearerAuth scope, got ${scopes}`);
    return {
      id: op.operationId,
      method: method.toUpperCase(),
      path: concrete(path, op),
      scope: scopes[0] as Scope,
    };
  }),
);

/** Every scope that does not grant `scope` (admin grants all; read:raw grants read). */
function lacking(scope: Scope): Scope[] {
  const grantedBy: Record<Scope, Scope[]> = {
    read: ['read', 'read:raw', 'admin'],
    'read:raw': ['read:raw', 'admin'],
    ingest: ['ingest', 'admin'],
    admin: ['admin'],
  };
  return SCOPES.filter((s) => !grantedBy[scope].includes(s));
}

async function call(t: TestApp, op: Operation, token?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const body = op.method === 'GET' || op.method === 'DELETE' ? undefined : '{}';
  const res = await t.app.request(op.path, { method: op.method, headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text.startsWith('{') ? JSON.parse(text) : text };
}

function expectError(r: Awaited<ReturnType<typeof call>>, status: number, code: number) {
  expect(r.status).toBe(status);
  expect(r.body).toMatchObject({ success: false, errors: [{ code }] });
}

describe('security of every operation in the OpenAPI document', () => {
  let open: TestApp;
  let perToken: TestApp;
  let perAddress: TestApp;
  beforeAll(async () => {
    [open, perToken, perAddress] = await Promise.all([
      testApp({
        now: NOW,
        enricher: await createEnricher({ localNetworks: ['10.0.0.0/8'], useExporterAs: true }),
      }),
      testApp({ now: NOW, config: { rateLimit: { requests: 2, authFailures: 1_000_000 } } }),
      testApp({
        now: NOW,
        config: { rateLimit: { requests: 1_000_000, authFailures: 2 } },
        clientIp: '192.0.2.7',
      }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([open, perToken, perAddress].map((t) => t?.close()));
  });

  it('covers every routed operation, each with the scope it documents', () => {
    expect(OPERATIONS.length).toBeGreaterThanOrEqual(11);
    expect(new Set(OPERATIONS.map((o) => o.scope))).toEqual(new Set(['read', 'admin', 'ingest']));
  });

  it.each(OPERATIONS)(
    '$id ($method $path, scope $scope): 401 without a token or with a bad one',
    async (op) => {
      const none = await call(open, op);
      expectError(none, 401, ErrorCode.AUTH_MISSING);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
      expectError(await call(open, op, 'not-a-token'), 401, ErrorCode.AUTH);
    },
  );

  it.each(OPERATIONS)('$id: 403 for every scope that does not grant $scope', async (op) => {
    for (const scope of lacking(op.scope)) {
      const r = await call(open, op, await open.token([scope]));
      expectError(r, 403, ErrorCode.AUTH);
      expect(r.body.errors[0].message).toContain(op.scope);
    }
  });

  it.each(OPERATIONS)('$id: a token with $scope gets past authentication', async (op) => {
    const r = await call(open, op, await open.token([op.scope]));
    expect([401, 403, 429]).not.toContain(r.status);
    expect(r.status).toBeLessThan(500);
  });

  it.each(OPERATIONS)('$id: 429 once the token has spent its requests', async (op) => {
    const token = await perToken.token([op.scope]);
    for (let i = 0; i < 2; i++) expect((await call(perToken, op, token)).status).not.toBe(429);
    const r = await call(perToken, op, token);
    expectError(r, 429, ErrorCode.RATE_LIMITED);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it.each(OPERATIONS)('$id: 429 even with a good token once the address has failed too often', async (op) => {
    const token = await perAddress.token([op.scope]);
    // The address's failures are shared by every operation: the first two make it over budget.
    for (let i = 0; i < 2; i++) await call(perAddress, op, 'not-a-token');
    const r = await call(perAddress, op, token);
    expectError(r, 429, ErrorCode.RATE_LIMITED);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
