#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { getTrafficAnomalies, parseAnomalyQuery, type TrafficAnomaly } from './anomalies/query.js';
import { type AnomalyStatus, setAnomalyStatus } from './anomalies/store.js';
import { parseScopes } from './auth/scopes.js';
import { createToken, listTokens, revokeToken, type TokenInfo } from './auth/tokens.js';
import { startCluster } from './cluster.js';
import { type Config, loadConfig, parseDuration } from './config.js';
import { isDataDirLocked } from './db/embedded.js';
import { migrate } from './db/migrate.js';
import { createEmbed, defaultBaseUrl, type EmbedLinks, embedKeyOf } from './embed.js';
import { adminTokenPath, openConfigured, serviceFilePath, startService } from './service.js';
import { PROTOCOLS, type SimProtocol, startSimulator } from './sim/simulate.js';

const program = new Command('flowradar').description('Radar-compatible NetFlows API and flow collector');

/** Options every command shares; they override the environment and the config file. */
function withCommon(cmd: Command): Command {
  return cmd
    .addOption(new Option('--config <file>', 'JSON config file (env FLOWRADAR_CONFIG)'))
    .addOption(new Option('--data-dir <dir>', 'embedded database directory (env FLOWRADAR_DATA_DIR)'))
    .addOption(new Option('--database-url <url>', 'PostgreSQL + TimescaleDB server (env DATABASE_URL)'))
    .addOption(new Option('--log-level <level>', 'fatal … trace, silent (env FLOWRADAR_LOG_LEVEL)'));
}

function configOf(opts: Record<string, unknown>, extra: Record<string, unknown> = {}): Config {
  return loadConfig({
    env: process.env,
    file: opts.config as string | undefined,
    flags: {
      dataDir: opts.dataDir,
      databaseUrl: opts.databaseUrl,
      databaseReadUrl: opts.databaseReadUrl,
      logLevel: opts.logLevel,
      ...extra,
    },
  });
}

/** Prints the message (and, for an error, the messages of its causes: the driver's says why) and exits 1. */
function fail(reason: string | Error): never {
  const parts: string[] = [];
  for (let e: unknown = reason, depth = 0; e && depth < 5; depth++) {
    const message = typeof e === 'string' ? e : String((e as Error).message ?? e).trim();
    if (message && !parts.some((p) => p.includes(message))) parts.push(message);
    e = typeof e === 'string' ? undefined : (e as Error).cause;
  }
  process.stderr.write(`flowradar: ${parts.join(': ')}\n`);
  process.exit(1);
}

