/**
 * The Node service (startService) on a data directory, for the API benchmark: demo
 * off, maintenance and retention out of the way (a dataset may be older than the retention), rate
 * limits out of the way. Prints one JSON line {url, token, netflowPort, sflowPort, pid} when ready;
 * SIGTERM stops it (flushing the collector).
 *
 * The environment is read as `flowradar` reads it (DATABASE_URL, FLOWRADAR_COLLECTOR_ID…), so a
 * collector of server mode is this with DATABASE_URL set; the flags below win over it.
 * `--role collector` runs it as `flowradar collect` does (no maintenance, no first admin token).
 * With DATABASE_URL it runs in server mode on that database (the data directory then only holds
 * the admin token); with `--api-processes N` (server mode only) HTTP is answered by N worker
 * processes as `flowradar serve --api-processes N` does (src/cluster.ts): `pid` is then the
 * primary's, the workers are its children.
 *
 * Run: [DATABASE_URL=postgres://…] node --import tsx bench/api-server.ts <data dir> [--collect]
 *        [--role collector] [--api-processes N]
 */
import cluster from 'node:cluster';
import { createToken } from '../src/auth/tokens.js';
import { startCluster } from '../src/cluster.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/client.js';
import { startService } from '../src/service.js';
import { freePort } from '../test/helpers/net.js';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: api-server.ts <data dir> [--collect] [--api-processes N]');
const collect = process.argv.includes('--collect');
const at = process.argv.indexOf('--api-processes');
const apiProcesses = at > 0 ? Number(process.argv[at + 1]) : 0;
const databaseUrl = process.env.DATABASE_URL || undefined;
const role = process.argv[process.argv.indexOf('--role') + 1] === 'collector' ? 'collector' : 'all';
const config = loadConfig({
  env: process.env,
  flags: {
    dataDir,
    ...(databaseUrl ? { databaseUrl } : {}),
    apiProcesses,
    host: '127.0.0.1',
    // The workers of a cluster are told the port by the environment their primary forks them with.
    port: apiProcesses > 0 ? Number(process.env.BENCH_API_PORT ?? (await freePort())) : 0,
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
    ...(process.env.BENCH_DECODE_WORKERS ? { decodeWorkers: process.env.BENCH_DECODE_WORKERS } : {}),
  },
});

if (apiProcesses > 0) {
  process.env.BENCH_API_PORT = String(config.port);
  const handle = await startCluster(config, { print: () => {} });
  process.once('SIGTERM', () => {
    void handle.stop().then(() => process.exit(0));
  });
  if (cluster.isPrimary) {
    const db = await openDatabase({ databaseUrl: config.databaseUrl, max: 1 });
    const { token } = await createToken(db, { name: `bench-${process.pid}`, scopes: ['read'] });
    await db.close();
    process.stdout.write(
      `${JSON.stringify({ url: handle.url, token, netflowPort: 0, sflowPort: 0, pid: process.pid })}\n`,
    );
  }
} else {
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
}
