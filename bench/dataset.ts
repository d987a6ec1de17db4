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

export const serverSink = (
  client: postgres.Sql,
): Sink & { copyBinary(table: string, pieces: Iterable<Buffer>): Promise<void> } => {
  const copy = async (table: string, format: 'csv' | 'binary', pieces: Iterable<string | Buffer>) => {
    const stream = await client.unsafe(`COPY ${table} FROM STDIN WITH (FORMAT ${format})`).writable();
    for (const piece of pieces) {
      // Backpressure: let the server parse while the next piece is made.
      if (!stream.write(piece)) await once(stream, 'drain');
    }
    stream.end();
    await finished(stream);
  };
  return {
    copy: (table: string, lines: Iterable<string[]>) => copy(table, 'csv', csvText(lines)),
    /** Pieces of PostgreSQL's binary COPY format, header and trailer included. */
    copyBinary: (table: string, pieces: Iterable<Buffer>) => copy(table, 'binary', pieces),
  };
};

function* csvText(lines: Iterable<string[]>): Generator<string> {
  for (const piece of lines) yield `${piece.join('\n')}\n`;
}

const TRAFFIC_COLUMNS = 'traffic (time, asn, location, product, direction, bytes, packets, flows)';
/** PostgreSQL's binary COPY header: signature, flags, no extension. */
const PG_COPY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
/** Its timestamps count microseconds from 2000-01-01 UTC. */
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
/** Rows per COPY piece: bounded memory whatever the dataset's size. */
const PIECE = 50_000;

