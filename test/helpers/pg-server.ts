/**
 * Real PostgreSQL 15 + TimescaleDB 2.23.1 clusters for server-mode tests, started with the
 * project's shared script (`../shared/scripts/timescaledb-server.sh`, built once per machine by
 * its `install`, which `.ci/run` runs). Each cluster lives in a temporary directory on a free
 * loopback port and is removed by `destroy()`.
 * @example
 * const pg = await startCluster();
 * const db = await openDatabase({ databaseUrl: pg.url });
 * await pg.stop(); // the database goes away…
 * await pg.start(); // …and comes back with its data
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { openDatabase } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';
import { ROOT } from './worker.js';

const run = promisify(execFile);

/** The script that builds, starts and stops a TimescaleDB cluster. */
export const SERVER_SCRIPT =
  process.env.FLOWRADAR_TIMESCALEDB_SCRIPT ?? resolve(ROOT, '../shared/scripts/timescaledb-server.sh');
export const PG_BIN = '/usr/lib/postgresql/15/bin';
const EXTENSION = '/usr/lib/postgresql/15/lib/timescaledb-2.23.1.so';

/** Why a real server cannot start here, or undefined when it can. */
export function serverMissing(): string | undefined {
  if (!existsSync(SERVER_SCRIPT)) return `${SERVER_SCRIPT} is missing (../shared beside the checkout)`;
  if (!existsSync(EXTENSION))
    return `TimescaleDB 2.23.1 is not installed for PostgreSQL 15: run ${SERVER_SCRIPT} install (.ci/run does)`;
  if (process.getuid?.() !== 0)
    return 'the TimescaleDB test server runs its clusters as the postgres user: run as root';
  return undefined;
}

