import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ServerType, serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import type { Logger } from 'pino';
import { registerAnomalyGauge } from './anomalies/metrics.js';
import { createApp } from './app.js';
import { createToken } from './auth/tokens.js';
import { ResponseCache } from './cache.js';
import { type Config, collectorIdOf } from './config.js';
import { upsertAdm1Names } from './db/adm1-names.js';
import { countApiTokens } from './db/api-tokens.js';
import { upsertAsnNames } from './db/asn-names.js';
import { type Database, openDatabase } from './db/client.js';
import { startMaintenance } from './db/maintenance.js';
import { migrate } from './db/migrate.js';
import { getStatementTimeout, replayLagBytes } from './db/status.js';
import { seedDemo } from './demo.js';
import type { MetricsSource } from './deps.js';
import { startUdp, type UdpListeners } from './ingest/collector.js';
import { createEnricher, type Enricher } from './ingest/enrich.js';
import { IngestMetrics } from './ingest/metrics.js';
import { defaultDecodeWorkers, Pipeline } from './ingest/pipeline.js';
import { Spool } from './ingest/spool.js';
import { createLogger } from './logger.js';
import { startSimulator } from './sim/simulate.js';

/** Opens the configured database; the embedded one waits a little for a crashed holder's lock. */
export function openConfigured(config: Config, opts: { lockWaitMs?: number } = {}): Promise<Database> {
  return openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    lockWaitMs: opts.lockWaitMs ?? 0,
    statementTimeoutMs: config.queryTimeout,
    max: config.databasePoolSize,
    pooler: config.databasePooler,
    parallelQueries: config.databaseParallelQueries,
    genericPlans: config.databaseGenericPlans,
  });
}

/**
 * The read replica of the configuration (`databaseReadUrl`), with the primary's pool and statement
 * timeout; undefined without one. Connections open on first use.
 */
export async function openReadReplica(config: Config): Promise<Database | undefined> {
  if (!config.databaseReadUrl) return undefined;
  return openDatabase({
    databaseUrl: config.databaseReadUrl,
    statementTimeoutMs: config.queryTimeout,
    max: config.databasePoolSize,
    pooler: config.databasePooler,
    parallelQueries: config.databaseParallelQueries,
    genericPlans: config.databaseGenericPlans,
  });
}

/** Says at start how far the replica is behind; a replica down now is not a reason to stay down. */
async function reportReplica(db: Database, readDb: Database, logger: Logger): Promise<void> {
  try {
    const lagBytes = await replayLagBytes(db, readDb);
    if (lagBytes === null)
      logger.warn(
        'databaseReadUrl is not a streaming replica of databaseUrl; the NetFlows API reads there all the same',
      );
    else logger.info({ lagBytes }, 'NetFlows answers are read from the replica');
  } catch (err) {
    logger.warn({ err }, 'the read replica does not answer; NetFlows requests answer 503 until it does');
  }
}

const DEMO_TSV = fileURLToPath(new URL('../demo/ip2asn-demo.tsv', import.meta.url));
/** Subdivisions of the demo networks' blocks (scripts/demo-city-mmdb.ts writes it). */
export const DEMO_CITY_MMDB = fileURLToPath(new URL('../demo/city-demo.mmdb', import.meta.url));
const DEMO_LOCAL_NETWORK = '10.20.0.0/16';
/**
 * The demo's exporter samples 1 in 10 and says so in its IPFIX options, as real exporters do, so
 * the collector scales by the announced rate and no answer is marked down for unknown sampling.
 */
export const DEMO_SAMPLING_RATE = 10;

export const adminTokenPath = (config: Pick<Config, 'dataDir'>) => resolve(config.dataDir, 'admin.token');
export const serviceFilePath = (config: Pick<Config, 'dataDir'>) => resolve(config.dataDir, 'service.json');

/**
 * On the first start of an empty database: an admin token, printed once and written to
 * <data dir>/admin.token (0600) so the README's curl works.
 */
/**
 * What the first start says about the new admin token. The token itself only to a terminal: a
 * service's stdout is kept by journald, `docker logs` or a log shipper, where anyone who reads logs
 * would find it. Elsewhere, where it is.
 * @example adminTokenNotice(token, '/var/lib/flowradar/admin.token', process.stdout.isTTY === true)
 */
export function adminTokenNotice(token: string, path: string, tty: boolean): string {
  if (tty) return `\nAdmin token (shown once, also saved to ${path}):\n\n  ${token}\n\n`;
  return `\nAdmin token saved to ${path} (mode 0600); not printed, since output is not a terminal.\n\n`;
}

