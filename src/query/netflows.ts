import { type SQL, sql } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { type Sources, sourcesOf } from '../db/rollup-sources.js';
import { ApiError, badParam, ErrorCode } from '../errors.js';
import { csvTitle, formatValue, toCsv } from './format.js';
import { countryName } from './geo.js';
import { type Meta, withMeta } from './meta.js';
import { normalizationOf, type ParsedQuery, type SeriesSpec } from './params.js';
import {
  bucketTime,
  DIMENSION_COLUMN,
  type Dimension,
  epochMs,
  type Granularity,
  granularityFor,
  metricSum,
  seriesFrom,
  seriesRowsAt,
  unionAll,
  windowRows,
} from './sql.js';
import { isoSeconds } from './time.js';

/** What an endpoint answers: a JSON `result`, or CSV text. */
export type Output = { result: Record<string, unknown> } | { csv: string };

export interface Caller {
  scopes: string[];
}

const hasScope = (caller: Caller, scope: string) =>
  caller.scopes.includes(scope) || caller.scopes.includes('admin');

/** Per series, the bucket starts it reports. */
function timestampsOf(q: ParsedQuery, i: number): number[] {
  const first = q.bucketStarts[i]!;
  return Array.from({ length: q.bucketCount }, (_, k) => first + k * q.interval.ms);
}

/** Values per series and bucket position, zero where a bucket has no traffic. */
async function seriesValues(db: Database, q: ParsedQuery): Promise<number[][]> {
  const bucket = bucketTime(q.interval.ms);
  const period = granularityFor(q.series, q.interval.ms);
  const src = await sourcesOf(db)();
  const parts = q.series.map(
    (s, i) =>
      sql`SELECT ${i}::int AS s, ${epochMs('t')} AS b, v FROM (
        SELECT ${bucket} AS t, ${metricSum(q)} AS v FROM ${seriesFrom(s, q, period, src)} GROUP BY 1) g`,
  );
  const rows = await db.query<{ s: number; b: number; v: number }>(unionAll(parts));
  const values = q.series.map(() => new Array<number>(q.bucketCount).fill(0));
  for (const r of rows) {
    const k = Math.round((r.b - q.bucketStarts[r.s]!) / q.interval.ms);
    if (k >= 0 && k < q.bucketCount) values[r.s]![k] = r.v;
  }
  return values;
}

/** The normalizations of /timeseries; each takes all series at once, so they stay comparable. */
export function normalizeSeries(values: number[][], method: string): (string | null)[][] {
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  for (const s of values)
    for (const v of s) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  switch (method) {
    case 'RAW_VALUES':
      return values.map((s) => s.map(formatValue));
    case 'MIN_MAX': {
      const range = max - min;
      return values.map((s) => s.map((v) => formatValue(range === 0 ? 0 : (v - min) / range)));
    }
    case 'PERCENTAGE_CHANGE': {
      const base = values[1]!;
      // A zero baseline has no percentage change: 0 when the value is 0 too, else null.
      const change = (v: number, b: number) =>
        b === 0 ? (v === 0 ? '0' : null) : formatValue((100 * (v - b)) / b);
      return values.map((s) => s.map((v, k) => change(v, base[k]!)));
    }
    default: {
      return values.map((s) => s.map((v) => formatValue(max === 0 ? 0 : v / max)));
    }
  }
}

const TIMESERIES_NORMALIZATIONS = ['MIN0_MAX', 'MIN_MAX', 'PERCENTAGE_CHANGE', 'RAW_VALUES'] as const;

/** GET /timeseries: one series per position, normalized together. */
export async function getTimeseries(db: Database, q: ParsedQuery, caller: Caller): Promise<Output> {
  const normalization = normalizationOf(q, TIMESERIES_NORMALIZATIONS, 'MIN0_MAX');
  if (normalization === 'RAW_VALUES' && !hasScope(caller, 'read:raw'))
    throw new ApiError(403, ErrorCode.AUTH, 'normalization=RAW_VALUES needs a token with scope read:raw');
  if (normalization === 'PERCENTAGE_CHANGE' && q.series.length !== 2)
    throw badParam(
      'normalization',
      `PERCENTAGE_CHANGE needs exactly two series (the second is the baseline), got ${q.series.length}`,
    );
  const [values, meta] = await withMeta(db, q, { normalization, withInterval: true }, () =>
    seriesValues(db, q),
  );
  const normalized = normalizeSeries(values, normalization);
  const stamps = q.series.map((_, i) => timestampsOf(q, i).map(isoSeconds));
  if (q.format === 'CSV')
    return {
      csv: toCsv(
        q.series.flatMap((s, i) => [
          { header: `${csvTitle(s.name)} timestamps`, cells: stamps[i]! },
          { header: `${csvTitle(s.name)} values`, cells: normalized[i]! },
        ]),
      ),
    };
  const result: Record<string, unknown> = { meta };
  q.series.forEach((s, i) => {
    result[s.name] = { timestamps: stamps[i], values: normalized[i] };
  });
  return { result };
}

