/**
 * End-to-end ingest benchmark: a sender on loopback replays pre-encoded IPFIX datagrams (our
 * encoder, 1:1000 sampling, sequence numbers and export times patched per send so every datagram
 * is new) from `--exporters` exporters (default 4, each its own address, port, domain and
 * sequence) at a fixed rate to `flowradar collect` (child process, temp embedded data directory);
 * the rate is stepped up until records are lost. Loss = records the collector decoded (/metrics
 * flowradar_records_total) short of those sent, plus kernel drops (/proc/net/snmp Udp
 * RcvbufErrors/InErrors). The same sender and packets against nfcapd give the anchor, and both
 * receivers' CPU per million records is reported. `--decode-workers 1,2` compares collector
 * settings in one run. `--databases embedded,server` runs the collector on the embedded database
 * and in server mode (a fresh database on the benchmarks' TimescaleDB server, bench/server.ts),
 * the server's CPU reported beside the collector's. Without --quick, rates go up to 2.4 M
 * records/s and the best setting then runs 10 minutes at half its loss-free rate, RSS sampled.
 *
 * The module exports its sender ({@link Replay}, {@link send}) for other benchmarks; it runs only
 * as the entry script.
 *
 * Run: node --import tsx bench/ingest.ts [--quick] [--protocol ipfix|v9|sflow] [--exporters 4]
 *   [--step 8] [--rates 100000,400000] [--decode-workers 1,2] [--databases embedded,server] [--soak 600]
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sql } from 'drizzle-orm';
import { openDatabase } from '../src/db/client.js';
import { buildService, metric, metricByLabels, startCollectorProcess } from './collector-process.js';
import { encodeStream, type Protocol, syntheticFlows } from './flows.js';
import {
  cpuSecondsOfTree,
  emit,
  machine,
  mib,
  num,
  parseArgs,
  rate,
  rssOf,
  sleep,
  table,
  tempDir,
  tryRun,
} from './lib.js';
import { type BenchServer, benchServer, freshDatabase, treeCpuSeconds } from './server.js';
import { countRecords, exporterSocket, pace, ReplayStream } from './udp-sender.js';

/** Records per second of the steps, full run and --quick. */
const FULL_RATES = '100000,200000,400000,800000,1200000,1600000,2000000,2400000';
const QUICK_RATES = '100000,400000,800000,1200000,1600000';

/** Settings of one run, read from the command line by {@link main} only (the module is imported too). */
interface Settings {
  quick: boolean;
  protocol: Protocol;
  stepS: number;
  rates: number[];
  soakS: number;
  exporters: number;
  /** Collector settings compared in one run; [undefined] = the service's default. */
  decodeWorkers: (number | undefined)[];
  /** Where the collector writes: the embedded database, a database of the bench server, or both in turn. */
  databases: DatabaseKind[];
  /** How the receiving thread reads its sockets: the native reader (the default) and/or dgram. */
  readers: Reader[];
}

type Reader = 'recvmmsg' | 'dgram';

type DatabaseKind = 'embedded' | 'server';

function settingsOf(args = parseArgs()): Settings {
  const quick = args.quick;
  return {
    quick,
    protocol: (args.opts.protocol ?? 'ipfix') as Protocol,
    stepS: Number(args.opts.step ?? (quick ? 3 : 8)),
    rates: (args.opts.rates ?? (quick ? QUICK_RATES : FULL_RATES)).split(',').map(Number),
    soakS: Number(args.opts.soak ?? (quick ? 0 : 600)),
    exporters: Math.max(1, Number(args.opts.exporters ?? 4)),
    decodeWorkers: args.opts['decode-workers']?.split(',').map(Number) ?? [undefined],
    databases: (args.opts.databases ?? 'embedded').split(',').map((d) => {
      if (d !== 'embedded' && d !== 'server')
        throw new Error(`--databases: ${d} is neither embedded nor server`);
      return d;
    }),
    readers: (args.opts.readers ?? 'recvmmsg').split(',').map((r) => {
      if (r !== 'recvmmsg' && r !== 'dgram') throw new Error(`--readers: ${r} is neither recvmmsg nor dgram`);
      return r;
    }),
  };
}

