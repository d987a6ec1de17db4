/**
 * The collector's writes besides `traffic` (db/traffic.ts): batch ids claimed in `ingest_batches`,
 * per-exporter counters in `exporters`, per-minute data quality in `exporter_minutes`. Every
 * statement is an additive upsert in one key order, so several collectors may write at once
 * without deadlocks; exactly-once comes from running them in the transaction that claims the
 * batch ids (src/ingest/writer.ts `writeBatches`).
 */
import { sql } from 'drizzle-orm';
import type { Queryable } from './client.js';

/** Counters of one exporter accumulated since the last flush. */
export interface ExporterDelta {
  address: string;
  lastSeenMs: number;
  datagrams: number;
  records: number;
  lostRecords: number;
  unsampledRecords: number;
  errors: Record<string, number>;
  samplingRates: Record<string, number>;
  /** Collector id → last datagram received from this exporter (Unix ms); empty for HTTP ingest. */
  collectors: Record<string, number>;
}

/** Data quality of one exporter in one minute, read by the API for confidenceInfo. */
export interface ExporterMinuteDelta {
  minuteMs: number;
  exporter: string;
  /**
   * The collector whose sequence tracking measured `lostRecords`; '' when nothing was measured
   * (HTTP ingest): such a delta never reports loss and never makes a minute split.
   */
  collector: string;
  records: number;
  lostRecords: number;
  unsampledRecords: number;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Claims batch ids in `ingest_batches` (with their traffic row counts, and the span of minutes
 * they write, which the anomaly detector re-evaluates when it is old); returns the ids claimed
 * now. An id already there is not returned: that batch was written before and must be skipped.
 * @example
 * const fresh = await claimBatches(tx, [{ id: 'http:batch-0001', rows: 12 }]);
 */
export async function claimBatches(
  tx: Queryable,
  batches: { id: string; rows: number; firstMinuteMs?: number | null; lastMinuteMs?: number | null }[],
): Promise<Set<string>> {
  if (batches.length === 0) return new Set();
  const at = (ms: number | null | undefined) => (ms == null ? null : new Date(ms).toISOString());
  const claimed = await tx.query<{ id: string }>(
    sql`INSERT INTO ingest_batches (id, rows, first_minute, last_minute) VALUES ${sql.join(
      batches.map(
        (b) =>
          sql`(${b.id}, ${b.rows}, ${at(b.firstMinuteMs)}::timestamptz, ${at(b.lastMinuteMs)}::timestamptz)`,
      ),
      sql`, `,
    )} ON CONFLICT (id) DO NOTHING RETURNING id`,
  );
  return new Set(claimed.map((r) => r.id));
}

/** Merges two jsonb objects of ISO times key by key, keeping the later time. */
const latestTimes = (a: string, b: string) =>
  sql.raw(`(SELECT coalesce(jsonb_object_agg(key, latest), '{}'::jsonb) FROM (
     SELECT key, max(value) AS latest
       FROM (SELECT * FROM jsonb_each_text(${a}) UNION ALL SELECT * FROM jsonb_each_text(${b})) u
      GROUP BY key) s)`);

/** Adds two jsonb objects of counters key by key. */
const mergeCounters = (a: string, b: string) =>
  sql.raw(`(SELECT coalesce(jsonb_object_agg(key, total), '{}'::jsonb) FROM (
     SELECT key, sum(value::bigint) AS total
       FROM (SELECT * FROM jsonb_each_text(${a}) UNION ALL SELECT * FROM jsonb_each_text(${b})) u
      GROUP BY key) s)`);

/**
 * Adds exporter counters to `exporters`: counts summed, errors and sampling rates merged key by
 * key, first and last seen widened, each collector's last datagram kept at its latest. Rows go in
 * address order, as every writer does: concurrent batches never deadlock.
 * @example
 * await upsertExporters(tx, [{ ...newExporterDelta('192.0.2.1', Date.now()), datagrams: 3, records: 60 }]);
 */
export async function upsertExporters(
  tx: Queryable,
  rows: (ExporterDelta & { firstSeenMs?: number })[],
): Promise<void> {
  for (const e of [...rows].sort((a, b) => byText(a.address, b.address))) {
    // toISOString has one length and format, so the later time is also the larger string.
    const collectors = Object.fromEntries(
      Object.entries(e.collectors ?? {}).map(([id, ms]) => [id, new Date(ms).toISOString()]),
    );
    await tx.query(sql`INSERT INTO exporters AS x (address, first_seen, last_seen, datagrams, records, lost_records,
        unsampled_records, errors, sampling_rates, collectors)
      VALUES (${e.address}, ${new Date(e.firstSeenMs ?? e.lastSeenMs).toISOString()}::timestamptz, ${new Date(e.lastSeenMs).toISOString()}::timestamptz,
        ${e.datagrams}, ${e.records}, ${e.lostRecords}, ${e.unsampledRecords},
        ${JSON.stringify(e.errors)}::jsonb, ${JSON.stringify(e.samplingRates)}::jsonb, ${JSON.stringify(collectors)}::jsonb)
      ON CONFLICT (address) DO UPDATE SET
        collectors = CASE WHEN excluded.collectors = '{}'::jsonb THEN x.collectors
                          ELSE ${latestTimes('x.collectors', 'excluded.collectors')} END,
        last_seen = greatest(x.last_seen, excluded.last_seen),
        datagrams = x.datagrams + excluded.datagrams,
        records = x.records + excluded.records,
        lost_records = x.lost_records + excluded.lost_records,
        unsampled_records = x.unsampled_records + excluded.unsampled_records,
        errors = ${mergeCounters('x.errors', 'excluded.errors')},
        sampling_rates = ${mergeCounters('x.sampling_rates', 'excluded.sampling_rates')}`);
  }
}

/** The collectors of a minute row after this write: the row's, plus the writer's when new to it. */
const MERGED_COLLECTORS = `(CASE WHEN excluded.collectors <@ x.collectors THEN x.collectors
  ELSE x.collectors || excluded.collectors END)`;

/**
 * Adds data quality per (minute, exporter) to `exporter_minutes`. Loss is measured per collector:
 * once a second collector writes a minute of the same exporter, each one's sequence gaps are the
 * other's datagrams, so the minute becomes split (`split` = number of collectors) and its
 * lost_records 0 from then on: unknown, never invented or summed. A delta of collector '' (HTTP
 * ingest) adds records only. Rows go in (minute, exporter) order, as every writer does: no deadlocks.
 * @example
 * await upsertExporterMinutes(tx, [{ minuteMs, exporter: '192.0.2.1', collector: 'c1', records: 60, lostRecords: 2, unsampledRecords: 0 }]);
 */
export async function upsertExporterMinutes(tx: Queryable, rows: ExporterMinuteDelta[]): Promise<void> {
  const sorted = [...rows].sort(
    (a, b) => a.minuteMs - b.minuteMs || byText(a.exporter, b.exporter) || byText(a.collector, b.collector),
  );
  const merged = sql.raw(MERGED_COLLECTORS);
  for (const m of sorted) {
    const measured = m.collector !== '';
    await tx.query(sql`INSERT INTO exporter_minutes AS x (time, exporter, records, lost_records, unsampled_records, collectors)
      VALUES (${new Date(m.minuteMs).toISOString()}::timestamptz, ${m.exporter}, ${m.records},
        ${measured ? m.lostRecords : 0}, ${m.unsampledRecords}, ${measured ? sql`ARRAY[${m.collector}::text]` : sql`'{}'::text[]`})
      ON CONFLICT (time, exporter) DO UPDATE SET
        records = x.records + excluded.records,
        unsampled_records = x.unsampled_records + excluded.unsampled_records,
        collectors = ${merged},
        split = CASE WHEN cardinality(${merged}) > 1 THEN cardinality(${merged}) ELSE 0 END,
        lost_records = CASE WHEN cardinality(${merged}) > 1 THEN 0 ELSE x.lost_records + excluded.lost_records END`);
  }
}
