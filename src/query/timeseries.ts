/** GET /timeseries: one series per position, normalized together. */
import { sql } from 'drizzle-orm';
import { type Caller, grants } from '../auth/scopes.js';
import type { Database } from '../db/client.js';
import { sourcesOf } from '../db/rollup-sources.js';
import { ApiError } from '../errors.js';
import type { TimeseriesAnswer } from '../routes/schemas.js';
import { type Output, outputOf } from './format.js';
import { withMeta, zeroBaselineNotes } from './meta.js';
import { checkPercentageChange, normalizeSeries } from './normalize.js';
import { bucketPosition, normalizationOf, type ParsedQuery, seriesBuckets } from './params.js';
import { bucketTime, epochMs, metricSum, seriesFrom, unionAll } from './sql.js';
import { isoSeconds } from './time.js';

export const TIMESERIES_NORMALIZATIONS = ['MIN0_MAX', 'MIN_MAX', 'PERCENTAGE_CHANGE', 'RAW_VALUES'] as const;
export type TimeseriesNormalization = (typeof TIMESERIES_NORMALIZATIONS)[number];

/**
 * The request's normalization, checked against what it needs: a comparison needs exactly two
 * series. The API and embed links (which sign a request only if the API would answer it) share it.
 * @example timeseriesNormalization(parseQuery(params, 'timeseries', now)) // 'MIN0_MAX'
 */
export function timeseriesNormalization(q: ParsedQuery): TimeseriesNormalization {
  const normalization = normalizationOf(q, TIMESERIES_NORMALIZATIONS, 'MIN0_MAX');
  if (normalization === 'PERCENTAGE_CHANGE') checkPercentageChange(q.series.length);
  return normalization;
}

/** Values per series and bucket position, zero where a bucket has no traffic. */
async function seriesValues(db: Database, q: ParsedQuery): Promise<number[][]> {
  const bucket = bucketTime(q.interval.ms);
  const src = await sourcesOf(db)();
  const parts = q.series.map(
    (s, i) =>
      sql`SELECT ${i}::int AS s, ${epochMs('t')} AS b, v FROM (
        SELECT ${bucket} AS t, ${metricSum(q)} AS v FROM ${seriesFrom(s, q, q.interval.ms, src)} GROUP BY 1) g`,
  );
  const rows = await db.query<{ s: number; b: number; v: number }>(unionAll(parts));
  const values = q.series.map(() => new Array<number>(q.bucketCount).fill(0));
  for (const r of rows) {
    const k = bucketPosition(q, r.s, r.b);
    if (k !== undefined) values[r.s]![k] = r.v;
  }
  return values;
}

/**
 * GET /timeseries: one series per position, normalized together. RAW_VALUES needs scope read:raw.
 * @example
 * await getTimeseries(readDatabase(deps), parseQuery(params, 'timeseries', now), c.var.caller)
 */
export async function getTimeseries(
  db: Database,
  q: ParsedQuery,
  caller: Pick<Caller, 'scopes'>,
): Promise<Output<TimeseriesAnswer>> {
  const normalization = timeseriesNormalization(q);
  if (normalization === 'RAW_VALUES' && !grants(caller.scopes, 'read:raw'))
    throw new ApiError('FORBIDDEN', 'normalization=RAW_VALUES needs a token with scope read:raw');
  const [values, meta] = await withMeta(db, q, { normalization, withInterval: true }, () =>
    seriesValues(db, q),
  );
  const normalized = normalizeSeries(values, normalization);
  meta.confidenceInfo.annotations.push(...zeroBaselineNotes(q, normalized.zeroBaselines));
  const stamps = q.series.map((_, i) => seriesBuckets(q, i).map(isoSeconds));
  return outputOf(
    q,
    meta,
    (i) => ({ timestamps: stamps[i]!, values: normalized.values[i]! }),
    (i, title) => [
      { header: `${title} timestamps`, cells: stamps[i]! },
      { header: `${title} values`, cells: normalized.values[i]! },
    ],
  );
}
