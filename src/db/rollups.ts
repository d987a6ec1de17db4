/**
 * The rollup catalogue: every continuous aggregate the migrations create (0001, 0004, 0005, 0007, 0010),
 * described once. The query planner (src/query/sql.ts) picks the table a series reads from it, and
 * maintenance (maintenance.ts) refreshes and trims what it lists, in its order; neither spells a
 * rollup's name itself. A test holds it equal to the database's catalog.
 */

const MINUTE_MS = 60_000;
const QUARTER_MS = 15 * MINUTE_MS;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** A key column of a row besides its time. */
export type KeyColumn = 'asn' | 'location' | 'continent' | 'adm1' | 'product' | 'direction' | 'exporter';

/** The retention settings (`retention.raw`, `.hourly`, `.daily`): how long chunks are kept. */
export type RetentionClass = 'raw' | 'hourly' | 'daily';

/** A table or rollup: rows of one time width keyed by some columns. */
export interface Relation {
  name: string;
  /** What it counts: traffic, or the exporters' reports (data quality). */
  of: 'traffic' | 'exporter';
  /** The width of a row's time bucket, ms. */
  widthMs: number;
  /** The key columns kept besides time; every other key is summed away. */
  keeps: readonly KeyColumn[];
  /** Which retention setting drops its chunks. */
  retention: RetentionClass;
}

export interface Rollup extends Relation {
  /** The relation it aggregates: a base table, or a rollup listed before it. */
  reads: string;
  /**
   * Refreshes stop at the start of the bucket holding now, which stays live (real-time aggregation
   * over the source), so a minute written now shows in it at once. Others refresh to the newest row.
   */
  liveBucket: boolean;
}

/** The keys of the full hourly and daily rollups (traffic_1h, traffic_1d): all but adm1, which came later (0010). */
const EVERY_TRAFFIC_KEY = ['asn', 'location', 'product', 'direction'] as const;

/** The tables the rollups start from: what collectors write. */
export const BASE_TABLES: readonly Relation[] = [
  {
    name: 'traffic',
    of: 'traffic',
    widthMs: MINUTE_MS,
    keeps: ['asn', 'location', 'adm1', 'product', 'direction'],
    retention: 'raw',
  },
  { name: 'exporter_minutes', of: 'exporter', widthMs: MINUTE_MS, keeps: ['exporter'], retention: 'raw' },
];

/** The minute table of traffic: it keeps every key, so it answers whatever no rollup does. */
export const TRAFFIC_MINUTES = BASE_TABLES[0]!;

const TOTAL = ['product', 'direction'] as const;
const BY_ASN = ['asn', 'product', 'direction'] as const;
const BY_LOCATION = ['location', 'product', 'direction'] as const;
const BY_CONTINENT = ['continent', 'product', 'direction'] as const;
const BY_ADM1 = ['adm1', 'product', 'direction'] as const;

function rollup(
  name: string,
  widthMs: number,
  keeps: readonly KeyColumn[],
  reads: string,
  retention: RetentionClass,
): Rollup {
  const of = name.startsWith('exporter') ? 'exporter' : 'traffic';
  return { name, of, widthMs, keeps, reads, retention, liveBucket: widthMs < HOUR_MS };
}

/**
 * Every rollup, in refresh order: each after the one it reads. Beside the full hourly and daily
 * rollups, one per kept dimension (none, AS, location, continent, subdivision) at each width; at 15
 * minutes only those, so a series keyed by AS and location at once reads the minutes there. The full
 * rollups lack the subdivision (0010): a series keyed by it and by AS or location reads the minutes. The 15-minute ones
 * keep the bucket holding now live ({@link Rollup.liveBucket}).
 */
