import { sql } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import type { ParsedQuery } from './params.js';
import { isoSeconds } from './time.js';

export interface Annotation {
  dataSource: string;
  description: string;
  startDate: string;
  endDate: string;
  eventType: string;
  isInstantaneous: boolean;
  linkedUrl: string;
}

export interface Meta {
  aggInterval?: string;
  dateRange: { startTime: string; endTime: string }[];
  lastUpdated: string | null;
  normalization: string;
  units: { name: string; value: string }[];
  confidenceInfo: { level: number; annotations: Annotation[] };
}

/** Estimated loss above this share of records lowers the confidence level. */
export const LOSS_THRESHOLD = 0.01;

function overlapsAny(q: ParsedQuery, startCol: string, endCol: string) {
  return sql.join(
    q.series.map(
      (s) =>
        sql`(${sql.raw(startCol)} < ${new Date(s.end).toISOString()}::timestamptz AND coalesce(${sql.raw(endCol)}, ${sql.raw(startCol)}) >= ${new Date(s.start).toISOString()}::timestamptz)`,
    ),
    sql` OR `,
  );
}

/**
 * Data quality for the windows of a request: operator annotations overlapping them, and the
 * exporters whose estimated loss or unknown sampling makes the numbers less certain.
 */
async function confidenceOf(db: Database, q: ParsedQuery): Promise<Meta['confidenceInfo']> {
  const [notes, quality] = await Promise.all([
    db.query<{
      description: string;
      start_ms: number;
      end_ms: number | null;
      event_type: string;
      linked_url: string;
      level: number;
    }>(sql`SELECT description, (extract(epoch from start_time) * 1000)::float8 AS start_ms,
                  (extract(epoch from end_time) * 1000)::float8 AS end_ms, event_type, linked_url, level
             FROM annotations WHERE ${overlapsAny(q, 'start_time', 'end_time')}
             ORDER BY start_time LIMIT 50`),
    db.query<{
      exporter: string;
      records: number;
      lost: number;
      unsampled: number;
      first_ms: number;
      last_ms: number;
    }>(
      sql`SELECT exporter, sum(records)::float8 AS records, sum(lost_records)::float8 AS lost,
                 sum(unsampled_records)::float8 AS unsampled,
                 (extract(epoch from min(time)) * 1000)::float8 AS first_ms,
                 (extract(epoch from max(time)) * 1000 + 60000)::float8 AS last_ms
            FROM exporter_minutes WHERE ${overlapsAny(q, 'time', 'time')}
           GROUP BY exporter HAVING sum(lost_records) > 0 OR sum(unsampled_records) > 0
           ORDER BY exporter LIMIT 50`,
    ),
  ]);
  let level = 5;
  const annotations: Annotation[] = notes.map((n) => {
    level = Math.min(level, n.level);
    return {
      dataSource: 'ALL',
      description: n.description,
      startDate: isoSeconds(n.start_ms),
      endDate: isoSeconds(n.end_ms ?? n.start_ms),
      eventType: n.event_type,
      isInstantaneous: n.end_ms === null,
      linkedUrl: n.linked_url,
    };
  });
  for (const e of quality) {
    const lossShare = e.lost / (e.records + e.lost);
    const window = { startDate: isoSeconds(e.first_ms), endDate: isoSeconds(e.last_ms) };
    if (lossShare > LOSS_THRESHOLD) {
      level = Math.min(level, 3);
      annotations.push({
        dataSource: 'NET',
        eventType: 'PIPELINE',
        description: `exporter ${e.exporter}: an estimated ${(lossShare * 100).toFixed(1)}% of flow records lost (${e.lost} of ${e.records + e.lost})`,
        isInstantaneous: false,
        linkedUrl: '',
        ...window,
      });
    }
    if (e.unsampled > 0) {
      level = Math.min(level, 4);
      annotations.push({
        dataSource: 'NET',
        eventType: 'PIPELINE',
        description: `exporter ${e.exporter}: ${e.unsampled} flow records without a known sampling rate, scaled by the configured default`,
        isInstantaneous: false,
        linkedUrl: '',
        ...window,
      });
    }
  }
  return { level, annotations };
}

/** `meta` of every NetFlows response. */
export async function buildMeta(
  db: Database,
  q: ParsedQuery,
  opts: { normalization: string; withInterval: boolean; unit?: string },
): Promise<Meta> {
  const [last, confidenceInfo] = await Promise.all([
    db.query<{ ms: number | null }>(
      sql`SELECT (extract(epoch from max(time)) * 1000)::float8 AS ms FROM traffic`,
    ),
    confidenceOf(db, q),
  ]);
  const lastMs = last[0]?.ms ?? null;
  return {
    ...(opts.withInterval ? { aggInterval: q.interval.long } : {}),
    dateRange: q.series.map((s) => ({ startTime: isoSeconds(s.start), endTime: isoSeconds(s.end) })),
    lastUpdated: lastMs === null ? null : isoSeconds(lastMs),
    normalization: opts.normalization,
    units: [{ name: '*', value: opts.unit ?? q.metric }],
    confidenceInfo,
  };
}
