import pino from 'pino';
import { createApp } from '../../src/app.js';
import type { Scope } from '../../src/auth/scopes.js';
import { createToken } from '../../src/auth/tokens.js';
import type { ResponseCache } from '../../src/cache.js';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/client.js';
import type { Enricher } from '../../src/ingest/enrich.js';
import { type Mode, testDatabase } from './db.js';

export interface TestApp {
  db: Database;
  app: ReturnType<typeof createApp>;
  /** Bearer token with the given scopes. */
  token(scopes?: Scope[]): Promise<string>;
  /** GET with a token; returns status, headers and parsed body (JSON or text). */
  get(
    path: string,
    token?: string | null,
  ): Promise<{ status: number; headers: Headers; body: any; text: string }>;
  close(): Promise<void>;
}

/** The real app on its own database, with the clock pinned to `now`. */
export async function testApp(opts: {
  mode?: Mode;
  now: string;
  logs?: string[];
  enricher?: Enricher;
  /** Config flags (e.g. rate limits) over the defaults. */
  config?: Record<string, unknown>;
  clientIp?: string;
  /** Give the app an in-process response cache, as the Node service does. */
  responseCache?: ResponseCache;
}): Promise<TestApp> {
  const db = await testDatabase(opts.mode);
  const logs = opts.logs;
  const logger = logs
    ? pino({ level: 'debug' }, { write: (s: string) => void logs.push(s) })
    : pino({ level: 'silent' });
  const nowMs = Date.parse(opts.now);
  const app = createApp({
    db,
    // Suites that are not about rate limits make many deliberate auth failures: lift the limits.
    config: loadConfig({
      // Tokens are looked up on every request unless a suite asks for the cache: suites revoke
      // tokens straight in the database and expect the next request to see it.
      flags: {
        tokenCacheTtl: '0s',
        ...(opts.config ?? { rateLimit: { requests: 1_000_000, authFailures: 1_000_000 } }),
      },
    }),
    logger,
    now: () => nowMs,
    ...(opts.enricher ? { enricher: opts.enricher } : {}),
    ...(opts.clientIp ? { clientIp: () => opts.clientIp } : {}),
    ...(opts.responseCache ? { responseCache: opts.responseCache } : {}),
  });
  let readToken: string | undefined;
  const token = async (scopes: Scope[] = ['read']) =>
    (await createToken(db, { name: `t-${scopes.join('-')}`, scopes })).token;
  return {
    db,
    app,
    token,
    async get(path, tok) {
      if (tok === undefined) readToken ??= await token(['read']);
      const t = tok === undefined ? readToken : tok;
      const res = await app.request(path, { headers: t ? { authorization: `Bearer ${t}` } : {} });
      const text = await res.text();
      let body: unknown = text;
      if (res.headers.get('content-type')?.includes('json')) body = JSON.parse(text);
      return { status: res.status, headers: res.headers, body, text };
    },
    close: () => db.close(),
  };
}