async function ensureAdminToken(
  db: Database,
  config: Config,
  print: (s: string) => void,
  tty: boolean,
): Promise<void> {
  if ((await countApiTokens(db)) > 0) return;
  const { token } = await createToken(db, { name: 'admin', scopes: ['admin'] });
  mkdirSync(config.dataDir, { recursive: true });
  const path = adminTokenPath(config);
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  print(adminTokenNotice(token, path, tty));
}

export interface Service {
  /** http://host:port of the API; empty when this process serves no HTTP (`http: false`). */
  url: string;
  db: Database;
  /** The read replica, when `databaseReadUrl` is set. */
  readDb?: Database;
  /** The collector, when this process collects. */
  pipeline?: Pipeline;
  udp?: UdpListeners;
  /** This process's collector metrics (what its /metrics answers, or its API processes'). */
  metrics: IngestMetrics;
  stop(): Promise<void>;
}

/**
 * `flowradar serve`: migrations, admin token, maintenance, the collector, optional demo traffic,
 * the HTTP API. `flowradar collect` is the same without maintenance and the first admin token.
 * Role `api` is one of the HTTP processes of `serve --api-processes N` (src/cluster.ts): the HTTP
 * API only, on a database its primary has migrated; the primary runs with `http: false`.
 */
export async function startService(
  config: Config,
  opts: {
    logger?: Logger;
    print?: (s: string) => void;
    /** Whether `print` reaches a terminal (default: whether stdout is one); see {@link adminTokenNotice}. */
    tty?: boolean;
    role?: 'all' | 'collector' | 'api';
    collect?: boolean;
    /** Whether this process answers HTTP (default true). */
    http?: boolean;
    /** What /metrics answers, when not this process's own collector metrics (an API process's). */
    metrics?: MetricsSource;
  } = {},
): Promise<Service> {
  const role = opts.role ?? 'all';
  const api = role === 'api';
  const collect = !api && (opts.collect ?? true);
  const http = opts.http ?? true;
  const logger = opts.logger ?? createLogger(config);
  const print = opts.print ?? ((s: string) => process.stdout.write(s));
  const db = await openConfigured(config, { lockWaitMs: 12_000 });
  const readDb = await openReadReplica(config);
  const stops: (() => void | Promise<void>)[] = [];
  let server: ServerType | undefined;
  let pipeline: Pipeline | undefined;
  let udp: UdpListeners | undefined;
  let spool: Spool | undefined;
  try {
    if (!api) {
      await migrate(db, config.retention);
      if (config.databasePooler === 'transaction') await checkRoleTimeout(db, logger);
      if (readDb) await reportReplica(db, readDb, logger);
    }
    if (role === 'all') {
      await ensureAdminToken(db, config, print, opts.tty ?? process.stdout.isTTY === true);
      stops.push(startMaintenance(db, config, logger));
    }
    // The demo's simulated exporter uses its own address blocks and local network.
    const enrichOptions = {
      localNetworks:
        config.demo && config.localNetworks.length === 0 ? [DEMO_LOCAL_NETWORK] : config.localNetworks,
      useExporterAs: config.useExporterAs,
      asnTsv: config.demo ? [...config.asnTsv, DEMO_TSV] : config.asnTsv,
      mmdb: config.mmdb,
      cityMmdb: config.demo ? [...config.cityMmdb, DEMO_CITY_MMDB] : config.cityMmdb,
    };
    const enricher = await createEnricher(enrichOptions);
    if (!api) await upsertAsnNames(db, enricher.asNames());
    if (enricher.locatesSubdivisions)
      stops.push(startAdm1NameWriter(db, enricher, config.flushInterval, logger));
    const metrics = new IngestMetrics();
    if (!api) registerAnomalyGauge(metrics.registry, readDb ?? db);
    if (collect) {
      if (config.spool.maxBytes > 0) {
        spool = await Spool.open({
          dir: resolve(config.spool.dir ?? resolve(config.dataDir, 'spool')),
          maxBytes: config.spool.maxBytes,
          lockWaitMs: 12_000,
        });
        if (spool.batches > 0)
          logger.warn({ rows: spool.rows, bytes: spool.bytes }, 'replaying the spool of an earlier run');
      }
      pipeline = new Pipeline({
        ...(spool ? { spool, spoolAfterRows: config.spool.afterRows } : {}),
        db,
        enricher,
        metrics,
        logger,
        flushIntervalMs: config.flushInterval,
        maxBufferedRows: config.maxBufferedRows,
        defaultSamplingRate: config.defaultSamplingRate,
        samplingOverrides: config.samplingOverrides,
        templateExpiryMs: config.templateExpiry,
        collectorId: collectorIdOf(config, hostname()),
        decodeWorkers: config.decodeWorkers ?? defaultDecodeWorkers(availableParallelism()),
        enrichOptions,
      });
      const restored = await pipeline.loadTemplates();
      if (restored) logger.info({ templates: restored }, 'templates restored');
      pipeline.start();
      udp = await startUdp(
        pipeline,
        {
          host: config.host,
          netflowPort: config.netflowPort,
          sflowPort: config.sflowPort,
          native: config.nativeReceiver,
        },
        logger,
      );
    }
    if (config.demo && !api) {
      if (!udp) throw new Error('demo traffic needs the collector');
      const liveFrom = await seedDemo(db, Date.now(), logger, config.retention);
      const sim = await startSimulator({
        host: '127.0.0.1',
        port: udp.netflowPort,
        protocol: 'ipfix',
        samplingRate: DEMO_SAMPLING_RATE,
        startMs: liveFrom,
        log: (msg) => logger.info(msg),
      });
      stops.push(sim.stop);
    }
    const app = createApp({
      db,
      ...(readDb ? { readDb } : {}),
      config,
      logger,
      now: Date.now,
      enricher,
      metrics: opts.metrics ?? metrics,
      clientIp: socketPeer,
      ...(config.cacheEntries > 0
        ? { responseCache: new ResponseCache({ maxEntries: config.cacheEntries }) }
        : {}),
    });
    const port = !http
      ? 0
      : await new Promise<number>((ok, fail) => {
          server = serve(
            { fetch: app.fetch, port: config.port, hostname: config.host, serverOptions: SERVER_TIMEOUTS },
            (info) => ok(info.port),
          );
          server.once('error', fail);
        });
    const url = http ? `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}` : '';
    if (db.kind === 'embedded')
      writeFileSync(serviceFilePath(config), JSON.stringify({ pid: process.pid, url }), { mode: 0o600 });
    logger.info(
      {
        ...(http ? { url } : {}),
        database: db.kind,
        demo: config.demo,
        ...(collect ? { collector: collectorIdOf(config, hostname()) } : {}),
      },
      http ? 'flowradar is serving' : 'flowradar is running; its API processes serve HTTP',
    );
    if (http && !api) print(`flowradar API on ${url}  (docs: ${url}/docs)\n`);
    return {
      url,
      db,
      ...(readDb ? { readDb } : {}),
      ...(pipeline ? { pipeline } : {}),
      ...(udp ? { udp } : {}),
      metrics,
      async stop() {
        for (const s of stops) await s();
        await udp?.close();
        const left = (await pipeline?.stop()) ?? 0;
        if (left > 0) logger.error({ rows: left }, 'rows not written at shutdown');
        if (spool && spool.batches > 0)
          logger.warn({ rows: spool.rows }, 'rows left in the spool for the next start');
        await spool?.close();
        await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
        if (db.kind === 'embedded' && existsSync(serviceFilePath(config))) rmSync(serviceFilePath(config));
        await readDb?.close();
        await db.close();
      },
    };
  } catch (err) {
    for (const s of stops) await s();
    server?.close();
    await udp?.close();
    await pipeline?.stop(0);
    await spool?.close();
    await readDb?.close();
    await db.close();
    throw err;
  }
}

