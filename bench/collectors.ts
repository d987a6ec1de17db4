/**
 * Collectors into one server, and memory (issue 15).
 *
 * 1. Servers: 1, 2 and 4 collector processes (the built `flowradar collect`, DATABASE_URL set, a
 *    collector id each) writing into one fresh
 *    database of the bench TimescaleDB server (bench/server.ts), each fed by its own exporter (an
 *    IPFIX stream from an address of its own, 127.0.0.x) at the same rate per collector; and the
 *    collector alone on the embedded database at that rate. Records sent, decoded, and in the
 *    database after the final flush (sum of `traffic.flows`: each record counts once, in its
 *    first minute), loss, CPU of the collectors and of PostgreSQL (the postmaster's process tree),
 *    rows written per second.
 * 2. Memory: one collector fed v9 streams whose flows fall in the minute they are sent (v9 times
 *    are offsets from the header's uptime; the sender makes the export time current), each
 *    aggregation key (minute, AS, country, subdivision, product, direction: src/ingest/aggregate.ts)
 *    met once a minute, 0.25 M, 0.5 M and 1 M distinct keys per minute; RSS sampled every 5 s, on
 *    the embedded database and on the server.
 * 3. The embedded service as `npm start` runs it (build, then `node dist/cli.js serve --demo` on a
 *    temp data directory): RSS when ready, after a minute at rest, after a burst of API queries;
 *    and what its parts weigh (Node, the service's modules, PGlite with TimescaleDB: WebAssembly
 *    memory, shared_buffers), measured in a child process of their own.
 *
 * Run: flock /tmp/bench.lock node --import tsx bench/collectors.ts [--quick] [--rate 100000]
 *      [--seconds 30] [--collectors 1,2,4] [--keys 250000,500000,1000000] [--memory-seconds 180]
 *      [--rest 60] [--parts servers,memory,service] [--databases embedded,server]
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { sql } from 'drizzle-orm';
import { openDatabase } from '../src/db/client.js';
import type { SimFlow } from '../src/sim/encode.js';
import { DEMO_PREFIXES } from '../src/sim/simulate.js';
import { buildService, metric, startCollectorProcess } from './collector-process.js';
import { syntheticFlows } from './flows.js';
import { cpuSecondsOf, emit, mib, num, parseArgs, rate, rssOf, sleep, table, tempDir } from './lib.js';
import { type BenchServer, benchServer, freshDatabase, treeCpuSeconds } from './server.js';
import { ExporterStream, exporterSocket, pace, udpInErrors } from './udp-sender.js';

const args = parseArgs();
const QUICK = args.quick;
const RATE = Number(args.opts.rate ?? 100_000);
const SECONDS = Number(args.opts.seconds ?? (QUICK ? 10 : 30));
const COUNTS = (args.opts.collectors ?? '1,2,4')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
/** Which databases: the embedded one, the bench server, or both. */
const DATABASES = (args.opts.databases ?? 'embedded,server').split(',');
const KEYS = (args.opts.keys ?? '250000,500000,1000000').split(',').map(Number);
const MEMORY_S = Number(args.opts['memory-seconds'] ?? (QUICK ? 75 : 180));
const REST_S = Number(args.opts.rest ?? 60);
const PARTS = (args.opts.parts ?? 'servers,memory,service').split(',');
const ROOT = new URL('..', import.meta.url).pathname;
/** The benchmark's own database on the bench server, dropped and created again for every run. */
const DB_NAME = 'flowradar_collectors';
const FLUSH_MS = 5000;
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const snmpErrors = () => udpInErrors(readFileSync('/proc/net/snmp', 'utf8'));
const log = (s: string) => process.stderr.write(`collectors: ${s}\n`);

interface Collector {
  url: string;
  port: number;
  pid: number;
  dataDir: string;
  stop(): Promise<void>;
}

/** A collector process (the built `flowradar collect`): embedded in its own data directory, or `databaseUrl`. */
async function startCollector(i: number, databaseUrl?: string): Promise<Collector> {
  const dataDir = join(tempDir(`collector-${i}`), 'data');
  const c = await startCollectorProcess({
    dataDir,
    collectorId: `bench-collector-${i}`,
    ...(databaseUrl ? { databaseUrl } : {}),
  });
  return { url: c.url, port: c.netflowPort, pid: c.pid, dataDir, stop: c.stop };
}

const sumOf = async (cs: Collector[], name: string) =>
  (await Promise.all(cs.map((c) => metric(c.url, name)))).reduce((a, b) => a + b, 0);

