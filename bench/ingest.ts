/**
 * End-to-end ingest benchmark: a sender on loopback replays pre-encoded IPFIX datagrams (our
 * encoder, 1:1000 sampling, sequence numbers and export times patched per send so every datagram
 * is new) at a fixed rate to `flowradar collect` (child process, temp embedded data directory);
 * the rate is stepped up until records are lost. Loss = records the collector decoded (/metrics
 * flowradar_records_total) short of those sent, plus kernel drops (/proc/net/snmp Udp
 * RcvbufErrors/InErrors). The same sender and packets against nfcapd give the anchor. Without
 * --quick, the collector then runs 10 minutes at half its loss-free rate and its RSS is sampled.
 *
 * Run: node --import tsx bench/ingest.ts [--quick] [--protocol ipfix|v9|sflow]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { sql } from 'drizzle-orm';
import { openDatabase } from '../src/db/client.js';
import { decodeNetflow, TemplateRegistry } from '../src/ingest/netflow/index.js';
import { decodeSflow } from '../src/ingest/sflow.js';
import { newFlowRecord } from '../src/ingest/types.js';
import { encodeStream, type Protocol, syntheticFlows } from './flows.js';
import {
  cpuSecondsOf,
  emit,
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

const args = parseArgs();
const QUICK = args.quick;
const PROTOCOL = (args.opts.protocol ?? 'ipfix') as Protocol;
const STEP_S = Number(args.opts.step ?? (QUICK ? 3 : 8));
const RATES = (
  args.opts.rates ??
  (QUICK ? '25000,50000,100000,150000,200000' : '25000,50000,100000,150000,200000,300000,400000')
)
  .split(',')
  .map(Number);
const SOAK_S = Number(args.opts.soak ?? (QUICK ? 0 : 600));
const ROOT = new URL('..', import.meta.url).pathname;

/** One stream of unique-looking datagrams: header sequence and export time patched per send. */
class Replay {
  readonly datagrams: Buffer[];
  /** Sequence units per datagram: IPFIX data records, v9/sFlow 1. */
  private readonly units: number[];
  readonly records: number[];
  readonly recordsPerDatagram: number;
  private i = 0;
  private sequence = 0;

  constructor(readonly protocol: Protocol) {
    const now = Date.now();
    const enc = encodeStream(
      protocol,
      syntheticFlows(QUICK ? 40_000 : 100_000, { nowMs: now, seed: 11 }),
      now,
    );
    this.datagrams = enc.datagrams.map((d) => Buffer.from(d));
    const registry = new TemplateRegistry();
    const record = newFlowRecord();
    this.units = [];
    this.records = [];
    for (const d of this.datagrams) {
      const res =
        protocol === 'sflow'
          ? decodeSflow(d, { nowMs: now, record }, () => {})
          : decodeNetflow(d, { exporter: 'x', registry, nowMs: now, record }, () => {});
      this.records.push(res.records);
      this.units.push(
        protocol === 'ipfix' ? (res.dataRecords ?? res.records) : protocol === 'v5' ? res.records : 1,
      );
    }
    this.recordsPerDatagram = this.records.reduce((a, b) => a + b, 0) / this.datagrams.length;
  }

  /**
   * Back to the first datagram, which carries the templates: a receiver started afresh (nfcapd per
   * step) then decodes every datagram of its warm-up, and the warm-up can be subtracted exactly.
   * The sequence keeps going: to the receiver this is one exporter sending on.
   */
  rewind(): void {
    this.i = 0;
  }

  /** The next datagram with its sequence (and export time) made current; returns [buffer, records]. */
  next(): [Buffer, number] {
    const k = this.i++ % this.datagrams.length;
    const d = this.datagrams[k]!;
    const secs = Math.floor(Date.now() / 1000) >>> 0;
    if (this.protocol === 'ipfix') {
      d.writeUInt32BE(secs, 4);
      d.writeUInt32BE(this.sequence >>> 0, 8);
    } else if (this.protocol === 'v9') {
      d.writeUInt32BE(secs, 8);
      d.writeUInt32BE(this.sequence >>> 0, 12);
    } else if (this.protocol === 'sflow') {
      // Agent address is IPv4 (4 bytes): sequence after version, type, address, sub-agent.
      d.writeUInt32BE(this.sequence >>> 0, 16);
    }
    this.sequence += this.units[k]!;
    return [d, this.records[k]!];
  }
}

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

