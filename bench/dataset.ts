/**
 * Benchmark datasets written straight into `traffic` of an embedded database, then made the way
 * the service keeps its data: rollups refreshed, old chunks compressed (maintenance with the
 * default config). The shape:
 *
 * - 90 days of minutes (the default raw retention) ending at the minute of generation;
 * - remote ASes with Zipf-like sizes (a few large, a long tail), each in its home country, the
 *   large ones also in a few others; both products, both directions: the keys of `traffic`;
 * - a key appears in a minute with a probability that grows with its size (large ones every
 *   minute, the tail now and then), so not every key is there every minute; values follow a
 *   diurnal curve with noise;
 * - exporter_minutes for two exporters every minute, with a little loss now and then, as
 *   collectors write it (every API response reads it for confidenceInfo);
 * - asn_names for every AS.
 *
 * Sizes: S ≈ 0.5 M, M ≈ 2 M, L ≈ 5 M rows. Rows go in with COPY FROM '/dev/blob' one day at a
 * time (the fastest path into PGlite), so memory stays bounded.
 *
 * Usage: npx tsx bench/dataset.ts S [--dir bench/data/S] [--force]
 *        npx tsx bench/dataset.ts XL --server [--force] [--database NAME]   (on the benchmarks' real server,
 *        bench/server.ts; --database generates into another database, e.g. to time a change)
 */
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { loadConfig } from '../src/config.js';
import { type Database, openDatabase } from '../src/db/client.js';
import { compressAndRetain, refreshRollups } from '../src/db/maintenance.js';
import { migrate } from '../src/db/migrate.js';
import { ROLLUPS } from '../src/db/rollups.js';
import { CONTINENTS, countriesOf } from '../src/query/geo.js';
import { parseArgs, prng, zipfPicker } from './lib.js';
import { benchServer } from './server.js';

export const DATASETS = {
  S: { rows: 500_000, ases: 400 },
  M: { rows: 2_000_000, ases: 1200 },
  L: { rows: 5_000_000, ases: 3000 },
  XL: { rows: 200_000_000, ases: 20_000 },
} as const;
export type DatasetName = keyof typeof DATASETS;

/**
 * A dataset ends at the minute it was generated (kept in dataset.json as `endMs`), so SQL that
 * uses now() sees it as current; the benchmarks pin the app's clock to that end.
 */
export const DAYS = 90;
const MINUTE = 60_000;
/** Bumped when the generator changes, so stale directories are rebuilt. */
const VERSION = 4;
/** The same for datasets on the server (calendar days, a generator per day). */
const SERVER_VERSION = 1;

export const DATA_ROOT = resolve(new URL('.', import.meta.url).pathname, 'data');

export interface DatasetKey {
  asn: number;
  location: string;
  product: 'HTTP' | 'OTHER';
  direction: 'in' | 'out';
  /** Share of the dataset's traffic. */
  weight: number;
}

/** The keys of a dataset and their weights; AS i has rank i (0 = largest). */
export function datasetKeys(name: DatasetName): { keys: DatasetKey[]; asns: number[] } {
  const { ases } = DATASETS[name];
  const rand = prng(1000 + ases);
  const countries = COUNTRIES_LIST;
  const asns: number[] = [];
  const keys: DatasetKey[] = [];
  const used = new Set<number>();
  const pickCountry = zipfPicker(countries.length, rand, 1.0);
  let total = 0;
  for (let i = 0; i < ases; i++) {
    // Real-looking numbers: the first few are well-known networks, then 16- and 32-bit ones.
    let asn = i < FAMOUS.length ? FAMOUS[i]! : i % 5 === 0 ? 200_000 + i * 13 : 1000 + i * 17;
    while (used.has(asn)) asn++;
    used.add(asn);
    asns.push(asn);
    const size = 1 / (i + 1) ** 1.1;
    const home = countries[pickCountry()]!;
    const locs =
      i < 20 ? [home, ...Array.from({ length: 2 + (i % 4) }, () => countries[pickCountry()]!)] : [home];
    const unique = [...new Set(locs)];
    unique.forEach((loc, j) => {
      const locShare = j === 0 ? 0.7 : 0.3 / (unique.length - 1);
      for (const product of ['HTTP', 'OTHER'] as const)
        for (const direction of ['in', 'out'] as const) {
          const w = size * locShare * (product === 'HTTP' ? 0.65 : 0.35) * (direction === 'in' ? 0.8 : 0.2);
          keys.push({ asn, location: loc, product, direction, weight: w });
          total += w;
        }
    });
  }
  for (const k of keys) k.weight /= total;
  return { keys, asns };
}