/** Waits until the collectors' decoded records stop moving (their queues drained). */
async function settle(cs: Collector[]): Promise<number> {
  let got = await sumOf(cs, 'flowradar_records_total');
  for (let i = 0; i < 60; i++) {
    await sleep(250);
    const now = await sumOf(cs, 'flowradar_records_total');
    if (now === got) break;
    got = now;
  }
  return got;
}

interface Stored {
  flows: number;
  rows: number;
  exporterRecords: number;
}

/** What reached the database: records (flows), minute rows, exporter_minutes records. */
async function stored(pg: BenchServer | undefined, dataDir: string): Promise<Stored> {
  const q = 'SELECT coalesce(sum(flows), 0)::float8 AS flows, count(*)::float8 AS rows FROM traffic';
  const q2 = 'SELECT coalesce(sum(records), 0)::float8 AS records FROM exporter_minutes';
  if (pg) {
    const [flows, rows] = pg.psql(q, DB_NAME).trim().split('|').map(Number);
    return { flows: flows!, rows: rows!, exporterRecords: Number(pg.psql(q2, DB_NAME).trim()) };
  }
  const db = await openDatabase({ dataDir });
  const [t] = await db.query<{ flows: number; rows: number }>(sql.raw(q));
  const [e] = await db.query<{ records: number }>(sql.raw(q2));
  await db.close();
  return { flows: t?.flows ?? 0, rows: t?.rows ?? 0, exporterRecords: e?.records ?? 0 };
}

const flowCache = new Map<number, SimFlow[]>();
/** The synthetic mix of bench/ingest.ts, a seed (so a traffic of its own) per exporter. */
function exporterFlows(i: number, nowMs: number): SimFlow[] {
  let f = flowCache.get(i);
  if (!f) {
    f = syntheticFlows(QUICK ? 40_000 : 100_000, { nowMs, seed: 11 + i });
    flowCache.set(i, f);
  }
  return f;
}

interface ServerRow {
  kind: 'embedded' | 'server';
  n: number;
  sent: number;
  decoded: number;
  stored: Stored;
  kernelDrops: number;
  queueDrops: number;
  writeFailures: number;
  rowsWritten: number;
  sendSeconds: number;
  collectorCpu: number;
  pgCpu: number;
  rssMax: number;
  load: string;
}

async function serversRun(kind: 'embedded' | 'server', n: number, pg?: BenchServer): Promise<ServerRow> {
  const now = Date.now();
  // Encoded before the collectors start, so the encoding takes no CPU from them.
  const streams = Array.from(
    { length: n },
    (_, i) => new ExporterStream('ipfix', exporterFlows(i, now), now),
  );
  const sockets = await Promise.all(streams.map((_, i) => exporterSocket(`127.0.0.${10 + i}`)));
  const url = pg ? freshDatabase(pg, DB_NAME) : undefined;
  const first = await startCollector(0, url);
  const cs = [
    first,
    ...(await Promise.all(Array.from({ length: n - 1 }, (_, i) => startCollector(i + 1, url)))),
  ];
  const runLoad = load();
  try {
    await sleep(1000);
    const k0 = snmpErrors();
    const cpu0 = cs.map((c) => cpuSecondsOf(c.pid));
    const pg0 = pg ? treeCpuSeconds(pg.pid()) : 0;
    let rssMax = 0;
    const sampler = setInterval(() => {
      rssMax = Math.max(rssMax, ...cs.map((c) => rssOf(c.pid)));
    }, 1000);
    const sent = await Promise.all(
      cs.map((c, i) => pace([streams[i]!], [sockets[i]!], c.port, RATE, SECONDS)),
    );
    const sendSeconds = Math.max(...sent.map((s) => s.seconds));
    const decoded = await settle(cs);
    // A flush interval more: what was decoded is written by the collectors' own timers.
    await sleep(FLUSH_MS + 1500);
    clearInterval(sampler);
    const rowsWritten = await sumOf(cs, 'flowradar_rows_written_total');
    const queueDrops = await sumOf(cs, 'flowradar_drops_total{reason="receive_queue"}');
    const writeFailures = await sumOf(cs, 'flowradar_write_failures_total');
    const collectorCpu = cs.reduce((s, c, i) => s + cpuSecondsOf(c.pid) - cpu0[i]!, 0);
    const kernelDrops = snmpErrors() - k0;
    await Promise.all(cs.map((c) => c.stop()));
    // The collectors' backends have exited and been reaped: their time is in the postmaster's.
    const pgCpu = pg ? treeCpuSeconds(pg.pid()) - pg0 : 0;
    const row: ServerRow = {
      kind,
      n,
      sent: sent.reduce((s, x) => s + x.records, 0),
      decoded,
      stored: await stored(pg, first.dataDir),
      kernelDrops,
      queueDrops,
      writeFailures,
      rowsWritten,
      sendSeconds,
      collectorCpu,
      pgCpu,
      rssMax,
      load: runLoad,
    };
    log(
      `${kind} × ${n}: sent ${num(row.sent)} decoded ${num(decoded)} in db ${num(row.stored.flows)} rows ${num(rowsWritten)} cpu ${collectorCpu.toFixed(1)} s pg ${pgCpu.toFixed(1)} s`,
    );
    return row;
  } finally {
    for (const s of sockets) s.close();
    await Promise.all(cs.map((c) => c.stop().catch(() => {})));
    for (const c of cs) rmSync(join(c.dataDir, '..'), { recursive: true, force: true });
  }
}

