/**
 * API benchmark: autocannon against the Node service (startService in a child process, on a copy
 * of a dataset, demo off) with three workloads: one query repeated (what a dashboard wall does),
 * distinct queries (every request new) and a mix (70 % from 20 popular queries, 30 % new).
 * Windows are absolute (dateStart/dateEnd inside the dataset): the service's clock is the wall
 * clock, and the data ends when the dataset was generated.
 *
 * `--server` runs the distinct workload in server mode instead: the service on dataset M (or
 * `--dataset`) of the benchmarks' real TimescaleDB server (bench/server.ts, openServerDataset),
 * once per entry of `--api-processes` (0 = the one process of plain `serve`, N = `serve
 * --api-processes N`), after a few seconds of warm-up each; CPU per request is split between the
 * Node processes (the service and its workers) and the PostgreSQL processes (the server's). With
 * `--embedded` the embedded figure of the same workload is measured in the same run.
 *
 * Run: node --import tsx bench/api.ts [--quick] [--dataset M] [--duration 15]
 *      flock /tmp/bench.lock node --import tsx bench/api.ts --server --api-processes 1,2 [--embedded]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DAYS, type DatasetName, datasetKeys, openDataset, openServerDataset } from './dataset.js';
import { cpuSecondsOf, emit, mib, ms, num, parseArgs, rssOf, table, tempDir } from './lib.js';
import { benchServer, treeCpuSeconds } from './server.js';

const autocannon = createRequire(import.meta.url)('autocannon') as (opts: object) => Promise<{
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}>;

const args = parseArgs();
const QUICK = args.quick;
const DATASET = (args.opts.dataset ?? (QUICK ? 'S' : 'M')) as DatasetName;
const DURATION = Number(args.opts.duration ?? (QUICK ? 5 : 15));
const CONNECTIONS = Number(args.opts.connections ?? 10);
const SERVER = args.opts.server === 'true';
const API_PROCESSES = (args.opts['api-processes'] ?? '1,2').split(',').map(Number);
const WARMUP_S = QUICK ? 2 : 4;

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
const Q15 = 15 * 60_000;

export interface Server {
  url: string;
  token: string;
  netflowPort: number;
  sflowPort: number;
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts bench/api-server.ts on `dataDir` and waits for its ready line. */
export async function startServer(
  dataDir: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/api-server.ts', dataDir, ...extra], {
    cwd: new URL('..', import.meta.url).pathname,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const line = await new Promise<string>((ok, fail) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', ok);
    child.once('exit', (code) => fail(new Error(`api-server exited with ${code}`)));
  });
  const info = JSON.parse(line) as Omit<Server, 'child' | 'stop'>;
  return {
    ...info,
    child,
    stop: () =>
      new Promise<void>((ok) => {
        child.once('exit', () => ok());
        child.kill('SIGTERM');
      }),
  };
}

/** A copy of a dataset's directory (the service writes into it; the dataset stays as it is). */
export async function datasetCopy(name: DatasetName): Promise<{ dir: string; endMs: number }> {
  const { db, info } = await openDataset(name, { log: (s) => process.stderr.write(`${s}\n`) });
  await db.close();
  const dir = join(tempDir(`api-${name}`), 'data');
  execFileSync('cp', ['-r', info.dir, dir]);
  execFileSync('rm', ['-rf', join(dir, '.flowradar.lock'), join(dir, 'dataset.json')]);
  return { dir, endMs: info.endMs };
}