/** Sends at `recordsPerSecond` for `seconds`; returns records and datagrams handed to the kernel. */
async function send(replay: Replay, port: number, recordsPerSecond: number, seconds: number) {
  const socket = createSocket('udp4');
  const dgRate = recordsPerSecond / replay.recordsPerDatagram;
  let datagrams = 0;
  let records = 0;
  const t0 = performance.now();
  for (;;) {
    const elapsed = (performance.now() - t0) / 1000;
    if (elapsed >= seconds) break;
    const due = Math.floor(elapsed * dgRate);
    while (datagrams < due) {
      const [d, n] = replay.next();
      socket.send(d, port, '127.0.0.1');
      datagrams++;
      records += n;
    }
    await sleep(1);
  }
  await new Promise<void>((ok) => socket.close(() => ok()));
  return { records, datagrams, seconds: (performance.now() - t0) / 1000 };
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').pop());
  return sum;
}

async function startCollector(
  dataDir: string,
): Promise<Target & { url: string; child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/api-server.ts', dataDir, '--collect'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((ok, fail) => {
    createInterface({ input: child.stdout! }).once('line', ok);
    child.once('exit', (code) => fail(new Error(`collector exited with ${code}`)));
  });
  const info = JSON.parse(line) as { url: string; netflowPort: number; sflowPort: number; pid: number };
  return {
    name: 'flowradar collect',
    url: info.url,
    port: PROTOCOL === 'sflow' ? info.sflowPort : info.netflowPort,
    pid: info.pid,
    child,
    received: () => metric(info.url, 'flowradar_records_total'),
    stop: () =>
      new Promise<void>((ok) => {
        child.once('exit', () => ok());
        child.kill('SIGTERM');
      }),
  };
}