function runUntilSignal(stop: () => Promise<void>): void {
  const shutdown = async (signal: string) => {
    process.stderr.write(`flowradar: ${signal}, flushing and shutting down\n`);
    await stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

/** Options of the commands that serve the API (serve, collect); the others only use the primary. */
const withListeners = (cmd: Command) =>
  cmd
    .addOption(
      new Option(
        '--database-read-url <url>',
        'streaming replica of --database-url the NetFlows API reads from (env DATABASE_READ_URL)',
      ),
    )
    .option('--port <port>', 'HTTP port (env PORT, default 8787)')
    .option('--host <host>', 'interface to bind (env FLOWRADAR_HOST, default 0.0.0.0)')
    .option(
      '--netflow-port <port>',
      'UDP port for NetFlow v5/v9 and IPFIX (env FLOWRADAR_NETFLOW_PORT, default 2055)',
    )
    .option('--sflow-port <port>', 'UDP port for sFlow v5 (env FLOWRADAR_SFLOW_PORT, default 6343)')
    .option(
      '--collector-id <id>',
      'this collector in the database, stable across restarts (env FLOWRADAR_COLLECTOR_ID, default <hostname>:<netflow port>)',
    )
    .option(
      '--decode-workers <n>',
      'threads decoding datagrams, each for its own exporters (env FLOWRADAR_DECODE_WORKERS, default 1 on up to 3 cores, else cores - 2 up to 8)',
    );

/** The configuration flags the options of {@link withListeners} give. */
const listenerFlags = (opts: Record<string, unknown>) => ({
  port: opts.port,
  host: opts.host,
  netflowPort: opts.netflowPort,
  sflowPort: opts.sflowPort,
  collectorId: opts.collectorId,
  decodeWorkers: opts.decodeWorkers,
});

withListeners(withCommon(program.command('serve')))
  .description(
    'run the API, the collector and maintenance on the configured database; applies migrations first',
  )
  .option(
    '--api-processes <n>',
    'answer HTTP with N processes sharing the port; this one migrates, maintains, collects (env FLOWRADAR_API_PROCESSES; needs DATABASE_URL)',
  )
  .option(
    '--demo',
    'demo traffic: five weeks written at once, then live exports from a simulator (FLOWRADAR_DEMO=0 turns it off)',
  )
  .action(async (opts) => {
    const demoEnv = process.env.FLOWRADAR_DEMO;
    const demo = opts.demo
      ? demoEnv === undefined || !['0', 'false', 'no', 'off'].includes(demoEnv)
      : undefined;
    let config: Config;
    try {
      config = configOf(opts, { ...listenerFlags(opts), demo, apiProcesses: opts.apiProcesses });
    } catch (err) {
      fail(err as Error);
    }
    const service =
      config.apiProcesses > 0
        ? await startCluster(config).catch((err: Error) => fail(err))
        : await startService(config).catch((err: Error) => fail(err));
    runUntilSignal(() => service.stop());
  });

withListeners(withCommon(program.command('collect')))
  .description('run a collector (UDP and POST /ingest/flows) that writes into the configured database')
  .action(async (opts) => {
    const config = configOf(opts, listenerFlags(opts));
    const service = await startService(config, { role: 'collector' }).catch((err: Error) => fail(err));
    runUntilSignal(() => service.stop());
  });

program
  .command('simulate')
  .description('export demo traffic as real NetFlow v5/v9, IPFIX or sFlow datagrams')
  .option('--to <host:port>', 'collector address', '127.0.0.1:2055')
  .option('--protocol <protocol>', `one of ${PROTOCOLS.join(', ')}`, 'ipfix')
  .option('--backfill <days>', 'send this many days of past traffic first (not sFlow)', '0')
  .option('--loss <percent>', 'drop this share of datagrams, to exercise loss accounting', '0')
  .option('--sampling <rate>', '1 in N sampling announced by the exporter (sFlow default 1000)')
  .option('--interval <seconds>', 'seconds between exports', '5')
  .action(async (opts) => {
    if (!(PROTOCOLS as readonly string[]).includes(opts.protocol))
      fail(`--protocol: one of ${PROTOCOLS.join(', ')}`);
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(opts.to);
    if (!m) fail('--to: host:port, e.g. 127.0.0.1:2055');
    const sim = await startSimulator({
      host: m[1]!,
      port: Number(m[2]),
      protocol: opts.protocol as SimProtocol,
      backfillDays: Number(opts.backfill),
      loss: Number(opts.loss) / 100,
      intervalMs: Number(opts.interval) * 1000,
      ...(opts.sampling ? { samplingRate: Number(opts.sampling) } : {}),
      log: (msg) => process.stderr.write(`simulate: ${msg}\n`),
    }).catch((err: Error) => fail(err));
    process.stderr.write(
      `simulate: exporting ${opts.protocol} to ${opts.to} every ${opts.interval}s (Ctrl-C stops)\n`,
    );
    runUntilSignal(async () => sim.stop());
  });

withCommon(program.command('migrate'))
  .description('apply pending database migrations')
  .action(async (opts) => {
    const config = configOf(opts);
    const db = await openConfigured(config).catch((err: Error) => fail(err));
    await migrate(db, config.retention);
    await db.close();
    process.stdout.write('migrations applied\n');
  });

/**
 * The token commands work with the service running: the embedded database admits one process,
 * so they then go through the running service's admin API with the admin token it wrote.
 */
async function viaService(
  config: Config,
  opts: { token?: string },
): Promise<((method: string, path: string, body?: unknown) => Promise<unknown>) | undefined> {
  if (config.databaseUrl || !(await isDataDirLocked(config.dataDir))) return undefined;
  const svc = serviceFilePath(config);
  if (!existsSync(svc))
    fail(
      `the data directory ${config.dataDir} is in use by another process that is not a running flowradar service`,
    );
  const { url } = JSON.parse(readFileSync(svc, 'utf8')) as { url: string };
  const token =
    opts.token ??
    process.env.FLOWRADAR_TOKEN ??
    (existsSync(adminTokenPath(config)) ? readFileSync(adminTokenPath(config), 'utf8').trim() : undefined);
  if (!token)
    fail(
      `the service is running at ${url}; give an admin token with --token or FLOWRADAR_TOKEN to manage tokens through it`,
    );
  return async (method, path, body) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    }).catch((err: Error) => fail(`cannot reach the running service at ${url}: ${err.message}`));
    const json = (await res.json()) as { success: boolean; errors: { message: string }[]; result: unknown };
    if (!json.success) fail(json.errors.map((e) => e.message).join('; '));
    return json.result;
  };
}