const FAMOUS = [
  15169, 3320, 7018, 3243, 2860, 13335, 16509, 8075, 32934, 4766, 1221, 28573, 3215, 12353, 174,
];
/** Countries, Europe and North America first: the big networks of the datasets live there. */
const COUNTRIES_LIST = [
  'EU',
  'NA',
  ...CONTINENTS.filter((c) => c !== 'EU' && c !== 'NA' && c !== 'AN'),
].flatMap((c) => countriesOf(c) ?? []);

/**
 * Presence probability per key and minute: min(1, c × weight), c chosen so the expected row
 * count over the window is `rows`.
 */
function presence(keys: DatasetKey[], rows: number): Float64Array {
  const minutes = DAYS * 1440;
  const target = rows / minutes;
  let lo = 0;
  let hi = 1e9;
  for (let it = 0; it < 100; it++) {
    const c = (lo + hi) / 2;
    let sum = 0;
    for (const k of keys) sum += Math.min(1, c * k.weight);
    if (sum < target) lo = c;
    else hi = c;
  }
  return Float64Array.from(keys, (k) => Math.min(1, hi * k.weight));
}

/** Diurnal shape: low at 04:00 UTC, high at 20:00. */
const diurnal = (minuteOfDay: number) =>
  0.55 + 0.45 * Math.sin(((minuteOfDay / 1440) * 24 - 10) * (Math.PI / 12));

export interface DatasetInfo {
  name: DatasetName;
  dir: string;
  rows: number;
  generatedSeconds: number;
  /** The dataset's "now": its last minute ends here. */
  endMs: number;
}

/** Opens a dataset, generating it first when missing or stale. */
export async function openDataset(
  name: DatasetName,
  opts: { dir?: string; force?: boolean; log?: (s: string) => void } = {},
): Promise<{ db: Database; info: DatasetInfo }> {
  const dir = opts.dir ?? join(DATA_ROOT, name);
  const marker = join(dir, 'dataset.json');
  let info: DatasetInfo | undefined;
  if (!opts.force && existsSync(marker)) {
    const saved = JSON.parse(readFileSync(marker, 'utf8')) as DatasetInfo & { version: number };
    if (saved.version === VERSION) info = saved;
  }
  if (!info) {
    rmSync(dir, { recursive: true, force: true });
    info = await generate(name, dir, opts.log ?? (() => {}));
    writeFileSync(marker, JSON.stringify({ ...info, version: VERSION }));
  }
  const db = await openDatabase({ dataDir: dir });
  // A dataset made before a newer migration (a new rollup, say) gets it now, refreshed.
  await migrate(db);
  return { db, info };
}

/** Where generated rows go: COPY … FROM of CSV lines, given in pieces. */
interface Sink {
  copy(table: string, lines: Iterable<string[]>): Promise<void>;
}

const embeddedSink = (db: Database): Sink => ({
  async copy(table, lines) {
    const parts: string[] = [];
    for (const piece of lines) parts.push(piece.join('\n'), '\n');
    await db.pglite!.query(`COPY ${table} FROM '/dev/blob' WITH (FORMAT csv)`, [], { blob: new Blob(parts) });
  },
});

const serverSink = (client: postgres.Sql): Sink => ({
  async copy(table, lines) {
    const stream = await client.unsafe(`COPY ${table} FROM STDIN WITH (FORMAT csv)`).writable();
    for (const piece of lines) {
      // Backpressure: let the server parse while the next piece is made.
      if (!stream.write(`${piece.join('\n')}\n`)) await once(stream, 'drain');
    }
    stream.end();
    await finished(stream);
  },
});

