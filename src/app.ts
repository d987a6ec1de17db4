import { OpenAPIHono } from '@hono/zod-openapi';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { TokenCache } from './auth/tokens.js';
import { dataWatermark, responseCache } from './cache.js';
import { dbErrorCode, isConnectionError, isTransientError } from './db/errors.js';
import { ping, replayLagBytes } from './db/status.js';
import { type AppEnv, type Deps, readDatabase } from './deps.js';
import { ApiError, ErrorCode, errorBody } from './errors.js';
import { bearerAuth } from './middleware/auth.js';
import { httpCache } from './middleware/http-cache.js';
import { tokenRateLimit, WindowCounter } from './middleware/rate-limit.js';
import { securityHeaders } from './middleware/security-headers.js';
import * as adminAnomalies from './routes/admin-anomalies.js';
import * as adminTokens from './routes/admin-tokens.js';
import * as docs from './routes/docs.js';
import * as embeds from './routes/embeds.js';
import * as explorer from './routes/explorer.js';
import * as ingestFlows from './routes/ingest-flows.js';
import * as summary from './routes/netflows/summary.js';
import * as summaryLegacy from './routes/netflows/summary-legacy.js';
import * as timeseries from './routes/netflows/timeseries.js';
import * as timeseriesGroups from './routes/netflows/timeseries-groups.js';
import * as top from './routes/netflows/top.js';
import { validationError } from './routes/schemas.js';
import * as trafficAnomalies from './routes/traffic-anomalies.js';

export const API_VERSION = '0.1.0';
/** Longest URL accepted (414 beyond). */
export const MAX_URL_BYTES = 8192;

/**
 * A request that fails its route's schema (a bad enum or number, a scalar given twice, a bad JSON
 * body) is a 400 code 2001 naming the field, and its position for a series parameter.
 */
function newApp() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error.issues, result.target);
    },
  });
}

/**
 * The database cannot answer now: it is away, or the statement lost to another transaction or to a
 * standby's replay (a retry shortly will do). 503 with Retry-After, not a 500.
 */
function isUnavailable(err: unknown): boolean {
  const code = dbErrorCode(err);
  return isConnectionError(code) || isTransientError(code);
}

/**
 * What the official cloudflare SDK sends besides Authorization: the legacy key pair, its API
 * version and its telemetry headers. A browser refuses the SDK's call unless the preflight allows
 * them all.
 */
const SDK_HEADERS = [
  'X-Auth-Email',
  'X-Auth-Key',
  'api-version',
  'X-Stainless-Arch',
  'X-Stainless-Lang',
  'X-Stainless-OS',
  'X-Stainless-Package-Version',
  'X-Stainless-Retry-Count',
  'X-Stainless-Runtime',
  'X-Stainless-Runtime-Version',
  'X-Stainless-Timeout',
];

/**
 * Builds the one flowradar app, runtime-agnostic: Node, Workers and tests all call this.
 * @example
 * const app = createApp({ db, config, logger, now: Date.now });
 * serve({ fetch: app.fetch, port: config.port });
 */
