/**
 * Query benchmark: the NetFlows API answered in-process (`app.request`, so token check, parsing,
 * SQL, meta and JSON are all in the figure) on datasets S/M/L of bench/dataset.ts, each query
 * repeated; the same series written naively (GROUP BY over `traffic` only, no rollups, no meta)
 * run as SQL for comparison.
 *
 * The same queries run on the embedded datasets and on datasets of the same shape on a real
 * TimescaleDB server (bench/server.ts, up to XL: 200 M minute rows), in one run, each with its own
 * app over its own database.
 *
 * Run: node --import tsx bench/query.ts [--quick] [--datasets S,M,L] [--server-datasets S,M,L,XL]
 */
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { createApp } from '../src/app.js';
import { createToken } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config.js';
import type { Database } from '../src/db/client.js';
import { bucketExpr, metricSum, unionAll, whereOf } from '../src/query/sql.js';
import { parseSearchQuery } from '../src/routes/schemas.js';
import { serverMissing } from '../test/helpers/pg-server.js';
import { type DatasetName, datasetKeys, openDataset, openServerDataset } from './dataset.js';
import { emit, mib, ms, num, parseArgs, percentile, table } from './lib.js';

const args = parseArgs();
const QUICK = args.quick;
/** Embedded datasets, and datasets on the benchmarks' real TimescaleDB server (bench/server.ts). */
const EMBEDDED = (args.opts.datasets ?? (QUICK ? 'S' : 'S,M,L')).split(',').filter(Boolean) as DatasetName[];
const SERVER = (serverMissing() ? '' : (args.opts['server-datasets'] ?? (QUICK ? 'S' : 'S,M,L,XL')))
  .split(',')
  .filter(Boolean) as DatasetName[];
/** One column per dataset and mode: `S`, `M`, `L` embedded, `S srv` … `XL srv` on the server. */
interface Target {
  label: string;
  name: DatasetName;
  server: boolean;
}
const TARGETS: Target[] = [
  ...EMBEDDED.map((name) => ({ label: name, name, server: false })),
  ...SERVER.map((name) => ({ label: `${name} srv`, name, server: true })),
];
/** The naive GROUP BY over the minute table is timed up to this many rows (XL would take minutes a query). */
const NAIVE_MAX_ROWS = 6_000_000;
const RUNS = Number(args.opts.runs ?? (QUICK ? 5 : 40));
const NAIVE_BUDGET_MS = QUICK ? 2000 : 6000;

export interface BenchQuery {
  id: string;
  path: string;
  /** Window class for the L/S target: 15m, 1h, 1d, 1w. */
  interval: string;
  /** Ranks every AS of its window (top, groups): its cost follows the keys, not the points. */
  ranksKeys?: boolean;
}

/** Series filters, by position: a mix of unfiltered, large and small ASes, places and product. */
function seriesFilters(name: DatasetName): string[] {
  const { asns } = datasetKeys(name);
  const big = asns[0]!;
  const mid = asns[5]!;
  const tail = asns[Math.floor(asns.length * 0.6)]!;
  return [
    '',
    `asn=${big}`,
    'location=US',
    'continent=EU&product=HTTP',
    `asn=${mid}&product=HTTP`,
    'location=DE,FR',
    `asn=${tail}`,
    'continent=AS',
    `asn=-${big}&product=HTTP`,
    'location=BR',
  ];
}