export interface ReplayOptions {
  /** Distinct flows encoded (default 100,000); replays of one protocol and size share the encoding. */
  flows?: number;
  /**
   * Observation domain (IPFIX), source id (v9) or sub-agent (sFlow) patched into every header, so
   * replays from one address are still separate sequence streams (default: as encoded, 1).
   */
  domain?: number;
}

interface Encoded {
  datagrams: Uint8Array[];
  records: number[];
  units: number[];
}
const encodings = new Map<string, Encoded>();

/** The datagrams of `flows` synthetic flows, and per datagram its records and sequence units. */
function encoded(protocol: Protocol, flows: number): Encoded {
  const key = `${protocol}|${flows}`;
  const hit = encodings.get(key);
  if (hit) return hit;
  const now = Date.now();
  const enc = encodeStream(protocol, syntheticFlows(flows, { nowMs: now, seed: 11 }), now);
  const out: Encoded = { datagrams: enc.datagrams, ...countRecords(protocol, enc.datagrams, now) };
  encodings.set(key, out);
  return out;
}

/**
 * One exporter's stream of unique-looking datagrams: header sequence and export time patched per
 * send. Each replay owns its copies of the datagrams, so several can send at once.
 * @example
 * const replays = [1, 2, 3, 4].map((domain) => new Replay('ipfix', { flows: 40_000, domain }));
 * const [datagram, records] = replays[0].next();
 */
export class Replay extends ReplayStream {
  constructor(protocol: Protocol, opts: ReplayOptions = {}) {
    const enc = encoded(protocol, opts.flows ?? 100_000);
    const datagrams = enc.datagrams.map((d) => Buffer.from(d));
    if (opts.domain !== undefined) for (const d of datagrams) patchDomain(protocol, d, opts.domain);
    super(protocol, datagrams, enc.records, enc.units);
  }
}

/** Sets a datagram's observation domain (IPFIX), source id (v9) or agent sub-id (sFlow). */
function patchDomain(protocol: Protocol, d: Buffer, domain: number): void {
  if (protocol === 'ipfix') d.writeUInt32BE(domain >>> 0, 12);
  else if (protocol === 'v9') d.writeUInt32BE(domain >>> 0, 16);
  else if (protocol === 'sflow') d.writeUInt32BE(domain >>> 0, 12);
}

/**
 * `n` exporters: replays with their own domain, each sent from its own loopback address
 * (127.0.0.2, 127.0.0.3, …: all of 127/8 is loopback on Linux) and its own source port, so a
 * collector sees `n` exporters and can spread them over its decode workers.
 */
export function exporters(protocol: Protocol, n: number, flows?: number): Replay[] {
  return Array.from(
    { length: n },
    (_, i) => new Replay(protocol, { domain: i + 1, ...(flows ? { flows } : {}) }),
  );
}

/** The source address of the i-th replay of {@link exporters}. */
export const exporterAddress = (i: number) => `127.0.0.${i + 2}`;

interface Target {
  name: string;
  port: number;
  pid: number;
  /** Records the receiver has accounted for so far. */
  received(): Promise<number>;
}

function udpStats(): { inErrors: number; rcvbufErrors: number } {
  const lines = tryRun('cat', ['/proc/net/snmp'])
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  const head = lines[0]!.split(/\s+/);
  const vals = lines[1]!.split(/\s+/).map(Number);
  const get = (k: string) => vals[head.indexOf(k)] ?? 0;
  return { inErrors: get('InErrors'), rcvbufErrors: get('RcvbufErrors') };
}

/**
 * Sends at `recordsPerSecond` in all for `seconds`, the replays taking turns datagram by datagram,
 * each from its own socket ({@link exporterAddress}); returns records and datagrams handed to the
 * kernel.
 */
export async function send(replays: Replay[], port: number, recordsPerSecond: number, seconds: number) {
  const sockets = await Promise.all(replays.map((_, i) => exporterSocket(exporterAddress(i))));
  try {
    return await pace(replays, sockets, port, recordsPerSecond, seconds);
  } finally {
    await Promise.all(sockets.map((s) => new Promise<void>((ok) => s.close(() => ok()))));
  }
}

/**
 * `flowradar collect` (built) with `decodeWorkers` (undefined: the service's default for this
 * machine), on the embedded database in `dataDir`, or in server mode on `databaseUrl`.
 */
