import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * The whole configuration, validated once at start and injected everywhere else.
 * Sources, later wins: defaults, the JSON config file, environment, command-line flags.
 */
const duration = z
  .string()
  .regex(/^\d+[smhdw]$/, 'a duration such as 90s, 15m, 12h, 30d or 8w')
  .transform((s) => parseDuration(s));

const ConfigFields = z.object({
  /** HTTP port of the API. */
  port: z.coerce.number().int().min(0).max(65535).default(8787),
  /** Interface the API and collectors bind to. */
  host: z.string().default('0.0.0.0'),
  /** Where the embedded database lives (ignored with databaseUrl). */
  dataDir: z.string().default('./data'),
  /** postgres://… to a PostgreSQL + TimescaleDB server; unset = embedded database. */
  databaseUrl: z.string().url().optional(),
  /** Connections each process keeps to the server (server mode). */
  databasePoolSize: z.coerce.number().int().min(2).max(1000).default(10),
  /**
   * `transaction` when databaseUrl is a transaction-mode pooler (pgbouncer `pool_mode =
   * transaction`): no named prepared statements and no startup parameters; the statement
   * timeout must then be set on the role.
   */
  databasePooler: z.enum(['none', 'transaction']).default('none'),
  /**
   * Server mode: let PostgreSQL plan parallel workers for flowradar's statements (the server's
   * max_parallel_workers_per_gather). Off: every statement flowradar sends reads a few rollup
   * rows per series, and launching workers for it cost more than the statement (a 4-series week
   * on 200 M minute rows: 67 ms with workers, 20 ms without).
   */
  databaseParallelQueries: z.boolean().default(false),
  /**
   * Server mode: plan each prepared statement once per connection for any parameters
   * (plan_cache_mode = force_generic_plan); chunks are then chosen when the statement runs
   * (TimescaleDB's startup exclusion). Off: PostgreSQL plans a statement on hypertables anew for
   * every request's parameters, which cost more than running it (a distinct 2-series week on
   * dataset M: 3.1–4.4 ms of PostgreSQL CPU a request planned anew, 2.2–2.4 ms generic). Only where
   * statements are prepared (not through a transaction pooler, not in a Worker). Rollup refreshes
   * are planned for their span either way (Database.execPlannedForValues).
   */
  databaseGenericPlans: z.boolean().default(true),
  /**
   * `serve` only: HTTP is answered by this many API processes (node:cluster workers sharing the
   * port) while the first process migrates, maintains, collects and runs the demo; 0 = that one
   * process also answers HTTP. Server mode only: the embedded database admits one process.
   */
  apiProcesses: z.coerce.number().int().min(0).max(64).default(0),
  /**
   * postgres://… to a streaming replica of databaseUrl: the NetFlows API (answers, lastUpdated and
   * the response cache's watermark) reads there; tokens, admin, ingest and maintenance stay on
   * the primary. Only with databaseUrl.
   */
  databaseReadUrl: z.string().url().optional(),
  /** Demo traffic: `npm start` turns it on; FLOWRADAR_DEMO=0 turns it off. */
  demo: z.boolean().default(false),
  /** Origins allowed to call the API from a browser. Empty = no CORS headers. */
  corsOrigins: z.array(z.string()).default([]),
  /** HMAC key of signed embed links; unset = generated once and kept in the database. */
  embedKey: z.string().min(32, 'at least 32 characters').optional(),
  /** CSP frame-ancestors of embed pages: who may put them in an iframe. */
  embedFrameAncestors: z
    .string()
    .regex(/^[^;,\r\n]+$/, "a CSP source list such as * or 'self' https://grafana.example.com")
    .default('*'),
  retention: z
    .object({
      /** Minute rows in `traffic`. */
      raw: duration.prefault('90d'),
      /** Hourly rollup. */
      hourly: duration.prefault('104w'),
      /** Daily rollup. */
      daily: duration.prefault('520w'),
    })
    .prefault({}),
  /** Compress `traffic` chunks older than this. */
  compressAfter: duration.prefault('7d'),
  /** How often the service refreshes rollups and applies compression and retention. */
  maintenanceInterval: duration.prefault('60s'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  rateLimit: z
    .object({
      /** Requests per token per window. */
      requests: z.coerce.number().int().min(1).default(1200),
      /** Failed authentications per client address per window. */
      authFailures: z.coerce.number().int().min(1).default(30),
      window: duration.prefault('5m'),
    })
    .prefault({}),
  /** How long an instance trusts a token it looked up: a revocation elsewhere shows within it. */
  tokenCacheTtl: duration
    .pipe(z.number().max(60_000, 'at most 60s: a revocation must show within a minute'))
    .prefault('10s'),
  /** Answers kept by the in-process response cache of the NetFlows API (0 turns it off). */
  cacheEntries: z.coerce.number().int().min(0).default(2000),
  /** Statement timeout for API queries. */
  queryTimeout: duration.prefault('15s'),
  /** UDP port of NetFlow v5/v9 and IPFIX (the version is read per datagram). */
  netflowPort: z.coerce.number().int().min(0).max(65535).default(2055),
  /** UDP port of sFlow v5. */
  sflowPort: z.coerce.number().int().min(0).max(65535).default(6343),
  /**
   * Who this collector is in the database: sequence-based loss is measured per collector, and an
   * exporter minute written by two collectors (a load balancer splitting one exporter) has its
   * loss reported as unknown. Must stay the same across restarts of one collector and differ
   * between collectors; unset = `<hostname>:<netflowPort>` (see collectorIdOf).
   */
  collectorId: z.string().trim().min(1).max(200).optional(),
  /**
   * Threads that decode and aggregate datagrams, each for its own exporters (datagrams are
   * sharded by exporter address). 1 = decoding on the main thread beside the writer. Unset = a
   * default for the machine's cores (see defaultDecodeWorkers in src/ingest/pipeline.ts).
   */
  decodeWorkers: z.coerce.number().int().min(1).max(64).optional(),
  /**
   * The receiving thread reads its sockets with the native reader (recvmmsg: many datagrams per
   * system call, built at install by scripts/build-native.mjs) when it is built; off, or not built,
   * through Node's dgram, one datagram per call (the whole collector's CPU per record is a third
   * higher that way: 0.77 against 0.57 s per million records in the ingest benchmark).
   */
  nativeReceiver: z.boolean().default(true),
  /** How often aggregated minutes are written. */
  flushInterval: duration.prefault('5s'),
  /** Rows held in memory while the database is away; beyond, batches are dropped and counted. */
  maxBufferedRows: z.coerce.number().int().min(1000).default(2_000_000),
  /**
   * On-disk spool for the write backlog: past `afterRows` rows waiting in memory, batches go to
   * `dir` (default `<dataDir>/spool`), at most `maxBytes`, and are replayed in order when the
   * database returns. Past `maxBytes` (or on a write error such as ENOSPC) batches are dropped
   * and counted by reason. `maxBytes: 0` turns the spool off.
   */
  spool: z
    .object({
      dir: z.string().optional(),
      maxBytes: z.coerce
        .number()
        .int()
        .min(0)
        .default(1024 ** 3),
      afterRows: z.coerce.number().int().min(1000).default(200_000),
    })
    .prefault({}),
  /** Rate for records whose sampling rate is unknown; they are counted and reported. */
  defaultSamplingRate: z.coerce.number().int().min(1).default(1),
  /** Exporter address → sampling rate, overriding what the exporter reports. */
  samplingOverrides: z.record(z.string(), z.coerce.number().int().min(1)).default({}),
  /** CIDRs of our own networks: the other side of a flow is the remote party. */
  localNetworks: z.array(z.string()).default([]),
  /** Use the exporter's BGP AS fields when non-zero. */
  useExporterAs: z.boolean().default(true),
  /** ip2asn-style TSV files (range start, range end, AS, country, AS name). */
  asnTsv: z.array(z.string()).default([]),
  /** MaxMind-format .mmdb files (ASN and country databases). */
  mmdb: z.array(z.string()).default([]),
  /**
   * MaxMind-format City databases (GeoLite2-City, DB-IP city): first-level subdivisions (ADM1) of
   * remote addresses, for `geoId` and the ADM1 dimension. Without one every subdivision is unknown.
   */
  cityMmdb: z.array(z.string()).default([]),
  /** v9/IPFIX templates not refreshed for this long are forgotten. */
  templateExpiry: duration.prefault('30m'),
  /**
   * The traffic-anomaly detector (src/anomalies, docs/decisions/0009-anomalies.md), run in every
   * maintenance round.
   */
  anomalies: z
    .object({
      enabled: z.boolean().default(true),
      /** Weeks of history the baseline of a slot is the median of. */
      weeks: z.coerce.number().int().min(1).max(12).default(4),
      /** Fewest weeks with data a slot needs to have a baseline. */
      minWeeks: z.coerce.number().int().min(1).max(12).default(2),
      /** A 15-minute bucket is low below this fraction of its expected traffic. */
      dropBelow: z.coerce.number().gt(0).lt(1).default(0.6),
      /** Consecutive low buckets that open an anomaly. */
      openAfter: z.coerce.number().int().min(1).max(96).default(2),
      /** A bucket is recovered at or above this fraction of its expected traffic. */
      recoverAbove: z.coerce.number().gt(0).max(1).default(0.75),
      /** Consecutive recovered buckets that close an anomaly. */
      closeAfter: z.coerce.number().int().min(1).max(96).default(2),
      /** ASes and locations below this share of all traffic are not watched. */
      minShare: z.coerce.number().min(0).lt(1).default(0.005),
      /** Buckets where the rest of the traffic fell below this fraction of its baseline are not judged. */
      minRestScale: z.coerce.number().min(0).lt(1).default(0.2),
      /** A bucket is judged this long after its end. */
      settle: duration.prefault('5m'),
      /** How far back the first round judges. */
      backfill: duration.prefault('28d'),
    })
    .prefault({}),
  /**
   * Where state changes of traffic anomalies are POSTed (opened, closed, removed, verified,
   * dismissed, unverified), as JSON signed with HMAC-SHA256 of the secret (src/anomalies/webhooks.ts).
   * Delivered in order from the maintenance round, retried with backoff.
   */
  webhooks: z
    .array(
      z.object({
        url: z
          .string()
          .url()
          .regex(/^https?:/i, 'an http(s) URL'),
        secret: z.string().min(32, 'at least 32 characters'),
      }),
    )
    .default([]),
});

export const ConfigSchema = ConfigFields.superRefine((c, ctx) => {
  // There is no replica of the embedded database: ignoring the URL would hide a forgotten DATABASE_URL.
  if (c.databaseReadUrl !== undefined && c.databaseUrl === undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['databaseReadUrl'],
      message: 'a read replica needs databaseUrl (DATABASE_URL), the primary it replicates',
    });
  if (c.apiProcesses > 0 && c.databaseUrl === undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['apiProcesses'],
      message:
        'API processes need databaseUrl (DATABASE_URL): the embedded database admits one process, so without a server there is one API process',
    });
});

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

