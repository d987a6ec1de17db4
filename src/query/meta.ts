import { type SQL, sql } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import type { ParsedQuery } from './params.js';
import { type Sources, sourcesOf } from './sources.js';
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

const HOUR_MS = 3_600_000;

/** The request's windows as a union of disjoint [start, end) ranges, in time order. */
function mergedWindows(q: ParsedQuery): [number, number][] {
  const windows = q.series.map((s) => [s.start, s.end] as [number, number]).sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [start, end] of windows) {
    const last = merged.at(-1);
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

const ts = (ms: number) => sql`${new Date(ms).toISOString()}::timestamptz`;

/**
 * Per exporter, the minutes inside the request's windows that more than one collector received
 * (a load balancer splitting the exporter): their loss is unknown. Read from exporter_minutes
 * through its partial index on split minutes, so a window of clean minutes costs nothing.
 */
function splitMinutes(q: ParsedQuery): SQL {
  const windows = mergedWindows(q).map(([start, end]) => sql`(time >= ${ts(start)} AND time < ${ts(end)})`);
  return sql`SELECT exporter, count(*)::float8 AS minutes, max(split)::float8 AS collectors,
                    sum(records)::float8 AS records,
                    (extract(epoch from min(time)) * 1000)::float8 AS first_ms,
                    (extract(epoch from max(time)) * 1000 + 60000)::float8 AS last_ms
               FROM exporter_minutes WHERE split > 0 AND (${sql.join(windows, sql` OR `)})
              GROUP BY exporter ORDER BY exporter LIMIT 50`;
}

/**
 * The minutes of exporter_minutes inside the union of the request's windows, read as whole hours
 * from exporter_hours wherever a window covers them and as minutes only at the edges: a year of
 * data quality is ~9k hourly rows per exporter instead of ~500k minutes. Windows are merged first,
 * so a minute in two overlapping windows counts once, as it would in one WHERE over the minutes.
 */
function qualityRows(q: ParsedQuery, src: Sources): SQL {
  const merged = mergedWindows(q);
  const hours: SQL[] = [];
  let hoursEnd = Number.NEGATIVE_INFINITY;
  const minutes: SQL[] = [];
  for (const [start, end] of merged) {
    const h0 = Math.ceil(start / HOUR_MS) * HOUR_MS;
    const h1 = Math.floor(end / HOUR_MS) * HOUR_MS;
    if (h0 < h1) {
      hours.push(sql`(time >= ${ts(h0)} AND time < ${ts(h1)})`);
      hoursEnd = Math.max(hoursEnd, h1);
      if (start < h0) minutes.push(sql`(time >= ${ts(start)} AND time < ${ts(h0)})`);
      if (h1 < end) minutes.push(sql`(time >= ${ts(h1)} AND time < ${ts(end)})`);
    } else minutes.push(sql`(time >= ${ts(start)} AND time < ${ts(end)})`);
  }
  const parts: SQL[] = [];
  if (hours.length)
    parts.push(sql`SELECT exporter, records, lost_records, unsampled_records, first_minute, last_minute
      FROM ${sql.raw(src.table('exporter_hours', hoursEnd))} WHERE ${sql.join(hours, sql` OR `)}`);
  if (minutes.length)
    parts.push(sql`SELECT exporter, records, lost_records, unsampled_records, time AS first_minute, time AS last_minute
      FROM exporter_minutes WHERE ${sql.join(minutes, sql` OR `)}`);
  return sql.join(parts, sql` UNION ALL `);
}

/**
 * Data quality for the windows of a request: operator annotations overlapping them, and the
 * exporters whose estimated loss or unknown sampling makes the numbers less certain, or whose
 * datagrams reached several collectors (loss unknown there).
 */
async function confidenceOf(db: Database, q: ParsedQuery): Promise<Meta['confidenceInfo']> {
  const src = await sourcesOf(db)();
  const [notes, quality, split] = await Promise.all([
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
                 (extract(epoch from min(first_minute)) * 1000)::float8 AS first_ms,
                 (extract(epoch from max(last_minute)) * 1000 + 60000)::float8 AS last_ms
            FROM (${qualityRows(q, src)}) m
           GROUP BY exporter HAVING sum(lost_records) > 0 OR sum(unsampled_records) > 0
           ORDER BY exporter LIMIT 50`,
    ),
    db.query<{
      exporter: string;
      minutes: number;
      collectors: number;
      records: number;
      first_ms: number;
      last_ms: number;
    }>(splitMinutes(q)),
  ]);
  const splitOf = new Map(split.map((s) => [s.exporter, s]));
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
    // Loss is a share of the minutes where it was measured: split minutes have none, by rule.
    const measured = Math.max(0, e.records - (splitOf.get(e.exporter)?.records ?? 0));
    const lossShare = e.lost > 0 ? e.lost / (measured + e.lost) : 0;
    const window = { startDate: isoSeconds(e.first_ms), endDate: isoSeconds(e.last_ms) };
    if (lossShare > LOSS_THRESHOLD) {
      level = Math.min(level, 3);
      annotations.push({
        dataSource: 'NET',
        eventType: 'PIPELINE',
        description: `exporter ${e.exporter}: an estimated ${(lossShare * 100).toFixed(1)}% of flow records lost (${e.lost} of ${measured + e.lost})`,
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
  for (const s of split) {
    level = Math.min(level, 4);
    annotations.push({
      dataSource: 'NET',
      eventType: 'PIPELINE',
      description: `exporter ${s.exporter}: datagrams reached ${s.collectors} collectors in ${s.minutes} minute${s.minutes === 1 ? '' : 's'}; loss is not measured there (hash by exporter address on the load balancer)`,
      isInstantaneous: false,
      linkedUrl: '',
      startDate: isoSeconds(s.first_ms),
      endDate: isoSeconds(s.last_ms),
    });
  }
  return { level, annotations };
}

/**
 * The newest minute in `traffic`, Unix ms. Asked first over the last two days with a literal bound,
 * so the planner opens only those chunks (planning over every chunk of a long retention costs more
 * than the answer); the whole table only when nothing is that recent.
 */
async function lastMinute(db: Database): Promise<{ ms: number | null }[]> {
  const recent = new Date(Date.now() - 2 * 86_400_000).toISOString();
  const rows = await db.query<{ ms: number | null }>(
    sql`SELECT (extract(epoch from max(time)) * 1000)::float8 AS ms FROM traffic WHERE time > ${recent}::timestamptz`,
  );
  if (rows[0]?.ms != null) return rows;
  return db.query<{ ms: number | null }>(
    sql`SELECT (extract(epoch from max(time)) * 1000)::float8 AS ms FROM traffic`,
  );
}

/**
 * Runs `answer` and builds the `meta` of its NetFlows response. lastUpdated is read before the
 * answer starts: on one server a later snapshot holds all an earlier one did, so every minute
 * lastUpdated names is in the answer (a minute landing in between shows in the answer and in the
 * next lastUpdated, never in lastUpdated alone). In parallel, either could be read first, and a
 * replica applying the primary's writes as it replays them would make that visible.
 * @example
 * const [values, meta] = await withMeta(db, q, { normalization, withInterval: true }, () => seriesValues(db, q));
 */
export async function withMeta<T>(
  db: Database,
  q: ParsedQuery,
  opts: { normalization: string; withInterval: boolean; unit?: string },
  answer: () => Promise<T>,
): Promise<[T, Meta]> {
  const [[value, last], confidenceInfo] = await Promise.all([
    lastMinute(db).then(async (last) => [await answer(), last] as const),
    confidenceOf(db, q),
  ]);
  const lastMs = last[0]?.ms ?? null;
  return [
    value,
    {
      ...(opts.withInterval ? { aggInterval: q.interval.long } : {}),
      dateRange: q.series.map((s) => ({ startTime: isoSeconds(s.start), endTime: isoSeconds(s.end) })),
      lastUpdated: lastMs === null ? null : isoSeconds(lastMs),
      normalization: opts.normalization,
      units: [{ name: '*', value: opts.unit ?? q.metric }],
      confidenceInfo,
    },
  ];
}