const TRAFFIC_COLUMNS = 'traffic (time, asn, location, product, direction, bytes, packets, flows)';
/** Rows per COPY piece: bounded memory whatever the dataset's size. */
const PIECE = 50_000;

/** The rows of a dataset, one day at a time, and what every generator does around them. */
function dayGenerator(name: DatasetName, endMs: number, calendar = false) {
  const { keys, asns } = datasetKeys(name);
  const p = presence(keys, DATASETS[name].rows);
  let rand = prng(7 + DATASETS[name].ases);
  // Bytes per minute of the whole network at the daily peak: ~40 Gbit/s.
  const peakBytes = 300e9;
  const firstMinute = Math.floor(endMs / MINUTE) - DAYS * 1440 + 1;
  const lastMinute = Math.floor(endMs / MINUTE);
  const csvKeys = keys.map((k) => `,${k.asn},${k.location},${k.product},${k.direction},`);
  // Rolling days from the first minute, or UTC calendar days (a partial one at each end), which
  // are the chunks of `traffic`.
  const spans: [number, number][] = [];
  for (let from = firstMinute; from <= lastMinute; ) {
    const to = Math.min(lastMinute + 1, calendar ? (Math.floor(from / 1440) + 1) * 1440 : from + 1440);
    spans.push([from, to]);
    from = to;
  }
  return {
    asns,
    /** The number of days (spans) of the dataset. */
    days: spans.length,
    /** Minutes [from, to) of day `day` of the dataset. */
    span: (day: number): [number, number] => spans[day]!,
    /** The traffic rows of day `day`, in pieces of CSV lines; `count.rows` grows as they are made. */
    *traffic(day: number, count: { rows: number }): Generator<string[]> {
      const [from, to] = this.span(day);
      // Calendar days each have a generator of their own, so a generation can resume at any day.
      if (calendar) rand = prng(7 + DATASETS[name].ases + 7919 * (day + 1));
      // Minutes of this day where each key appears: geometric gaps, so work is per row.
      const perMinute: number[][] = Array.from({ length: to - from }, () => []);
      keys.forEach((_, k) => {
        const pk = p[k]!;
        if (pk >= 1) {
          for (let m = 0; m < to - from; m++) perMinute[m]!.push(k);
          return;
        }
        const logq = Math.log(1 - pk);
        let m = Math.floor(Math.log(1 - rand()) / logq);
        while (m < to - from) {
          perMinute[m]!.push(k);
          m += 1 + Math.floor(Math.log(1 - rand()) / logq);
        }
      });
      let lines: string[] = [];
      for (let m = 0; m < to - from; m++) {
        const minute = from + m;
        const iso = new Date(minute * MINUTE).toISOString();
        const shape = diurnal(minute % 1440);
        for (const k of perMinute[m]!) {
          const key = keys[k]!;
          // Expected bytes of the key in a minute where it appears, with ±50 % noise.
          const bytes = Math.max(
            64,
            Math.round(((peakBytes * key.weight * shape) / Math.min(1, p[k]!)) * (0.5 + rand())),
          );
          const packets = Math.max(1, Math.round(bytes / 900));
          const flows = Math.max(1, Math.round(packets / 40));
          lines.push(`${iso}${csvKeys[k]}${bytes},${packets},${flows}`);
        }
        perMinute[m] = [];
        if (lines.length >= PIECE) {
          count.rows += lines.length;
          yield lines;
          lines = [];
        }
      }
      count.rows += lines.length;
      if (lines.length) yield lines;
    },
    /** Two exporters report every minute; a little loss now and then. */
    exporterMinutes(day: number): string[] {
      const [from, to] = this.span(day);
      const em: string[] = [];
      for (let minute = from; minute < to; minute++) {
        const iso = new Date(minute * MINUTE).toISOString();
        for (const exporter of ['192.0.2.1', '192.0.2.2']) {
          const records = 20_000 + Math.floor(rand() * 5000);
          const lost = rand() < 0.002 ? Math.floor(rand() * 2000) : 0;
          em.push(`${iso},${exporter},${records},${lost},0`);
        }
      }
      return em;
    },
    names: () => asns.map((asn, i) => `${asn},AS-NAME-${i},`),
  };
}

