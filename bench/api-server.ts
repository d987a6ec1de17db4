/**
 * The Node service (startService) on a data directory, for the API and ingest benchmarks: demo
 * off, maintenance and retention out of the way (a dataset may be older than the retention), rate
 * limits out of the way. Prints one JSON line {url, token, netflowPort, sflowPort, pid} when ready;
 * SIGTERM stops it (flushing the collector).
 *
 * The environment is read as `flowradar` reads it (DATABASE_URL, FLOWRADAR_COLLECTOR_ID…), so a
 * collector of server mode is this with DATABASE_URL set; the flags below win over it.
 * `--role collector` runs it as `flowradar collect` does (no maintenance, no first admin token).
 *
 * Run: node --import tsx bench/api-server.ts <data dir> [--collect] [--role collector]
 */
import { createToken } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config.js';
import { startService } from '../src/service.js';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: api-server.ts <data dir> [--collect]');
const collect = process.argv.includes('--collect');
const role = process.argv[process.argv.indexOf('--role') + 1] === 'collector' ? 'collector' : 'all';
const config = loadConfig({
  env: process.env,
  flags: {
    dataDir,
    host: '127.0.0.1',
    port: 0,
    netflowPort: 0,
    sflowPort: 0,
    demo: false,
    logLevel: 'warn',
    // setInterval caps at 2^31 ms: 20 days means "never" for a benchmark.
    maintenanceInterval: '20d',
    retention: { raw: '5200w', hourly: '5200w', daily: '5200w' },
    compressAfter: '5200w',
    rateLimit: { requests: 1_000_000_000, authFailures: 1_000_000_000 },
    ...(process.env.BENCH_FLUSH_INTERVAL ? { flushInterval: process.env.BENCH_FLUSH_INTERVAL } : {}),
  },
});
const service = await startService(config, { print: () => {}, collect, role });
const { token } = await createToken(service.db, { name: `bench-${process.pid}`, scopes: ['read'] });
process.stdout.write(
  `${JSON.stringify({
    url: service.url,
    token,
    netflowPort: service.udp?.netflowPort ?? 0,
    sflowPort: service.udp?.sflowPort ?? 0,
    pid: process.pid,
  })}\n`,
);
process.once('SIGTERM', () => {
  void service.stop().then(() => process.exit(0));
});