/**
 * One flow per key, `keys` keys: AS 100,000 + k (the exporter's source AS; without local networks
 * the source is the remote side, so direction `in`, country XX, product HTTP by port 443). Each
 * flow ends a second before its datagram's export time, so every pass of the stream puts each key
 * in the minute it is sent in: at one pass a minute, `keys` distinct keys per minute.
 */
function keyFlows(keys: number, nowMs: number): SimFlow[] {
  const flows: SimFlow[] = [];
  for (let k = 0; k < keys; k++) {
    const endMs = nowMs - 1000;
    flows.push({
      startMs: endMs - 500,
      endMs,
      src: `100.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`,
      dst: `10.20.${(k >> 8) & 255}.${(k & 255) | 1}`,
      srcPort: 443,
      dstPort: 32768 + (k % 28000),
      proto: 6,
      bytes: 1500 * 10,
      packets: 10,
      srcAs: 100_000 + k,
      dstAs: 0,
      inIf: 1,
      outIf: 2,
    });
  }
  return flows;
}

interface MemoryRow {
  kind: 'embedded' | 'server';
  keys: number;
  rate: number;
  idle: number;
  steady: number;
  max: number;
  sent: number;
  decoded: number;
  flows: number;
  rowsPerMinute: number;
  backlog: number;
  flush: string;
  load: string;
}

async function memoryRun(kind: 'embedded' | 'server', keys: number, pg?: BenchServer): Promise<MemoryRow> {
  const now = Date.now();
  const stream = new ExporterStream('v9', keyFlows(keys, now), now);
  const socket = await exporterSocket('127.0.0.20');
  const url = pg ? freshDatabase(pg, DB_NAME) : undefined;
  const c = await startCollector(0, url);
  const runLoad = load();
  try {
    await sleep(3000);
    const idle = rssOf(c.pid);
    // One pass of the stream a minute: each key once a minute.
    const perSecond = stream.recordsPerPass / 60;
    const samples: { t: number; rss: number }[] = [];
    const t0 = performance.now();
    const sampler = setInterval(
      () => samples.push({ t: (performance.now() - t0) / 1000, rss: rssOf(c.pid) }),
      5000,
    );
    let rows60 = Number.NaN;
    const mark = setTimeout(() => {
      void metric(c.url, 'flowradar_rows_written_total').then((r) => {
        rows60 = r;
      });
    }, 60_000);
    const sent = await pace([stream], [socket], c.port, perSecond, MEMORY_S);
    clearInterval(sampler);
    clearTimeout(mark);
    const rowsEnd = await metric(c.url, 'flowradar_rows_written_total');
    const backlog = await metric(c.url, 'flowradar_write_buffer_rows');
    const fsum = await metric(c.url, 'flowradar_flush_seconds_sum');
    const fcount = await metric(c.url, 'flowradar_flush_seconds_count');
    const decoded = await settle([c]);
    await c.stop();
    const s = await stored(pg, c.dataDir);
    // Steady state: the samples after the first minute (the first pass fills the first minute).
    const late = samples.filter((x) => x.t > 60).map((x) => x.rss);
    const steady = late.length ? late.sort((a, b) => a - b)[Math.floor(late.length / 2)]! : Number.NaN;
    const row: MemoryRow = {
      kind,
      keys,
      rate: perSecond,
      idle,
      steady,
      max: Math.max(...samples.map((x) => x.rss)),
      sent: sent.records,
      decoded,
      flows: s.flows,
      rowsPerMinute: Number.isNaN(rows60) ? Number.NaN : ((rowsEnd - rows60) / (sent.seconds - 60)) * 60,
      backlog,
      flush: `${num(fcount)} × ${((fsum / Math.max(1, fcount)) * 1000).toFixed(0)} ms`,
      load: runLoad,
    };
    log(
      `memory ${kind} ${num(keys)} keys/min: idle ${mib(idle)} steady ${mib(steady)} max ${mib(row.max)} sent ${num(row.sent)} in db ${num(row.flows)} backlog ${backlog}`,
    );
    return row;
  } finally {
    socket.close();
    await c.stop().catch(() => {});
    rmSync(join(c.dataDir, '..'), { recursive: true, force: true });
  }
}