export const ROLLUPS: readonly Rollup[] = [
  rollup('traffic_total_15m', QUARTER_MS, TOTAL, 'traffic', 'raw'),
  rollup('traffic_asn_15m', QUARTER_MS, BY_ASN, 'traffic', 'raw'),
  rollup('traffic_loc_15m', QUARTER_MS, BY_LOCATION, 'traffic', 'raw'),
  rollup('traffic_cont_15m', QUARTER_MS, BY_CONTINENT, 'traffic_loc_15m', 'raw'),
  rollup('traffic_adm1_15m', QUARTER_MS, BY_ADM1, 'traffic', 'raw'),
  rollup('traffic_1h', HOUR_MS, EVERY_TRAFFIC_KEY, 'traffic', 'hourly'),
  rollup('traffic_total_1h', HOUR_MS, TOTAL, 'traffic_1h', 'hourly'),
  rollup('traffic_asn_1h', HOUR_MS, BY_ASN, 'traffic_1h', 'hourly'),
  rollup('traffic_loc_1h', HOUR_MS, BY_LOCATION, 'traffic_1h', 'hourly'),
  rollup('traffic_cont_1h', HOUR_MS, BY_CONTINENT, 'traffic_loc_1h', 'hourly'),
  rollup('traffic_adm1_1h', HOUR_MS, BY_ADM1, 'traffic', 'hourly'),
  rollup('exporter_hours', HOUR_MS, ['exporter'], 'exporter_minutes', 'hourly'),
  rollup('traffic_1d', DAY_MS, EVERY_TRAFFIC_KEY, 'traffic_1h', 'daily'),
  rollup('traffic_total_1d', DAY_MS, TOTAL, 'traffic_total_1h', 'daily'),
  rollup('traffic_asn_1d', DAY_MS, BY_ASN, 'traffic_asn_1h', 'daily'),
  rollup('traffic_loc_1d', DAY_MS, BY_LOCATION, 'traffic_loc_1h', 'daily'),
  rollup('traffic_cont_1d', DAY_MS, BY_CONTINENT, 'traffic_cont_1h', 'daily'),
  rollup('traffic_adm1_1d', DAY_MS, BY_ADM1, 'traffic_adm1_1h', 'daily'),
];

/**
 * The retention that bounds what `rollup` reads: a refresh reaching past it would find its source's
 * chunks dropped, and materialize that emptiness.
 * @example sourceRetention(rollupNamed('traffic_1d')) // 'hourly': it reads traffic_1h
 */
export function sourceRetention(rollup: Rollup): RetentionClass {
  const source = [...BASE_TABLES, ...ROLLUPS].find((r) => r.name === rollup.reads);
  if (!source) throw new Error(`rollup ${rollup.name} reads ${rollup.reads}, which the catalogue lacks`);
  return source.retention;
}

/**
 * The rollup of that name.
 * @example rollupNamed('traffic_asn_1h').keeps // ['asn', 'product', 'direction']
 */
export function rollupNamed(name: string): Rollup {
  const found = ROLLUPS.find((r) => r.name === name);
  if (!found) throw new Error(`no rollup ${name}`);
  return found;
}

/** Every relation traffic can be read from: the rollups of traffic and the minute table. */
const TRAFFIC_RELATIONS: readonly Relation[] = [...ROLLUPS, TRAFFIC_MINUTES].filter(
  (r) => r.of === 'traffic',
);

/** The widths traffic can be read at, coarsest first: the rollups', then the minutes'. */
export const TRAFFIC_WIDTHS: readonly number[] = [...new Set(TRAFFIC_RELATIONS.map((r) => r.widthMs))].sort(
  (a, b) => b - a,
);

/**
 * Of the traffic relations with rows `widthMs` wide, the smallest keeping every column of `needs`
 * (product and direction are kept by all): the one reading fewest rows for the same answer. None
 * when no relation of that width keeps them.
 * @example
 * trafficRelation(3_600_000, ['asn'])?.name              // 'traffic_asn_1h'
 * trafficRelation(900_000, ['asn', 'location'])         // undefined: read the minutes
 */
export function trafficRelation(widthMs: number, needs: readonly KeyColumn[]): Relation | undefined {
  let best: Relation | undefined;
  for (const r of TRAFFIC_RELATIONS) {
    if (r.widthMs !== widthMs || !needs.every((c) => r.keeps.includes(c))) continue;
    if (best === undefined || r.keeps.length < best.keeps.length) best = r;
  }
  return best;
}