async function startCollector(
  dataDir: string,
  protocol: Protocol,
  decodeWorkers: number | undefined,
  reader: Reader,
  databaseUrl?: string,
): Promise<Target & { url: string; stop(): Promise<void> }> {
  const c = await startCollectorProcess({
    dataDir,
    ...(databaseUrl ? { databaseUrl } : {}),
    ...(decodeWorkers !== undefined ? { decodeWorkers } : {}),
    nativeReceiver: reader === 'recvmmsg',
  });
  if (c.reader !== reader)
    throw new Error(`the collector reads with ${c.reader}, not ${reader}: is the native reader built?`);
  return {
    name: 'flowradar collect',
    url: c.url,
    port: protocol === 'sflow' ? c.sflowPort : c.netflowPort,
    pid: c.pid,
    received: () => metric(c.url, 'flowradar_records_total'),
    stop: c.stop,
  };
}

export async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((ok) => s.bind(0, '127.0.0.1', () => ok()));
  const port = s.address().port;
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}

/** nfcapd on a temp directory; flows counted with nfdump after it has written its file. */
async function startNfcapd(dir: string) {
  const port = await freeUdpPort();
  const child = spawn(
    'nfcapd',
    ['-b', '127.0.0.1', '-p', String(port), '-w', dir, '-B', String(32 * 1024 * 1024), '-t', '3600'],
    {
      stdio: ['ignore', 'ignore', 'ignore'],
    },
  );
  await sleep(1000);
  return {
    name: 'nfcapd',
    port,
    pid: child.pid!,
    child,
    stop: () =>
      new Promise<void>((ok) => {
        child.once('exit', () => ok());
        child.kill('SIGTERM');
      }),
    /** Flows in the files nfcapd wrote (it writes at rotation and at exit). */
    flows(): number {
      const files = readdirSync(dir).filter((f) => f.startsWith('nfcapd.') && !f.includes('current'));
      let n = 0;
      for (const f of files) {
        const out = tryRun('nfdump', ['-r', join(dir, f), '-I']);
        n += Number(/^Flows:\s+(\d+)/m.exec(out)?.[1] ?? 0);
      }
      return n;
    },
  };
}

export interface Step {
  /** Average and largest-bucket flush time (ours): the embedded database writes on the event loop. */
  flush?: string;
  /** The rate the step asked of the sender, records/s. */
  asked: number;
  /** The rate it sent at, records/s (the sender's pacing, or its core, may fall short of the asked rate). */
  rate: number;
  sent: number;
  received: number;
  kernelDrops: number;
  /** Share of one core over the step (1 = 100 %). */
  cpu: number;
  /** CPU seconds of the receiver's process tree over the step per million records received. */
  cpuPerM: number;
  /** Server mode: the database server's CPU seconds over the step per million records received. */
  dbCpuPerM?: number;
  /** Ours: what the collector counted dropping itself over the step, by reason (`receive_queue 1,204`), or none. */
  collectorDrops?: string;
  rss: number;
}

const perMillion = (cpuSeconds: number, records: number) =>
  records > 0 ? (cpuSeconds / records) * 1e6 : Number.NaN;

interface OursResult {
  decodeWorkers: number | undefined;
  reader: Reader;
  database: DatabaseKind;
  steps: Step[];
  flowsInDb: number;
  decodedInSteps: number;
}

/** The database of the server-mode runs, made afresh for each. */
const SERVER_DB = 'flowradar_ingest';

/** The collector's own drop counters, by reason: datagrams it could not decode, and what it dropped after. */
async function collectorDrops(url: string): Promise<Map<string, number>> {
  const drops = new Map<string, number>();
  for (const [labels, n] of await metricByLabels(url, [
    'flowradar_decode_errors_total',
    'flowradar_drops_total',
  ])) {
    const reason = /reason="([^"]*)"/.exec(labels)?.[1] ?? labels;
    drops.set(reason, (drops.get(reason) ?? 0) + n);
  }
  return drops;
}

/** What grew between two readings of {@link collectorDrops}: `receive_queue 1,204, duplicate 3`, or none. */
const dropsBetween = (before: Map<string, number>, after: Map<string, number>) =>
  [...after]
    .filter(([reason, n]) => n > (before.get(reason) ?? 0))
    .map(([reason, n]) => `${reason} ${num(n - (before.get(reason) ?? 0))}`)
    .join(', ') || 'none';