export interface Cluster {
  /** postgres://postgres@127.0.0.1:<port>/flowradar */
  url: string;
  port: number;
  dir: string;
  /** The URL of another database of this cluster. */
  urlOf(database: string): string;
  /** Runs SQL as the superuser with psql (no driver), e.g. CREATE DATABASE. */
  psql(sqlText: string, database?: string): Promise<string>;
  /** The server's log so far. */
  log(): string;
  /** Stops the server (fast shutdown: open connections are cut). Data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  destroy(): Promise<void>;
}

const su = (cmd: string) => run('su', ['postgres', '-c', cmd]);

/**
 * A fresh cluster with an empty `flowradar` database. `settings` are applied with ALTER SYSTEM
 * and a restart before the cluster is handed out (e.g. `log_lock_waits = on`).
 */
export async function startCluster(opts: { settings?: string[] } = {}): Promise<Cluster> {
  const missing = serverMissing();
  if (missing) throw new Error(`no TimescaleDB server: ${missing}`);
  const { freePort } = await import('./db.js');
  const root = mkdtempSync(join(tmpdir(), 'flowradar-pg-'));
  // The cluster runs as the postgres user, who must reach its directory.
  chmodSync(root, 0o755);
  let port = 0;
  let url = '';
  let dir = '';
  // Another process may take the free port between the probe and the bind: try again.
  for (let attempt = 0; !url; attempt++) {
    port = await freePort();
    dir = join(root, `c${attempt}`);
    try {
      url = (await run('bash', [SERVER_SCRIPT, 'start', dir, String(port)])).stdout.trim();
    } catch (err) {
      if (attempt >= 3)
        throw new Error(`the TimescaleDB test server did not start: ${(err as Error).message}`);
    }
  }
  const pgctl = (action: string) =>
    su(`${PG_BIN}/pg_ctl -D '${dir}/data' -l '${dir}/server.log' -m fast -w ${action}`);
  const psql = async (sqlText: string, database = 'flowradar') =>
    (
      await run('psql', [
        '-X',
        '-qAt',
        '-v',
        'ON_ERROR_STOP=1',
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        'postgres',
        '-d',
        database,
        '-c',
        sqlText,
      ])
    ).stdout;
  if (opts.settings?.length) {
    for (const s of opts.settings) await psql(`ALTER SYSTEM SET ${s}`, 'postgres');
    await pgctl('restart');
  }
  const logPath = join(dir, 'server.log');
  return {
    url,
    port,
    dir,
    urlOf: (database) => url.replace(/\/[^/]*$/, `/${database}`),
    psql,
    log: () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''),
    stop: async () => {
      await pgctl('stop');
    },
    start: async () => {
      await pgctl('start');
    },
    destroy: async () => {
      await pgctl('stop').catch(() => {});
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * A cluster of the caller's own whose `flowradar` database is migrated, for tests that stop or
 * restart the server: the run's shared server must stay up for every other test file.
 * @example
 * const pg = await startMigratedCluster();
 * const db = await openDatabase({ databaseUrl: pg.url });
 */
export async function startMigratedCluster(opts: { settings?: string[] } = {}): Promise<Cluster> {
  const cluster = await startCluster(opts);
  try {
    const db = await openDatabase({ databaseUrl: cluster.url, max: 1 });
    try {
      await migrate(db);
    } finally {
      await db.close();
    }
  } catch (err) {
    await cluster.destroy();
    throw err;
  }
  return cluster;
}

export interface HeldLock {
  /**
   * Waits until another session waits for this lock at a statement starting with `statement`,
   * then stops the cluster: that session's transaction is cut halfway.
   */
  stopWhenWaiting(statement: string, timeoutMs?: number): Promise<void>;
  /** Lets the lock go without stopping anything. */
  release(): Promise<void>;
}

let locks = 0;

/**
 * Takes a lock (`lockSql`, e.g. `LOCK TABLE traffic IN EXCLUSIVE MODE` or a `SELECT … FOR UPDATE`)
 * in a psql session of its own, and keeps it. On a real server a write takes milliseconds, so a
 * stop at a random moment almost never cuts one; a lock holds the write where the stop should
 * meet it, which is where the driver has gone wrong before (scripts/patch-postgres.mjs).
 * @example
 * const lock = await holdLock(pg, 'LOCK TABLE traffic IN EXCLUSIVE MODE');
 * await lock.stopWhenWaiting('INSERT INTO traffic');
 */
export async function holdLock(cluster: Cluster, lockSql: string): Promise<HeldLock> {
  const name = `flowradar-lock-${process.pid}-${++locks}`;
  // psql, not the driver under test, holds the lock; the stop ends it with an error, as it should.
  let ended = false;
  const holding = cluster
    .psql(`SET application_name = '${name}'; BEGIN; ${lockSql}; SELECT pg_sleep(600)`)
    .finally(() => {
      ended = true;
    });
  holding.catch(() => {});
  const holder = async () =>
    (await cluster.psql(`SELECT wait_event FROM pg_stat_activity WHERE application_name = '${name}'`)).trim();
  const release = async () => {
    await cluster.psql(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '${name}'`,
    );
    await holding.catch(() => {});
  };
  // Held once the session sleeps: the lock statement before it has returned.
  for (const deadline = Date.now() + 10_000; (await holder()) !== 'PgSleep'; ) {
    if (ended) {
      const why = await holding.then(
        () => 'ended',
        (err: Error) => err.message,
      );
      throw new Error(`${lockSql}: ${why}`);
    }
    if (Date.now() > deadline) {
      await release();
      throw new Error(`${lockSql}: not held within 10 s`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    release,
    async stopWhenWaiting(statement, timeoutMs = 30_000) {
      const pattern = `${statement.replaceAll("'", "''")}%`;
      for (const deadline = Date.now() + timeoutMs; ; ) {
        const waiting = await cluster.psql(
          `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE '${pattern}'`,
        );
        if (Number(waiting) > 0) break;
        if (Date.now() > deadline) {
          await release();
          throw new Error(`no transaction waited at "${statement}" within ${timeoutMs} ms`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      await cluster.stop();
      await holding.then(
        () => Promise.reject(new Error(`${lockSql}: released before the stop`)),
        () => undefined,
      );
    },
  };
}
