/**
 * Rows of each series grouped by a dimension (AS, location, product), for /timeseries_groups (per
 * bucket) and /summary (over the whole window): the SQL that ranks and folds the groups, and the
 * checks of the dimension and its limit.
 */
import { type SQL, sql } from 'drizzle-orm';
import { getAdm1Names } from '../db/adm1-names.js';
import type { Database } from '../db/client.js';
import { type Sources, sourcesOf } from '../db/rollup-sources.js';
import { badParam } from '../errors.js';
import type { ParsedQuery, SeriesSpec } from './params.js';
import {
  DIMENSION_COLUMN,
  type Dimension,
  epochMs,
  GROUP_COLUMN,
  type Granularity,
  granularityFor,
  metricSum,
  seriesRowsAt,
  unionAll,
  windowRows,
} from './sql.js';

export const DIMENSIONS = ['ADM1', 'AS', 'LOCATION', 'PRODUCT'] as const;

/**
 * Validates a path dimension.
 * @example dimensionOf('as') // 'AS'
 */
export function dimensionOf(raw: string): Dimension {
  const upper = raw.toUpperCase();
  if (!(DIMENSIONS as readonly string[]).includes(upper))
    throw badParam('dimension', `expected one of ${DIMENSIONS.join(', ')}, got "${raw}"`);
  return upper as Dimension;
}

/** How many groups AS, LOCATION and ADM1 keep (`limitPerGroup`, default 10); PRODUCT has two, all kept. */
export function groupLimit(q: ParsedQuery, dim: Dimension): number | undefined {
  if (dim === 'PRODUCT') {
    if (q.limitPerGroup !== undefined)
      throw badParam('limitPerGroup', 'only for the high-cardinality dimensions AS, LOCATION and ADM1');
    return undefined;
  }
  return q.limitPerGroup ?? 10;
}

/**
 * Buckets of the top `limit` ASes or locations and of "other", in cost that follows the points:
 * the ranking reads the window tiled by days and hours (windowRows), the buckets read only the
 * ranked keys from the rollup that keeps the column, and "other" is the series total (from the
 * rollup without it) minus those keys, per bucket. Sums are exact integers in float8 (< 2^53),
 * so the difference is exact; an "other" of zero is left out, as when no other key had traffic.
 */
function rankedGroupsSelect(
  s: SeriesSpec,
  i: number,
  q: ParsedQuery,
  dim: 'AS' | 'LOCATION' | 'ADM1',
  limit: number,
  bucket: SQL,
  g: Granularity,
  src: Sources,
): SQL {
  const col = GROUP_COLUMN[dim];
  return sql`WITH ranked AS (
      SELECT ${sql.raw(col)} AS k FROM ${windowRows(s, q, col, src)} GROUP BY 1
       ORDER BY ${metricSum(q)} DESC, ${DIMENSION_COLUMN[dim]} LIMIT ${limit}),
    named AS (
      SELECT ${bucket} AS b, ${DIMENSION_COLUMN[dim]} AS g, ${metricSum(q)} AS v FROM ${seriesRowsAt(g, s, q, col, src)}
         AND ${sql.raw(col)} IN (SELECT k FROM ranked) GROUP BY 1, 2),
    total AS (SELECT ${bucket} AS b, ${metricSum(q)} AS v FROM ${seriesRowsAt(g, s, q, undefined, src)} GROUP BY 1)
    SELECT ${i}::int AS s, b, g, v FROM named
    UNION ALL
    SELECT ${i}::int AS s, t.b, 'other' AS g, (t.v - coalesce(n.v, 0))::float8 AS v
      FROM total t LEFT JOIN (SELECT b, sum(v) AS v FROM named GROUP BY b) n ON n.b = t.b
     WHERE t.v - coalesce(n.v, 0) <> 0`;
}

/**
 * Rows of one series grouped by a dimension, the top `limit` groups kept and the rest folded
 * into "other" inside the database, so a long tail never crosses the wire.
 */
function groupedSelect(
  s: SeriesSpec,
  i: number,
  q: ParsedQuery,
  dim: Dimension,
  limit: number | undefined,
  bucket: SQL | undefined,
  g: Granularity,
  src: Sources,
): SQL {
  if (bucket && limit !== undefined && dim !== 'PRODUCT')
    return rankedGroupsSelect(s, i, q, dim, limit, bucket, g, src);
  // Buckets need one table for the whole window; a summary (no buckets) tiles it (windowRows).
  const from = bucket
    ? seriesRowsAt(g, s, q, GROUP_COLUMN[dim], src)
    : windowRows(s, q, GROUP_COLUMN[dim], src);
  const b = bucket ?? sql.raw('0::float8');
  const base = sql`SELECT ${b} AS b, ${DIMENSION_COLUMN[dim]} AS g, ${metricSum(q)} AS v FROM ${from} GROUP BY 1, 2`;
  if (limit === undefined) return sql`SELECT ${i}::int AS s, b, g, v FROM (${base}) base`;
  return sql`WITH base AS (${base}),
    top AS (SELECT g FROM base GROUP BY g ORDER BY sum(v) DESC, g LIMIT ${limit})
    SELECT ${i}::int AS s, b, CASE WHEN g IN (SELECT g FROM top) THEN g ELSE 'other' END AS g, sum(v)::float8 AS v
      FROM base GROUP BY 2, 3`;
}

