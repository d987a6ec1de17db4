import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import { sql } from 'drizzle-orm';
import pino, { type Logger } from 'pino';
import { createApp } from './app.js';
import { createToken } from './auth/tokens.js';
import type { Config } from './config.js';
import { type Database, openDatabase } from './db/client.js';
import { startMaintenance } from './db/maintenance.js';
import { migrate } from './db/migrate.js';
import { startDemo } from './demo.js';

export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({ level: config.logLevel, redact: ['req.headers.authorization', 'token'] });
}

/** Opens the configured database; the embedded one waits a little for a crashed holder's lock. */
export function openConfigured(config: Config, opts: { lockWaitMs?: number } = {}): Promise<Database> {
  return openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    lockWaitMs: opts.lockWaitMs ?? 0,
    statementTimeoutMs: config.queryTimeout,
  });
}

export const adminTokenPath = (config: Pick<Config, 'dataDir'>) => resolve(config.dataDir, 'admin.token');
export const serviceFilePath = (config: Pick<Config, 'dataDir'>) => resolve(config.dataDir, 'service.json');

/**
 * On the first start of an empty database: an admin token, printed once and written to
 * <data dir>/admin.token (0600) so the README's curl works.
 */
async function ensureAdminToken(db: Database, config: Config, print: (s: string) => void): Promise<void> {
  const [row] = await db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM api_tokens`);
  if ((row?.n ?? 0) > 0) return;
  const { token } = await createToken(db, { name: 'admin', scopes: ['admin'] });
  mkdirSync(config.dataDir, { recursive: true });
  const path = adminTokenPath(config);
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  print(`\nAdmin token (shown once, also saved to ${path}):\n\n  ${token}\n\n`);
}

export interface Service {
  url: string;
  db: Database;
  stop(): Promise<void>;
}

/** `flowradar serve`: migrations, admin token, maintenance, optional demo traffic, the HTTP API. */
export async function startService(
  config: Config,
  opts: { logger?: Logger; print?: (s: string) => void } = {},
): Promise<Service> {
  const logger = opts.logger ?? createLogger(config);
  const print = opts.print ?? ((s: string) => process.stdout.write(s));
  const db = await openConfigured(config, { lockWaitMs: 12_000 });
  const stops: (() => void)[] = [];
  let server: ServerType | undefined;
  try {
    await migrate(db);
    await ensureAdminToken(db, config, print);
    stops.push(startMaintenance(db, config, logger));
    if (config.demo) stops.push(await startDemo(db, Date.now, logger));
    const app = createApp({ db, config, logger, now: Date.now });
    const port = await new Promise<number>((ok, fail) => {
      server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => ok(info.port));
      server.once('error', fail);
    });
    const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
    if (db.kind === 'embedded')
      writeFileSync(serviceFilePath(config), JSON.stringify({ pid: process.pid, url }), { mode: 0o600 });
    logger.info({ url, database: db.kind, demo: config.demo }, 'flowradar is serving');
    print(`flowradar API on ${url}  (docs: ${url}/docs)\n`);
    return {
      url,
      db,
      async stop() {
        for (const s of stops) s();
        await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
        if (db.kind === 'embedded' && existsSync(serviceFilePath(config))) rmSync(serviceFilePath(config));
        await db.close();
      },
    };
  } catch (err) {
    for (const s of stops) s();
    server?.close();
    await db.close();
    throw err;
  }
}
