import { type SQL, sql } from 'drizzle-orm';
import { continentsCovering } from './geo.js';
import type { Filter, ParsedQuery, SeriesSpec } from './params.js';
import { type Sources, VIEWS } from './sources.js';
import { DAY, HOUR, ORIGIN_MS } from './time.js';

/**
 * The periods, coarsest first: the width of their rows, and `full`, the table keeping every key
 * (15-minute rollups exist only without some dimensions, so a series filtered by AS and location
 * at once reads the minutes there).
 */
const TABLES = [
  { name: 'traffic_1d', width: DAY, full: 'traffic_1d' },
  { name: 'traffic_1h', width: HOUR, full: 'traffic_1h' },
  { name: 'traffic_15m', width: 15 * 60_000, full: 'traffic' },
  { name: 'traffic', width: 60_000, full: 'traffic' },
] as const;

/**
 * The coarsest table whose rows divide the interval and whose row boundaries match every
 * window: then the rollup answers exactly what the raw table would, reading far fewer rows.
 */
export function periodFor(series: SeriesSpec[], intervalMs: number | undefined): Period {
  return (
    TABLES.find(
      (t) =>
        (intervalMs === undefined || intervalMs % t.width === 0) &&
        series.every((s) => (s.start - ORIGIN_MS) % t.width === 0 && (s.end - ORIGIN_MS) % t.width === 0),
    ) ?? TABLES[3]
  );
}

/** A period: `traffic_1d`, `traffic_1h`, `traffic_15m` (variants only) or the minutes. Chosen once per request. */
export type Period = (typeof TABLES)[number];

/**
 * Of the request's period ({@link periodFor}), the smallest table answering one series exactly, and
 * the series' conditions on it, as `table WHERE …`: the rollup keeping only the columns the series
 * filters or groups on (migrations 0004, 0005, 0007): no AS or location → `traffic_total_*`, AS
 * only → `traffic_asn_*`, locations that are whole continents → `traffic_cont_*`, other locations →
 * `traffic_loc_*`, both → the period's `full` table. Product and direction are in all. Conditions can be
 * appended with `AND`.
 * @example
 * const period = periodFor(q.series, q.interval.ms);
 * sql`SELECT asn, ${metricSum(q)} AS v FROM ${rowsOf(period, s, q, 'asn')} GROUP BY 1` // traffic_asn_1h WHERE …
 */
export function rowsOf(
  period: Period,
  s: SeriesSpec,
  q: Pick<ParsedQuery, 'direction'>,
  groupBy?: GroupColumn,
  src: Sources = VIEWS,
): SQL {
  const v = variantOf(period, s, groupBy);
  return sql`${sql.raw(src.table(v.table, s.end))} WHERE ${whereOf(s, q, v.continents)}`;
}

export type GroupColumn = 'asn' | 'location' | 'product';

/**
 * Of one period's tables, the smallest keeping the columns a series filters or groups on; for the
 * continent rollups, the series' location filter as continents.
 */
function variantOf(
  period: Period,
  s: SeriesSpec,
  groupBy?: GroupColumn,
): { table: string; continents?: Filter<string> } {
  if (period.name === 'traffic') return { table: period.full };
  const suffix = period.name.slice('traffic'.length);
  const asn = groupBy === 'asn' || s.asn.include.length > 0 || s.asn.exclude.length > 0;
  const location = groupBy === 'location' || s.location.include.length > 0 || s.location.exclude.length > 0;
  if (asn && location) return { table: period.full };
  if (asn) return { table: `traffic_asn${suffix}` };
  if (!location) return { table: `traffic_total${suffix}` };
  const continents = groupBy === 'location' ? undefined : asContinents(s.location);
  return continents ? { table: `traffic_cont${suffix}`, continents } : { table: `traffic_loc${suffix}` };
}

/** A location filter as continents, when each of its lists is empty or whole continents. */
function asContinents(f: Filter<string>): Filter<string> | undefined {
  const include = f.include.length ? continentsCovering(f.include) : [];
  const exclude = f.exclude.length ? continentsCovering(f.exclude) : [];
  return include && exclude ? { include, exclude } : undefined;
}

/**
 * Where one timeseries series reads from, as `FROM …` with columns `time` and the metric; rollups
 * from `src` ({@link sourcesOf}: their materialized rows when the window ends below the watermark). A series
 * that only excludes (`asn=-174`, `location=-US`) would read every other key from the keyed
 * rollup; it reads the series total instead, minus the excluded keys (a handful of rows), so the
 * cost follows the points. Sums stay exact: integers below 2^53.
 * @example
 * sql`SELECT ${bucketTime(ms)} AS t, ${metricSum(q)} AS v FROM ${seriesFrom(s, q, period)} GROUP BY 1`
 */