/** Milliseconds of a duration such as `15m`, `7d`, `8w`. */
export function parseDuration(s: string): number {
  const m = /^(\d+)([smhdw])$/.exec(s);
  if (!m) throw new Error(`not a duration: ${s}`);
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[m[2] as 's'];
  return Number(m[1]) * unit;
}

/** Environment variable → config key. Only these are read, and only here. */
const ENV_KEYS: Record<string, string> = {
  PORT: 'port',
  FLOWRADAR_HOST: 'host',
  FLOWRADAR_DATA_DIR: 'dataDir',
  DATABASE_URL: 'databaseUrl',
  FLOWRADAR_DATABASE_POOL_SIZE: 'databasePoolSize',
  FLOWRADAR_DATABASE_POOLER: 'databasePooler',
  FLOWRADAR_DATABASE_PARALLEL_QUERIES: 'databaseParallelQueries',
  FLOWRADAR_DATABASE_GENERIC_PLANS: 'databaseGenericPlans',
  FLOWRADAR_API_PROCESSES: 'apiProcesses',
  DATABASE_READ_URL: 'databaseReadUrl',
  FLOWRADAR_DEMO: 'demo',
  FLOWRADAR_CORS_ORIGINS: 'corsOrigins',
  FLOWRADAR_EMBED_KEY: 'embedKey',
  FLOWRADAR_EMBED_FRAME_ANCESTORS: 'embedFrameAncestors',
  FLOWRADAR_RETENTION_RAW: 'retention.raw',
  FLOWRADAR_RETENTION_HOURLY: 'retention.hourly',
  FLOWRADAR_RETENTION_DAILY: 'retention.daily',
  FLOWRADAR_COMPRESS_AFTER: 'compressAfter',
  FLOWRADAR_LOG_LEVEL: 'logLevel',
  FLOWRADAR_QUERY_TIMEOUT: 'queryTimeout',
  FLOWRADAR_CACHE_ENTRIES: 'cacheEntries',
  FLOWRADAR_TOKEN_CACHE_TTL: 'tokenCacheTtl',
  FLOWRADAR_NETFLOW_PORT: 'netflowPort',
  FLOWRADAR_SFLOW_PORT: 'sflowPort',
  FLOWRADAR_COLLECTOR_ID: 'collectorId',
  FLOWRADAR_DECODE_WORKERS: 'decodeWorkers',
  FLOWRADAR_NATIVE_RECEIVER: 'nativeReceiver',
  FLOWRADAR_FLUSH_INTERVAL: 'flushInterval',
  FLOWRADAR_DEFAULT_SAMPLING_RATE: 'defaultSamplingRate',
  FLOWRADAR_LOCAL_NETWORKS: 'localNetworks',
  FLOWRADAR_USE_EXPORTER_AS: 'useExporterAs',
  FLOWRADAR_ASN_TSV: 'asnTsv',
  FLOWRADAR_MMDB: 'mmdb',
  FLOWRADAR_CITY_MMDB: 'cityMmdb',
  FLOWRADAR_TEMPLATE_EXPIRY: 'templateExpiry',
  FLOWRADAR_ANOMALIES: 'anomalies.enabled',
  FLOWRADAR_RATE_LIMIT: 'rateLimit.requests',
  FLOWRADAR_AUTH_FAILURE_LIMIT: 'rateLimit.authFailures',
  FLOWRADAR_RATE_LIMIT_WINDOW: 'rateLimit.window',
  FLOWRADAR_SPOOL_DIR: 'spool.dir',
  FLOWRADAR_SPOOL_MAX_BYTES: 'spool.maxBytes',
  FLOWRADAR_SPOOL_AFTER_ROWS: 'spool.afterRows',
};