/**
 * Writes the subdivision names the City databases met since the last round, every `everyMs`
 * (the collector's flush interval) and once more when stopped; names whose write failed are
 * retried at the next round. A name lost at shutdown is met again after the restart.
 */
function startAdm1NameWriter(
  db: Database,
  enricher: Pick<Enricher, 'takeAdm1Names' | 'giveBackAdm1Names'>,
  everyMs: number,
  logger: Logger,
): () => Promise<void> {
  const round = async () => {
    const names = enricher.takeAdm1Names();
    if (names.length === 0) return;
    await upsertAdm1Names(db, names).catch((err: unknown) => {
      enricher.giveBackAdm1Names(names);
      logger.warn({ err }, 'writing subdivision names failed; will retry');
    });
  };
  let running = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(round);
  }, everyMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
    await round();
  };
}

/**
 * Through a transaction-mode pooler the statement timeout cannot travel with the connection, so it
 * must be the role's; without it a runaway query holds a server connection of the pool for good.
 */
async function checkRoleTimeout(db: Database, logger: Logger): Promise<void> {
  if ((await getStatementTimeout(db)) === '0')
    logger.warn(
      {},
      "statement_timeout is 0 for this role, and through a transaction pooler flowradar cannot set queryTimeout itself: ALTER ROLE <role> SET statement_timeout = '15s'",
    );
}

/**
 * Slow clients (headers or body trickled) are cut off instead of holding sockets forever; the
 * check runs every second so the limits hold to the second.
 */
export const SERVER_TIMEOUTS = {
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  keepAliveTimeout: 5_000,
  connectionsCheckingInterval: 1_000,
};

/** The TCP peer of a request served by @hono/node-server. */
export function socketPeer(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined;
  }
}