async function stepOurs(
  set: Settings,
  replays: Replay[],
  decodeWorkers: number | undefined,
  reader: Reader,
  pg?: BenchServer,
): Promise<OursResult> {
  const dir = join(tempDir('ingest'), 'data');
  const databaseUrl = pg ? freshDatabase(pg, SERVER_DB) : undefined;
  const dbCpu = () => (pg ? treeCpuSeconds(pg.pid()) : 0);
  const c = await startCollector(dir, set.protocol, decodeWorkers, reader, databaseUrl);
  const steps: Step[] = [];
  let flushSum = 0;
  let flushCount = 0;
  const label = `${pg ? ' (server)' : ''}${decodeWorkers === undefined ? '' : ` (${decodeWorkers} decode workers)`}${reader === 'dgram' ? ' (dgram)' : ''}`;
  try {
    // Warm-up: templates learned, JIT warm.
    await send(replays, c.port, 5000, 2);
    await sleep(500);
    flushSum = await metric(c.url, 'flowradar_flush_seconds_sum');
    flushCount = await metric(c.url, 'flowradar_flush_seconds_count');
    for (const r of set.rates) {
      const before = await c.received();
      const drops0 = await collectorDrops(c.url);
      const k0 = udpStats();
      const cpu0 = cpuSecondsOfTree(c.pid);
      const db0 = dbCpu();
      const t0 = performance.now();
      const s = await send(replays, c.port, r, set.stepS);
      // Let the collector drain its socket buffer (and its decode workers report, each flush).
      let got = await c.received();
      for (let i = 0; i < 40; i++) {
        await sleep(250);
        const now = await c.received();
        if (now === got && now - before >= s.records) break;
        if (now === got && i >= 24) break;
        got = now;
      }
      const cpuSeconds = cpuSecondsOfTree(c.pid) - cpu0;
      const dbSeconds = dbCpu() - db0;
      const cpu = cpuSeconds / ((performance.now() - t0) / 1000);
      const k1 = udpStats();
      const fsum = await metric(c.url, 'flowradar_flush_seconds_sum');
      const fcount = await metric(c.url, 'flowradar_flush_seconds_count');
      const step: Step = {
        flush: `${num(fcount - flushCount)} × ${(((fsum - flushSum) / Math.max(1, fcount - flushCount)) * 1000).toFixed(0)} ms`,
        asked: r,
        rate: s.records / s.seconds,
        sent: s.records,
        received: got - before,
        kernelDrops: k1.inErrors - k0.inErrors,
        collectorDrops: dropsBetween(drops0, await collectorDrops(c.url)),
        cpu,
        cpuPerM: perMillion(cpuSeconds, got - before),
        ...(pg ? { dbCpuPerM: perMillion(dbSeconds, got - before) } : {}),
        rss: rssOf(c.pid),
      };
      flushSum = fsum;
      flushCount = fcount;
      steps.push(step);
      process.stderr.write(
        `ingest ours${label} ${num(r)}/s: sent ${num(step.sent)} received ${num(step.received)} kernel drops ${step.kernelDrops} collector drops ${step.collectorDrops} cpu ${(cpu * 100).toFixed(0)}% ${step.cpuPerM.toFixed(2)} s/M\n`,
      );
      if (step.received < step.sent) break;
    }
  } finally {
    await c.stop();
  }
  // What reached the database: flows are counted once per record, in its first minute.
  const db = await openDatabase(databaseUrl ? { databaseUrl } : { dataDir: dir });
  const [row] = await db.query<{ flows: number }>(
    sql`SELECT coalesce(sum(flows), 0)::float8 AS flows FROM traffic`,
  );
  await db.close();
  rmSync(join(dir, '..'), { recursive: true, force: true });
  const decoded = steps.reduce((a, s) => a + s.received, 0);
  if (pg) pg.psql(`DROP DATABASE IF EXISTS ${SERVER_DB} WITH (FORCE)`);
  return {
    decodeWorkers,
    reader,
    database: pg ? 'server' : 'embedded',
    steps,
    flowsInDb: row?.flows ?? 0,
    decodedInSteps: decoded,
  };
}