function queries(name: DatasetName, endMs: number) {
  const { asns } = datasetKeys(name);
  // The last whole hour of the dataset is the end of every window (dateEnd is inclusive).
  const lastHour = Math.floor(endMs / 3_600_000) * 3_600_000;
  const win = (days: number, backDays = 0) => {
    const end = lastHour - backDays * 86_400_000;
    return { start: iso(end - days * 86_400_000), end: iso(end - Q15) };
  };
  const series = (filters: string[], w: { start: string; end: string }) =>
    filters
      .map((f, i) => `name=s${i}&dateStart=${w.start}&dateEnd=${w.end}&${f}`)
      .join('&')
      .replace(/&$/, '');
  const w7 = win(7);
  const popular = [
    `/radar/netflows/timeseries?${series([`asn=${asns[0]}`, `asn=${asns[1]}`, 'location=US', 'product=HTTP'], w7)}&aggInterval=1h`,
    `/radar/netflows/timeseries?${series(['product=ALL'], win(1))}&aggInterval=15m`,
    `/radar/netflows/timeseries?${series(['product=ALL'], win(28))}&aggInterval=1d`,
    `/radar/netflows/timeseries_groups/AS?dateStart=${w7.start}&dateEnd=${w7.end}&aggInterval=1h&limitPerGroup=10`,
    `/radar/netflows/top/ases?dateStart=${w7.start}&dateEnd=${w7.end}&limit=10`,
    ...asns.slice(0, 15).map((a) => `/radar/netflows/timeseries?${series([`asn=${a}`], w7)}&aggInterval=1h`),
  ];
  let n = 0;
  // Every hour of the dataset where a 7-day window fits: the windows cover all of its span.
  const hours = (DAYS - 8) * 24;
  /**
   * A query not asked before: any AS (the long tail included) and a 7-day window ending at any
   * hour of the dataset; (AS, hour) pairs repeat only after ASes × hours requests (M: 2.4 M).
   */
  const distinct = () => {
    n++;
    const asn = asns[n % asns.length]!;
    const end = lastHour - ((Math.floor(n / asns.length) + n * 7919) % hours) * 3_600_000;
    const w = { start: iso(end - 7 * 86_400_000), end: iso(end - Q15) };
    return `/radar/netflows/timeseries?${series([`asn=${asn}`, `location=DE&asn=${asn}`], w)}&aggInterval=1h`;
  };
  return { identical: popular[0]!, popular, distinct };
}

async function run(server: Server, label: string, path: () => string): Promise<(string | number)[]> {
  const cpu0 = cpuSecondsOf(server.pid);
  const t0 = performance.now();
  const r = await cannon(server, path, DURATION);
  const secs = (performance.now() - t0) / 1000;
  const cpu = (cpuSecondsOf(server.pid) - cpu0) / secs;
  return [...cannonCells(label, r), `${(cpu * 100).toFixed(0)} %`, mib(rssOf(server.pid))];
}

async function main() {
  const { dir, endMs } = await datasetCopy(DATASET);
  const server = await startServer(dir);
  try {
    const q = queries(DATASET, endMs);
    const headers = { authorization: `Bearer ${server.token}` };
    // Does the app answer repeated queries from a cache? (src/cache.ts wired into src/app.ts)
    await fetch(server.url + q.identical, { headers });
    const probe = await fetch(server.url + q.identical, { headers });
    const cached = probe.headers.get('x-cache') === 'HIT';
    if (probe.status !== 200) throw new Error(`probe: ${probe.status} ${await probe.text()}`);
    let k = 0;
    const rand = () => {
      k = (k * 1103515245 + 12345) % 2147483648;
      return k / 2147483648;
    };
    const rows = [
      await run(server, 'repeated identical (4 series 7d@1h)', () => q.identical),
      await run(server, 'mixed: 70 % of 20 popular, 30 % new', () =>
        rand() < 0.7 ? q.popular[Math.floor(rand() * q.popular.length)]! : q.distinct(),
      ),
      await run(server, 'distinct (every request new)', q.distinct),
    ];
    const identical = rows[0]!;
    const rps = Number(String(identical[1]).replace(/,/g, ''));
    const p99 = Number(identical[3]);
    emit(`### API (${QUICK ? 'quick, ' : ''}dataset ${DATASET}, response cache ${cached ? 'wired' : '**not wired**'})

autocannon ${CONNECTIONS} connections × ${DURATION} s per workload against \`startService\` (child process, embedded database
on a copy of dataset ${DATASET}, demo off, rate limit raised). Latencies in ms; CPU and RSS are the server's.

${table(['workload', 'req/s', 'p50', 'p99', 'requests', 'errors + non-2xx', 'server CPU', 'server RSS'], rows)}

Target on cache hits: ≥ 3,000 req/s with p99 ≤ 20 ms → ${num(rps)} req/s, p99 ${ms(p99)} ms: ${rps >= 3000 && p99 <= 20 ? 'met' : '**missed**'}${cached ? '' : ' (no response cache in this build: every request runs its SQL)'}.`);
  } finally {
    await server.stop();
    execFileSync('rm', ['-rf', join(dir, '..')]);
  }
}

