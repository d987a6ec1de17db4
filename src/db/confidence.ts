/**
 * What the database knows about the quality of the data in some windows: operator annotations, the
 * exporters' measured loss and unknown sampling, and the minutes an exporter reached several
 * collectors. src/query/meta.ts turns them into a response's `confidenceInfo`.
 */
import { type SQL, sql } from 'drizzle-orm';
import { type Sources, VIEWS } from './rollup-sources.js';

/** A window of time, Unix ms: start inclusive, end exclusive. */
export interface TimeWindow {
  start: number;
  end: number;
}

const HOUR_MS = 3_600_000;

const ts = (ms: number) => sql`${new Date(ms).toISOString()}::timestamptz`;

/** The windows as a union of disjoint [start, end) ranges, in time order. */
function mergedWindows(windows: readonly TimeWindow[]): [number, number][] {
  const sorted = windows.map((w) => [w.start, w.end] as [number, number]).sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [start, end] of sorted) {
    const last = merged.at(-1);
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

export interface AnnotationRow {
  description: string;
  start_ms: number;
  end_ms: number | null;
  event_type: string;
  linked_url: string;
  level: number;
}

/**
 * The operator annotations overlapping any of the windows (an open-ended one from its start on),
 * oldest first, at most 50: the statement, whose rows are {@link AnnotationRow}s.
 * @example
 * await db.query<AnnotationRow>(annotationsSql(q.series)) // [{ description: 'maintenance', start_ms: …, end_ms: null, level: 3, … }]
 */
export function annotationsSql(windows: readonly TimeWindow[]): SQL {
  const overlapsAny = sql.join(
    windows.map(
      (w) =>
        sql`(start_time < ${new Date(w.end).toISOString()}::timestamptz AND coalesce(end_time, start_time) >= ${new Date(w.start).toISOString()}::timestamptz)`,
    ),
    sql` OR `,
  );
  return sql`SELECT description, (extract(epoch from start_time) * 1000)::float8 AS start_ms,
                  (extract(epoch from end_time) * 1000)::float8 AS end_ms, event_type, linked_url, level
             FROM annotations WHERE ${overlapsAny}
             ORDER BY start_time LIMIT 50`;
}

/**
 * The minutes of exporter_minutes inside the union of the windows, read as whole hours from
 * exporter_hours wherever a window covers them and as minutes only at the edges: a year of data
 * quality is ~9k hourly rows per exporter instead of ~500k minutes. Windows are merged first, so a
 * minute in two overlapping windows counts once, as it would in one WHERE over the minutes.
 */
function qualityRows(windows: readonly TimeWindow[], src: Sources): SQL {
  const hours: SQL[] = [];
  let hoursEnd = Number.NEGATIVE_INFINITY;
  const minutes: SQL[] = [];
  for (const [start, end] of mergedWindows(windows)) {
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

export interface ExporterQualityRow {
  exporter: string;
  records: number;
  lost: number;
  unsampled: number;
  first_ms: number;
  last_ms: number;
}

/**
 * Per exporter with lost records or records of unknown sampling in the windows: its totals and the
 * span they come from, at most 50 exporters. Hours come from `src` (materialized rows below the
 * watermark, see rollup-sources.ts). The statement, whose rows are {@link ExporterQualityRow}s.
 * @example
 * await db.query<ExporterQualityRow>(exporterQualitySql(q.series, await sourcesOf(db)())) // [{ exporter: '192.0.2.1', records: 3630, lost: 120, … }]
 */
export function exporterQualitySql(windows: readonly TimeWindow[], src: Sources = VIEWS): SQL {
  return sql`SELECT exporter, sum(records)::float8 AS records, sum(lost_records)::float8 AS lost,
                 sum(unsampled_records)::float8 AS unsampled,
                 (extract(epoch from min(first_minute)) * 1000)::float8 AS first_ms,
                 (extract(epoch from max(last_minute)) * 1000 + 60000)::float8 AS last_ms
            FROM (${qualityRows(windows, src)}) m
           GROUP BY exporter HAVING sum(lost_records) > 0 OR sum(unsampled_records) > 0
           ORDER BY exporter LIMIT 50`;
}

export interface SplitMinutesRow {
  exporter: string;
  minutes: number;
  collectors: number;
  records: number;
  first_ms: number;
  last_ms: number;
}

/**
 * Per exporter, the minutes inside the windows that more than one collector received (a load
 * balancer splitting the exporter): their loss is unknown. Read from exporter_minutes through its
 * partial index on split minutes, so a window of clean minutes costs nothing. The statement, whose
 * rows are {@link SplitMinutesRow}s.
 * @example
 * await db.query<SplitMinutesRow>(splitMinutesSql(q.series)) // [{ exporter: '192.0.2.1', minutes: 3, collectors: 2, … }]
 */
export function splitMinutesSql(windows: readonly TimeWindow[]): SQL {
  const within = mergedWindows(windows).map(
    ([start, end]) => sql`(time >= ${ts(start)} AND time < ${ts(end)})`,
  );
  return sql`SELECT exporter, count(*)::float8 AS minutes, max(split)::float8 AS collectors,
                    sum(records)::float8 AS records,
                    (extract(epoch from min(time)) * 1000)::float8 AS first_ms,
                    (extract(epoch from max(time)) * 1000 + 60000)::float8 AS last_ms
               FROM exporter_minutes WHERE split > 0 AND (${sql.join(within, sql` OR `)})
              GROUP BY exporter ORDER BY exporter LIMIT 50`;
}