/** Node, the built service's modules, then PGlite with TimescaleDB migrated: memoryUsage() after each. */
const BREAKDOWN = `
import { readFileSync } from 'node:fs';
const steps = [];
const mark = (step, extra = {}) => {
  globalThis.gc?.();
  const m = process.memoryUsage();
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (k) => Number.parseInt(status.split('\\n').find((l) => l.startsWith(k + ':'))?.slice(k.length + 1) ?? '0', 10) * 1024;
  steps.push({ step, rss: m.rss, anon: kb('RssAnon'), file: kb('RssFile'), heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, ...extra });
};
mark('node');
const [dist, dataDir] = process.argv.slice(-2);
await import(dist + '/service.js');
mark('modules');
const { openDatabase } = await import(dist + '/db/client.js');
const { migrate } = await import(dist + '/db/migrate.js');
const db = await openDatabase({ dataDir });
await migrate(db);
const show = async (n) => (await db.pglite.query('SHOW ' + n)).rows[0][n];
const wasm = db.pglite.mod?.HEAPU8?.byteLength ?? 0;
mark('pglite', { wasm, sharedBuffers: await show('shared_buffers'), workMem: await show('work_mem') });
await db.close();
process.stdout.write(JSON.stringify(steps));
process.exit(0);
`;

interface BreakdownStep {
  step: string;
  rss: number;
  anon: number;
  file: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  wasm?: number;
  sharedBuffers?: string;
  workMem?: string;
}

