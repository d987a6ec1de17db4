/**
 * How far the data goes: what a response reports as `lastUpdated`, and what the response cache
 * keys its answers' validity on.
 */
import { sql } from 'drizzle-orm';
import type { Queryable } from './client.js';

/**
 * The newest minute in `traffic`, Unix ms, or null when it is empty. Asked first over the last two
 * days with a literal bound, so the planner opens only those chunks (planning over every chunk of a
 * long retention costs more than the answer); the whole table only when nothing is that recent.
 * @example
 * await getNewestMinute(db) // 1796136000000, i.e. 2026-12-01T14:40:00Z
 */
export async function getNewestMinute(db: Queryable): Promise<number | null> {
  const recent = new Date(Date.now() - 2 * 86_400_000).toISOString();
  const [row] = await db.query<{ ms: number | null }>(
    sql`SELECT (extract(epoch from max(time)) * 1000)::float8 AS ms FROM traffic WHERE time > ${recent}::timestamptz`,
  );
  if (row?.ms != null) return row.ms;
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
