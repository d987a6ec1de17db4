/**
 * The real TimescaleDB server the server-mode benchmarks share: one cluster whose data directory
 * lives under bench/data/pg (ignored by git), kept between runs so a dataset generated once (XL
 * takes tens of minutes) is there for the next run. Each dataset is a database of its own
 * (`flowradar_s`, …, `flowradar_xl`). Started with the project's shared script and the settings of
 * {@link BENCH_SERVER_SETTINGS}; stopped with `npx tsx bench/server.ts stop`.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../test/helpers/net.js';
import { PG_BIN, SERVER_SCRIPT, serverMissing } from '../test/helpers/pg-server.js';
import { BENCH_SERVER_SETTINGS } from './lib.js';

/** FLOWRADAR_BENCH_PG points a checkout (a git worktree) at another checkout's kept server. */
const DIR = process.env.FLOWRADAR_BENCH_PG ?? join(new URL('.', import.meta.url).pathname, 'data', 'pg');
const DATA = join(DIR, 'data');
const LOG = join(DIR, 'server.log');

const su = (cmd: string) => execFileSync('su', ['postgres', '-c', cmd], { encoding: 'utf8' });
const psql = (port: number, text: string, db = 'postgres') =>
  execFileSync(
    'psql',
    [
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
      db,
      '-c',
      text,
    ],
    {
      encoding: 'utf8',
    },
  );

function running(): boolean {
  try {
    su(`${PG_BIN}/pg_ctl -D '${DATA}' status`);
    return true;
  } catch {
    return false;
  }
}

export interface BenchServer {
  port: number;
  /** postgres://… of database `name`, created when missing. */
  urlOf(name: string): string;
  /** The postmaster's pid: its children are the server's processes. */
  pid(): number;
  /** Runs SQL as the superuser (psql, no driver). */
  psql(text: string, db?: string): string;
}

/** postgres://… of database `name` on the bench server, dropped first so it starts empty (the first collector migrates it). */
export function freshDatabase(pg: BenchServer, name: string): string {
  pg.psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  return pg.urlOf(name);
}

/** The benchmarks' server, started (and created, the first time) when it is not running. */
export async function benchServer(): Promise<BenchServer> {
  const missing = serverMissing();
  if (missing) throw new Error(`no TimescaleDB server: ${missing}`);
  const portFile = join(DIR, 'port');
  if (!existsSync(DATA)) {
    mkdirSync(DIR, { recursive: true });
    // The cluster runs as the postgres user, who must reach its directory.
    for (let d = DIR; d !== '/'; d = join(d, '..')) {
      try {
        chmodSync(d, 0o755);
      } catch {}
      if (d.endsWith('/bench')) break;
    }
    const port = await freePort();
    execFileSync('bash', [SERVER_SCRIPT, 'start', DIR, String(port)], { encoding: 'utf8' });
    for (const s of BENCH_SERVER_SETTINGS) psql(port, `ALTER SYSTEM SET ${s}`);
    writeFileSync(portFile, String(port));
    su(`${PG_BIN}/pg_ctl -D '${DATA}' -l '${LOG}' -m fast -w restart`);
  } else if (!running()) su(`${PG_BIN}/pg_ctl -D '${DATA}' -l '${LOG}' -w start`);
  const port = Number(readFileSync(portFile, 'utf8'));
  return {
    port,
    urlOf(name) {
      const exists = psql(port, `SELECT 1 FROM pg_database WHERE datname = '${name}'`).trim();
      if (!exists) psql(port, `CREATE DATABASE ${name}`);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    pid: () => Number(readFileSync(join(DATA, 'postmaster.pid'), 'utf8').split('\n')[0]),
    psql: (text, db = 'postgres') => psql(port, text, db),
  };
}

/** CPU seconds (user + system) of a process and all its children so far, from /proc. */
export function treeCpuSeconds(root: number): number {
  const tick = 100;
  let total = 0;
  const pids = [root];
  try {
    const children = execFileSync('pgrep', ['-P', String(root)], { encoding: 'utf8' });
    pids.push(...children.split('\n').filter(Boolean).map(Number));
  } catch {}
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      total += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / tick;
    } catch {}
  }
  return total;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const cmd = process.argv[2];
  if (cmd === 'stop') {
    if (running()) su(`${PG_BIN}/pg_ctl -D '${DATA}' -m fast -w stop`);
  } else {
    const s = await benchServer();
    process.stdout.write(`postgres://postgres@127.0.0.1:${s.port}/ (pid ${s.pid()})\n`);
  }
}