/** One group's value: series index `s`, bucket start `b` (Unix ms; 0 without buckets), group key `g`. */
export interface GroupRow {
  s: number;
  b: number;
  g: string;
  v: number;
}

/**
 * Every series' rows grouped by `dim`, per bucket of `bucket` ({@link bucketTime}) or, without it,
 * over the whole window; at most `limit` groups per series besides "other".
 * @example
 * await groupedRows(db, q, 'AS', 10, bucketTime(q.interval.ms)) // [{ s: 0, b: 1796133600000, g: 'AS174', v: 1200 }, …]
 */
export async function groupedRows(
  db: Database,
  q: ParsedQuery,
  dim: Dimension,
  limit: number | undefined,
  bucket: SQL | undefined,
): Promise<GroupRow[]> {
  const g = granularityFor(q.series, bucket ? q.interval.ms : undefined);
  const src = await sourcesOf(db)();
  // Buckets are grouped as timestamps ({@link bucketTime}) and only the groups become Unix ms.
  const b = bucket ? epochMs('b') : sql.raw('b');
  // ADM1 groups are the traffic located to a subdivision: the unknown one (0) is no group, and
  // shares are of located traffic.
  const series = dim === 'ADM1' ? q.series.map(locatedOnly) : q.series;
  const parts = series.map(
    (s, i) => sql`SELECT s, ${b} AS b, g, v FROM (${groupedSelect(s, i, q, dim, limit, bucket, g, src)}) p`,
  );
  const rows = await db.query<GroupRow>(unionAll(parts));
  return dim === 'ADM1' ? namedSubdivisions(db, rows) : rows;
}

/** A series restricted to traffic whose subdivision is known. */
function locatedOnly(s: SeriesSpec): SeriesSpec {
  return { ...s, geoId: { include: s.geoId.include, exclude: [...s.geoId.exclude, 0] } };
}

/**
 * ADM1 rows keyed by the subdivision's English name (adm1_names) instead of its GeoNames id, as
 * Radar keys ADM1 groups by name. Two subdivisions of one answer with the same name are told
 * apart by their country (`Limburg, BE` and `Limburg, NL`), then by id; a subdivision without a
 * known name is `geoId:<id>`, never a bare number: JSON engines put integer-like keys first,
 * losing the ranking order of the groups (as for `AS<n>`).
 */
async function namedSubdivisions(db: Database, rows: GroupRow[]): Promise<GroupRow[]> {
  const ids = [...new Set(rows.filter((r) => r.g !== 'other').map((r) => Number(r.g)))];
  const names = await getAdm1Names(db, ids);
  const label = new Map(ids.map((id) => [id, names.get(id)?.name ?? `geoId:${id}`]));
  const count = (of: Map<number, string>) => {
    const n = new Map<string, number>();
    for (const l of of.values()) n.set(l, (n.get(l) ?? 0) + 1);
    return n;
  };
  const byName = count(label);
  for (const id of ids) {
    const known = names.get(id);
    if (known && byName.get(known.name)! > 1 && known.country)
      label.set(id, `${known.name}, ${known.country}`);
  }
  const byLabel = count(label);
  for (const id of ids) if (byLabel.get(label.get(id)!)! > 1) label.set(id, `${label.get(id)} (${id})`);
  return rows.map((r) => (r.g === 'other' ? r : { ...r, g: label.get(Number(r.g))! }));
}

/**
 * Group keys of one series, largest total first, "other" last.
 * @example orderedGroups([{ g: 'other', v: 9 }, { g: 'PT', v: 1 }, { g: 'DE', v: 5 }]) // ['DE', 'PT', 'other']
 */
export function orderedGroups(rows: { g: string; v: number }[]): string[] {
  const totals = new Map<string, number>();
  for (const r of rows) totals.set(r.g, (totals.get(r.g) ?? 0) + r.v);
  return [...totals.entries()]
    .sort((a, b) => (a[0] === 'other' ? 1 : b[0] === 'other' ? -1 : b[1] - a[1] || a[0].localeCompare(b[0])))
    .map(([g]) => g);
}
