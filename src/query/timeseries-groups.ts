/** GET /timeseries_groups/{dimension}: per bucket, the share (or scaled size) of each group. */
import type { Database } from '../db/client.js';
import type { GroupsAnswer } from '../routes/schemas.js';
import { type Output, outputOf } from './format.js';
import { groupedRows, groupLimit, orderedGroups } from './groups.js';
import { withMeta, zeroBaselineNotes } from './meta.js';
import { checkPercentageChange, normalizeGroups } from './normalize.js';
import { bucketPosition, normalizationOf, type ParsedQuery, seriesBuckets } from './params.js';
import { bucketTime, type Dimension } from './sql.js';
import { isoSeconds } from './time.js';

/**
 * GET /timeseries_groups/{dimension}: per series and bucket, the share of each of its largest
 * groups (PERCENTAGE) or their size scaled by the largest value (MIN0_MAX); the rest is `other`.
 * @example
 * await getTimeseriesGroups(readDatabase(deps), parseQuery(params, 'groups', now), dimensionOf('AS'))
 */
export async function getTimeseriesGroups(
  db: Database,
  q: ParsedQuery,
  dim: Dimension,
): Promise<Output<GroupsAnswer>> {
  const normalization = normalizationOf(
    q,
    ['PERCENTAGE', 'MIN0_MAX', 'PERCENTAGE_CHANGE'] as const,
    'PERCENTAGE',
  );
  if (normalization === 'PERCENTAGE_CHANGE') checkPercentageChange(q.series.length);
  const limit = groupLimit(q, dim);
  const [rows, meta] = await withMeta(
    db,
    q,
    { normalization, withInterval: true, subdivisions: dim === 'ADM1' },
    () => groupedRows(db, q, dim, limit, bucketTime(q.interval.ms)),
  );
  const perSeries = q.series.map((_, i) => {
    const mine = rows.filter((r) => r.s === i);
    const groups = orderedGroups(mine);
    const grid = new Map(groups.map((g) => [g, new Array<number>(q.bucketCount).fill(0)]));
    for (const r of mine) {
      const k = bucketPosition(q, i, r.b);
      if (k !== undefined) grid.get(r.g)![k] = r.v;
    }
    return { groups, grid, timestamps: seriesBuckets(q, i).map(isoSeconds) };
  });
  const normalized = normalizeGroups(
    perSeries.map((p) => p.grid),
    normalization,
  );
  meta.confidenceInfo.annotations.push(...zeroBaselineNotes(q, normalized.zeroBaselines));
  return outputOf(
    q,
    meta,
    (i) => ({ timestamps: perSeries[i]!.timestamps, ...normalized.values[i]! }),
    (i, title) => [
      { header: `${title} timestamps`, cells: perSeries[i]!.timestamps },
      ...perSeries[i]!.groups.map((g) => ({ header: `${title} ${g}`, cells: normalized.values[i]![g]! })),
    ],
  );
}