/** The query mix: 1, 4 and 10 series over four windows, single filters, groups and tops. */
export function queryMix(name: DatasetName): BenchQuery[] {
  const filters = seriesFilters(name);
  const windows = [
    ['1d', '15m'],
    ['7d', '1h'],
    ['28d', '1d'],
    ['52w', '1w'],
  ] as const;
  const series = (n: number, range: string) =>
    Array.from({ length: n }, (_, i) => {
      const f = filters[i]!;
      // Positional parameters: every series names every key, empty where it has no filter.
      const get = (k: string) => new RegExp(`(?:^|&)${k}=([^&]*)`).exec(f)?.[1] ?? '';
      return `name=s${i}&dateRange=${range}&asn=${get('asn')}&location=${get('location')}&continent=${get('continent')}&product=${get('product') || 'ALL'}`;
    }).join('&');
  const out: BenchQuery[] = [];
  for (const n of [1, 4, 10])
    for (const [range, agg] of windows)
      out.push({
        id: `${n} series ${range}@${agg}`,
        path: `/radar/netflows/timeseries?${series(n, range)}&aggInterval=${agg}`,
        interval: agg,
      });
  const { asns } = datasetKeys(name);
  for (const [label, f] of [
    ['asn', `asn=${asns[1]}`],
    ['location', 'location=DE'],
    ['continent', 'continent=EU'],
    ['product', 'product=HTTP'],
  ])
    out.push({
      id: `filter ${label} 7d@1h`,
      path: `/radar/netflows/timeseries?dateRange=7d&aggInterval=1h&${f}`,
      interval: '1h',
    });
  out.push({
    id: 'groups AS 7d@1h limitPerGroup 10',
    path: '/radar/netflows/timeseries_groups/AS?dateRange=7d&aggInterval=1h&limitPerGroup=10',
    interval: '1h',
    ranksKeys: true,
  });
  out.push({
    id: 'groups AS 1d@15m limitPerGroup 10',
    path: '/radar/netflows/timeseries_groups/AS?dateRange=1d&aggInterval=15m&limitPerGroup=10',
    interval: '15m',
    ranksKeys: true,
  });
  out.push({
    id: 'top ases 7d',
    path: '/radar/netflows/top/ases?dateRange=7d&limit=10',
    interval: '1h',
    ranksKeys: true,
  });
  out.push({
    id: 'top ases 28d',
    path: '/radar/netflows/top/ases?dateRange=28d&limit=10',
    interval: '1d',
    ranksKeys: true,
  });
  return out;
}

/** The same series as one GROUP BY over the minute table: what a first attempt would write. */
function naiveSql(q: BenchQuery, DATASET_END: number): ReturnType<typeof sql> | undefined {
  const url = new URL(`http://x${q.path}`);
  if (!url.pathname.endsWith('/timeseries')) {
    if (url.pathname.includes('/top/ases')) {
      const pq = parseSearchQuery(url.searchParams, 'top', DATASET_END);
      const s = pq.series[0]!;
      return sql`SELECT asn, ${metricSum(pq)} AS v FROM traffic WHERE ${whereOf(s, pq)} GROUP BY asn ORDER BY v DESC LIMIT 10`;
    }
    const pq = parseSearchQuery(url.searchParams, 'groups', DATASET_END);
    const s = pq.series[0]!;
    return sql`SELECT ${bucketExpr(pq.interval.ms)} AS b, asn, ${metricSum(pq)} AS v FROM traffic WHERE ${whereOf(s, pq)} GROUP BY 1, 2`;
  }
  const pq = parseSearchQuery(url.searchParams, 'timeseries', DATASET_END);
  return unionAll(
    pq.series.map(
      (s, i) =>
        sql`SELECT ${i}::int AS s, ${bucketExpr(pq.interval.ms)} AS b, ${metricSum(pq)} AS v FROM traffic WHERE ${whereOf(s, pq)} GROUP BY 2`,
    ),
  );
}

const du = (dir: string) => Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);

interface Result {
  /** The query's first answer after the dataset was opened (cold). */
  first: number;
  p50: number;
  p95: number;
  p99: number;
  naiveP50?: number;
  naiveRuns?: number;
  /** ASes with traffic in the window (hours overlapping it), for queries that rank them. */
  keys?: number;
}

/** Distinct ASes in a query's window, from the hourly per-AS rollup. */
async function keysOf(db: Database, q: BenchQuery, endMs: number): Promise<number> {
  const pq = parseSearchQuery(new URL(`http://x${q.path}`).searchParams, 'timeseries', endMs);
  const s = pq.series[0]!;
  const [r] = await db.query<{ n: number }>(
    sql`SELECT count(DISTINCT asn)::int AS n FROM traffic_asn_1h
         WHERE time > ${new Date(s.start - 3_600_000).toISOString()}::timestamptz AND time < ${new Date(s.end).toISOString()}::timestamptz`,
  );
  return r?.n ?? 0;
}