export const DIMENSIONS = ['AS', 'LOCATION', 'PRODUCT'] as const;

/** Validates a path dimension; ADM1 is Radar's, but flowradar has no regions below countries. */
export function dimensionOf(raw: string): Dimension {
  const upper = raw.toUpperCase();
  if (upper === 'ADM1')
    throw badParam('dimension', 'ADM1 is not supported: flowradar locates traffic by country');
  if (!(DIMENSIONS as readonly string[]).includes(upper))
    throw badParam('dimension', `expected one of ${DIMENSIONS.join(', ')}, got "${raw}"`);
  return upper as Dimension;
}

function groupLimit(q: ParsedQuery, dim: Dimension): number | undefined {
  if (dim === 'PRODUCT') {
    if (q.limitPerGroup !== undefined)
      throw badParam('limitPerGroup', 'only for the high-cardinality dimensions AS and LOCATION');
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
  dim: 'AS' | 'LOCATION',
  limit: number,
  bucket: SQL,
  period: Granularity,
  src: Sources,
): SQL {
  const col = GROUP_COLUMN[dim];
  return sql`WITH ranked AS (
      SELECT ${sql.raw(col)} AS k FROM ${windowRows(s, q, col, src)} GROUP BY 1
       ORDER BY ${metricSum(q)} DESC, ${DIMENSION_COLUMN[dim]} LIMIT ${limit}),
    named AS (
      SELECT ${bucket} AS b, ${DIMENSION_COLUMN[dim]} AS g, ${metricSum(q)} AS v FROM ${seriesRowsAt(period, s, q, col, src)}
         AND ${sql.raw(col)} IN (SELECT k FROM ranked) GROUP BY 1, 2),
    total AS (SELECT ${bucket} AS b, ${metricSum(q)} AS v FROM ${seriesRowsAt(period, s, q, undefined, src)} GROUP BY 1)
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
  period: Granularity,
  src: Sources,
): SQL {
  if (bucket && limit !== undefined && dim !== 'PRODUCT')
    return rankedGroupsSelect(s, i, q, dim, limit, bucket, period, src);
  // Buckets need one table for the whole window; a summary (no buckets) tiles it (windowRows).
  const from = bucket
    ? seriesRowsAt(period, s, q, GROUP_COLUMN[dim], src)
    : windowRows(s, q, GROUP_COLUMN[dim], src);
  const b = bucket ?? sql.raw('0::float8');
  const base = sql`SELECT ${b} AS b, ${DIMENSION_COLUMN[dim]} AS g, ${metricSum(q)} AS v FROM ${from} GROUP BY 1, 2`;
  if (limit === undefined) return sql`SELECT ${i}::int AS s, b, g, v FROM (${base}) base`;
  return sql`WITH base AS (${base}),
    top AS (SELECT g FROM base GROUP BY g ORDER BY sum(v) DESC, g LIMIT ${limit})
    SELECT ${i}::int AS s, b, CASE WHEN g IN (SELECT g FROM top) THEN g ELSE 'other' END AS g, sum(v)::float8 AS v
      FROM base GROUP BY 2, 3`;
}

async function groupedRows(
  db: Database,
  q: ParsedQuery,
  dim: Dimension,
  limit: number | undefined,
  bucket: SQL | undefined,
) {
  const period = granularityFor(q.series, bucket ? q.interval.ms : undefined);
  const src = await sourcesOf(db)();
  // Buckets are grouped as timestamps ({@link bucketTime}) and only the groups become Unix ms.
  const b = bucket ? epochMs('b') : sql.raw('b');
  const parts = q.series.map(
    (s, i) =>
      sql`SELECT s, ${b} AS b, g, v FROM (${groupedSelect(s, i, q, dim, limit, bucket, period, src)}) p`,
  );
  return db.query<{ s: number; b: number; g: string; v: number }>(unionAll(parts));
}

/** Group keys of one series, largest total first, "other" last. */
function orderedGroups(rows: { g: string; v: number }[]): string[] {
  const totals = new Map<string, number>();
  for (const r of rows) totals.set(r.g, (totals.get(r.g) ?? 0) + r.v);
  return [...totals.entries()]
    .sort((a, b) => (a[0] === 'other' ? 1 : b[0] === 'other' ? -1 : b[1] - a[1] || a[0].localeCompare(b[0])))
    .map(([g]) => g);
}

/** GET /timeseries_groups/{dimension}: per bucket, the share (or scaled size) of each group. */
export async function getTimeseriesGroups(
  db: Database,
  q: ParsedQuery,
  dim: Dimension,
  _caller: Caller,
): Promise<Output> {
  const normalization = normalizationOf(q, ['PERCENTAGE', 'MIN0_MAX'] as const, 'PERCENTAGE');
  const limit = groupLimit(q, dim);
  const [rows, meta] = await withMeta(db, q, { normalization, withInterval: true }, () =>
    groupedRows(db, q, dim, limit, bucketTime(q.interval.ms)),
  );
  const perSeries = q.series.map((s, i) => {
    const mine = rows.filter((r) => r.s === i);
    const groups = orderedGroups(mine);
    const grid = new Map(groups.map((g) => [g, new Array<number>(q.bucketCount).fill(0)]));
    for (const r of mine) {
      const k = Math.round((r.b - q.bucketStarts[i]!) / q.interval.ms);
      if (k >= 0 && k < q.bucketCount) grid.get(r.g)![k] = r.v;
    }
    return { name: s.name, groups, grid, timestamps: timestampsOf(q, i).map(isoSeconds) };
  });
  // A loop, not Math.max(...values): groups × buckets × series can exceed the argument limit.
  let max = 0;
  for (const p of perSeries) for (const vs of p.grid.values()) for (const v of vs) if (v > max) max = v;
  const shaped = perSeries.map((p) => {
    const totals = new Array<number>(q.bucketCount).fill(0);
    for (const vs of p.grid.values())
      vs.forEach((v, k) => {
        totals[k]! += v;
      });
    const out: Record<string, string[]> = {};
    for (const [g, vs] of p.grid)
      out[g] = vs.map((v, k) =>
        formatValue(
          normalization === 'PERCENTAGE'
            ? totals[k] === 0
              ? 0
              : (100 * v) / totals[k]!
            : max === 0
              ? 0
              : v / max,
        ),
      );
    return { ...p, out };
  });
  if (q.format === 'CSV')
    return {
      csv: toCsv(
        shaped.flatMap((p) => [
          { header: `${csvTitle(p.name)} timestamps`, cells: p.timestamps },
          ...p.groups.map((g) => ({ header: `${csvTitle(p.name)} ${g}`, cells: p.out[g]! })),
        ]),
      ),
    };
  const result: Record<string, unknown> = { meta };
  for (const p of shaped) result[p.name] = { timestamps: p.timestamps, ...p.out };
  return { result };
}

function shares(rows: { g: string; v: number }[]): [string, string][] {
  const total = rows.reduce((a, r) => a + r.v, 0);
  return orderedGroups(rows).map((g) => {
    const v = rows.filter((r) => r.g === g).reduce((a, r) => a + r.v, 0);
    return [g, formatValue(total === 0 ? 0 : (100 * v) / total)];
  });
}

function summaryOutput(q: ParsedQuery, meta: Meta, entries: [string, string][][]): Output {
  if (q.format === 'CSV')
    return {
      csv: toCsv(
        q.series.flatMap((s, i) => [
          { header: `${csvTitle(s.name)} keys`, cells: entries[i]!.map(([k]) => k) },
          { header: `${csvTitle(s.name)} values`, cells: entries[i]!.map(([, v]) => v) },
        ]),
      ),
    };
  const result: Record<string, unknown> = { meta };
  q.series.forEach((s, i) => {
    result[s.name] = Object.fromEntries(entries[i]!);
  });
  return { result };
}

/** GET /summary/{dimension}: each group's share of the window's traffic, in percent. */
export async function getSummary(db: Database, q: ParsedQuery, dim: Dimension): Promise<Output> {
  const normalization = normalizationOf(q, ['PERCENTAGE'] as const, 'PERCENTAGE');
  const limit = groupLimit(q, dim);
  const [rows, meta] = await withMeta(db, q, { normalization, withInterval: false }, () =>
    groupedRows(db, q, dim, limit, undefined),
  );
  return summaryOutput(
    q,
    meta,
    q.series.map((_, i) => shares(rows.filter((r) => r.s === i))),
  );
}

/** GET /summary (deprecated by Radar): HTTP versus everything else, in percent. */
export async function getSummaryLegacy(db: Database, q: ParsedQuery): Promise<Output> {
  const [rows, meta] = await withMeta(db, q, { normalization: 'PERCENTAGE', withInterval: false }, () =>
    groupedRows(db, q, 'PRODUCT', undefined, undefined),
  );
  const entries = q.series.map((_, i): [string, string][] => {
    const mine = rows.filter((r) => r.s === i);
    const total = mine.reduce((a, r) => a + r.v, 0);
    const http = mine.filter((r) => r.g === 'HTTP').reduce((a, r) => a + r.v, 0);
    const pct = total === 0 ? 0 : (100 * http) / total;
    return [
      ['HTTP', formatValue(pct)],
      ['OTHER', formatValue(total === 0 ? 0 : 100 - pct)],
    ];
  });
  return summaryOutput(q, meta, entries);
}

const TOP_COLUMN = { AS: sql.raw('asn::text'), LOCATION: sql.raw('location::text') } as const;
/** The table column each dimension groups on, to pick a rollup that keeps it. */
const GROUP_COLUMN = { AS: 'asn', LOCATION: 'location', PRODUCT: 'product' } as const;

/** GET /top/ases and /top/locations: the largest remote parties, as shares of the series. */
export async function getTop(db: Database, q: ParsedQuery, dim: 'AS' | 'LOCATION'): Promise<Output> {
  const limit = q.limit ?? 5;
  const src = await sourcesOf(db)();
  const parts = q.series.map(
    (s, i) => sql`SELECT ${i}::int AS s, g, v, sum(v) OVER ()::float8 AS total FROM (
      SELECT ${TOP_COLUMN[dim]} AS g, ${metricSum(q)} AS v FROM ${windowRows(s, q, GROUP_COLUMN[dim], src)} GROUP BY 1
    ) x ORDER BY v DESC, g LIMIT ${limit}`,
  );
  const [rows, meta] = await withMeta(db, q, { normalization: 'PERCENTAGE', withInterval: false }, () =>
    db.query<{ s: number; g: string; v: number; total: number }>(unionAll(parts)),
  );
  const names =
    dim === 'AS' && rows.length > 0
      ? new Map(
          (
            await db.query<{ asn: number; name: string }>(
              sql`SELECT asn, name FROM asn_names WHERE asn IN (${sql.join(
                rows.map((r) => sql`${Number(r.g)}`),
                sql`, `,
              )})`,
            )
          ).map((r) => [r.asn, r.name]),
        )
      : new Map<number, string>();
  const entries = q.series.map((_, i) =>
    rows
      .filter((r) => r.s === i)
      .sort((a, b) => b.v - a.v || a.g.localeCompare(b.g))
      .map((r) => {
        const value = formatValue(r.total === 0 ? 0 : (100 * r.v) / r.total);
        return dim === 'AS'
          ? { clientASN: Number(r.g), clientASName: names.get(Number(r.g)) ?? `AS${r.g}`, value }
          : { clientCountryAlpha2: r.g, clientCountryName: countryName(r.g), value };
      }),
  );
  if (q.format === 'CSV')
    return {
      csv: toCsv(
        q.series.flatMap((s, i) => {
          const rowsOf = entries[i]! as unknown as Record<string, string | number>[];
          const keys =
            dim === 'AS'
              ? ['clientASN', 'clientASName', 'value']
              : ['clientCountryAlpha2', 'clientCountryName', 'value'];
          return keys.map((k) => ({ header: `${csvTitle(s.name)} ${k}`, cells: rowsOf.map((e) => e[k]!) }));
        }),
      ),
    };
  const result: Record<string, unknown> = { meta };
  q.series.forEach((s, i) => {
    result[s.name] = entries[i];
  });
  return { result };
}