/** Compresses what the service's maintenance would have: chunks older than the dataset's last 7 days. */
async function compressLikeTheService(db: Database, endMs: number): Promise<void> {
  // compressAfter is measured from the wall clock; the dataset ends at endMs, so pass the age of
  // its 7-day mark instead.
  const config = loadConfig({});
  await compressAndRetain(db, {
    compressAfter: Math.max(0, Date.now() - (endMs - 7 * 86_400_000)),
    retention: {
      raw: 10 * 365 * 86_400_000,
      hourly: 20 * 365 * 86_400_000,
      daily: config.retention.daily * 4,
    },
  });
}

async function generate(name: DatasetName, dir: string, log: (s: string) => void): Promise<DatasetInfo> {
  const t0 = performance.now();
  const DATASET_END = Math.floor(Date.now() / MINUTE) * MINUTE;
  const db = await openDatabase({ dataDir: dir });
  try {
    await migrate(db);
    const gen = dayGenerator(name, DATASET_END);
    const sink = embeddedSink(db);
    const count = { rows: 0 };
    for (let day = 0; day < gen.days; day++) {
      await sink.copy(TRAFFIC_COLUMNS, gen.traffic(day, count));
      await sink.copy(EXPORTER_COLUMNS, [gen.exporterMinutes(day)]);
      if (day % 10 === 9)
        log(`dataset ${name}: day ${day + 1}/${DAYS}, ${count.rows.toLocaleString('en-US')} rows`);
    }
    await sink.copy('asn_names (asn, name, country)', [gen.names()]);
    log(`dataset ${name}: refreshing rollups`);
    await refreshRollups(db);
    log(`dataset ${name}: compressing chunks older than 7 days (as the service's maintenance does)`);
    await compressLikeTheService(db, DATASET_END);
    await db.exec('CHECKPOINT');
    const [n] = await db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM traffic`);
    return {
      name,
      dir,
      rows: n?.n ?? count.rows,
      generatedSeconds: (performance.now() - t0) / 1000,
      endMs: DATASET_END,
    };
  } finally {
    await db.close();
  }
}

const EXPORTER_COLUMNS = 'exporter_minutes (time, exporter, records, lost_records, unsampled_records)';
const DAY_MS = 86_400_000;

/** A dataset on the benchmarks' real TimescaleDB server (bench/server.ts), in a database of its own. */
export interface ServerDataset {
  db: Database;
  info: DatasetInfo;
  url: string;
}

/**
 * Opens dataset `name` on the benchmarks' server, generating it first when missing or stale: the
 * same rows as the embedded dataset of that name, written with COPY FROM STDIN while the server
 * refreshes the rollups and compresses the chunks of the days already written on a second
 * connection (one day behind), so both cores work and each day is read back while it is in
 * shared buffers.
 */
export async function openServerDataset(
  name: DatasetName,
  opts: { force?: boolean; log?: (s: string) => void; max?: number; database?: string } = {},
): Promise<ServerDataset> {
  const server = await benchServer();
  // `database`: another copy (a trial of the generator beside the dataset the benchmarks read).
  const dbName = opts.database ?? `flowradar_${name.toLowerCase()}`;
  let url = server.urlOf(dbName);
  const saved = (() => {
    try {
      const exists = server.psql("SELECT to_regclass('bench_dataset') IS NOT NULL", dbName).trim() === 't';
      const text = exists ? server.psql('SELECT info FROM bench_dataset', dbName).trim() : '';
      return text ? (JSON.parse(text) as DatasetInfo & { version: number }) : undefined;
    } catch {
      return undefined;
    }
  })();
  let info: DatasetInfo | undefined = !opts.force && saved?.version === SERVER_VERSION ? saved : undefined;
  if (!info) {
    // A generation stopped midway resumes (bench_progress) unless forced.
    const stopped =
      server.psql("SELECT to_regclass('bench_progress_meta') IS NOT NULL", dbName).trim() === 't';
    if (opts.force || !stopped) server.psql(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    url = server.urlOf(dbName);
    info = await generateOnServer(name, url, opts.log ?? (() => {}));
    server.psql(
      `CREATE TABLE bench_dataset (info jsonb); INSERT INTO bench_dataset VALUES ('${JSON.stringify({ ...info, version: SERVER_VERSION })}')`,
      dbName,
    );
  }
  const db = await openDatabase({ databaseUrl: url, max: opts.max ?? 4 });
  await migrate(db);
  return { db, info, url };
}

/** What each step of one day took on its connection, seconds, and its three slowest refreshes. */
interface DaySteps {
  copy?: number;
  attach?: number;
  refresh?: number;
  compress?: number;
  slowest?: string;
}

/** "copy 8.0, attach 2.1, refresh 30.1 s (slowest refreshes …)": the steps done so far. */
function stepTimes(d: DaySteps): string {
  const steps = (['copy', 'attach', 'refresh', 'compress'] as const)
    .filter((k) => d[k] !== undefined)
    .map((k) => `${k} ${d[k]!.toFixed(1)}`);
  return `${steps.join(', ')} s (slowest refreshes ${d.slowest})`;
}

/**
 * Generates on the server. A day of minute rows is COPYed into a bare table (no index, so no
 * index maintenance per row) which is then attached to `traffic` as that day's chunk
 * (`attach_chunk` builds its unique key in one pass); the rollups are refreshed over the day and the
 * chunk is compressed when it is older than the dataset's last 7 days, as maintenance would. Three
 * connections work one step apart (copy day d, attach and compress, refresh day d − 1), so the
 * server and the generator keep both cores busy. An attached chunk leaves no invalidation behind
 * (its rows were never inserted through the hypertable), so each day is refreshed with `force`.
 * The continuous aggregates are read
 * materialized-only meanwhile: refreshing a rollup of rollups otherwise re-aggregates, in its
 * parents' real-time part, every minute not yet refreshed.
 */
async function generateOnServer(
  name: DatasetName,
  url: string,
  log: (s: string) => void,
): Promise<DatasetInfo> {
  const t0 = performance.now();
  // Refreshing a day of a rollup is work enough for parallel workers, unlike the service's reads.
  const db = await openDatabase({ databaseUrl: url, max: 1, parallelQueries: true });
  const chunks = await openDatabase({ databaseUrl: url, max: 1, parallelQueries: true });
  const copier = postgres(url, { max: 1, onnotice: () => {} });
  const iso = (ms: number) => `'${new Date(ms).toISOString()}'::timestamptz`;
  const rollups = ROLLUPS.map((r) => r.name).filter((n) => n !== 'exporter_hours');
  const setRealtime = (on: boolean) =>
    db.exec(
      ROLLUPS.map(
        (r) => `ALTER MATERIALIZED VIEW ${r.name} SET (timescaledb.materialized_only = ${!on});`,
      ).join('\n'),
    );
  try {
    // A generation that was stopped resumes after its last refreshed day (bench_progress); its
    // time is the sum of its sessions'.
    const [resumed] = await db
      .query<{ end_ms: number; indexes: { name: string; def: string }[] }>(
        sql`SELECT end_ms, indexes FROM bench_progress_meta`,
      )
      .catch(() => []);
    const DATASET_END = resumed?.end_ms ?? Math.floor(Date.now() / MINUTE) * MINUTE;
    let indexes = resumed?.indexes ?? [];
    if (!resumed) {
      await migrate(db);
      await setRealtime(false);
      // The minute table's secondary indexes serve only its uncompressed days: they are dropped
      // for the load (an attached chunk builds every index of the table) and built again, by
      // their own definitions, once the old days are compressed. The unique key stays.
      indexes = await db.query<{ name: string; def: string }>(
        sql`SELECT indexname AS name, indexdef AS def FROM pg_indexes
             WHERE schemaname = 'public' AND tablename = 'traffic' AND indexname <> 'traffic_key'`,
      );
      for (const index of indexes) await db.exec(`DROP INDEX ${index.name};`);
      await db.exec(
        `CREATE TABLE bench_progress (day int PRIMARY KEY, rows bigint NOT NULL, seconds float8 NOT NULL);
         CREATE TABLE bench_progress_meta (end_ms float8 NOT NULL, indexes jsonb NOT NULL);`,
      );
      await db.query(
        sql`INSERT INTO bench_progress_meta VALUES (${DATASET_END}, ${JSON.stringify(indexes)}::jsonb)`,
      );
    }
    const [before] = await db.query<{ day: number; rows: number; seconds: number }>(
      sql`SELECT coalesce(max(day), -1)::int AS day, coalesce(sum(rows), 0)::float8 AS rows,
                 coalesce(max(seconds), 0)::float8 AS seconds FROM bench_progress`,
    );
    const firstDay = (before?.day ?? -1) + 1;
    const secondsBefore = before?.seconds ?? 0;
    const seconds = () => secondsBefore + (performance.now() - t0) / 1000;
    const gen = dayGenerator(name, DATASET_END, true);
    const sink = serverSink(copier);
    const count = { rows: before?.rows ?? 0 };
    if (firstDay > 0) log(`dataset ${name} (server): resuming at day ${firstDay + 1}/${gen.days}`);
    const compressBefore = DATASET_END - 7 * DAY_MS;
    const dayStart = (day: number) => Math.floor((gen.span(day)[0] * MINUTE) / DAY_MS) * DAY_MS;
    const stage = (day: number) =>
      `_timescaledb_internal.bench_traffic_${new Date(dayStart(day)).toISOString().slice(0, 10).replaceAll('-', '')}`;
    let attaching: Promise<unknown> = Promise.resolve();
    let refreshing: Promise<unknown> = Promise.resolve();
    const refreshed: Promise<unknown>[] = [];
    // Seconds each step of a day took on its connection (the steps of different days overlap).
    const took: DaySteps[] = [];
    const timed = async (
      day: number,
      step: 'copy' | 'attach' | 'refresh' | 'compress',
      f: () => Promise<unknown>,
    ) => {
      const t = performance.now();
      await f();
      took[day] = { ...took[day], [step]: (performance.now() - t) / 1000 };
    };
    for (let day = firstDay; day < gen.days; day++) {
      const from = dayStart(day);
      const to = from + DAY_MS;
      const [span0, span1] = gen.span(day);
      // What a stopped session left of this day goes.
      await copier.unsafe(`DROP TABLE IF EXISTS ${stage(day)}`);
      await copier.unsafe(
        `DELETE FROM exporter_minutes WHERE time >= ${iso(span0 * MINUTE)} AND time < ${iso(span1 * MINUTE)}`,
      );
      await copier.unsafe(
        `CREATE TABLE ${stage(day)} (LIKE traffic INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`,
      );
      const rows0 = count.rows;
      await timed(day, 'copy', async () => {
        await sink.copy(`${stage(day)}${TRAFFIC_COLUMNS.slice('traffic'.length)}`, gen.traffic(day, count));
        await sink.copy(EXPORTER_COLUMNS, [gen.exporterMinutes(day)]);
      });
      const dayRows = count.rows - rows0;
      const attached = attaching.then(() =>
        timed(day, 'attach', () =>
          chunks.exec(
            `CALL attach_chunk('traffic', '${stage(day)}', '{"time": ["${new Date(from).toISOString()}", "${new Date(to).toISOString()}"]}');`,
          ),
        ),
      );
      attaching = attached;
      refreshing = Promise.all([refreshing, attached]).then(() =>
        timed(day, 'refresh', async () => {
          const each: [string, number][] = [];
          for (const r of rollups) {
            const t = performance.now();
            await db.exec(
              `CALL refresh_continuous_aggregate('${r}', ${iso(from)}, ${iso(to)}, force => true);`,
            );
            each.push([r, (performance.now() - t) / 1000]);
          }
          took[day] = {
            ...took[day],
            slowest: each
              .sort((a, b) => b[1] - a[1])
              .slice(0, 3)
              .map(([r, t]) => `${r} ${t.toFixed(1)}`)
              .join(', '),
          };
          await db.query(sql`INSERT INTO bench_progress VALUES (${day}, ${dayRows}, ${seconds()})`);
        }),
      );
      refreshed[day] = refreshing;
      if (to <= compressBefore)
        attaching = Promise.all([attaching, refreshed[day]]).then(() =>
          timed(day, 'compress', () =>
            chunks.exec(`SELECT compress_chunk('${stage(day)}', if_not_compressed => true);`),
          ),
        );
      // At most two days ahead of the refresh: bounded memory on the server and here.
      if (day >= firstDay + 2) await refreshed[day - 2];
      const done = took[day - 2];
      log(
        `dataset ${name} (server): day ${day + 1}/${gen.days}, ${count.rows.toLocaleString('en-US')} rows, ${seconds().toFixed(0)} s${done ? `; day ${day - 1} took ${stepTimes(done)}` : ''}`,
      );
    }
    await Promise.all([attaching, refreshing]);
    await copier.unsafe('TRUNCATE asn_names');
    await sink.copy('asn_names (asn, name, country)', [gen.names()]);
    for (const index of indexes) await db.exec(`${index.def};`);
    await setRealtime(true);
    log(`dataset ${name} (server): rollups to now, exporter_hours, compression; ${seconds().toFixed(0)} s`);
    // The loop refreshed every traffic rollup over every loaded day, now included, with force
    // (an attached chunk logs no invalidation). A forced refresh leaves the rollup's invalidation
    // log as it was: the whole axis, invalid since the rollup was created, so the next refresh
    // over it (the service's first maintenance) would materialize everything again, 57 of the
    // 139 minutes of XL's first generation. The loaded days are valid: they are cut out of the
    // log, as an unforced refresh of them would have. Only exporter_hours is left to refresh.
    const loaded = `_timescaledb_functions.to_unix_microseconds(${iso(dayStart(0))})`;
    const loadedEnd = `_timescaledb_functions.to_unix_microseconds(${iso(dayStart(gen.days - 1) + DAY_MS)})`;
    await db.exec(
      `WITH aggs AS (
         SELECT mat_hypertable_id AS id FROM _timescaledb_catalog.continuous_agg
          WHERE user_view_name IN (${rollups.map((r) => `'${r}'`).join(', ')})),
       cut AS (
         DELETE FROM _timescaledb_catalog.continuous_aggs_materialization_invalidation_log l
          USING aggs WHERE l.materialization_id = aggs.id
            AND l.lowest_modified_value < ${loadedEnd} AND l.greatest_modified_value >= ${loaded}
         RETURNING l.*)
       INSERT INTO _timescaledb_catalog.continuous_aggs_materialization_invalidation_log
       SELECT materialization_id, lowest_modified_value, ${loaded} - 1 FROM cut WHERE lowest_modified_value < ${loaded}
       UNION ALL
       SELECT materialization_id, ${loadedEnd}, greatest_modified_value FROM cut WHERE greatest_modified_value >= ${loadedEnd};`,
    );
    await db.exec(`CALL refresh_continuous_aggregate('exporter_hours', NULL, NULL);`);
    await compressLikeTheService(db, DATASET_END);
    await db.exec('DROP TABLE bench_progress; DROP TABLE bench_progress_meta;');
    await db.exec('ANALYZE');
    await db.exec('CHECKPOINT');
    const [n] = await db.query<{ n: number }>(sql`SELECT count(*)::float8 AS n FROM traffic`);
    log(`dataset ${name} (server): done in ${seconds().toFixed(0)} s`);
    return {
      name,
      dir: url,
      rows: n?.n ?? count.rows,
      generatedSeconds: seconds(),
      endMs: DATASET_END,
    };
  } finally {
    await copier.end({ timeout: 5 });
    await chunks.close();
    await db.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = parseArgs();
  const name = (args.only[0] ?? 'S') as DatasetName;
  if (!(name in DATASETS)) throw new Error(`dataset: one of ${Object.keys(DATASETS).join(', ')}`);
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const force = args.opts.force === 'true';
  const { db, info } =
    args.opts.server === 'true'
      ? await openServerDataset(name, {
          force,
          log,
          ...(args.opts.database ? { database: args.opts.database } : {}),
        })
      : await openDataset(name, { ...(args.opts.dir ? { dir: args.opts.dir } : {}), force, log });
  await db.close();
  process.stdout.write(`${JSON.stringify(info)}\n`);
}