export function seriesFrom(
  s: SeriesSpec,
  q: Pick<ParsedQuery, 'direction' | 'metric'>,
  of: Period,
  src: Sources = VIEWS,
): SQL {
  const period = of.name;
  const onlyAsnExcluded =
    s.asn.include.length === 0 &&
    s.asn.exclude.length > 0 &&
    !s.location.include.length &&
    !s.location.exclude.length;
  const onlyLocationExcluded =
    s.location.include.length === 0 &&
    s.location.exclude.length > 0 &&
    !s.asn.include.length &&
    !s.asn.exclude.length;
  const m = sql.raw(q.metric);
  if (period === 'traffic' || !(onlyAsnExcluded || onlyLocationExcluded))
    return sql`(SELECT time, ${m} FROM ${rowsOf(of, s, q, undefined, src)}) w`;
  const none = { include: [], exclude: [] };
  const everything: SeriesSpec = { ...s, asn: none, location: none };
  const excluded: SeriesSpec = onlyAsnExcluded
    ? { ...everything, asn: { include: s.asn.exclude, exclude: [] } }
    : { ...everything, location: { include: s.location.exclude, exclude: [] } };
  return sql`(SELECT time, ${m} FROM ${rowsOf(of, everything, q, undefined, src)}
    UNION ALL
    SELECT time, -${m} AS ${m} FROM ${rowsOf(of, excluded, q, undefined, src)}) w`;
}

/** [period, start, end) pieces tiling a window: whole days, then whole hours, then minutes. */
function tile(start: number, end: number, level = 0): [Period, number, number][] {
  const t = TABLES[level]!;
  if (level === TABLES.length - 1) return start < end ? [[t, start, end]] : [];
  const a = Math.ceil(start / t.width) * t.width;
  const b = Math.floor(end / t.width) * t.width;
  if (a >= b) return tile(start, end, level + 1);
  return [...tile(start, a, level + 1), [t, a, b], ...tile(b, end, level + 1)];
}

/**
 * The rows of one series' window for a query without buckets (top, summary): whole days from the
 * daily rollups, whole hours from the hourly ones, the minutes at the edges from `traffic`, each
 * the smallest variant that keeps `groupBy`. A relative window (`7d` ends with the 15-minute bucket
 * holding now) then reads ~7 daily rows per key plus two partial days of hours and a few minutes,
 * not 10,080 minutes. Columns: `groupBy` (when given) and the metric.
 * @example
 * sql`SELECT asn, ${metricSum(q)} FROM ${windowRows(s, q, 'asn')} GROUP BY 1`
 */
export function windowRows(
  s: SeriesSpec,
  q: Pick<ParsedQuery, 'direction' | 'metric'>,
  groupBy?: GroupColumn,
  src: Sources = VIEWS,
): SQL {
  const cols = sql.raw(groupBy ? `${groupBy}, ${q.metric}` : q.metric);
  const parts = tile(s.start, s.end).map(
    ([period, a, b]) =>
      sql`SELECT ${cols} FROM ${rowsOf(period, { ...s, start: a, end: b }, q, groupBy, src)}`,
  );
  if (parts.length === 0) return sql`(SELECT ${cols} FROM traffic WHERE false) w`;
  return sql`(${unionAll(parts)}) w`;
}

const list = <T>(values: T[]) =>
  sql.join(
    values.map((v) => sql`${v}`),
    sql`, `,
  );

/**
 * The WHERE clause of one series: its window and its filters, ANDed; its locations as `continents`
 * when reading a continent rollup.
 */
export function whereOf(s: SeriesSpec, q: Pick<ParsedQuery, 'direction'>, continents?: Filter<string>): SQL {
  const conds: SQL[] = [
    sql`time >= ${new Date(s.start).toISOString()}::timestamptz`,
    sql`time < ${new Date(s.end).toISOString()}::timestamptz`,
  ];
  if (s.asn.include.length) conds.push(sql`asn IN (${list(s.asn.include)})`);
  if (s.asn.exclude.length) conds.push(sql`asn NOT IN (${list(s.asn.exclude)})`);
  if (continents) {
    if (continents.include.length) conds.push(sql`continent IN (${list(continents.include)})`);
    if (continents.exclude.length) conds.push(sql`continent NOT IN (${list(continents.exclude)})`);
  } else {
    if (s.location.include.length) conds.push(sql`location IN (${list(s.location.include)})`);
    if (s.location.exclude.length) conds.push(sql`location NOT IN (${list(s.location.exclude)})`);
  }
  if (s.product === 'HTTP') conds.push(sql`product = 'HTTP'`);
  if (q.direction) conds.push(sql`direction = ${q.direction}`);
  return sql.join(conds, sql` AND `);
}

/** sum() of the chosen metric as float8: exact below 2^53, and parsed alike by both drivers. */
export function metricSum(q: Pick<ParsedQuery, 'metric'>): SQL {
  return sql.raw(`sum(${q.metric})::float8`);
}

/** Bucket start in Unix ms, per row (the benchmark's naive queries; the API groups on {@link bucketTime}). */
export function bucketExpr(intervalMs: number): SQL {
  return sql`(extract(epoch from ${bucketTime(intervalMs)}) * 1000)::float8`;
}

/**
 * Bucket start as a timestamp, aligned like {@link floorTo}. Grouping on it and converting the
 * groups to Unix ms afterwards ({@link epochMs}) spares the numeric arithmetic of `extract` on
 * every row: a 7-day hourly series groups 672 rows into 168.
 */
export function bucketTime(intervalMs: number): SQL {
  return sql.raw(`time_bucket(INTERVAL '${intervalMs / 1000} seconds', time, TIMESTAMPTZ '2000-01-03')`);
}

/** A timestamp column as Unix ms, float8 (parsed alike by both drivers). */
export function epochMs(column: string): SQL {
  return sql.raw(`(extract(epoch from ${column}) * 1000)::float8`);
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
