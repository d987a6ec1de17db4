/** GET /top/ases and /top/locations: the largest remote parties, as shares of each series. */
import { sql } from 'drizzle-orm';
import { getAsnNames } from '../db/asn-names.js';
import type { Database } from '../db/client.js';
import { sourcesOf } from '../db/rollup-sources.js';
import type { TopAsesAnswer, TopLocationsAnswer } from '../routes/schemas.js';
import { formatValue, type Output, outputOf } from './format.js';
import { countryName } from './geo.js';
import { withMeta } from './meta.js';
import type { ParsedQuery } from './params.js';
import { GROUP_COLUMN, metricSum, unionAll, windowRows } from './sql.js';

/** The key of an entry as text: the AS number, or the country code. */
const TOP_COLUMN = { AS: sql.raw('asn::text'), LOCATION: sql.raw('location::text') } as const;

/**
 * GET /top/ases and /top/locations: per series, its `limit` largest ASes or locations (default 5)
 * and each one's share of the series' traffic, in percent.
 * @example
 * await getTop(readDatabase(deps), parseQuery(params, 'top', now), 'AS')
 */
export async function getTop(db: Database, q: ParsedQuery, dim: 'AS'): Promise<Output<TopAsesAnswer>>;
export async function getTop(
  db: Database,
  q: ParsedQuery,
  dim: 'LOCATION',
): Promise<Output<TopLocationsAnswer>>;
export async function getTop(
  db: Database,
  q: ParsedQuery,
  dim: 'AS' | 'LOCATION',
): Promise<Output<TopAsesAnswer> | Output<TopLocationsAnswer>> {
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
  const ranked = q.series.map((_, i) =>
    rows
      .filter((r) => r.s === i)
      .sort((a, b) => b.v - a.v || a.g.localeCompare(b.g))
      .map((r) => ({ key: r.g, value: formatValue(r.total === 0 ? 0 : (100 * r.v) / r.total) })),
  );
  // The fields of an entry, in the order CSV shows them.
  const columns =
    <E extends Record<string, string | number>>(entries: E[][], fields: (keyof E & string)[]) =>
    (i: number, title: string) =>
      fields.map((k) => ({ header: `${title} ${k}`, cells: entries[i]!.map((e) => e[k]!) }));
  if (dim === 'AS') {
    const names = await getAsnNames(
      db,
      rows.map((r) => Number(r.g)),
    );
    const entries = ranked.map((es) =>
      es.map(({ key, value }) => ({
        clientASN: Number(key),
        clientASName: names.get(Number(key)) ?? `AS${key}`,
        value,
      })),
    );
    return outputOf(q, meta, (i) => entries[i]!, columns(entries, ['clientASN', 'clientASName', 'value']));
  }
  const entries = ranked.map((es) =>
    es.map(({ key, value }) => ({ clientCountryAlpha2: key, clientCountryName: countryName(key), value })),
  );
  return outputOf(
    q,
    meta,
    (i) => entries[i]!,
    columns(entries, ['clientCountryAlpha2', 'clientCountryName', 'value']),
  );
}
