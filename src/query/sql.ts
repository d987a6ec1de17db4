/**
 * The query planner: pieces of SQL that read a parsed request's series from the tables the rollup
 * catalogue (src/db/rollups.ts) describes. They stay in src/query, apart from src/db's data
 * access, because they are not statements of their own: each endpoint (timeseries.ts, groups.ts,
 * top.ts) composes its statement from them, and what they encode is the API's meaning of a series
 * (its window, filters, continents, exclusions, tiling), not the storage.
 */
import { type SQL, sql } from 'drizzle-orm';
import { type Sources, VIEWS } from '../db/rollup-sources.js';
import { type KeyColumn, TRAFFIC_MINUTES, TRAFFIC_WIDTHS, trafficRelation } from '../db/rollups.js';
import { MAX_STORED_ASN } from '../db/traffic.js';
import { continentsCovering } from './geo.js';
import type { Filter, ParsedQuery, SeriesSpec } from './params.js';
import { ORIGIN_MS } from './time.js';

/**
 * How coarse the rows a request reads are: the width of a rollup's buckets (a day, an hour, 15
 * minutes) or of the minute table's rows. Chosen once per request ({@link granularityFor}); each
 * series then reads the smallest table of that width that answers it ({@link seriesRowsAt}).
 */
export interface Granularity {
  widthMs: number;
}

/** Coarsest first, from the rollup catalogue; the minutes last, which every other width divides. */
const GRANULARITIES: readonly Granularity[] = TRAFFIC_WIDTHS.map((widthMs) => ({ widthMs }));
const MINUTES = GRANULARITIES.at(-1)!;

/**
 * The coarsest granularity whose rows divide the interval and whose row boundaries match every
 * window: then the rollup answers exactly what the raw table would, reading far fewer rows.
 * @example granularityFor(q.series, q.interval.ms).widthMs // 3_600_000 for a 7d@1h request
 */
export function granularityFor(series: SeriesSpec[], intervalMs: number | undefined): Granularity {
  return (
    GRANULARITIES.find(
      (g) =>
        (intervalMs === undefined || intervalMs % g.widthMs === 0) &&
        series.every((s) => (s.start - ORIGIN_MS) % g.widthMs === 0 && (s.end - ORIGIN_MS) % g.widthMs === 0),
    ) ?? MINUTES
  );
}

/**
 * One series' rows at a granularity, as `table WHERE …`: the smallest table of that width keeping
 * the columns the series filters or groups on (src/db/rollups.ts; product and direction are in
 * all), and the series' conditions on it. A location filter that is whole continents reads the
 * continent rollup when one answers. Conditions can be appended with `AND`.
 * @example
 * const g = granularityFor(q.series, q.interval.ms);
 * sql`SELECT asn, ${metricSum(q)} AS v FROM ${seriesRowsAt(g, s, q, 'asn')} GROUP BY 1` // traffic_asn_1h WHERE …
 */
export function seriesRowsAt(
  g: Granularity,
  s: SeriesSpec,
  q: Pick<ParsedQuery, 'direction'>,
  groupBy?: GroupColumn,
  src: Sources = VIEWS,
): SQL {
  const v = tableFor(g, s, groupBy);
  return sql`${sql.raw(src.table(v.table, s.end))} WHERE ${whereOf(s, q, v.continents)}`;
}

export type GroupColumn = 'asn' | 'location' | 'adm1' | 'product';

/**
 * Of one granularity's tables, the smallest keeping the columns a series filters or groups on (the
 * minutes when none of that width does); for a continent rollup, the series' locations as continents.
 */
function tableFor(
  g: Granularity,
  s: SeriesSpec,
  groupBy?: GroupColumn,
): { table: string; continents?: Filter<string> } {
  const asn = groupBy === 'asn' || s.asn.include.length > 0 || s.asn.exclude.length > 0;
  const location = groupBy === 'location' || s.location.include.length > 0 || s.location.exclude.length > 0;
  const adm1 = groupBy === 'adm1' || s.geoId.include.length > 0 || s.geoId.exclude.length > 0;
  const keys: KeyColumn[] = asn ? ['asn'] : [];
  if (adm1) keys.push('adm1');
  const continents = location && groupBy !== 'location' ? asContinents(s.location) : undefined;
  if (continents) {
    const byContinent = trafficRelation(g.widthMs, [...keys, 'continent']);
    if (byContinent) return { table: byContinent.name, continents };
  }
  if (location) keys.push('location');
  return { table: (trafficRelation(g.widthMs, keys) ?? TRAFFIC_MINUTES).name };
}

/** A location filter as continents, when each of its lists is empty or whole continents. */
function asContinents(f: Filter<string>): Filter<string> | undefined {
  const include = f.include.length ? continentsCovering(f.include) : [];
  const exclude = f.exclude.length ? continentsCovering(f.exclude) : [];
  return include && exclude ? { include, exclude } : undefined;
}