async function withDb<T>(config: Config, f: (db: Awaited<ReturnType<typeof openConfigured>>) => Promise<T>) {
  const db = await openConfigured(config).catch((err: Error) => fail(err));
  try {
    await migrate(db, config.retention);
    return await f(db);
  } finally {
    await db.close();
  }
}

const token = program.command('token').description('manage API tokens');

withCommon(token.command('create'))
  .description('create a token; it is printed once')
  .requiredOption('--name <name>', 'a label, e.g. grafana')
  .option('--scope <scopes>', 'comma list of read, read:raw, ingest, admin', 'read')
  .option('--expires <duration>', 'lifetime, e.g. 30d or 12h')
  .option('--not-before <time>', 'refuse the token before this ISO-8601 time')
  .option('--allow-cidr <cidrs>', 'comma list of client networks the token may be used from')
  .option('--token <admin token>', 'admin token, when the service is running (env FLOWRADAR_TOKEN)')
  .action(async (opts) => {
    const config = configOf(opts);
    let scopes: ReturnType<typeof parseScopes>;
    try {
      scopes = parseScopes(opts.scope);
      if (opts.expires) parseDuration(opts.expires);
      if (opts.notBefore && Number.isNaN(Date.parse(opts.notBefore)))
        throw new Error('--not-before: an ISO-8601 time');
    } catch (err) {
      fail((err as Error).message);
    }
    const allowedCidrs = opts.allowCidr
      ? (opts.allowCidr as string)
          .split(',')
          .map((c) => c.trim())
          .filter(Boolean)
      : undefined;
    const api = await viaService(config, opts);
    const created = api
      ? ((await api('POST', '/admin/tokens', {
          name: opts.name,
          scopes,
          expires: opts.expires,
          ...(opts.notBefore ? { notBefore: new Date(opts.notBefore).toISOString() } : {}),
          ...(allowedCidrs ? { allowedCidrs } : {}),
        })) as TokenInfo & { token: string })
      : await withDb(config, async (db) => {
          const expiresAt = opts.expires ? new Date(Date.now() + parseDuration(opts.expires)) : null;
          const r = await createToken(db, {
            name: opts.name,
            scopes,
            expiresAt,
            notBefore: opts.notBefore ? new Date(opts.notBefore) : null,
            allowedCidrs: allowedCidrs ?? null,
          });
          return { ...r.info, token: r.token };
        });
    process.stdout.write(`${created.token}\n`);
    process.stderr.write(
      `token ${created.id} "${created.name}" scopes=${created.scopes.join(',')}${created.expiresAt ? ` expires ${created.expiresAt}` : ''} — store it now, it is not shown again\n`,
    );
  });

withCommon(token.command('list'))
  .description('list tokens (never the tokens themselves)')
  .option('--token <admin token>', 'admin token, when the service is running')
  .action(async (opts) => {
    const config = configOf(opts);
    const api = await viaService(config, opts);
    const rows = api
      ? ((await api('GET', '/admin/tokens')) as TokenInfo[])
      : await withDb(config, listTokens);
    for (const r of rows)
      process.stdout.write(
        `${r.id}\t${r.name}\t${r.scopes.join(',')}\tcreated ${r.createdAt}\t${r.revokedAt ? `revoked ${r.revokedAt}` : r.expiresAt ? `expires ${r.expiresAt}` : 'active'}\n`,
      );
  });

withCommon(token.command('revoke'))
  .description('revoke a token by id or name')
  .argument('<id-or-name>')
  .option('--token <admin token>', 'admin token, when the service is running')
  .action(async (idOrName: string, opts) => {
    const config = configOf(opts);
    const api = await viaService(config, opts);
    const revoked = api
      ? ((await api('DELETE', `/admin/tokens/${encodeURIComponent(idOrName)}`)) as { revoked: number })
          .revoked
      : await withDb(config, (db) => revokeToken(db, idOrName));
    if (revoked === 0) fail(`no active token with id or name "${idOrName}"`);
    process.stdout.write(`revoked ${revoked} token(s)\n`);
  });

const embed = program.command('embed').description('signed, read-only chart links for dashboards');