/** The rows of a dataset, one day at a time, and what every generator does around them. */
export function dayGenerator(name: DatasetName, endMs: number, calendar = false) {
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
  const packetsOf = (bytes: number) => Math.max(1, Math.round(bytes / 900));
  const flowsOf = (packets: number) => Math.max(1, Math.round(packets / 40));
  // Each key's fields (asn, location, product, direction) in the binary COPY format, made once.
  let keyFields: Buffer[] | undefined;
  const binaryKeyFields = () =>
    (keyFields ??= keys.map((k) => {
      const text = (v: string) => {
        const b = Buffer.from(v);
        const len = Buffer.alloc(4);
        len.writeInt32BE(b.length);
        return Buffer.concat([len, b]);
      };
      const asn = Buffer.alloc(8);
      asn.writeInt32BE(4, 0);
      asn.writeInt32BE(k.asn, 4);
      return Buffer.concat([asn, text(k.location), text(k.product), text(k.direction)]);
    }));
  // Each key's place in the order the minute table compresses by (segmentby asn, location, adm1,
  // product, direction; adm1 is 0 here): rows written in it compress 3.5× faster (a day of XL,
  // 2.6 s against 9.2 s written in time order), the sort finding them sorted.
  const rank = new Int32Array(keys.length);
  keys
    .map((k, i) => ({ k, i }))
    .sort(
      (a, b) =>
        a.k.asn - b.k.asn ||
        (a.k.location < b.k.location ? -1 : a.k.location > b.k.location ? 1 : 0) ||
        (a.k.product < b.k.product ? -1 : a.k.product > b.k.product ? 1 : 0) ||
        (a.k.direction < b.k.direction ? -1 : a.k.direction > b.k.direction ? 1 : 0),
    )
    .forEach(({ i }, place) => {
      rank[i] = place;
    });
  /**
   * Walks the rows of day `day` in time order (or by key, each key's minutes newest first), calling
   * `row` for each; yields false whenever `row` returns true (a piece is full), and true once at the
   * end.
   */
  function* walk(
    day: number,
    row: (minute: number, k: number, bytes: number, packets: number, flows: number) => boolean,
    order: 'time' | 'key' = 'time',
  ): Generator<boolean> {
    const [from, to] = spans[day]!;
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
    // Values are drawn in time order whatever the order given, so both give the same rows.
    const rowsOfDay = perMinute.reduce((n, ks) => n + ks.length, 0);
    const byKey = order === 'key';
    const rowKey = byKey ? new Int32Array(rowsOfDay) : undefined;
    const rowMinute = byKey ? new Int32Array(rowsOfDay) : undefined;
    const rowBytes = byKey ? new Float64Array(rowsOfDay) : undefined;
    let r = 0;
    for (let m = 0; m < to - from; m++) {
      const minute = from + m;
      const shape = diurnal(minute % 1440);
      for (const k of perMinute[m]!) {
        const key = keys[k]!;
        // Expected bytes of the key in a minute where it appears, with ±50 % noise.
        const bytes = Math.max(
          64,
          Math.round(((peakBytes * key.weight * shape) / Math.min(1, p[k]!)) * (0.5 + rand())),
        );
        if (byKey) {
          rowKey![r] = k;
          rowMinute![r] = m;
          rowBytes![r++] = bytes;
          continue;
        }
        const packets = packetsOf(bytes);
        if (row(minute, k, bytes, packets, flowsOf(packets))) yield false;
      }
      perMinute[m] = [];
    }
    if (byKey) {
      // Counting sort by key, keys in the minute table's compression order, newest minute first.
      const start = new Int32Array(keys.length + 1);
      for (let i = 0; i < rowsOfDay; i++) start[rank[rowKey![i]!]! + 1]!++;
      for (let i = 0; i < keys.length; i++) start[i + 1]! += start[i]!;
      const next = start.slice(0, keys.length);
      const sorted = new Int32Array(rowsOfDay);
      for (let i = rowsOfDay - 1; i >= 0; i--) sorted[next[rank[rowKey![i]!]!]!++] = i;
      for (const i of sorted) {
        const bytes = rowBytes![i]!;
        const packets = packetsOf(bytes);
        if (row(from + rowMinute![i]!, rowKey![i]!, bytes, packets, flowsOf(packets))) yield false;
      }
    }
    yield true;
  }
  return {
    asns,
    /** The number of days (spans) of the dataset. */
    days: spans.length,
    /** Minutes [from, to) of day `day` of the dataset. */
    span: (day: number): [number, number] => spans[day]!,
    /** The traffic rows of day `day`, in pieces of CSV lines; `count.rows` grows as they are made. */
    *traffic(day: number, count: { rows: number }): Generator<string[]> {
      let lines: string[] = [];
      let iso = '';
      let isoMinute = -1;
      for (const end of walk(day, (minute, k, bytes, packets, flows) => {
        if (minute !== isoMinute) {
          isoMinute = minute;
          iso = new Date(minute * MINUTE).toISOString();
        }
        lines.push(`${iso}${csvKeys[k]}${bytes},${packets},${flows}`);
        return lines.length >= PIECE;
      })) {
        if (lines.length === 0) continue;
        count.rows += lines.length;
        yield lines;
        lines = [];
        if (end) break;
      }
    },
    /**
     * The same rows in PostgreSQL's binary COPY format (header and trailer included), in pieces,
     * by key (see `rank`): the server parses it in two thirds of the time CSV takes, and no number
     * becomes text here (a day of XL made in 2.3 s against 6.4 s).
     */
    *trafficBinary(day: number, count: { rows: number }): Generator<Buffer> {
      const keyFields = binaryKeyFields();
      const maxRow = 2 + 12 + Math.max(...keyFields.map((f) => f.length)) + 36;
      let buf = Buffer.allocUnsafe(PG_COPY_HEADER.length + PIECE * maxRow + 2);
      let at = 0;
      let rows = 0;
      const int64 = (v: number) => {
        buf.writeInt32BE(8, at);
        const hi = Math.floor(v / 4294967296);
        buf.writeInt32BE(hi, at + 4);
        buf.writeUInt32BE(v - hi * 4294967296, at + 8);
        at += 12;
      };
      at = PG_COPY_HEADER.copy(buf, 0);
      for (const end of walk(
        day,
        (minute, k, bytes, packets, flows) => {
          buf.writeInt16BE(8, at);
          at += 2;
          int64((minute * MINUTE - PG_EPOCH_MS) * 1000);
          at += keyFields[k]!.copy(buf, at);
          int64(bytes);
          int64(packets);
          int64(flows);
          rows++;
          return rows >= PIECE;
        },
        'key',
      )) {
        if (end) at = buf.writeInt16BE(-1, at);
        if (at === 0) continue;
        count.rows += rows;
        yield buf.subarray(0, at);
        // The piece given away is the consumer's until it is written: a new one for the next.
        buf = Buffer.allocUnsafe(PIECE * maxRow + 2);
        at = 0;
        rows = 0;
        if (end) break;
      }
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
 * Runs `f` for every rollup of `names` on the connections given, as many at once as there are
 * connections, each rollup once the one it reads (when that is among `names`) is done.
 */
async function inDependencyOrder(
  conns: readonly Database[],
  names: readonly string[],
  f: (conn: Database, name: string) => Promise<void>,
): Promise<void> {
  const reads = new Map(ROLLUPS.map((r) => [r.name, r.reads]));
  const done = new Map<string, Promise<void>>();
  const free = [...conns];
  const waiting: ((conn: Database) => void)[] = [];
  const acquire = () =>
    free.length > 0 ? Promise.resolve(free.pop()!) : new Promise<Database>((r) => waiting.push(r));
  const release = (conn: Database) => {
    const next = waiting.shift();
    if (next) next(conn);
    else free.push(conn);
  };
  for (const name of names) {
    const source = reads.get(name);
    const before = (source !== undefined && done.get(source)) || Promise.resolve();
    done.set(
      name,
      before.then(async () => {
        const conn = await acquire();
        try {
          await f(conn, name);
        } finally {
          release(conn);
        }
      }),
    );
  }
  await Promise.all(done.values());
}

/** An index the server generator drops for the load and builds again at the end. */
export interface LoadIndex {
  /** schema.name */
  name: string;
  /** Its CREATE INDEX statement. */
  def: string;
}

/**
 * The indexes a load goes faster without: the minute table's secondary indexes and the rollups'
 * key indexes (by AS, location, …); not the minute table's unique key nor the rollups' time
 * indexes (see generateOnServer).
 */
export function loadIndexes(db: Database): Promise<LoadIndex[]> {
  return db.query<LoadIndex>(
    sql`SELECT format('%I.%I', schemaname, indexname) AS name, indexdef AS def FROM pg_indexes
         WHERE (schemaname = 'public' AND tablename = 'traffic' AND indexname <> 'traffic_key')
            OR (schemaname = '_timescaledb_internal' AND indexname <> tablename || '_time_idx'
                AND tablename IN (SELECT materialization_hypertable_name
                                    FROM timescaledb_information.continuous_aggregates
                                   WHERE view_name <> 'exporter_hours'))`,
  );
}

/**
 * Builds `indexes` on `conns`, one build per connection at a time (one per core). `largest first`
 * (the default) starts with the indexes of the largest heaps, so that no core is left alone at the
 * end on one big build, and without parallel workers, which on two cores only contend with the
 * other build; `listed` is the order given, with the server's parallel workers (as before).
 * A build sorts its table's heap: for `traffic`, only its uncompressed days.
 * `onBuilt` hears of each index built, with its seconds.
 */
export async function buildIndexes(
  db: Database,
  conns: readonly Database[],
  indexes: readonly LoadIndex[],
  way: 'largest first' | 'listed' = 'largest first',
  onBuilt: (index: LoadIndex, seconds: number) => void = () => {},
): Promise<void> {
  const heapBytes = async (def: string) => {
    const table = / ON (\S+) USING /.exec(def)?.[1];
    if (!table) throw new Error(`no table in ${def}`);
    const [size] = await db.query<{ bytes: number }>(
      sql`SELECT (pg_relation_size(${table}::regclass) + coalesce(sum(pg_relation_size(inhrelid)), 0))::float8 AS bytes
            FROM pg_inherits WHERE inhparent = ${table}::regclass`,
    );
    return size?.bytes ?? 0;
  };
  const builds =
    way === 'listed'
      ? [...indexes]
      : (await Promise.all(indexes.map(async (i) => ({ ...i, bytes: await heapBytes(i.def) })))).sort(
          (a, b) => b.bytes - a.bytes,
        );
  await Promise.all(
    conns.map(async (conn) => {
      await conn.exec(`SET max_parallel_maintenance_workers = ${way === 'listed' ? 'DEFAULT' : 0}`);
      for (let index = builds.shift(); index; index = builds.shift()) {
        const t = performance.now();
        await conn.exec(`${index.def};`);
        onBuilt(index, (performance.now() - t) / 1000);
      }
    }),
  );
}

/**
 * Generates on the server. A day of minute rows is COPYed into a bare table (no index, so no
 * index maintenance per row) which is then attached to `traffic` as that day's chunk
 * (`attach_chunk` builds its unique key in one pass); the rollups are refreshed over the day and the
 * chunk is compressed when it is older than the dataset's last 7 days, as maintenance would. Three
 * connections work one step apart (copy day d, attach it, refresh day d − 1 on two connections,
 * compress day d − 2 on another), so the server and the generator keep both cores busy. An
 * attached chunk leaves no invalidation behind (its rows were never inserted through the
 * hypertable), so each day is refreshed with `force`. The continuous aggregates are read
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
  const compressor = await openDatabase({ databaseUrl: url, max: 1, parallelQueries: true });
  // Two refreshing connections: the rollups of a day that read the minutes are independent, and
  // one backend refreshing them in turn left the second core to the copy alone.
  const refreshers = await Promise.all(
    [0, 1].map(() => openDatabase({ databaseUrl: url, max: 1, parallelQueries: true })),
  );
  // Planned for its day, a refresh's aggregation is estimated at 0.5 % of the day's rows (the
  // selectivity PostgreSQL assumes for the time_bucket bounds the refresh adds), so the planner
  // sorts the 2.2 M minutes, on disk (traffic_total_15m's 384 rows of a day took 6–13 s in the
  // pipeline). A day's refreshes hash here: XL's days 9–22 went from 24.5 to 19.5 s a day.
  for (const r of refreshers) await r.exec('SET enable_sort = off');
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
      .query<{ end_ms: number; indexes: LoadIndex[] }>(sql`SELECT end_ms, indexes FROM bench_progress_meta`)
      .catch(() => []);
    const DATASET_END = resumed?.end_ms ?? Math.floor(Date.now() / MINUTE) * MINUTE;
    let indexes: LoadIndex[] = resumed?.indexes ?? [];
    if (!resumed) {
      await migrate(db);
      await setRealtime(false);
      // The minute table's secondary indexes serve only its uncompressed days: they are dropped
      // for the load (an attached chunk builds every index of the table) and built again, by
      // their own definitions, once the old days are compressed. The unique key stays. So do the
      // rollups' key indexes (by AS, location, …): a refresh inserts its rows in hash order, one
      // random descent of each index per row, which cost more than the aggregation (asn_15m: a
      // day's 930 k rows took 9.2 s into a table with its two indexes, 4.3 s into one without);
      // built once at the end, sorted. Their time indexes stay, for the refreshes' own reads.
      indexes = await loadIndexes(db);
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
    let compressing: Promise<unknown> = Promise.resolve();
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
        await sink.copyBinary(
          `${stage(day)}${TRAFFIC_COLUMNS.slice('traffic'.length)}`,
          gen.trafficBinary(day, count),
        );
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
          await inDependencyOrder(refreshers, rollups, async (conn, r) => {
            const t = performance.now();
            // Planned for the day: a generic plan may read every chunk (Database.execPlannedForValues).
            await conn.execPlannedForValues(
              `CALL refresh_continuous_aggregate('${r}', ${iso(from)}, ${iso(to)}, force => true);`,
            );
            each.push([r, (performance.now() - t) / 1000]);
          });
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
      // Compression has a connection of its own: on the attaching one, the next day's attach (and
      // so its refresh) waited for it, and a day took refresh + compress + attach end to end.
      if (to <= compressBefore)
        compressing = Promise.all([compressing, refreshed[day]]).then(() =>
          timed(day, 'compress', () =>
            compressor.exec(`SELECT compress_chunk('${stage(day)}', if_not_compressed => true);`),
          ),
        );
      // At most two days ahead of the refresh: bounded memory on the server and here.
      if (day >= firstDay + 2) await refreshed[day - 2];
      const done = took[day - 2];
      log(
        `dataset ${name} (server): day ${day + 1}/${gen.days}, ${count.rows.toLocaleString('en-US')} rows, ${seconds().toFixed(0)} s${done ? `; day ${day - 1} took ${stepTimes(done)}` : ''}`,
      );
    }
    await Promise.all([attaching, refreshing, compressing]);
    await copier.unsafe('TRUNCATE asn_names');
    await sink.copy('asn_names (asn, name, country)', [gen.names()]);
    await buildIndexes(db, refreshers, indexes);
    log(`dataset ${name} (server): ${indexes.length} indexes built; ${seconds().toFixed(0)} s`);
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
    await compressor.close();
    for (const r of refreshers) await r.close();
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
