/** GET /summary/{dimension} and the deprecated GET /summary: shares of the window's traffic. */
import type { Database } from '../db/client.js';
import type { SummaryAnswer } from '../routes/schemas.js';
import { formatValue, type Output, outputOf } from './format.js';
import { type GroupRow, groupedRows, groupLimit, orderedGroups } from './groups.js';
import { type Meta, withMeta } from './meta.js';
import { normalizationOf, type ParsedQuery } from './params.js';
import type { Dimension } from './sql.js';

/** Each group's share of the rows' total, in percent, largest first, "other" last. */
function shares(rows: { g: string; v: number }[]): [string, string][] {
  const total = rows.reduce((a, r) => a + r.v, 0);
  return orderedGroups(rows).map((g) => {
    const v = rows.filter((r) => r.g === g).reduce((a, r) => a + r.v, 0);
    return [g, formatValue(total === 0 ? 0 : (100 * v) / total)];
  });
}

function summaryOutput(q: ParsedQuery, meta: Meta, entries: [string, string][][]): Output<SummaryAnswer> {
  return outputOf(
    q,
    meta,
    (i) => Object.fromEntries(entries[i]!),
    (i, title) => [
      { header: `${title} keys`, cells: entries[i]!.map(([k]) => k) },
      { header: `${title} values`, cells: entries[i]!.map(([, v]) => v) },
    ],
  );
}

const seriesRows = (rows: GroupRow[], i: number) => rows.filter((r) => r.s === i);

/**
 * GET /summary/{dimension}: each group's share of the window's traffic, in percent.
 * @example
 * await getSummary(readDatabase(deps), parseQuery(params, 'summary', now), dimensionOf('PRODUCT'))
 */
export async function getSummary(
  db: Database,
  q: ParsedQuery,
  dim: Dimension,
): Promise<Output<SummaryAnswer>> {
  const normalization = normalizationOf(q, ['PERCENTAGE'] as const, 'PERCENTAGE');
  const limit = groupLimit(q, dim);
  const [rows, meta] = await withMeta(
    db,
    q,
    { normalization, withInterval: false, subdivisions: dim === 'ADM1' },
    () => groupedRows(db, q, dim, limit, undefined),
  );
  return summaryOutput(
    q,
    meta,
    q.series.map((_, i) => shares(seriesRows(rows, i))),
  );
}

/**
 * GET /summary (deprecated by Radar): HTTP versus everything else, in percent.
 * @example await getSummaryLegacy(readDatabase(deps), parseQuery(params, 'summary', now))
 */
export async function getSummaryLegacy(db: Database, q: ParsedQuery): Promise<Output<SummaryAnswer>> {
  const [rows, meta] = await withMeta(db, q, { normalization: 'PERCENTAGE', withInterval: false }, () =>
    groupedRows(db, q, 'PRODUCT', undefined, undefined),
  );
  const entries = q.series.map((_, i): [string, string][] => {
    const mine = seriesRows(rows, i);
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