async function freeUdpPort(): Promise<number> {
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

interface Step {
  /** Average and largest-bucket flush time (ours): the embedded database writes on the event loop. */
  flush?: string;
  rate: number;
  sent: number;
  received: number;
  kernelDrops: number;
  cpu: number;
  rss: number;
}

async function stepOurs(replay: Replay): Promise<Step[]> {
  const dir = join(tempDir('ingest'), 'data');
  const c = await startCollector(dir);
  const steps: Step[] = [];
  let flushSum = 0;
  let flushCount = 0;
  try {
    // Warm-up: templates learned, JIT warm.
    await send(replay, c.port, 5000, 2);
    await sleep(500);
    flushSum = await metric(c.url, 'flowradar_flush_seconds_sum');
    flushCount = await metric(c.url, 'flowradar_flush_seconds_count');
    for (const r of RATES) {
      const before = await c.received();
      const k0 = udpStats();
      const cpu0 = cpuSecondsOf(c.pid);
      const t0 = performance.now();
      const s = await send(replay, c.port, r, STEP_S);
      // Let the collector drain its socket buffer.
      let got = await c.received();
      for (let i = 0; i < 20; i++) {
        await sleep(250);
        const now = await c.received();
        if (now === got) break;
        got = now;
      }
      const cpu = (cpuSecondsOf(c.pid) - cpu0) / ((performance.now() - t0) / 1000);
      const k1 = udpStats();
      const fsum = await metric(c.url, 'flowradar_flush_seconds_sum');
      const fcount = await metric(c.url, 'flowradar_flush_seconds_count');
      const step: Step = {
        flush: `${num(fcount - flushCount)} × ${(((fsum - flushSum) / Math.max(1, fcount - flushCount)) * 1000).toFixed(0)} ms`,
        rate: s.records / s.seconds,
        sent: s.records,
        received: got - before,
        kernelDrops: k1.inErrors - k0.inErrors,
        cpu,
        rss: rssOf(c.pid),
      };
      flushSum = fsum;
      flushCount = fcount;
      steps.push(step);
      process.stderr.write(
        `ingest ours ${num(r)}/s: sent ${num(step.sent)} received ${num(step.received)} kernel drops ${step.kernelDrops} cpu ${(cpu * 100).toFixed(0)}%\n`,
      );
      if (step.received < step.sent) break;
    }
  } finally {
    await c.stop();
  }
  // What reached the database: flows are counted once per record, in its first minute.
  const db = await openDatabase({ dataDir: dir });
  const [row] = await db.query<{ flows: number }>(
    sql`SELECT coalesce(sum(flows), 0)::float8 AS flows FROM traffic`,
  );
  await db.close();
  rmSync(join(dir, '..'), { recursive: true, force: true });
  const decoded = steps.reduce((a, s) => a + s.received, 0);
  dbCheck = { flowsInDb: row?.flows ?? 0, decodedInSteps: decoded };
  return steps;
}
let dbCheck = { flowsInDb: 0, decodedInSteps: 0 };

async function stepNfcapd(replay: Replay): Promise<Step[]> {
  if (!tryRun('which', ['nfcapd'])) return [];
  const steps: Step[] = [];
  for (const r of RATES) {
    // A fresh nfcapd per step: it writes its file at exit, so each step is counted alone.
    const dir = tempDir('nfcapd');
    const n = await startNfcapd(dir);
    replay.rewind();
    const warm = (await send(replay, n.port, 5000, 1)).records;
    await sleep(300);
    const k0 = udpStats();
    const cpu0 = cpuSecondsOf(n.pid);
    const t0 = performance.now();
    const s = await send(replay, n.port, r, STEP_S);
    await sleep(1000);
    const cpu = (cpuSecondsOf(n.pid) - cpu0) / ((performance.now() - t0) / 1000);
    const rss = rssOf(n.pid);
    const k1 = udpStats();
    await n.stop();
    const received = Math.max(0, n.flows() - warm);
    rmSync(dir, { recursive: true, force: true });
    const step: Step = {
      rate: s.records / s.seconds,
      sent: s.records,
      received,
      kernelDrops: k1.inErrors - k0.inErrors,
      cpu,
      rss,
    };
    steps.push(step);
    process.stderr.write(
      `ingest nfcapd ${num(r)}/s: sent ${num(step.sent)} flows ${num(step.received)} kernel drops ${step.kernelDrops}\n`,
    );
    if (step.kernelDrops > 0 || step.received < step.sent) break;
  }
  return steps;
}

async function soak(replay: Replay, recordsPerSecond: number) {
  const dir = join(tempDir('soak'), 'data');
  const c = await startCollector(dir);
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
    for (let left = SOAK_S; left > 0; left -= 30)
      sent += (await send(replay, c.port, recordsPerSecond, Math.min(30, left))).records;
    clearInterval(sampler);
    await sleep(2000);
  } finally {
    const received = (await c.received()) - before;
    // Data sets that came before their template (a fresh collector knows none): undecodable.
    const beforeTemplate = await metric(c.url, 'flowradar_decode_errors_total{reason="unknown_template"}');
    const k1 = udpStats();
    await c.stop();
    rmSync(join(dir, '..'), { recursive: true, force: true });
    soakResult = { sent, received, kernelDrops: k1.inErrors - k0.inErrors, samples, beforeTemplate };
  }
}
let soakResult:
  | {
      sent: number;
      received: number;
      kernelDrops: number;
      samples: { t: number; rss: number }[];
      beforeTemplate: number;
    }
  | undefined;

const lossFree = (steps: Step[], exact: boolean) =>
  steps
    .filter((s) => s.kernelDrops === 0 && (exact ? s.received >= s.sent : s.received >= s.sent * 0.999))
    .reduce((m, s) => Math.max(m, s.rate), 0);