function statusKb(pid: number, key: string): number {
  try {
    const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

interface ServiceResult {
  readySeconds: number;
  samples: { label: string; rss: number; anon: number; file: number }[];
  requests: number;
  failed: number;
  breakdown: BreakdownStep[];
  load: string;
}

/** Distinct API requests over the demo's networks and windows (nothing from the response cache twice). */
function demoQueries(): string[] {
  const asns = Object.keys(DEMO_PREFIXES);
  const out: string[] = [];
  for (const range of ['1d', '7d', '28d', '12w'])
    for (const agg of range === '1d' ? ['15m', '1h'] : range === '7d' ? ['1h', '1d'] : ['1d', '1w']) {
      out.push(`/radar/netflows/timeseries?dateRange=${range}&aggInterval=${agg}`);
      for (const asn of asns)
        out.push(`/radar/netflows/timeseries?dateRange=${range}&aggInterval=${agg}&asn=${asn}`);
      out.push(`/radar/netflows/timeseries_groups/AS?dateRange=${range}&aggInterval=${agg}&limitPerGroup=10`);
    }
  for (const range of ['1d', '7d', '28d']) {
    out.push(`/radar/netflows/top/ases?dateRange=${range}&limit=10`);
    out.push(`/radar/netflows/top/locations?dateRange=${range}&limit=10`);
    out.push(`/radar/netflows/summary/PRODUCT?dateRange=${range}`);
  }
  return out;
}

async function serviceRun(): Promise<ServiceResult> {
  const runLoad = load();
  const base = tempDir('service');
  const dataDir = join(base, 'data');
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [
      '--enable-source-maps',
      'dist/cli.js',
      'serve',
      '--demo',
      '--data-dir',
      dataDir,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--netflow-port',
      '0',
      '--sflow-port',
      '0',
      '--log-level',
      'warn',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const pid = child.pid!;
  const samples: ServiceResult['samples'] = [];
  const sample = (label: string) => {
    const s = { label, rss: rssOf(pid), anon: statusKb(pid, 'RssAnon'), file: statusKb(pid, 'RssFile') };
    samples.push(s);
    log(`service ${label}: ${mib(s.rss)}`);
  };
  try {
    const url = await new Promise<string>((ok, fail) => {
      const rl = createInterface({ input: child.stdout! });
      rl.on('line', (line) => {
        const m = /flowradar API on (\S+)/.exec(line);
        if (m) ok(m[1]!);
      });
      child.once('exit', (code) => fail(new Error(`flowradar serve exited with ${code}`)));
    });
    const readySeconds = (performance.now() - t0) / 1000;
    sample('ready');
    await sleep(REST_S * 1000);
    sample(`at rest, ${REST_S} s after ready`);
    const token = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
    const queries = demoQueries();
    let next = 0;
    let failed = 0;
    let peak = 0;
    const peakTimer = setInterval(() => {
      peak = Math.max(peak, rssOf(pid));
    }, 200);
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < queries.length) {
          const path = queries[next++]!;
          const r = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
          await r.arrayBuffer();
          if (!r.ok) failed++;
        }
      }),
    );
    clearInterval(peakTimer);
    samples.push({ label: 'burst peak (sampled every 200 ms)', rss: peak, anon: 0, file: 0 });
    sample('right after the burst');
    await sleep(30_000);
    sample('30 s after the burst');
    await new Promise<void>((ok) => {
      child.once('exit', () => ok());
      child.kill('SIGTERM');
    });
    const bdir = join(base, 'breakdown');
    const out = execFileSync(
      process.execPath,
      ['--expose-gc', '--input-type=module', '-e', BREAKDOWN, join(ROOT, 'dist'), bdir],
      { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    return {
      readySeconds,
      samples,
      requests: queries.length,
      failed,
      breakdown: JSON.parse(out) as BreakdownStep[],
      load: runLoad,
    };
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    rmSync(base, { recursive: true, force: true });
  }
}

/** Least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  const num = points.reduce((s, p) => s + (p[0] - mx) * (p[1] - my), 0);
  const den = points.reduce((s, p) => s + (p[0] - mx) ** 2, 0);
  return den === 0 ? Number.NaN : num / den;
}

const pct = (part: number, whole: number) => `${((part / whole) * 100).toFixed(0)} %`;
const loss = (sent: number, got: number) =>
  got >= sent ? 'none' : `${(((sent - got) / sent) * 100).toFixed(2)} %`;

async function main() {
  const needServer =
    DATABASES.includes('server') &&
    ((PARTS.includes('servers') && COUNTS.length > 0) || PARTS.includes('memory'));
  const pg = needServer ? await benchServer() : undefined;
  // Every part runs the built service, as production does.
  log('building (npm run build)');
  buildService();
  const sections: string[] = [];
  if (PARTS.includes('servers')) {
    const rows: ServerRow[] = DATABASES.includes('embedded') ? [await serversRun('embedded', 1)] : [];
    if (pg) for (const n of COUNTS) rows.push(await serversRun('server', n, pg));
    sections.push(`#### Collectors into one server (IPFIX, ${rate(RATE)} records/s per collector, ${SECONDS} s)

Each collector: the built \`flowradar collect\` (\`node dist/cli.js collect\`, flush every 5 s), its own exporter (our IPFIX encoder, the synthetic mix of bench/ingest.ts with a seed of its own, from
127.0.0.${10}+i), all senders in this process. Server: the bench cluster (bench/server.ts, PostgreSQL 15 + TimescaleDB,
\`BENCH_SERVER_SETTINGS\`), database \`${DB_NAME}\` dropped and created for every row, migrated by the first
collector. "in DB": sum of \`traffic.flows\` after the collectors stopped (the final flush). CPU: CPU time from the first
datagram to the last write, over the seconds of sending, in % of one core (2 cores here); PostgreSQL's is the postmaster's
process tree (its exited backends included), the embedded database's is in the collector's. Rows: traffic rows written
(upserts, flowradar_rows_written_total) per second of sending.

${table(
  [
    'database',
    'collectors',
    'sent',
    'decoded',
    'in DB',
    'loss',
    'kernel / queue drops',
    'write failures',
    'collectors CPU',
    'PostgreSQL CPU',
    'rows written/s',
    'max RSS (one collector)',
    'load at start',
  ],
  rows.map((r) => [
    r.kind,
    r.n,
    num(r.sent),
    num(r.decoded),
    `${num(r.stored.flows)}${r.stored.flows === r.decoded ? ' (= decoded)' : ' **≠ decoded**'}`,
    loss(r.sent, r.stored.flows),
    `${r.kernelDrops} / ${r.queueDrops}`,
    r.writeFailures,
    pct(r.collectorCpu, r.sendSeconds),
    r.kind === 'server' ? pct(r.pgCpu, r.sendSeconds) : '(in the collector)',
    rate(r.rowsWritten / r.sendSeconds),
    mib(r.rssMax),
    r.load,
  ]),
)}

exporter_minutes.records after each row: ${rows.map((r) => num(r.stored.exporterRecords)).join(', ')}; traffic rows in the database: ${rows.map((r) => num(r.stored.rows)).join(', ')}.`);
  }
  if (PARTS.includes('memory')) {
    const rows: MemoryRow[] = [];
    for (const kind of ['embedded', 'server'] as const)
      if (DATABASES.includes(kind))
        for (const k of KEYS) rows.push(await memoryRun(kind, k, kind === 'server' ? pg : undefined));
    const per = (kind: string) => {
      const pts = rows
        .filter((r) => r.kind === kind && Number.isFinite(r.steady))
        .map((r) => [r.keys / 1e6, r.steady / 2 ** 20] as [number, number]);
      return pts.length >= 2 ? `${slope(pts).toFixed(0)} MiB` : 'n/a';
    };
    sections.push(`#### Collector RSS against distinct keys per minute (v9, ${MEMORY_S} s per row)

One collector (as above), one v9 exporter whose flows end a second before they are sent: each pass of the stream
puts every key in the current minute, one pass a minute, so the collector meets that many distinct keys
(minute, AS, country, subdivision, product, direction) every minute, each once (AS 100,000 + k, country XX,
product HTTP, direction in); one record per key, so records/s = keys/60. RSS every 5 s; idle = 3 s after start,
before the first datagram; steady = median of the samples after the first minute; rows/min = traffic rows written
in the minutes after the first. Write buffer: rows queued for the database at the last flush (one batch when the
writer keeps up; more when batches queue).

${table(
  [
    'database',
    'keys/min',
    'records/s',
    'RSS idle',
    'RSS steady',
    'RSS max',
    'steady − idle',
    'per M keys/min',
    'rows written/min',
    'write buffer',
    'flushes × mean',
    'sent / in DB',
    'load at start',
  ],
  rows.map((r) => [
    r.kind,
    rate(r.keys),
    rate(r.rate),
    mib(r.idle),
    mib(r.steady),
    mib(r.max),
    mib(r.steady - r.idle),
    mib((r.steady - r.idle) / (r.keys / 1e6)),
    rate(r.rowsPerMinute),
    num(r.backlog),
    r.flush,
    `${num(r.sent)} / ${num(r.flows)}`,
    r.load,
  ]),
)}

Slope of steady RSS over keys/min (least squares over the rows): embedded ${per('embedded')}, server ${per('server')} per million
distinct keys per minute.`);
  }
  if (PARTS.includes('service')) {
    const s = await serviceRun();
    const b = s.breakdown;
    const step = (name: string) => b.find((x) => x.step === name)!;
    const pgl = step('pglite');
    sections.push(`#### The embedded service's RSS (\`npm start\`: \`node dist/cli.js serve --demo\`)

Temp data directory, so the demo's five weeks are written at the start (ready after ${s.readySeconds.toFixed(0)} s), then the
simulator exports live traffic. Burst: ${s.requests} distinct API requests (timeseries over 1d…12w, per demo AS, groups,
tops, summaries), 10 at a time, ${s.failed} failed. Load at start: ${s.load}.

${table(
  ['when', 'RSS', 'anonymous', 'file-backed'],
  s.samples.map((x) => [x.label, mib(x.rss), x.anon ? mib(x.anon) : '—', x.file ? mib(x.file) : '—']),
)}

What the parts weigh (a child process of its own, after a GC at each step: Node alone, the built service's modules
imported, then the embedded database opened on an empty directory and migrated):

${table(
  [
    'after',
    'RSS',
    'anonymous',
    'file-backed',
    'V8 heap used',
    'external (WebAssembly memory included)',
    'array buffers',
  ],
  b.map((x) => [
    x.step,
    mib(x.rss),
    mib(x.anon),
    mib(x.file),
    mib(x.heapUsed),
    mib(x.external),
    mib(x.arrayBuffers),
  ]),
)}

PGlite's WebAssembly memory: ${mib(pgl.wasm ?? 0)}; its shared_buffers ${pgl.sharedBuffers}, work_mem ${pgl.workMem}.`);
  }
  emit(`### Collectors into one server, and memory${QUICK ? ' (quick)' : ''}

${sections.join('\n\n')}`);
}

await main();
process.exit(0);
