import type { Context } from 'hono';
import type { Logger } from 'pino';
import type { Caller } from './auth/scopes.js';
import type { TokenCache } from './auth/tokens.js';
import type { ResponseCache } from './cache.js';
import type { Config } from './config.js';
import type { Database } from './db/client.js';
import type { Enricher } from './ingest/enrich.js';
import type { IngestMetrics } from './ingest/metrics.js';

/** What /metrics answers: a prom-client registry, or one read from elsewhere (src/cluster.ts). */
export interface MetricsSource {
  registry: Pick<IngestMetrics['registry'], 'metrics' | 'contentType'>;
}

/** What the app needs from its host; injected so Node, Workers and tests build it alike. */
export interface Deps {
  /** The primary: tokens, admin, ingest, embed keys; every read when there is no `readDb`. */
  db: Database;
  /**
   * A streaming replica of `db` (`databaseReadUrl`) that the NetFlows answers, their
   * `meta.lastUpdated` and the response cache's watermark are all read from: one database, so an
   * answer is never older than the watermark it is cached under. See {@link readDatabase}.
   */
  readDb?: Database;
  config: Config;
  logger: Logger;
  /** Current time, Unix ms; tests pin it. */
  now: () => number;
  /** Enrichment for POST /ingest/flows; without it the endpoint answers 503. */
  enricher?: Enricher;
  /** Collector metrics for /metrics, when this process collects (or its primary does). */
  metrics?: MetricsSource;
  /** The client's address (socket peer on Node, CF-Connecting-IP on Workers). */
  clientIp?: (c: Context) => string | undefined;
  /**
   * In-process cache of NetFlows answers, valid under the data watermark (src/cache.ts). The Node
   * service gives one (`cacheEntries`); without it every request asks the database.
   */
  responseCache?: ResponseCache;
  /** Tokens looked up recently; createApp makes one from `tokenCacheTtl` when none is given. */
  tokenCache?: TokenCache;
  /**
   * Where /docs loads its viewer script from: `own` (default) serves it from the installed
   * @scalar/api-reference, so the page works offline; `cdn` leaves Scalar's CDN default, for the
   * Worker, which has no files to serve it from.
   */
  docsScript?: 'own' | 'cdn';
}

/**
 * Where NetFlows answers are read: the replica when there is one, else the primary. Everything an
 * answer depends on (its rows, the rollup watermarks that choose its tables, lastUpdated, the
 * cache watermark) must come from this one database: a replica lags the primary.
 * @example
 * const out = await getTimeseries(readDatabase(c.var.deps), q, c.var.caller);
 */
export function readDatabase(deps: Pick<Deps, 'db' | 'readDb'>): Database {
  return deps.readDb ?? deps.db;
}

/**
 * A response and the text of its body, as the handler rendered it: the caching middlewares read the
 * text from here instead of cloning the response's stream (see renderedBody in middleware/http-cache.ts).
 */
export interface Rendered {
  response: Response;
  text: string;
}

export type AppEnv = { Variables: { deps: Deps; caller: Caller; rendered?: Rendered } };