withCommon(embed.command('create'))
  .description('sign a timeseries query: prints the iframe page, SVG and data URLs, one a line')
  .argument('<query>', "a /radar/netflows/timeseries query string, e.g. 'name=pt&location=PT&dateRange=7d'")
  .option('--ttl <duration>', 'lifetime, e.g. 30d or 12h; at most 366d', '30d')
  .option(
    '--base-url <url>',
    'origin the links start with, e.g. https://flowradar.example.net (default: the service’s address)',
  )
  .option('--token <admin token>', 'admin token, when the service is running (env FLOWRADAR_TOKEN)')
  .action(async (query: string, opts) => {
    const config = configOf(opts);
    if (opts.baseUrl && !/^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/i.test(opts.baseUrl))
      fail(`--base-url: "${opts.baseUrl}" is not an http(s) URL such as https://flowradar.example.net`);
    const api = await viaService(config, opts);
    const links = api
      ? ((await api('POST', '/embeds', {
          query,
          ttl: opts.ttl,
          ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}),
        })) as EmbedLinks)
      : await withDb(config, async (db) => {
          try {
            return createEmbed({
              key: await embedKeyOf(db, config),
              query,
              ttl: opts.ttl,
              nowMs: Date.now(),
              baseUrl: opts.baseUrl ?? defaultBaseUrl(config),
            });
          } catch (err) {
            fail((err as Error).message);
          }
        });
    process.stdout.write(`${links.url}\n${links.svgUrl}\n${links.dataUrl}\n`);
    process.stderr.write(
      `embed links (chart page, SVG, data) expire ${links.expiresAt}; anyone holding them can read this query until then\n`,
    );
  });

const anomaly = program.command('anomaly').description('review traffic anomalies (verify, dismiss)');

withCommon(anomaly.command('list'))
  .description('list anomalies, newest first: uuid, type, entity, start, end, status')
  .option('--status <status>', 'VERIFIED, UNVERIFIED or DISMISSED (default: the first two)')
  .option('--date-range <range>', 'only those overlapping the last 7d, 4w, …')
  .option('--limit <n>', 'how many', '20')
  .option('--token <admin token>', 'admin token, when the service is running')
  .action(async (opts) => {
    const config = configOf(opts);
    const params = new URLSearchParams({ limit: opts.limit });
    if (opts.status) params.set('status', opts.status);
    if (opts.dateRange) params.set('dateRange', opts.dateRange);
    const api = await viaService(config, opts);
    const list = api
      ? ((await api('GET', `/radar/traffic_anomalies?${params}`)) as { trafficAnomalies: TrafficAnomaly[] })
      : await withDb(config, async (db) => {
          let filters: ReturnType<typeof parseAnomalyQuery>;
          try {
            filters = parseAnomalyQuery(params, 'list', Date.now());
          } catch (err) {
            fail((err as Error).message);
          }
          const out = await getTrafficAnomalies(db, filters);
          return ('result' in out ? out.result : { trafficAnomalies: [] }) as {
            trafficAnomalies: TrafficAnomaly[];
          };
        });
    for (const a of list.trafficAnomalies)
      process.stdout.write(
        `${a.uuid}\t${a.type}\t${a.asnDetails ? `AS${a.asnDetails.asn}` : (a.locationDetails?.code ?? '')}\t${a.startDate}\t${a.endDate ?? 'ongoing'}\t${a.status}\n`,
      );
  });

for (const [name, status, what] of [
  ['verify', 'VERIFIED', 'confirm an anomaly: shown as verified, and annotated in NetFlows confidenceInfo'],
  ['dismiss', 'DISMISSED', 'dismiss an anomaly (a false alarm): hidden from /radar/traffic_anomalies'],
  ['unverify', 'UNVERIFIED', 'undo verify or dismiss'],
] as const)
  withCommon(anomaly.command(name))
    .description(what)
    .argument('<uuid>')
    .option('--token <admin token>', 'admin token, when the service is running')
    .action(async (uuid: string, opts) => {
      const config = configOf(opts);
      const api = await viaService(config, opts);
      const set: AnomalyStatus | undefined = api
        ? (
            (await api('PUT', `/admin/traffic_anomalies/${encodeURIComponent(uuid)}/status`, { status })) as {
              status: AnomalyStatus;
            }
          ).status
        : (await withDb(config, (db) => setAnomalyStatus(db, uuid, status, 'cli')))?.status;
      if (!set) fail(`no traffic anomaly with uuid "${uuid}"`);
      process.stdout.write(`${uuid} ${set}\n`);
    });

await program.parseAsync(process.argv);