async function stepNfcapd(set: Settings, replays: Replay[]): Promise<Step[]> {
  if (!tryRun('which', ['nfcapd'])) return [];
  const steps: Step[] = [];
  for (const r of set.rates) {
    // A fresh nfcapd per step: it writes its file at exit, so each step is counted alone.
    const dir = tempDir('nfcapd');
    const n = await startNfcapd(dir);
    for (const replay of replays) replay.rewind();
    const warm = (await send(replays, n.port, 5000, 1)).records;
    await sleep(300);
    const k0 = udpStats();
    const cpu0 = cpuSecondsOfTree(n.pid);
    const t0 = performance.now();
    const s = await send(replays, n.port, r, set.stepS);
    await sleep(1000);
    const cpuSeconds = cpuSecondsOfTree(n.pid) - cpu0;
    const cpu = cpuSeconds / ((performance.now() - t0) / 1000);
    const rss = rssOf(n.pid);
    const k1 = udpStats();
    await n.stop();
    const received = Math.max(0, n.flows() - warm);
    rmSync(dir, { recursive: true, force: true });
    const step: Step = {
      asked: r,
      rate: s.records / s.seconds,
      sent: s.records,
      received,
      kernelDrops: k1.inErrors - k0.inErrors,
      cpu,
      cpuPerM: perMillion(cpuSeconds, received),
      rss,
    };
    steps.push(step);
    process.stderr.write(
      `ingest nfcapd ${num(r)}/s: sent ${num(step.sent)} flows ${num(step.received)} kernel drops ${step.kernelDrops} cpu ${(cpu * 100).toFixed(0)}% ${step.cpuPerM.toFixed(2)} s/M\n`,
    );
    if (step.kernelDrops > 0 || step.received < step.sent) break;
  }
  return steps;
}

interface SoakResult {
  sent: number;
  received: number;
  kernelDrops: number;
  samples: { t: number; rss: number }[];
  beforeTemplate: number;
}

async function soak(
  set: Settings,
  replays: Replay[],
  recordsPerSecond: number,
  decodeWorkers: number | undefined,
  reader: Reader,
  pg?: BenchServer,
): Promise<SoakResult> {
  const dir = join(tempDir('soak'), 'data');
  const c = await startCollector(
    dir,
    set.protocol,
    decodeWorkers,
    reader,
    pg ? freshDatabase(pg, SERVER_DB) : undefined,
  );
  const samples: { t: number; rss: number }[] = [];
  const k0 = udpStats();
  const before = await c.received();
  let sent = 0;
  try {
    const t0 = performance.now();
    const sampler = setInterval(
      () => samples.push({ t: (performance.now() - t0) / 1000, rss: rssOf(c.pid) }),
      10_000,
    );
    for (let left = set.soakS; left > 0; left -= 30)
      sent += (await send(replays, c.port, recordsPerSecond, Math.min(30, left))).records;
    clearInterval(sampler);
    await sleep(6000);
  } finally {
    const received = (await c.received()) - before;
    // Data sets that came before their template (a fresh collector knows none): undecodable.
    const beforeTemplate = await metric(c.url, 'flowradar_decode_errors_total{reason="unknown_template"}');
    const k1 = udpStats();
    await c.stop();
    rmSync(join(dir, '..'), { recursive: true, force: true });
    // biome-ignore lint/correctness/noUnsafeFinally: the result is built from what the finally block measured
    return { sent, received, kernelDrops: k1.inErrors - k0.inErrors, samples, beforeTemplate };
  }
}

/**
 * The step of the highest asked rate received whole. Receivers are compared by it, not by the
 * rate sent: two receivers whole at the same step differ only by the sender's jitter (2,398,711
 * against 2,399,854 records/s), which is no difference between them.
 */
export const lossFreeStep = (steps: Step[]): Step | undefined =>
  steps
    .filter((s) => s.kernelDrops === 0 && s.received >= s.sent)
    .reduce<Step | undefined>((m, s) => (m === undefined || s.asked > m.asked ? s : m), undefined);

/**
 * The target's test: ours is whole at a step at least as high as the highest step nfcapd receives
 * whole (with nothing whole on its side there is no anchor, so not met).
 */
