import { OpenAPIHono } from '@hono/zod-openapi';
import { Scalar } from '@scalar/hono-api-reference';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { AppEnv, Deps } from './deps.js';
import { ApiError, badParam, ErrorCode, errorBody } from './errors.js';
import { bearerAuth } from './middleware/auth.js';
import * as adminTokens from './routes/admin-tokens.js';
import * as ingestFlows from './routes/ingest-flows.js';
import * as summary from './routes/netflows/summary.js';
import * as summaryLegacy from './routes/netflows/summary-legacy.js';
import * as timeseries from './routes/netflows/timeseries.js';
import * as timeseriesGroups from './routes/netflows/timeseries-groups.js';
import * as top from './routes/netflows/top.js';

export const API_VERSION = '0.1.0';

/** Zod shape errors (a scalar given twice, a bad JSON body) become 400 code 2001 naming the field. */
function newApp() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const issue = result.error.issues[0];
        const path = issue?.path.join('.') || result.target;
        const message =
          issue?.code === 'invalid_type' && result.target === 'query'
            ? 'given more than once; it applies to the whole request'
            : (issue?.message ?? 'invalid');
        throw badParam(path, message);
      }
    },
  });
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01',
  '57P03',
]);

/** Connection-level failures, also when the ORM wraps the driver's error in `cause`. */
function isUnavailable(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string' && UNAVAILABLE_CODES.has(e.code)) return true;
    e = e.cause as typeof e;
  }
  return false;
}

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
    await next();
  });
  if (deps.config.corsOrigins.length > 0)
    app.use(
      '*',
      cors({ origin: deps.config.corsOrigins, allowHeaders: ['Authorization', 'Content-Type'], maxAge: 600 }),
    );

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.use('/radar/*', bearerAuth({ scope: 'read' }));
  app.use('/admin/*', bearerAuth({ scope: 'admin' }));
  app.use('/ingest/*', bearerAuth({ scope: 'ingest' }));

  const netflows = newApp();
  for (const r of [timeseries, timeseriesGroups, summary, summaryLegacy, top]) r.register(netflows);
  app.route('/radar/netflows', netflows);
  adminTokens.register(app);
  ingestFlows.register(app);
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
  app.get('/docs', Scalar({ url: '/openapi.json', pageTitle: 'flowradar API' }));

  // Radar's SDK calls /client/v4/radar/…: the same app answers, auth included, under that prefix.
  app.mount('/client/v4', (req) => app.fetch(req));

  app.notFound(() => {
    throw new ApiError(404, ErrorCode.NOT_FOUND, 'no such route');
  });
  app.onError((err, c) => {
    if (err instanceof ApiError) return c.json(errorBody(err.code, err.message), err.status, err.headers);
    if (err instanceof HTTPException && err.status < 500)
      return c.json(
        errorBody(ErrorCode.INPUT, err.message || 'bad request'),
        err.status as ContentfulStatusCode,
      );
    if (isUnavailable(err)) {
      deps.logger.warn({ err }, 'database unavailable');
      return c.json(errorBody(ErrorCode.UNAVAILABLE, 'the database is unavailable; retry shortly'), 503, {
        'Retry-After': '5',
      });
    }
    deps.logger.error({ err, path: c.req.path }, 'unhandled error');
    return c.json(errorBody(ErrorCode.INTERNAL, 'internal error'), 500);
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
    { name: 'Admin', description: 'Token management (scope admin).' },
    { name: 'Ingest', description: 'Flow records over HTTP (scope ingest).' },
  ],
};

/** The OpenAPI document of an app, as served at /openapi.json and committed in openapi/. */
export function openApiDocument(app: App) {
  return app.getOpenAPI31Document(openApiConfig);
}
