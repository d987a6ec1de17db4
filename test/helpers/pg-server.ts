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
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { openDatabase } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';
import { freePort } from './net.js';
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

/** Runs SQL as the superuser with psql on the server at `port` (no driver); its text output. */
async function psqlOn(port: number, sqlText: string, database: string): Promise<string> {
  const args = [
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
  ];
  return (await run('psql', [...args, '-d', database, '-c', sqlText])).stdout;
}

const su = (cmd: string) => run('su', ['postgres', '-c', cmd]);

/**
 * A fresh cluster with an empty `flowradar` database. `settings` are applied with ALTER SYSTEM
 * and a restart before the cluster is handed out (e.g. `log_lock_waits = on`).
 */
export async function startCluster(opts: { settings?: string[] } = {}): Promise<Cluster> {
  const missing = serverMissing();
  if (missing) throw new Error(`no TimescaleDB server: ${missing}`);
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
  const psql = async (sqlText: string, database = 'flowradar') => await psqlOn(port, sqlText, database);
  if (opts.settings?.length) {
    for (const s of opts.settings) await psql(`ALTER SYSTEM SET ${s}`, 'postgres');
    await pgctl('restart');
  }
  return clusterAt({ url, port, dir, root, dataDir: join(dir, 'data') });
}

/**
 * The {@link Cluster} of a server running from `dataDir` on `port`, logging to `dir/server.log`;
 * `destroy` removes `root`.
 */
function clusterAt(c: { url: string; port: number; dir: string; root: string; dataDir: string }): Cluster {
  const logPath = join(c.dir, 'server.log');
  const pgctl = (action: string) =>
    su(`${PG_BIN}/pg_ctl -D '${c.dataDir}' -l '${logPath}' -m fast -w ${action}`);
  return {
    url: c.url,
    port: c.port,
    dir: c.dir,
    urlOf: (database) => c.url.replace(/\/[^/]*$/, `/${database}`),
    psql: (sqlText, database = 'flowradar') => psqlOn(c.port, sqlText, database),
    log: () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''),
    stop: async () => {
      await pgctl('stop');
    },
    start: async () => {
      await pgctl('start');
    },
    destroy: async () => {
      await pgctl('stop').catch(() => {});
      rmSync(c.root, { recursive: true, force: true });
    },
  };
}

/**
 * The ERROR and FATAL lines of a server log that came from client sessions. Shutdowns (a restart
 * ends every session with a FATAL) and TimescaleDB's own background jobs are left out: its job-history retention job (job 3) can fail right after the
 * extension is created (upstream issue timescale/timescaledb#8854 and kin), which says nothing
 * about flowradar's statements.
 */
export function sessionErrors(log: string): string[] {
  const lines = log.split('\n');
  const pidOf = (l: string) => /^\S+ \S+ \S+ \[(\d+)\]/.exec(l)?.[1];
  const jobPids = new Set(lines.filter((l) => /LOG: {2}job \d+ threw an error/.test(l)).map(pidOf));
  return lines.filter(
    (l) =>
      /\] (ERROR|FATAL): /.test(l) &&
      !jobPids.has(pidOf(l)) &&
      // A restart (startCluster's settings) ends the background workers this way.
      !/FATAL: {2}terminating .* due to administrator command/.test(l),
  );
}

export interface Pooler {
  /** postgres://postgres@127.0.0.1:<port>/<database> through the pooler. */
  urlOf(database: string): string;
  log(): string;
  stop(): Promise<void>;
}

/**
 * Debian's pgbouncer in front of `cluster`, in `pool_mode = transaction` (as Hyperdrive pools),
 * with at most `poolSize` server connections per database: many client connections share a few
 * server ones, transaction by transaction.
 */
export async function startPgbouncer(cluster: Cluster, opts: { poolSize?: number } = {}): Promise<Pooler> {
  const dir = mkdtempSync(join(tmpdir(), 'flowradar-pgbouncer-'));
  chmodSync(dir, 0o777);
  const port = await freePort();
  writeFileSync(join(dir, 'userlist.txt'), '"postgres" ""\n');
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    `[databases]
* = host=127.0.0.1 port=${cluster.port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir = ${dir}
auth_type = trust
auth_file = ${dir}/userlist.txt
pool_mode = transaction
default_pool_size = ${opts.poolSize ?? 4}
max_client_conn = 1000
ignore_startup_parameters = extra_float_digits
logfile = ${dir}/pgbouncer.log
pidfile = ${dir}/pgbouncer.pid
`,
  );
  // pgbouncer refuses to run as root.
  const child = spawn(
    'runuser',
    ['-u', 'postgres', '--', '/usr/sbin/pgbouncer', join(dir, 'pgbouncer.ini')],
    {
      stdio: 'ignore',
    },
  );
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  for (let i = 0; ; i++) {
    const ok = await run('psql', ['-X', '-qAt', url('flowradar'), '-c', 'SELECT 1']).then(
      () => true,
      () => false,
    );
    if (ok) break;
    if (i > 50 || child.exitCode !== null) throw new Error('pgbouncer did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    urlOf: url,
    log: () =>
      existsSync(join(dir, 'pgbouncer.log')) ? readFileSync(join(dir, 'pgbouncer.log'), 'utf8') : '',
    stop: async () => {
      const exited = new Promise((ok) => child.once('exit', ok));
      // runuser does not pass signals on: stop pgbouncer itself, at once (SIGINT would wait for clients).
      const pid = Number(readFileSync(join(dir, 'pgbouncer.pid'), 'utf8'));
      process.kill(pid, 'SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A streaming replica of `primary` (a hot standby: read-only, replaying the primary's WAL as it
 * streams), made with `pg_basebackup -R` from the primary's default trust rule for replication
 * from 127.0.0.1, on another free port. The base backup copies the primary's configuration, so
 * TimescaleDB is preloaded here too. `url` reaches the same database as `primary.url`.
 * @example
 * const pg = await startCluster();
 * const replica = await startReplica(pg);
 * await replica.psql('SELECT pg_wal_replay_pause()', 'postgres');
 */
export async function startReplica(primary: Cluster): Promise<Cluster> {
  const root = mkdtempSync(join(tmpdir(), 'flowradar-replica-'));
  chmodSync(root, 0o755);
  const dir = join(root, 'r');
  await run('mkdir', ['-p', dir]);
  await run('chown', ['postgres', dir]);
  const data = join(dir, 'data');
  const logPath = join(dir, 'server.log');
  await su(
    `${PG_BIN}/pg_basebackup -h 127.0.0.1 -p ${primary.port} -U postgres -D '${data}' -R -X stream -c fast`,
  );
  const pgctl = (action: string) => su(`${PG_BIN}/pg_ctl -D '${data}' -l '${logPath}' -m fast -w ${action}`);
  let port = 0;
  // Later lines win: the copied configuration names the primary's port and socket directory.
  for (let attempt = 0; !port; attempt++) {
    const candidate = await freePort();
    await run('bash', [
      '-c',
      `printf "port = ${candidate}\\nunix_socket_directories = '${dir}'\\n" >> '${data}/postgresql.conf'`,
    ]);
    try {
      await pgctl('start');
      port = candidate;
    } catch (err) {
      // Another process may take the free port between the probe and the bind.
      if (attempt >= 3) throw new Error(`the replica did not start: ${(err as Error).message}`);
    }
  }
  return clusterAt({ url: primary.url.replace(/:\d+\//, `:${port}/`), port, dir, root, dataDir: data });
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