export function keepsUp(ours: Step[], nfcapd: Step[]): boolean {
  const mine = lossFreeStep(ours);
  const theirs = lossFreeStep(nfcapd);
  return mine !== undefined && theirs !== undefined && mine.asked >= theirs.asked;
}

/** The rate sent at {@link lossFreeStep}, records/s; 0 when no step was received whole. */
const lossFree = (steps: Step[]) => lossFreeStep(steps)?.rate ?? 0;

async function main() {
  const set = settingsOf();
  const replays = exporters(set.protocol, set.exporters, set.quick ? 40_000 : 100_000);
  const load = machine().load;
  const pg = set.databases.includes('server') ? await benchServer() : undefined;
  buildService();
  const ours: OursResult[] = [];
  for (const database of set.databases)
    for (const w of set.decodeWorkers)
      for (const reader of set.readers)
        ours.push(await stepOurs(set, replays, w, reader, database === 'server' ? pg : undefined));
  const theirs = set.protocol === 'sflow' ? [] : await stepNfcapd(set, replays);
  // The soak and the CPU comparison take the best embedded setting when there is one: the default.
  const candidates = ours.some((o) => o.database === 'embedded')
    ? ours.filter((o) => o.database === 'embedded')
    : ours;
  const best = candidates.reduce(
    (b, o) => ((lossFreeStep(o.steps)?.asked ?? 0) > (lossFreeStep(b.steps)?.asked ?? 0) ? o : b),
    candidates[0]!,
  );
  const oursBest = lossFree(best.steps);
  const theirsBest = lossFree(theirs);
  const soakResult =
    set.soakS > 0 && oursBest > 0
      ? await soak(
          set,
          replays,
          oursBest / 2,
          best.decodeWorkers,
          best.reader,
          best.database === 'server' ? pg : undefined,
        )
      : undefined;
  const who = (o: Pick<OursResult, 'decodeWorkers' | 'database' | 'reader'>) =>
    `flowradar${o.database === 'server' ? ' (server mode)' : ''}${o.decodeWorkers === undefined ? '' : `, ${o.decodeWorkers} decode worker${o.decodeWorkers === 1 ? '' : 's'}`}${o.reader === 'dgram' ? ', dgram reader' : ''}`;
  const row = (name: string) => (s: Step) => [
    name,
    rate(s.rate),
    num(s.sent),
    num(s.received),
    s.kernelDrops,
    s.collectorDrops ?? '—',
    s.received >= s.sent && s.kernelDrops === 0
      ? 'none'
      : `${(((s.sent - s.received) / s.sent) * 100).toFixed(2)} %`,
    `${(s.cpu * 100).toFixed(0)} %`,
    Number.isFinite(s.cpuPerM) ? s.cpuPerM.toFixed(2) : '—',
    s.dbCpuPerM !== undefined && Number.isFinite(s.dbCpuPerM) ? s.dbCpuPerM.toFixed(2) : '—',
    mib(s.rss),
    s.flush ?? '—',
  ];
  const topStep = (steps: Step[]) => steps.length > 0 && lossFreeStep(steps) === steps.at(-1);
  // Each run against nfcapd: its loss-free rate as a share of nfcapd's, and CPU per million records
  // at the highest rate both received without loss (the same work for each).
  const against = (o: OursResult) => {
    const mineStep = lossFreeStep(o.steps);
    const theirsStep = lossFreeStep(theirs);
    const mine = mineStep?.rate ?? 0;
    const fraction = theirsBest > 0 ? mine / theirsBest : Number.NaN;
    const met = keepsUp(o.steps, theirs);
    const commonAsked = Math.min(mineStep?.asked ?? 0, theirsStep?.asked ?? 0);
    const common = Math.min(mine, theirsBest);
    const at = (steps: Step[]) =>
      steps.filter((s) => s.kernelDrops === 0 && s.received >= s.sent && s.asked <= commonAsked).at(-1);
    const oursAt = at(o.steps);
    const theirsAt = at(theirs);
    const both = topStep(o.steps) && topStep(theirs) ? ', both whole at the top step' : '';
    const share = Number.isFinite(fraction)
      ? `${(fraction * 100).toFixed(0)} % of nfcapd (target ≥ 100 %: ${met ? 'met' : '**missed**'}${both})`
      : 'no anchor';
    const server = oursAt?.dbCpuPerM !== undefined ? ` + the server ${oursAt.dbCpuPerM.toFixed(2)} s` : '';
    const cpu = oursAt
      ? `${oursAt.cpuPerM.toFixed(2)} s${server}${theirsAt ? ` against nfcapd's ${theirsAt.cpuPerM.toFixed(2)} s (${(oursAt.cpuPerM / theirsAt.cpuPerM).toFixed(1)}×)` : ''}`
      : '—';
    return `${who(o)}: ${share}; CPU per million records at ${rate(common)} records/s ${cpu}`;
  };
  let soakText = '';
  if (soakResult) {
    const rs = soakResult.samples.map((s) => s.rss);
    const first = rs.slice(0, 3);
    const last = rs.slice(-3);
    const avg = (a: number[]) => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
    soakText = `

Soak (${who(best)}): ${set.soakS / 60} minutes at ${rate(oursBest / 2)} records/s: sent ${num(soakResult.sent)}, decoded ${num(soakResult.received)}, kernel drops
${soakResult.kernelDrops}, data sets that came before their template (undecodable, counted) ${soakResult.beforeTemplate}. RSS every 10 s: first minute ${mib(avg(first))}, last minute ${mib(avg(last))}, min ${mib(Math.min(...rs))},
max ${mib(Math.max(...rs))} (${rs.map((r) => (r / 2 ** 20).toFixed(0)).join(' ')} MiB).`;
  }
  const dbLines = ours
    .map(
      (o) =>
        `${who(o)}: sum(flows) in \`traffic\` = ${num(o.flowsInDb)} for ${num(o.decodedInSteps)} records decoded in the steps (+ the warm-up's)${o.flowsInDb >= o.decodedInSteps ? '' : ' — **records missing**'}`,
    )
    .join('; ');
  const r0 = replays[0]!;
  emit(`### End-to-end ingest (${set.protocol}${set.quick ? ', quick' : ''})

Sender: this process, ${set.exporters} exporter${set.exporters === 1 ? '' : 's'} (each its own loopback address, source port, domain and sequence), ${set.protocol} datagrams of
our encoder (${r0.datagrams.length} distinct, ${r0.recordsPerDatagram.toFixed(1)} records each, 1:1000 sampling), sequence and export time patched per send,
taking turns, paced every millisecond, ${set.stepS} s per step, loopback. Load average at the start: ${load}.
Receiver: \`flowradar collect\` (built: \`node dist/cli.js collect\`, embedded database in a temp directory, flush
every 5 s; in server mode a fresh database on the benchmarks' TimescaleDB server, whose CPU is
"server CPU s/M"); nfcapd 1.7 (\`-B 32 MiB\`, fresh per step, flows counted with \`nfdump -I\`). Socket
buffers are capped by net.core.rmem_max = ${tryRun('sysctl', ['-n', 'net.core.rmem_max'])}. "received": ours = flowradar_records_total
from /metrics, nfcapd = flows in its files. Kernel drops: datagrams, /proc/net/snmp Udp InErrors (⊇ RcvbufErrors) during the step. Collector drops: what ours counted dropping
itself over the step, by reason (flowradar_decode_errors_total and flowradar_drops_total: \`receive_queue\` counts datagrams
past the receiving thread's bound, write reasons count rows).
CPU: user + system seconds of the receiver's process tree (every thread) over the step; "CPU s/M" = those seconds per million records received.

${table(['receiver', 'rate (records/s)', 'sent', 'received', 'kernel drops', 'collector drops', 'loss', 'CPU', 'CPU s/M', 'server CPU s/M', 'RSS', 'DB flushes × mean'], [...ours.flatMap((o) => o.steps.map(row(who(o)))), ...theirs.map(row('nfcapd'))])}

Highest loss-free rate: ${ours.map((o) => `${who(o)} ${rate(lossFree(o.steps))} records/s${topStep(o.steps) ? ' (the top step: the limit is higher)' : ''}`).join(', ')}; nfcapd ${rate(theirsBest)} records/s${topStep(theirs) ? ' (the top step: the limit is higher)' : ''}

${ours.map((o) => `- ${against(o)}.`).join('\n')}

Database check after SIGTERM: ${dbLines}.${soakText}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
  process.exit(0);
}
