/**
 * Write throughput of 1, 2 and 4 concurrent writers on a real PostgreSQL 15 + TimescaleDB 2.23.1
 * server (test/helpers/pg-server.ts, the project's shared script): each writer is a process of its
 * own running the collector's write path (`writeBatches`: batch id claimed, additive upserts in key
 * order, one transaction) back to back, with batches of the same keys as every other writer's (the
 * worst case: collectors behind a load balancer all hear of the same networks) or of keys of its
 * own, each in an order of its own. Reports rows/s, batch latency, write failures by cause, and
 * deadlocks and lock waits from the server log; checks the totals.
 *
 * `npm run bench -- --only writers [--writers 1,2,4] [--seconds 20] [--rows 4000]`
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { openDatabase } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';
import type { TrafficDelta } from '../src/db/traffic.js';
import { writeFailureCause } from '../src/ingest/metrics.js';
import { writeBatches } from '../src/ingest/writer.js';
import { startCluster } from '../test/helpers/pg-server.js';
import { emit, median, ms, num, parseArgs, percentile, prng, rate, table } from './lib.js';

const args = parseArgs();
const CHILD = process.argv[2] === '--child';

interface WriterResult {
  rows: number;
  batches: number;
  bytes: number;
  latencies: number[];
  failures: Record<string, number>;
}

/**
 * One minute of 1,000 ASes, both products and directions: the same ASes for every writer
 * (`asnBase` 0: collectors behind a load balancer, all hearing of the same networks), or ASes of
 * the writer's own (collectors of separate sites).
 */
function keysOf(minuteMs: number, asnBase: number): TrafficDelta[] {
  const rows: TrafficDelta[] = [];
  for (let asn = asnBase + 1; asn <= asnBase + 1000; asn++)
    for (const product of ['HTTP', 'OTHER'] as const)
      for (const direction of ['in', 'out'] as const)
        rows.push({ minuteMs, asn, location: 'XX', product, direction, bytes: 0, packets: 1, flows: 1 });
  return rows;
}

async function child(
  url: string,
  seconds: number,
  rows: number,
  seed: number,
  asnBase: number,
): Promise<void> {
  const db = await openDatabase({ databaseUrl: url, max: 2 });
  const rand = prng(seed);
  const out: WriterResult = { rows: 0, batches: 0, bytes: 0, latencies: [], failures: {} };
  const until = performance.now() + seconds * 1000;
  const minute = Date.parse('2026-12-01T10:00:00Z');
  while (performance.now() < until) {
    // `rows` keys of the writer's set, over the two minutes a flush can span, in a random order.
    const keys = [
      ...keysOf(minute + (out.batches % 3) * 60_000, asnBase),
      ...keysOf(minute + ((out.batches + 1) % 3) * 60_000, asnBase),
    ];
    for (let i = keys.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [keys[i], keys[j]] = [keys[j]!, keys[i]!];
    }
    const traffic = keys.slice(0, rows).map((k) => ({ ...k, bytes: 1 + Math.floor(rand() * 10_000) }));
    const t0 = performance.now();
    try {
      await writeBatches(db, [{ id: randomUUID(), traffic, exporters: [], minutes: [] }]);
      out.latencies.push(performance.now() - t0);
      out.rows += traffic.length;
      out.batches++;
      out.bytes += traffic.reduce((s, r) => s + r.bytes, 0);
    } catch (err) {
      const cause = writeFailureCause(err);
      out.failures[cause] = (out.failures[cause] ?? 0) + 1;
    }
  }
  await db.close();
  process.stdout.write(JSON.stringify(out));
}

function runChild(
  url: string,
  seconds: number,
  rows: number,
  seed: number,
  asnBase: number,
): Promise<WriterResult> {
  return new Promise((ok, fail) => {
    const p = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/writers.ts',
        '--child',
        url,
        String(seconds),
        String(rows),
        String(seed),
        String(asnBase),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.once('exit', (code) =>
      code === 0 ? ok(JSON.parse(out) as WriterResult) : fail(new Error(`writer exited ${code}`)),
    );
  });
}

async function main(): Promise<void> {
  const counts = (args.opts.writers ?? '1,2,4').split(',').map(Number);
  const seconds = Number(args.opts.seconds ?? (args.quick ? 8 : 20));
  const rows = Number(args.opts.rows ?? 4000);
  const pg = await startCluster({ settings: ["deadlock_timeout = '100ms'", 'log_lock_waits = on'] });
  const lines: (string | number)[][] = [];
  try {
    for (const keys of ['shared', 'own'] as const)
      for (const n of counts) {
        const name = `w_${keys}_${n}`;
        await pg.psql(`CREATE DATABASE ${name}`, 'postgres');
        const url = pg.urlOf(name);
        const setup = await openDatabase({ databaseUrl: url, max: 2 });
        await migrate(setup);
        const logFrom = pg.log().length;
        const t0 = performance.now();
        const results = await Promise.all(
          Array.from({ length: n }, (_, i) =>
            runChild(url, seconds, rows, 1000 * n + i, keys === 'shared' ? 0 : 1000 * i),
          ),
        );
        const wall = (performance.now() - t0) / 1000;
        const [stored] = await setup.query<{ bytes: number }>(
          sql`SELECT coalesce(sum(bytes), 0)::float8 AS bytes FROM traffic`,
        );
        await setup.close();
        const log = pg.log().slice(logFrom);
        const total = results.reduce((s, r) => s + r.rows, 0);
        const lat = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
        const failures = results.flatMap((r) => Object.entries(r.failures).map(([k, v]) => `${k} ${v}`));
        const exact = stored!.bytes === results.reduce((s, r) => s + r.bytes, 0);
        lines.push([
          keys === 'shared' ? 'the same' : 'their own',
          n,
          rate(total / seconds),
          num(results.reduce((s, r) => s + r.batches, 0)),
          ms(median(lat)),
          ms(percentile(lat, 95)),
          failures.length ? failures.join(', ') : 0,
          (log.match(/deadlock detected/g) ?? []).length,
          (log.match(/still waiting for/g) ?? []).length,
          exact ? 'exact' : '**differs**',
        ]);
        process.stderr.write(
          `writers ${n} (${keys} keys): ${rate(total / seconds)} rows/s in ${wall.toFixed(1)} s\n`,
        );
      }
  } finally {
    await pg.destroy();
  }
  emit(`### Concurrent writers on a real TimescaleDB server${args.quick ? ' (quick)' : ''}

Server: PostgreSQL 15 + TimescaleDB 2.23.1 from \`../shared/scripts/timescaledb-server.sh\` (default settings,
\`deadlock_timeout = 100ms\`, \`log_lock_waits = on\`), on this machine. Each writer: a process running the collector's
\`writeBatches\` back to back for ${seconds} s, batches of ${num(rows)} rows drawn from 4,000 keys per minute over two minutes, in
random order (the writer sorts them by key). Keys "the same": every writer's batches hold the same keys, the worst case
(collectors behind a load balancer all hear of the same networks; overlapping batches take turns); "their own": each
writer its own 1,000 ASes (no row shared). Lock waits:
log lines of a wait longer than 100 ms (waiting is how overlapping writers take turns; deadlocks are what must not happen).

${table(['keys', 'writers', 'rows/s (all)', 'batches', 'batch p50 ms', 'batch p95 ms', 'failed writes', 'deadlocks', 'lock waits > 100 ms', 'totals'], lines)}`);
}

if (CHILD)
  await child(
    process.argv[3]!,
    Number(process.argv[4]),
    Number(process.argv[5]),
    Number(process.argv[6]),
    Number(process.argv[7]),
  );
else await main();
process.exit(0);