/** A run's first cells: label, req/s, p50, p99, requests, errors + non-2xx (and a line on stderr). */
function cannonCells(label: string, r: Awaited<ReturnType<typeof autocannon>>): (string | number)[] {
  process.stderr.write(
    `api ${label}: ${num(r.requests.average)} req/s p50 ${r.latency.p50} p99 ${r.latency.p99}\n`,
  );
  return [
    label,
    num(r.requests.average),
    r.latency.p50,
    r.latency.p99,
    num(r.requests.total),
    r.non2xx + r.errors + r.timeouts,
  ];
}

/** One autocannon run of `seconds` against `server`, every request's path from `path`. */
function cannon(server: Server, path: () => string, seconds: number) {
  return autocannon({
    url: server.url,
    connections: CONNECTIONS,
    duration: seconds,
    headers: { authorization: `Bearer ${server.token}` },
    requests: [{ method: 'GET', setupRequest: (req: object) => ({ ...req, path: path() }) }],
  });
}

/**
 * The distinct workload after a warm-up, with CPU per request: the Node processes of the service
 * (`server.pid` and its children, the API workers), the database's processes (`dbPid` and its
 * children; none for the embedded database, which is inside the service) and this process, the
 * load generator, which shares the machine.
 */
async function distinctRow(label: string, server: Server, path: () => string, dbPid?: number) {
  await cannon(server, path, WARMUP_S);
  const node0 = treeCpuSeconds(server.pid);
  const db0 = dbPid ? treeCpuSeconds(dbPid) : 0;
  const gen0 = process.cpuUsage();
  const r = await cannon(server, path, DURATION);
  const gen = process.cpuUsage(gen0);
  const perReq = (cpuS: number) => ((cpuS * 1000) / Math.max(1, r.requests.total)).toFixed(2);
  const nodeS = treeCpuSeconds(server.pid) - node0;
  const dbS = dbPid ? treeCpuSeconds(dbPid) - db0 : 0;
  const genS = (gen.user + gen.system) / 1e6;
  process.stderr.write(`  CPU ms/req node ${perReq(nodeS)} db ${perReq(dbS)}\n`);
  return [
    ...cannonCells(label, r),
    perReq(nodeS),
    dbPid ? perReq(dbS) : '(in Node)',
    perReq(nodeS + dbS),
    perReq(genS),
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
  ];
}

/** `--server`: distinct queries on the server dataset with 0, 1, 2… API processes. */
async function serverMain() {
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const { db, info, url } = await openServerDataset(DATASET, { log, max: 2 });
  await db.close();
  const pg = await benchServer();
  const q = queries(DATASET, info.endMs);
  const rows: (string | number)[][] = [];
  const startLoad = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  for (const n of API_PROCESSES) {
    const dir = tempDir('api-server');
    const server = await startServer(dir, n > 0 ? ['--api-processes', String(n)] : [], { DATABASE_URL: url });
    try {
      const probe = await fetch(server.url + q.distinct(), {
        headers: { authorization: `Bearer ${server.token}` },
      });
      if (probe.status !== 200) throw new Error(`probe: ${probe.status} ${await probe.text()}`);
      const label = n === 0 ? 'server, 1 process (serve)' : `server, --api-processes ${n}`;
      rows.push(await distinctRow(label, server, q.distinct, pg.pid()));
    } finally {
      await server.stop();
      execFileSync('rm', ['-rf', dir]);
    }
  }
  if (args.opts.embedded === 'true') {
    const { dir, endMs } = await datasetCopy(DATASET);
    const server = await startServer(dir);
    try {
      rows.push(await distinctRow('embedded, 1 process', server, queries(DATASET, endMs).distinct));
    } finally {
      await server.stop();
      execFileSync('rm', ['-rf', join(dir, '..')]);
    }
  }
  emit(`### API at scale, server mode (dataset ${DATASET}, distinct queries)

autocannon ${CONNECTIONS} connections × ${DURATION} s after ${WARMUP_S} s of warm-up, every request new (2 series, 7d@1h, any AS,
a window ending at any hour of the dataset), against bench/api-server.ts on the benchmarks' TimescaleDB server
(${num(info.rows)} minute rows); load average at start ${startLoad}. CPU in ms per request: the service's Node
processes, PostgreSQL's processes, both, and the load generator (autocannon, same machine). Load is the 1/5/15-minute
average after the row's run.

${table(['setup', 'req/s', 'p50', 'p99', 'requests', 'errors + non-2xx', 'Node CPU ms/req', 'PG CPU ms/req', 'total ms/req', 'autocannon ms/req', 'load'], rows)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (SERVER) await serverMain();
  else await main();
  process.exit(0);
}
