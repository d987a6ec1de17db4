import { type SQL, sql } from 'drizzle-orm';
import type { ParsedQuery, SeriesSpec } from './params.js';
import { DAY, HOUR, ORIGIN_MS } from './time.js';

/** The rollups, coarsest first, with the width of their rows. */
const TABLES = [
  { name: 'traffic_1d', width: DAY },
  { name: 'traffic_1h', width: HOUR },
  { name: 'traffic', width: 60_000 },
] as const;

/**
 * The coarsest table whose rows divide the interval and whose row boundaries match every
 * window: then the rollup answers exactly what the raw table would, reading far fewer rows.
 */
function periodFor(series: SeriesSpec[], intervalMs: number | undefined): (typeof TABLES)[number] {
  return (
    TABLES.find(
      (t) =>
        (intervalMs === undefined || intervalMs % t.width === 0) &&
        series.every((s) => (s.start - ORIGIN_MS) % t.width === 0 && (s.end - ORIGIN_MS) % t.width === 0),
    ) ?? TABLES[2]
  );
}

/**
 * Per series, the smallest table that answers it exactly: the coarsest period every window allows
 * ({@link periodFor}), and of that period the rollup keeping only the columns the series filters
 * or groups on (migration 0004): no AS or location → `traffic_total_*`, AS only → `traffic_asn_*`,
 * location only → `traffic_loc_*`, both → the full rollup. Product and direction are in all.
 * @example
 * tablesFor(q.series, q.interval.ms, 'asn') // one table per series, e.g. [traffic_asn_1h, traffic_1h]
 */
export function tablesFor(
  series: SeriesSpec[],
  intervalMs: number | undefined,
  groupBy?: 'asn' | 'location' | 'product',
): SQL[] {
  const period = periodFor(series, intervalMs);
  return series.map((s) => {
    if (period.name === 'traffic') return sql.raw(period.name);
    const asn = groupBy === 'asn' || s.asn.include.length > 0 || s.asn.exclude.length > 0;
    const location = groupBy === 'location' || s.location.include.length > 0 || s.location.exclude.length > 0;
    const suffix = period.name.slice('traffic'.length);
    if (asn && location) return sql.raw(period.name);
    return sql.raw(`traffic_${asn ? 'asn' : location ? 'loc' : 'total'}${suffix}`);
  });
}

const list = <T>(values: T[]) =>
  sql.join(
    values.map((v) => sql`${v}`),
    sql`, `,
  );

/** The WHERE clause of one series: its window and its filters, ANDed. */
export function whereOf(s: SeriesSpec, q: Pick<ParsedQuery, 'direction'>): SQL {
  const conds: SQL[] = [
    sql`time >= ${new Date(s.start).toISOString()}::timestamptz`,
    sql`time < ${new Date(s.end).toISOString()}::timestamptz`,
  ];
  if (s.asn.include.length) conds.push(sql`asn IN (${list(s.asn.include)})`);
  if (s.asn.exclude.length) conds.push(sql`asn NOT IN (${list(s.asn.exclude)})`);
  if (s.location.include.length) conds.push(sql`location IN (${list(s.location.include)})`);
  if (s.location.exclude.length) conds.push(sql`location NOT IN (${list(s.location.exclude)})`);
  if (s.product === 'HTTP') conds.push(sql`product = 'HTTP'`);
  if (q.direction) conds.push(sql`direction = ${q.direction}`);
  return sql.join(conds, sql` AND `);
}

/** sum() of the chosen metric as float8: exact below 2^53, and parsed alike by both drivers. */
export function metricSum(q: Pick<ParsedQuery, 'metric'>): SQL {
  return sql.raw(`sum(${q.metric})::float8`);
}

/** Bucket start in Unix ms, aligned like {@link floorTo}. */
export function bucketExpr(intervalMs: number): SQL {
  return sql.raw(
    `(extract(epoch from time_bucket(INTERVAL '${intervalMs / 1000} seconds', time, TIMESTAMPTZ '2000-01-03')) * 1000)::float8`,
  );
}

/** One statement for all series: per-series SELECTs joined with UNION ALL, tagged by index. */
export function unionAll(parts: SQL[]): SQL {
  return sql.join(
    parts.map((p) => sql`(${p})`),
    sql` UNION ALL `,
  );
}

/**
 * Group keys per dimension. AS keys are `AS<n>`: a bare number as a JSON key would be re-sorted
 * numerically by every JSON engine, losing the ranking order of the groups.
 */
export const DIMENSION_COLUMN = {
  AS: sql.raw(`('AS' || asn::text)`),
  LOCATION: sql.raw('location::text'),
  PRODUCT: sql.raw('product'),
} as const;
export type Dimension = keyof typeof DIMENSION_COLUMN;