async function timeRuns(f: () => Promise<unknown>, runs: number, budgetMs = Number.POSITIVE_INFINITY) {
  const times: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await f();
    times.push(performance.now() - t);
    if (performance.now() - t0 > budgetMs) break;
  }
  return times.sort((a, b) => a - b);
}

/** Row counts of the tables; `trafficRows` when known (counting 200 M minute rows takes a while). */
async function stateOf(db: Database, trafficRows?: number) {
  const counts = await db.query<{ t: string; n: number }>(sql`
    SELECT 'traffic' AS t, ${trafficRows === undefined ? sql`(SELECT count(*) FROM traffic)::float8` : sql`${trafficRows}::float8`} AS n
    UNION ALL SELECT 'traffic_1h', count(*)::float8 FROM traffic_1h
    UNION ALL SELECT 'traffic_1d', count(*)::float8 FROM traffic_1d
    UNION ALL SELECT 'exporter_minutes', count(*)::float8 FROM exporter_minutes`);
  return Object.fromEntries(counts.map((c) => [c.t, c.n]));
}

async function main() {
  const results = new Map<string, Map<string, Result>>();
  const stateRows: (string | number)[][] = [];
  let queries: BenchQuery[] = [];
  interface Open {
    target: Target;
    db: Database;
    endMs: number;
    rows: number;
    queries: Map<string, BenchQuery>;
    call: (q: BenchQuery) => Promise<void>;
    first: Map<string, number>;
  }
  const open: Open[] = [];
  // Every dataset is opened first and the runs of one query alternate between them, so a machine
  // that slows down or speeds up during the run moves every dataset alike and their ratio holds.
  for (const target of TARGETS) {
    const { name } = target;
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    const log = (s: string) => process.stderr.write(`${s}\n`);
    const { db, info } = target.server
      ? await openServerDataset(name, { log })
      : await openDataset(name, { log });
    const openSeconds = (performance.now() - t0) / 1000;
    const logger = pino({ level: 'silent' });
    const config = loadConfig({ flags: { rateLimit: { requests: 1e9 } } });
    const app = createApp({ db, config, logger, now: () => info.endMs });
    const { token } = await createToken(db, { name: `bench-${Date.now()}`, scopes: ['read'] });
    // no-cache: the in-process response cache (src/cache.ts), when wired, must not answer here.
    const headers = { authorization: `Bearer ${token}`, 'cache-control': 'no-cache' };
    const state = await stateOf(db, target.server ? info.rows : undefined);
    // Quick: 1 and 4 series over the four windows, one group and one top query.
    queries = queryMix(name).filter((q) => !QUICK || /^(1|4) series|^groups AS 7d|^top ases 7d/.test(q.id));
    const call = async (q: BenchQuery) => {
      const res = await app.request(q.path, { headers });
      if (res.status !== 200) throw new Error(`${q.id}: ${res.status} ${await res.text()}`);
      await res.text();
    };
    // One pass over the whole mix first, timed as "first": the embedded database is WebAssembly,
    // which V8 compiles in tiers, so a running service answers faster than a fresh one.
    const first = new Map<string, number>();
    for (const q of queries) {
      const t = performance.now();
      await call(q);
      first.set(q.id, performance.now() - t);
    }
    open.push({
      target,
      db,
      endMs: info.endMs,
      rows: info.rows,
      queries: new Map(queries.map((q) => [q.id, q])),
      call,
      first,
    });
    const [size] = target.server
      ? await db.query<{ n: number }>(sql`SELECT pg_database_size(current_database())::float8 AS n`)
      : [{ n: du(info.dir) }];
    stateRows.push([
      target.server ? `${name} (server)` : name,
      num(state.traffic ?? 0),
      num(state.traffic_1h ?? 0),
      num(state.traffic_1d ?? 0),
      num(state.exporter_minutes ?? 0),
      mib(size?.n ?? 0),
      target.server ? '— (another process)' : `+${mib(process.memoryUsage().rss - rss0)}`,
      `${info.generatedSeconds.toFixed(0)} s (open ${openSeconds.toFixed(1)} s)`,
    ]);
  }
  for (const { id } of queries) {
    const times = new Map(open.map((o) => [o.target.label, [] as number[]]));
    for (const o of open) {
      await o.call(o.queries.get(id)!);
      await o.call(o.queries.get(id)!);
    }
    for (let run = 0; run < RUNS; run++)
      for (const o of open) {
        const t = performance.now();
        await o.call(o.queries.get(id)!);
        times.get(o.target.label)!.push(performance.now() - t);
      }
    for (const o of open) {
      const q = o.queries.get(id)!;
      const sorted = times.get(o.target.label)!.sort((a, b) => a - b);
      const r: Result = {
        p50: percentile(sorted, 50),
        p95: percentile(sorted, 95),
        p99: percentile(sorted, 99),
        first: o.first.get(id)!,
      };
      if (q.ranksKeys) r.keys = await keysOf(o.db, q, o.endMs);
      const naive = o.rows <= NAIVE_MAX_ROWS ? naiveSql(q, o.endMs) : undefined;
      if (naive) {
        const nt = await timeRuns(() => o.db.query(naive), QUICK ? 3 : 7, NAIVE_BUDGET_MS);
        r.naiveP50 = percentile(nt, 50);
        r.naiveRuns = nt.length;
      }
      if (!results.has(id)) results.set(id, new Map());
      results.get(id)!.set(o.target.label, r);
      process.stderr.write(
        `query ${o.target.label} ${id}: p50 ${ms(r.p50)} p95 ${ms(r.p95)} naive ${r.naiveP50 ? ms(r.naiveP50) : '-'} ms\n`,
      );
    }
  }
  for (const o of open) await o.db.close();

  const get = (id: string, label: string) => results.get(id)?.get(label);
  /** Ratios of a large dataset to S in the same mode: `big/S p50 / p95` and per AS ranked. */
  const ratioPairs: [string, string][] = [
    ...(EMBEDDED.includes('S') && EMBEDDED.includes('L') ? [['L', 'S'] as [string, string]] : []),
    ...(SERVER.includes('S')
      ? SERVER.filter((n) => n !== 'S' && n !== 'M').map((n) => [`${n} srv`, 'S srv'] as [string, string])
      : []),
  ];
  const rows: (string | number)[][] = [];
  for (const q of queries) {
    const byTarget = results.get(q.id)!;
    const cells: string[] = [q.id];
    for (const t of TARGETS) {
      const r = byTarget.get(t.label)!;
      cells.push(`${ms(r.first)} · ${ms(r.p50)} / ${ms(r.p95)} / ${ms(r.p99)}`);
    }
    for (const [big, small] of ratioPairs) {
      const s = byTarget.get(small);
      const l = byTarget.get(big);
      cells.push(s && l ? `${(l.p50 / s.p50).toFixed(2)} / ${(l.p95 / s.p95).toFixed(2)}` : '—');
      cells.push(
        s?.keys && l?.keys
          ? `${num(s.keys)} / ${num(l.keys)} (${(l.p50 / l.keys / (s.p50 / s.keys)).toFixed(2)})`
          : '—',
      );
    }
    rows.push(cells);
  }
  const naiveRows = queries.map((q) => [
    q.id,
    ...TARGETS.filter((t) => results.get(q.id)?.get(t.label)?.naiveP50 !== undefined).map((t) =>
      ms(results.get(q.id)!.get(t.label)!.naiveP50!),
    ),
  ]);
  const naiveTargets = TARGETS.filter(
    (t) => results.get(queries[0]!.id)?.get(t.label)?.naiveP50 !== undefined,
  );
  const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');
  // Ratios over the queries whose cost should follow the points (1h, 1d, 1w buckets); queries that
  // rank every AS of the window are judged per AS ranked instead.
  const worst = (big: string, small: string, pick: (s: Result, l: Result) => number, ranks: boolean) => {
    const xs = queries
      .filter((q) => ['1h', '1d', '1w'].includes(q.interval) && !!q.ranksKeys === ranks)
      .map((q) => {
        const s = get(q.id, small);
        const l = get(q.id, big);
        return s && l ? pick(s, l) : Number.NaN;
      })
      .filter((x) => Number.isFinite(x));
    return xs.length ? Math.max(...xs) : Number.NaN;
  };
  const ratioLines = ratioPairs.map(([big, small]) => {
    const p50 = worst(big, small, (s, l) => l.p50 / s.p50, false);
    const p95 = worst(big, small, (s, l) => l.p95 / s.p95, false);
    const perKey = worst(
      big,
      small,
      (s, l) => (s.keys && l.keys ? l.p50 / l.keys / (s.p50 / s.keys) : Number.NaN),
      true,
    );
    const ranked = worst(big, small, (s, l) => l.p50 / s.p50, true);
    return `- ${big} / ${small}: series queries at 1h/1d/1w, worst median ratio ${p50.toFixed(2)} ${verdict(p50 <= 1.5)} (worst p95 ratio ${p95.toFixed(2)}); ranking queries ${ranked.toFixed(2)} as a whole, per AS ranked worst ${perKey.toFixed(2)} ${verdict(perKey <= 1.5)}.`;
  });
  const target = (id: string, label: string, limit: number) => {
    const r = get(id, label);
    return r ? `${label} ${ms(r.p95)} ms ${verdict(r.p95 <= limit)}` : `${label} not run`;
  };
  const m4Embedded = EMBEDDED.includes('M') ? 'M' : EMBEDDED.at(-1);
  const m4Server = SERVER.includes('XL') ? 'XL srv' : SERVER.length ? `${SERVER.at(-1)} srv` : undefined;
  const modes = [
    EMBEDDED.length ? 'the embedded database' : '',
    SERVER.length ? 'the real TimescaleDB server' : '',
  ]
    .filter(Boolean)
    .join(' and ');
  emit(`### Query${QUICK ? ' (quick)' : ''}

In-process \`app.request\` with \`Cache-Control: no-cache\` (bearer token check, parameter parsing, SQL on ${modes},
meta with confidenceInfo, JSON; the response cache is bypassed), times in ms. "first" is each query's first answer in one pass over
the whole mix right after the dataset is opened (cold: the embedded database is WebAssembly, which V8 compiles in tiers); then ${RUNS}
runs per query after 2 warm-ups give p50 / p95 / p99 of a running service. All datasets are open at once and the runs of a query
alternate between them, so a machine that slows down or speeds up during the run moves every dataset alike and the ratios hold.
"srv" columns: the same dataset shape on the benchmarks' PostgreSQL 15 + TimescaleDB 2.23.1 server (bench/server.ts, settings in
bench/lib.ts), over a pool of 4 connections from this process. Each app's clock is pinned to its dataset's end; relative windows end there.

${table(['dataset', 'traffic rows', 'traffic_1h rows', 'traffic_1d rows', 'exporter_minutes rows', 'size', 'RSS added by opening it', 'generated in'], stateRows)}

${table(
  [
    'query',
    ...TARGETS.map((t) => `${t.label} first · p50 / p95 / p99`),
    ...ratioPairs.flatMap(([big, small]) => [`${big} / ${small} p50 / p95`, `ASes ranked (per AS)`]),
  ],
  rows,
)}

Naive = the same series as one \`GROUP BY\` over \`traffic\` (minutes) only, SQL alone (no auth, no meta), median of up to
${QUICK ? 3 : 7} runs within ${NAIVE_BUDGET_MS / 1000} s, on datasets of at most ${num(NAIVE_MAX_ROWS)} rows:

${naiveTargets.length ? table(['query', ...naiveTargets.map((t) => `${t.label} naive p50`)], naiveRows) : '(none run)'}

Targets:
- 4 series × 7d@1h p95: embedded ≤ 50 ms → ${m4Embedded ? target('4 series 7d@1h', m4Embedded, 50) : 'not run'}; server ≤ 15 ms → ${m4Server ? target('4 series 7d@1h', m4Server, 15) : 'not run'}.
- 52w@1w p95 ≤ 100 ms → ${TARGETS.map((t) => target('1 series 52w@1w', t.label, 100)).join(', ')}.
- Large / S ≤ 1.5 at 1h/1d/1w (medians; p95 of ${RUNS} runs is one of the slowest two and moves with garbage collection, shown beside); queries that rank every AS of the window (top, groups) read one row per AS and hour or day whatever the points returned, so they are judged per AS ranked:
${ratioLines.join('\n') || '- needs S and a larger dataset in one mode'}`);
}

// Run when executed, not when imported (bench/probe scripts reuse queryMix).
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
  process.exit(0);
}