const LIST_KEYS = new Set(['corsOrigins', 'localNetworks', 'asnTsv', 'mmdb', 'cityMmdb']);

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let obj = target;
  for (const k of keys.slice(0, -1)) {
    obj[k] = { ...((obj[k] as Record<string, unknown>) ?? {}) };
    obj = obj[k] as Record<string, unknown>;
  }
  obj[keys.at(-1)!] = value;
}

function envValue(key: string, raw: string): unknown {
  if (
    key === 'demo' ||
    key === 'useExporterAs' ||
    key === 'anomalies.enabled' ||
    key === 'databaseParallelQueries' ||
    key === 'databaseGenericPlans' ||
    key === 'nativeReceiver'
  )
    return !['0', 'false', 'no', 'off', ''].includes(raw.toLowerCase());
  if (LIST_KEYS.has(key))
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  return raw;
}

/**
 * Build the configuration from a config file, the environment and flags.
 * @example
 * const config = loadConfig({ env: process.env, flags: { port: '9000' } });
 */
export function loadConfig(opts: {
  env?: Record<string, string | undefined>;
  flags?: Record<string, unknown>;
  file?: string;
}): Config {
  const merged: Record<string, unknown> = {};
  const file = opts.file ?? opts.env?.FLOWRADAR_CONFIG;
  if (file) Object.assign(merged, JSON.parse(readFileSync(file, 'utf8')));
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const raw = opts.env?.[name];
    if (raw !== undefined && raw !== '') setPath(merged, key, envValue(key, raw));
  }
  for (const [key, value] of Object.entries(opts.flags ?? {})) {
    if (value !== undefined) setPath(merged, key, value);
  }
  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${detail}`);
  }
  return parsed.data;
}

/**
 * The collector id of a configuration: `collectorId`, else `<host>:<netflowPort>`. The port tells
 * apart two collectors on one host and, unlike a process id, survives a restart. The host name is
 * passed in because this module also runs on Workers, which have neither one nor a collector.
 * @example
 * const id = collectorIdOf(config, os.hostname()); // 'edge-3:2055'
 */
export function collectorIdOf(config: Pick<Config, 'collectorId' | 'netflowPort'>, host: string): string {
  return config.collectorId ?? `${host}:${config.netflowPort}`;
}