export function createApp(deps: Deps) {
  const app = newApp();

  app.use('*', async function injectDeps(c, next) {
    c.set('deps', deps);
    const t0 = performance.now();
    await next();
    // Method, path and status only: headers (and so tokens) are never logged.
    deps.logger.debug(
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round(performance.now() - t0),
      },
      'request',
    );
  });
  app.use('*', securityHeaders());
  app.use('*', httpCache());
  app.use('*', async function limitUrl(c, next) {
    if (c.req.url.length > MAX_URL_BYTES)
      throw new ApiError('URL_TOO_LONG', `url: at most ${MAX_URL_BYTES} bytes; use fewer series or filters`);
    await next();
  });
  if (deps.config.corsOrigins.length > 0)
    app.use(
      '*',
      cors({
        // '*' is any origin, never with credentials (tokens travel in Authorization, not cookies).
        origin: deps.config.corsOrigins.includes('*') ? '*' : deps.config.corsOrigins,
        allowHeaders: ['Authorization', 'Content-Type', 'If-None-Match', ...SDK_HEADERS],
        exposeHeaders: ['ETag', 'RateLimit', 'RateLimit-Policy', 'Retry-After'],
        maxAge: 600,
      }),
    );

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  // Ready when every database a request may need answers: with a replica down the primary would
  // still authenticate, but every NetFlows answer would fail. The replica's lag is reported, not
  // judged: how stale is too stale is the operator's call.
  app.get('/readyz', async (c) => {
    const retry = { 'Retry-After': '5' };
    try {
      await ping(deps.db);
    } catch {
      return c.json({ status: 'database unavailable' }, 503, retry);
    }
    if (!deps.readDb) return c.json({ status: 'ready' });
    try {
      const lagBytes = await replayLagBytes(deps.db, deps.readDb);
      return c.json({ status: 'ready', readReplica: { status: 'ready', lagBytes } });
    } catch {
      return c.json(
        { status: 'read replica unavailable', readReplica: { status: 'unavailable' } },
        503,
        retry,
      );
    }
  });

  const { rateLimit } = deps.config;
  const failures = new WindowCounter(rateLimit.authFailures, rateLimit.window);
  const perToken = tokenRateLimit({ counter: new WindowCounter(rateLimit.requests, rateLimit.window) });
  deps.tokenCache ??= new TokenCache(deps.config.tokenCacheTtl);
  const tokens = deps.tokenCache;
  for (const [path, scope] of [
    ['/radar/*', 'read'],
    ['/admin/*', 'admin'],
    ['/ingest/*', 'ingest'],
    ['/embeds', 'admin'],
  ] as const) {
    app.use(path, bearerAuth({ scope, failures, tokens }));
    app.use(path, perToken);
  }
  // After authentication and the rate limit: a cached answer is only given to a caller allowed
  // to see it, and still counts against its token. The watermark comes from the database the
  // answers come from: a primary ahead of a lagging replica would file old answers under new
  // watermarks, kept until the next change.
  if (deps.responseCache)
    app.use(
      '/radar/netflows/*',
      responseCache({ cache: deps.responseCache, watermark: dataWatermark(readDatabase(deps)) }),
    );

  const netflows = newApp();
  for (const r of [timeseries, timeseriesGroups, summary, summaryLegacy, top]) r.register(netflows);
  app.route('/radar/netflows', netflows);
  const radar = newApp();
  trafficAnomalies.register(radar);
  app.route('/radar', radar);
  adminTokens.register(app);
  adminAnomalies.register(app);
  ingestFlows.register(app);
  embeds.register(app);
  explorer.register(app);
  if (deps.metrics) {
    const registry = deps.metrics.registry;
    app.get('/metrics', async (c) =>
      c.body(await registry.metrics(), 200, { 'content-type': registry.contentType }),
    );
  }

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'A flowradar token (frt_…); `flowradar token create` makes one.',
  });
  app.doc31('/openapi.json', openApiConfig);
  docs.register(app, deps);

  // Radar's SDK calls /client/v4/radar/…: the same app answers, auth included, under that prefix.
  app.mount('/client/v4', (req) => app.fetch(req));

  app.notFound(() => {
    throw new ApiError('NOT_FOUND', 'no such route');
  });
  app.onError((err, c) => {
    /** An ApiError in the envelope, with the status its kind implies. */
    const fail = (e: ApiError) => c.json(errorBody(e.code, e.message), e.status, e.headers);
    if (err instanceof ApiError) return fail(err);
    if (err instanceof HTTPException && err.status < 500)
      return c.json(
        errorBody(ErrorCode.INPUT, err.message || 'bad request'),
        err.status as ContentfulStatusCode,
      );
    const retry = { 'Retry-After': '5' };
    if (isUnavailable(err)) {
      deps.logger.warn({ err }, 'database unavailable');
      return fail(new ApiError('UNAVAILABLE', 'the database is unavailable; retry shortly', retry));
    }
    // Not a fault of ours: the database was too busy (or a lock too long held) to answer in time.
    if (dbErrorCode(err) === '57014') {
      deps.logger.warn({ err, path: c.req.path }, 'query stopped by the database');
      return fail(
        new ApiError('UNAVAILABLE', 'the query took longer than the database allows; retry shortly', retry),
      );
    }
    deps.logger.error({ err, path: c.req.path }, 'unhandled error');
    return fail(new ApiError('INTERNAL', 'internal error'));
  });
  return app;
}

export type App = ReturnType<typeof createApp>;

export const openApiConfig = {
  openapi: '3.1.0',
  info: {
    title: 'flowradar',
    version: API_VERSION,
    description:
      'Self-hosted, Radar-compatible NetFlows API. Every /radar route is also served under /client/v4, as Cloudflare Radar does.',
  },
  servers: [{ url: '/', description: 'this server' }],
  tags: [
    {
      name: 'NetFlows',
      description: 'Traffic series, groups, summaries and tops, wire-compatible with Radar.',
    },
    {
      name: 'Traffic anomalies',
      description: 'Sustained drops of an AS’s or a location’s traffic, wire-compatible with Radar.',
    },
    { name: 'Admin', description: 'Token management and anomaly review (scope admin).' },
    { name: 'Ingest', description: 'Flow records over HTTP (scope ingest).' },
    { name: 'Embeds', description: 'Signed, read-only chart links (scope admin).' },
  ],
};

/** The OpenAPI document of an app, as served at /openapi.json and committed in openapi/. */
export function openApiDocument(app: App) {
  return app.getOpenAPI31Document(openApiConfig);
}