/**
 * Where one timeseries series reads from, as `FROM …` with columns `time` and the metric. The
 * window is tiled like {@link windowRows}, but only by widths that divide the interval, so every
 * row still falls in one bucket: a 7d@1h window ending at :45 reads its whole hours from the hourly
 * rollups and only its edge quarters from the 15-minute ones (or the minutes, when no 15-minute
 * rollup keeps the series' keys: AS and location together), not the whole week at 15 minutes.
 * Rollups come from `src` ({@link sourcesOf}: their materialized rows when a tile ends below the
 * watermark). A series that only excludes (`asn=-174`, `location=-US`, `geoId=-2267056`) would
 * read every other key from the keyed rollup; it reads the series total instead, minus the
 * excluded keys (a handful of rows), so the cost follows the points. Sums stay exact: integers
 * below 2^53.
 * @example
 * sql`SELECT ${bucketTime(ms)} AS t, ${metricSum(q)} AS v FROM ${seriesFrom(s, q, ms)} GROUP BY 1`
 */
export function seriesFrom(
  s: SeriesSpec,
  q: Pick<ParsedQuery, 'direction' | 'metric'>,
  intervalMs: number,
  src: Sources = VIEWS,
): SQL {
  // The one filter that only excludes, when the series has no other.
  const filters = (['asn', 'location', 'geoId'] as const).filter(
    (k) => s[k].include.length > 0 || s[k].exclude.length > 0,
  );
  const onlyExcluded = filters.length === 1 && s[filters[0]!].include.length === 0 ? filters[0] : undefined;
  const m = sql.raw(q.metric);
  const parts = tile(
    s.start,
    s.end,
    GRANULARITIES.findIndex((g) => intervalMs % g.widthMs === 0),
  ).flatMap(([g, start, end]): SQL[] => {
    const within = { ...s, start, end };
    if (g === MINUTES || onlyExcluded === undefined)
      return [sql`SELECT time, ${m} FROM ${seriesRowsAt(g, within, q, undefined, src)}`];
    const none = { include: [], exclude: [] };
    const everything: SeriesSpec = { ...within, asn: none, location: none, geoId: none };
    const excluded: SeriesSpec = {
      ...everything,
      [onlyExcluded]: { include: s[onlyExcluded].exclude, exclude: [] },
    };
    return [
      sql`SELECT time, ${m} FROM ${seriesRowsAt(g, everything, q, undefined, src)}`,
      sql`SELECT time, -${m} AS ${m} FROM ${seriesRowsAt(g, excluded, q, undefined, src)}`,
    ];
  });
  if (parts.length === 0) return sql`(SELECT time, ${m} FROM traffic WHERE false) w`;
  return sql`(${unionAll(parts)}) w`;
}

/**
 * [granularity, start, end) pieces tiling a window: whole days, then whole hours, then quarters,
 * then minutes, starting at GRANULARITIES[level] (a timeseries starts at the coarsest width that
 * divides its interval).
 */
function tile(start: number, end: number, level = 0): [Granularity, number, number][] {
  const g = GRANULARITIES[level]!;
  if (g === MINUTES) return start < end ? [[g, start, end]] : [];
  const a = Math.ceil(start / g.widthMs) * g.widthMs;
  const b = Math.floor(end / g.widthMs) * g.widthMs;
  if (a >= b) return tile(start, end, level + 1);
  return [...tile(start, a, level + 1), [g, a, b], ...tile(b, end, level + 1)];
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
    ([g, a, b]) => sql`SELECT ${cols} FROM ${seriesRowsAt(g, { ...s, start: a, end: b }, q, groupBy, src)}`,
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
  // An AS number the tables cannot hold matches no row (and would not bind to the column).
  const asns = s.asn.include.filter((a) => a <= MAX_STORED_ASN);
  const notAsns = s.asn.exclude.filter((a) => a <= MAX_STORED_ASN);
  if (s.asn.include.length) conds.push(asns.length ? sql`asn IN (${list(asns)})` : sql`false`);
  if (notAsns.length) conds.push(sql`asn NOT IN (${list(notAsns)})`);
  if (s.geoId.include.length) conds.push(sql`adm1 IN (${list(s.geoId.include)})`);
  if (s.geoId.exclude.length) conds.push(sql`adm1 NOT IN (${list(s.geoId.exclude)})`);
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
  /** The GeoNames id; groups.ts turns it into the subdivision's name. */
  ADM1: sql.raw('adm1::text'),
  PRODUCT: sql.raw('product'),
} as const;
export type Dimension = keyof typeof DIMENSION_COLUMN;

/** The table column each dimension groups on, to pick a rollup that keeps it. */
export const GROUP_COLUMN = {
  AS: 'asn',
  LOCATION: 'location',
  ADM1: 'adm1',
  PRODUCT: 'product',
} as const satisfies Record<Dimension, GroupColumn>;
