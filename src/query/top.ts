/** GET /top/ases and /top/locations: the largest remote parties, as shares of each series. */
import { sql } from 'drizzle-orm';
import { getAsnNames } from '../db/asn-names.js';
import type { Database } from '../db/client.js';
import { sourcesOf } from '../db/rollup-sources.js';
import { formatValue, type Output, outputOf } from './format.js';
import { countryName } from './geo.js';
import { withMeta } from './meta.js';
import type { ParsedQuery } from './params.js';
import { GROUP_COLUMN, metricSum, unionAll, windowRows } from './sql.js';

/** The key of an entry as text: the AS number, or the country code. */
const TOP_COLUMN = { AS: sql.raw('asn::text'), LOCATION: sql.raw('location::text') } as const;

/** The fields of an entry, in the order CSV shows them. */
const FIELDS = {
  AS: ['clientASN', 'clientASName', 'value'],
  LOCATION: ['clientCountryAlpha2', 'clientCountryName', 'value'],
} as const;

/**
 * GET /top/ases and /top/locations: per series, its `limit` largest ASes or locations (default 5)
 * and each one's share of the series' traffic, in percent.
 * @example
 * await getTop(readDatabase(deps), parseQuery(params, 'top', now), 'AS')
 */
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
    dim === 'AS'
      ? await getAsnNames(
          db,
          rows.map((r) => Number(r.g)),
        )
      : new Map<number, string>();
  const entries = q.series.map((_, i) =>
    rows
      .filter((r) => r.s === i)
      .sort((a, b) => b.v - a.v || a.g.localeCompare(b.g))
      .map((r): Record<string, string | number> => {
        const value = formatValue(r.total === 0 ? 0 : (100 * r.v) / r.total);
        return dim === 'AS'
          ? { clientASN: Number(r.g), clientASName: names.get(Number(r.g)) ?? `AS${r.g}`, value }
          : { clientCountryAlpha2: r.g, clientCountryName: countryName(r.g), value };
      }),
  );
  return outputOf(
    q,
    meta,
    (i) => entries[i],
    (i, title) => FIELDS[dim].map((k) => ({ header: `${title} ${k}`, cells: entries[i]!.map((e) => e[k]!) })),
  );
}
