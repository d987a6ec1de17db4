/**
 * How far the data goes: what a response reports as `lastUpdated`, and what the response cache
 * keys its answers' validity on.
 */
import { type SQL, sql } from 'drizzle-orm';
import type { Queryable } from './client.js';

/**
 * The newest minute in `traffic` over the last two days, Unix ms (NULL when none), as a scalar
 * subquery to select beside other things. The bound is a literal of now, so TimescaleDB opens only
 * those days' chunks (planning or starting a read over every chunk of a long retention costs more
 * than the answer).
 * @example sql`SELECT ${recentNewestMinuteSql()} AS newest`
 */
export function recentNewestMinuteSql(): SQL {
  const recent = new Date(Date.now() - 2 * 86_400_000).toISOString();
  return sql`(SELECT (extract(epoch from max(time)) * 1000)::float8 FROM traffic WHERE time > ${recent}::timestamptz)`;
}

/**
 * The newest minute in `traffic`, Unix ms, or null when it is empty: over the last two days first
 * ({@link recentNewestMinuteSql}), the whole table only when nothing is that recent. `recent` is
 * that first read when the caller made it in a statement of its own.
 * @example
 * await getNewestMinute(db) // 1796136000000, i.e. 2026-12-01T14:40:00Z
 */
export async function getNewestMinute(db: Queryable, recent?: number | null): Promise<number | null> {
  if (recent === undefined) {
    const [row] = await db.query<{ ms: number | null }>(sql`SELECT ${recentNewestMinuteSql()} AS ms`);
    recent = row?.ms ?? null;
  }
  if (recent !== null) return recent;
  const [all] = await db.query<{ ms: number | null }>(
    sql`SELECT (extract(epoch from max(time)) * 1000)::float8 AS ms FROM traffic`,
  );
  return all?.ms ?? null;
}

/**
 * A string that changes whenever traffic lands: the newest minute of the last day (bounded, so
 * TimescaleDB plans one chunk, not all of them), the newest exporter report (every collector batch
 * touches `exporters`, late minutes included), the newest annotation with their count, and the
 * latest change of a traffic anomaly (a verified one is annotated in confidenceInfo) (NULLs are
 * left out, so it is '0' on an empty database).
 * @example
 * await getDataWatermark(db) // '2026-12-01 14:40:00+00|2026-12-01 14:40:12.3+00|0'
 */
export async function getDataWatermark(db: Queryable): Promise<string> {
  const [row] = await db.query<{ w: string }>(
    sql`SELECT concat_ws('|', (SELECT max(time) FROM traffic WHERE time > now() - INTERVAL '1 day'),
                (SELECT max(last_seen) FROM exporters),
                (SELECT max(created_at) FROM annotations), (SELECT count(*) FROM annotations),
                (SELECT max(updated_at) FROM traffic_anomalies)) AS w`,
  );
  return row?.w ?? '';
}