async function main() {
  const replay = new Replay(PROTOCOL);
  const ours = await stepOurs(replay);
  const theirs = PROTOCOL === 'sflow' ? [] : await stepNfcapd(replay);
  const oursBest = lossFree(ours, true);
  const theirsBest = lossFree(theirs, true);
  if (SOAK_S > 0 && oursBest > 0) await soak(replay, oursBest / 2);
  const row = (who: string) => (s: Step) => [
    who,
    rate(s.rate),
    num(s.sent),
    num(s.received),
    s.kernelDrops,
    s.received >= s.sent && s.kernelDrops === 0
      ? 'none'
      : `${(((s.sent - s.received) / s.sent) * 100).toFixed(2)} %`,
    `${(s.cpu * 100).toFixed(0)} %`,
    mib(s.rss),
    s.flush ?? '—',
  ];
  const fraction = theirsBest > 0 ? oursBest / theirsBest : Number.NaN;
  const topStep = (steps: Step[]) => steps.length > 0 && lossFree(steps, true) === steps.at(-1)!.rate;
  let soakText = '';
  if (soakResult) {
    const rs = soakResult.samples.map((s) => s.rss);
    const first = rs.slice(0, 3);
    const last = rs.slice(-3);
    const avg = (a: number[]) => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
    soakText = `

Soak: ${SOAK_S / 60} minutes at ${rate(oursBest / 2)} records/s: sent ${num(soakResult.sent)}, decoded ${num(soakResult.received)}, kernel drops
${soakResult.kernelDrops}, data sets that came before their template (undecodable, counted) ${soakResult.beforeTemplate}. RSS every 10 s: first minute ${mib(avg(first))}, last minute ${mib(avg(last))}, min ${mib(Math.min(...rs))},
max ${mib(Math.max(...rs))} (${rs.map((r) => (r / 2 ** 20).toFixed(0)).join(' ')} MiB).`;
  }
  emit(`### End-to-end ingest (${PROTOCOL}${QUICK ? ', quick' : ''})

Sender: this process, ${PROTOCOL} datagrams of our encoder (${replay.datagrams.length} distinct, ${replay.recordsPerDatagram.toFixed(1)} records each,
1:1000 sampling), sequence and export time patched per send, paced every millisecond, ${STEP_S} s per step, loopback.
Receiver: \`flowradar collect\` (bench/api-server.ts --collect: startService with the collector, embedded database in a
temp directory, flush every 5 s); nfcapd 1.7 (\`-B 32 MiB\`, fresh per step, flows counted with \`nfdump -I\`). Socket
buffers are capped by net.core.rmem_max = ${tryRun('sysctl', ['-n', 'net.core.rmem_max'])}. "received": ours = flowradar_records_total
from /metrics, nfcapd = flows in its files. Kernel drops: datagrams, /proc/net/snmp Udp InErrors (⊇ RcvbufErrors) during the step.

${table(['receiver', 'rate (records/s)', 'sent', 'received', 'kernel drops', 'loss', 'CPU', 'RSS', 'DB flushes × mean'], [...ours.map(row('flowradar')), ...theirs.map(row('nfcapd'))])}

Highest loss-free rate: flowradar ${rate(oursBest)} records/s${topStep(ours) ? ' (the top step: the limit is higher)' : ''}, nfcapd ${rate(theirsBest)} records/s${topStep(theirs) ? ' (the top step: the limit is higher)' : ''}
→ ${Number.isFinite(fraction) ? `${(fraction * 100).toFixed(0)} % of nfcapd` : 'no anchor'} (target ≥ 50 %: ${fraction >= 0.5 ? 'met' : '**missed**'}).
Database check after SIGTERM: sum(flows) in \`traffic\` = ${num(dbCheck.flowsInDb)} for ${num(dbCheck.decodedInSteps)} records decoded in the steps
(+ the warm-up's) — every decoded record reached the database${dbCheck.flowsInDb >= dbCheck.decodedInSteps ? '' : ' **not**'}.${soakText}`);
}

await main();
process.exit(0);
