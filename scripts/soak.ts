/**
 * Soak: the service under mixed API queries and live ingest, watching errors, latency and memory.
 *
 *   npm run soak                      # 60 s at 2× the comfortable rate, CI-sized
 *   npm run soak -- --full            # 10 minutes, then the 900 s database-outage test
 *   npm run soak -- --rate 40 --p99 50 --duration 120 --max-rss-slope 1
 *   SOAK_FULL=1 npm run soak          # same as --full
 *
 * The service runs in a child process (startService on a temporary data directory, demo off, free
 * ports) so the load generator does not share its event loop or its memory. A week of demo traffic
 * is loaded first; the simulator exports IPFIX to the collector at its nominal rate (the demo
 * networks every 5 s) throughout. autocannon calibrates briefly (unthrottled). The comfortable rate
 * is measured: the highest of max/4, max/8, max/16, max/32 whose p99 meets --p99 (each tried for
 * 10 s, 60 s with --full). The soak then runs at --rate (default: 2× comfortable) for --duration,
 * where p99 is reported.
 *
 * Fails (exit 1) on any non-2xx answer to a valid request (5xx above all) in any phase, no rate
 * down to max/32 with p99 within --p99 (default 100 ms: the benchmark issue's bound for uncached
 * long-range queries; its 20 ms is for cache hits), RSS growing faster than --max-rss-slope MB/min
 * after warm-up (linear fit of samples taken after a full GC, every 5 s; default bound 1 MB/min,
 * i.e. < 10 MB over 10 minutes; runs shorter than 5 minutes sample every 2 s and allow
 * 10 MB/min, as a fit over under a minute cannot resolve less), or ingest drops.
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

// ---------------------------------------------------------------------------------------------
// Child: the service.
// ---------------------------------------------------------------------------------------------

type ToChild = { type: 'sample' } | { type: 'stop' };
type FromChild =
  | { type: 'ready'; url: string; netflowPort: number; token: string; loadMs: number; rows: number }
  | { type: 'sample'; rss: number; heapUsed: number }
  | { type: 'stopped' };

async function child(dataDir: string): Promise<void> {
  const v8 = await import('node:v8');
  const vm = await import('node:vm');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const { loadConfig } = await import('../src/config.js');
  const { startService, adminTokenPath } = await import('../src/service.js');
  const { createLogger } = await import('../src/logger.js');
  const { writeDemoNames, writeDemoTraffic } = await import('../src/demo.js');
  const config = loadConfig({
    env: {},
    flags: {
      dataDir,
      host: '127.0.0.1',
      port: 0,
      netflowPort: 0,
      sflowPort: 0,
      demo: false,
      logLevel: 'warn',
      localNetworks: ['10.20.0.0/16'],
      asnTsv: [fileURLToPath(new URL('../demo/ip2asn-demo.tsv', import.meta.url))],
      // The soak measures the service, not the per-token limit.
      'rateLimit.requests': 1_000_000_000,
    },
  });
  const svc = await startService(config, { logger: createLogger(config), print: () => {} });
  const t0 = performance.now();
  await writeDemoNames(svc.db);
  const now = Date.now();
  const rows = await writeDemoTraffic(svc.db, now - 7 * 86400_000, now - 300_000);
  const loadMs = performance.now() - t0;
  const send = (m: FromChild) => process.send?.(m);
  process.on('message', async (m: ToChild) => {
    if (m.type === 'sample') {
      gc();
      const mem = process.memoryUsage();
      send({ type: 'sample', rss: mem.rss, heapUsed: mem.heapUsed });
    } else if (m.type === 'stop') {
      await svc.stop();
      send({ type: 'stopped' });
      process.exit(0);
    }
  });
  send({
    type: 'ready',
    url: svc.url,
    netflowPort: svc.udp!.netflowPort,
    token: readFileSync(adminTokenPath(config), 'utf8').trim(),
    loadMs,
    rows,
  });
}

// ---------------------------------------------------------------------------------------------
// Parent: load, sampling, verdict.
// ---------------------------------------------------------------------------------------------

interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p90: number; p99: number; max: number; average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
  duration: number;
}
type Cannon = (opts: Record<string, unknown>) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Cannon;

const N = '/radar/netflows';
/** Valid requests of every kind the API serves, cycled by each connection. */
const QUERIES = [
  `${N}/timeseries?name=AS3243_all&product=ALL&dateRange=1d&asn=3243&name=AS3243_http&product=HTTP&dateRange=1d&asn=3243&aggInterval=1h`,
  `${N}/timeseries?name=PT&location=PT&dateRange=7d&name=DE&location=DE&dateRange=7d&aggInterval=1h`,
  `${N}/timeseries?name=this_week&dateRange=7d&name=last_week&dateRange=7dControl&aggInterval=1h&normalization=PERCENTAGE_CHANGE`,
  `${N}/timeseries?name=this_week&dateRange=7d&name=last_week&dateRange=7dControl&aggInterval=1d&format=CSV`,
  `${N}/top/ases?dateRange=1d&limit=5`,
  `${N}/top/locations?dateRange=7d&limit=10`,
  `${N}/timeseries_groups/LOCATION?dateRange=1d&limitPerGroup=3`,
  `${N}/summary/PRODUCT?dateRange=7d`,
  `/client/v4${N}/timeseries?dateRange=1d&aggInterval=15m`,
  '/readyz',
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function request(c: ChildProcess, m: ToChild, type: FromChild['type']): Promise<FromChild> {
  return new Promise((ok) => {
    const on = (r: FromChild) => {
      if (r.type !== type) return;
      c.off('message', on);
      ok(r);
    };
    c.on('message', on);
    c.send(m);
  });
}

/** Sums of the Prometheus samples of a metric, by label set. */
function metric(text: string, name: string): { labels: string; value: number }[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .map((l) => {
      const m = /^[^{ ]+(\{[^}]*\})?\s+(\S+)/.exec(l)!;
      return { labels: m[1] ?? '', value: Number(m[2]) };
    });
}

async function parent(): Promise<number> {
  const { values: args } = parseArgs({
    options: {
      full: { type: 'boolean', default: false },
      duration: { type: 'string' },
      rate: { type: 'string' },
      p99: { type: 'string', default: '100' },
      'max-rss-slope': { type: 'string' },
      connections: { type: 'string', default: '8' },
      'outage-seconds': { type: 'string' },
    },
  });
  const full = args.full || ['1', 'true', 'yes'].includes(process.env.SOAK_FULL ?? '');
  const durationS = Number(args.duration ?? (full ? 600 : 60));
  const comfortableS = full ? 60 : 10;
  const p99Target = Number(args.p99);
  // Short runs fit few samples over little time, so the slope is noisier: a looser bound there.
  const maxSlope = Number(args['max-rss-slope'] ?? (durationS >= 300 ? 1 : 10));
  const sampleMs = durationS >= 300 ? 5000 : 2000;
  const connections = Number(args.connections);
  const outageS = Number(args['outage-seconds'] ?? (full ? 900 : 0));

  const dataDir = mkdtempSync(join(tmpdir(), 'flowradar-soak-'));
  const script = fileURLToPath(import.meta.url);
  const c = fork(script, ['--child', dataDir], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const failures: string[] = [];
  const rows: [string, string][] = [];
  let sim: { stop(): void; sent(): number } | undefined;
  try {
    const ready = (await new Promise<FromChild>((ok, fail) => {
      c.once('message', ok);
      c.once('exit', (code) => fail(new Error(`service exited (${code}) before it was ready`)));
    })) as Extract<FromChild, { type: 'ready' }>;
    const headers = { authorization: `Bearer ${ready.token}` };
    console.log(
      `service on ${ready.url}; a week of demo traffic (${ready.rows} rows) loaded in ${(ready.loadMs / 1000).toFixed(1)} s`,
    );
    // Every request is valid: check before any load, and time each alone (median of 5).
    const alone: string[] = [];
    for (const [i, q] of QUERIES.entries()) {
      const ms: number[] = [];
      for (let k = 0; k < 5; k++) {
        const t = performance.now();
        const r = await fetch(ready.url + q, { headers });
        if (r.status !== 200) throw new Error(`${q}: HTTP ${r.status} ${await r.text()}`);
        await r.arrayBuffer();
        ms.push(performance.now() - t);
      }
      alone.push(`q${i + 1} ${ms.sort((a, b) => a - b)[2]!.toFixed(0)}`);
    }
    rows.push(['alone, median ms', alone.join('  ')]);

    const { startSimulator } = await import('../src/sim/simulate.js');
    sim = await startSimulator({ host: '127.0.0.1', port: ready.netflowPort, protocol: 'ipfix' });

    const cannon = (opts: Record<string, unknown>) =>
      autocannon({
        url: ready.url,
        connections,
        headers,
        requests: QUERIES.map((path) => ({ method: 'GET', path })),
        ...opts,
      });

    // Calibration: unthrottled for 5 s.
    const cal = await cannon({ duration: 5 });
    const maxRate = cal.requests.average;
    rows.push(['calibrated max', `${maxRate.toFixed(0)} req/s, p99 ${cal.latency.p99} ms`]);

    // The comfortable rate: the highest of max/4, max/8, max/16, max/32 whose p99 meets the
    // latency target (each tried for `comfortableS`). None = fail, and the soak uses the last.
    let comfortable = 0;
    for (let div = 4; div <= 32 && comfortable === 0; div *= 2) {
      const r = Math.max(1, Math.floor(maxRate / div));
      const easy = await cannon({ duration: comfortableS, overallRate: r });
      const easyCodes = Object.entries(easy.statusCodeStats)
        .map(([k, v]) => `${k}×${v.count}`)
        .join(' ');
      const ok = easy.latency.p99 <= p99Target;
      rows.push([
        `at max/${div} = ${r} req/s`,
        `${easy.requests.total} in ${comfortableS} s, ${easyCodes}; p50 ${easy.latency.p50}  p99 ${easy.latency.p99}  max ${easy.latency.max} ms${ok ? ' → comfortable' : ''}`,
      ]);
      if (easy.non2xx > 0) failures.push(`${easy.non2xx} non-2xx answers at ${r} req/s`);
      if (easy.errors + easy.timeouts > 0)
        failures.push(`${easy.errors} errors, ${easy.timeouts} timeouts at ${r} req/s`);
      if (ok || div === 32) comfortable = r;
      if (!ok && div === 32) failures.push(`p99 above ${p99Target} ms even at ${r} req/s (max/32)`);
    }
    const rate = Number(args.rate ?? 2 * comfortable);
    console.log(
      `calibration: ${maxRate.toFixed(0)} req/s unthrottled (p99 ${cal.latency.p99} ms); comfortable ${comfortable} req/s; soak at ${rate} req/s for ${durationS} s`,
    );

    // The soak: queries at `rate`, ingest throughout, RSS every 5 s.
    const samples: { t: number; rss: number; heap: number }[] = [];
    const t0 = Date.now();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = (await request(c, { type: 'sample' }, 'sample')) as Extract<FromChild, { type: 'sample' }>;
        samples.push({ t: (Date.now() - t0) / 60_000, rss: s.rss / 2 ** 20, heap: s.heapUsed / 2 ** 20 });
        await sleep(sampleMs);
      }
    })();
    const res = await cannon({ duration: durationS, overallRate: rate });
    sampling = false;
    await sampler;

    const codes = Object.entries(res.statusCodeStats)
      .map(([k, v]) => `${k}×${v.count}`)
      .join(' ');
    const fivexx = Object.entries(res.statusCodeStats)
      .filter(([k]) => k.startsWith('5'))
      .reduce((s, [, v]) => s + v.count, 0);
    rows.push([
      'requests',
      `${res.requests.total} at ${res.requests.average.toFixed(1)} req/s (target ${rate})`,
    ]);
    rows.push(['status codes', codes]);
    rows.push([
      `2× latency ms`,
      `p50 ${res.latency.p50}  p90 ${res.latency.p90}  p99 ${res.latency.p99}  max ${res.latency.max}`,
    ]);
    rows.push(['errors / timeouts', `${res.errors} / ${res.timeouts}`]);
    if (fivexx > 0) failures.push(`${fivexx} answers 5xx`);
    if (res.non2xx - fivexx > 0) failures.push(`${res.non2xx - fivexx} other non-2xx answers`);
    if (res.errors + res.timeouts > 0) failures.push(`${res.errors} errors, ${res.timeouts} timeouts`);
    if (res.requests.average < rate * 0.9)
      failures.push(`only ${res.requests.average.toFixed(1)} req/s of ${rate}`);

    // Memory: the trend after warm-up (first quarter, at least 15 s).
    const warm = Math.max(15 / 60, durationS / 60 / 4);
    const after = samples.filter((s) => s.t >= warm);
    const rssSlope = slope(
      after.map((s) => s.t),
      after.map((s) => s.rss),
    );
    const heapSlope = slope(
      after.map((s) => s.t),
      after.map((s) => s.heap),
    );
    const rssList = samples.map((s) => s.rss.toFixed(0)).join(' ');
    rows.push([`RSS MB (${sampleMs / 1000} s)`, rssList]);
    rows.push([
      'RSS trend',
      `${rssSlope.toFixed(2)} MB/min after ${(warm * 60).toFixed(0)} s warm-up (${after.length} samples); heap ${heapSlope.toFixed(2)} MB/min`,
    ]);
    if (after.length >= 3 && rssSlope > maxSlope)
      failures.push(`RSS grows ${rssSlope.toFixed(2)} MB/min > ${maxSlope}`);

    // Ingest: the simulator's datagrams arrived, were written, nothing dropped.
    await sleep(6000);
    const text = await (await fetch(`${ready.url}/metrics`)).text();
    const sum = (name: string) => metric(text, name).reduce((s, m) => s + m.value, 0);
    const drops = metric(text, 'flowradar_drops_total').filter((m) => !m.labels.includes('duplicate'));
    const dropped = drops.reduce((s, m) => s + m.value, 0);
    rows.push([
      'ingest',
      `${sim.sent()} datagrams sent, ${sum('flowradar_datagrams_total')} received, ${sum('flowradar_records_total')} records, ${sum('flowradar_rows_written_total')} rows written, ${dropped} dropped`,
    ]);
    if (sum('flowradar_rows_written_total') === 0) failures.push('no ingested rows written');
    if (dropped > 0) failures.push(`${dropped} ingest rows dropped`);
  } catch (err) {
    failures.push(`soak aborted: ${(err as Error).message}`);
  } finally {
    sim?.stop();
    if (c.connected) await Promise.race([request(c, { type: 'stop' }, 'stopped'), sleep(15_000)]);
    c.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }

  if (outageS > 0 && failures.length === 0) {
    console.log(`\ndatabase outage of ${outageS} s (test/ingest/outage-spool.test.ts)…`);
    const t = Date.now();
    try {
      execFileSync('npx', ['vitest', 'run', 'test/ingest/outage-spool.test.ts'], {
        stdio: 'inherit',
        env: { ...process.env, OUTAGE_SECONDS: String(outageS) },
      });
      rows.push(['outage test', `${outageS} s outage: passed in ${((Date.now() - t) / 1000).toFixed(0)} s`]);
    } catch {
      failures.push(`outage test (${outageS} s) failed`);
    }
  }

  const width = Math.max(...rows.map(([k]) => k.length));
  console.log('\nsoak summary');
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  console.log(
    failures.length
      ? `\nFAIL\n${failures.map((f) => `  - ${f}`).join('\n')}`
      : `\nPASS (p99 at 1× ≤ ${p99Target} ms, RSS trend ≤ ${maxSlope} MB/min, no 5xx or other non-2xx)`,
  );
  return failures.length ? 1 : 0;
}

if (process.argv[2] === '--child') {
  child(process.argv[3]!).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  parent().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
