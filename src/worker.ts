/**
 * Cloudflare Workers entry: the same app as on Node (createApp), the database through Hyperdrive.
 * Collectors stay on Node (Workers cannot receive UDP); POST /ingest/flows works here too.
 *
 * Nothing here may reach a Node-only module: the embedded database (db/embedded.ts, PGlite,
 * proper-lockfile) and pino's Node build stay out of the bundle (the logger is pino's browser
 * build, see logger.ts). `wrangler deploy --dry-run` checks it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createApp } from './app.js';
import { type Config, loadConfig } from './config.js';
import type { Database } from './db/client.js';
import { serverClient, serverDatabase } from './db/server.js';
import { ErrorCode, errorBody } from './errors.js';
import { createEnricher } from './ingest/enrich.js';
import { createLogger } from './logger.js';

/** The bindings of wrangler.toml: Hyperdrive, and string `vars` named as the Node environment. */
export interface Env {
  HYPERDRIVE: { connectionString: string };
  [name: string]: unknown;
}

interface Ctx {
  waitUntil(promise: Promise<unknown>): void;
}

/**
 * Connections one request may open (a query runs up to four statements at once; Workers allow six
 * open connections per request). HYPERDRIVE_MAX_CONNECTIONS=1 for a local pglite-socket, which
 * cannot interleave the extended-protocol messages of several connections.
 */
function maxConnections(env: Env): number {
  const raw = env.HYPERDRIVE_MAX_CONNECTIONS;
  if (raw === undefined || raw === '') return 5;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 6)
    throw new Error(
      `invalid configuration: HYPERDRIVE_MAX_CONNECTIONS: an integer from 1 to 6, not ${String(raw)}`,
    );
  return n;
}

/** Config from the bindings, validated once per isolate; files (config, TSV, mmdb) do not exist here. */
function workerConfig(env: Env): Config {
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(env))
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') vars[k] = String(v);
  // The database is the HYPERDRIVE binding; a replica would be a second binding, not a URL.
  for (const name of [
    'FLOWRADAR_CONFIG',
    'FLOWRADAR_ASN_TSV',
    'FLOWRADAR_MMDB',
    'FLOWRADAR_CITY_MMDB',
    'DATABASE_URL',
    'DATABASE_READ_URL',
  ])
    if (vars[name]) throw new Error(`invalid configuration: ${name} is not supported on Workers`);
  return loadConfig({ env: vars });
}

/** The request's database: the app is built once per isolate, the postgres.js client per request. */
const current = new AsyncLocalStorage<Database>();
function requestDb(): Database {
  const db = current.getStore();
  if (!db) throw new Error('no database outside a request');
  return db;
}
const db: Database = {
  kind: 'server',
  get orm() {
    return requestDb().orm;
  },
  query: (q) => requestDb().query(q),
  transaction: (f) => requestDb().transaction(f),
  exec: (text) => requestDb().exec(text),
  execPlannedForValues: (text) => requestDb().execPlannedForValues(text),
  exclusive: (name, f) => requestDb().exclusive(name, f),
  close: async () => {},
};

async function build(env: Env) {
  const config = workerConfig(env);
  const enricher = await createEnricher({
    localNetworks: config.localNetworks,
    useExporterAs: config.useExporterAs,
    asnTsv: [],
    mmdb: [],
  });
  const app = createApp({
    db,
    config,
    logger: createLogger(config),
    now: Date.now,
    enricher,
    clientIp: (c) => c.req.header('cf-connecting-ip'),
    // No files to serve the API reference's viewer from.
    docsScript: 'cdn',
  });
  return { app, config, max: maxConnections(env) };
}

let built: ReturnType<typeof build> | undefined;

/** Pages made of files from public/ and uPlot's package: Workers have no file system to read them. */
const NODE_ONLY_PAGES = /^\/(?:$|explorer\/|vendor\/|embed\/timeseries$)/;

/** 501 in the Radar envelope, saying where the page is served; better than a 500 from a missing file. */
function nodeOnlyPage(): Response {
  return Response.json(
    errorBody(
      ErrorCode.NOT_FOUND,
      'the explorer and embed chart pages are served by the Node service (flowradar serve); the Worker serves the API, /embed/timeseries.svg and /embed/data',
    ),
    { status: 501 },
  );
}

export default {
  async fetch(request: Request, env: Env, ctx: Ctx): Promise<Response> {
    if (NODE_ONLY_PAGES.test(new URL(request.url).pathname)) return nodeOnlyPage();
    built ??= build(env);
    let app: Awaited<typeof built>['app'];
    let config: Config;
    let max: number;
    try {
      ({ app, config, max } = await built);
    } catch (err) {
      console.error(JSON.stringify({ level: 'fatal', msg: (err as Error).message }));
      return Response.json(errorBody(ErrorCode.INTERNAL, 'invalid configuration; see the Worker log'), {
        status: 500,
      });
    }
    const client = serverClient(env.HYPERDRIVE.connectionString, {
      max,
      prepare: false,
      statementTimeoutMs: config.queryTimeout,
    });
    try {
      return await current.run(serverDatabase(client), () => app.fetch(request));
    } finally {
      ctx.waitUntil(client.end({ timeout: 5 }));
    }
  },
};
