/**
 * What the anomaly detector reads and writes: 15-minute traffic per AS or location and in total
 * (the rollups of src/db/rollups.ts), the buckets whose data quality rules them out, the anomalies
 * already recorded, and the detector's own progress.
 */
import { type SQL, sql } from 'drizzle-orm';
import type { Queryable } from '../db/client.js';
import { rollupNamed } from '../db/rollups.js';
import { LOSS_THRESHOLD } from '../query/meta.js';
import { type AnomalyInterval, BUCKET_MS, type DetectorParams } from './detect.js';

export type AnomalyType = 'AS' | 'LOCATION';
export type AnomalyStatus = 'UNVERIFIED' | 'VERIFIED' | 'DISMISSED';

const ts = (ms: number) => sql`${new Date(ms).toISOString()}::timestamptz`;
const msOf = (column: string) => sql.raw(`(extract(epoch from ${column}) * 1000)::float8`);

/** The rollup and key column an entity type is read from. */
const SOURCE = {
  AS: { table: rollupNamed('traffic_asn_15m').name, key: 'asn', unknown: sql`asn <> 0` },
  LOCATION: { table: rollupNamed('traffic_loc_15m').name, key: 'location', unknown: sql`location <> 'XX'` },
} as const;
const TOTAL = rollupNamed('traffic_total_15m').name;

/** Bytes per 15-minute bucket in [fromMs, toMs), all products and directions summed. */
export async function readTotals(db: Queryable, fromMs: number, toMs: number): Promise<Map<number, number>> {
  const rows = await db.query<{ t: number; bytes: number }>(
    sql`SELECT ${msOf('time')} AS t, sum(bytes)::float8 AS bytes FROM ${sql.raw(TOTAL)}
         WHERE time >= ${ts(fromMs)} AND time < ${ts(toMs)} GROUP BY time`,
  );
  return new Map(rows.map((r) => [r.t, r.bytes]));
}

/**
 * The entities of `type` (unknown AS 0 and location XX left out) carrying at least `minBytes` over
 * [fromMs, toMs).
 */
export async function readEntities(
  db: Queryable,
  type: AnomalyType,
  fromMs: number,
  toMs: number,
  minBytes: number,
): Promise<string[]> {
  const s = SOURCE[type];
  const rows = await db.query<{ key: string }>(
    sql`SELECT ${sql.raw(s.key)}::text AS key FROM ${sql.raw(s.table)}
         WHERE time >= ${ts(fromMs)} AND time < ${ts(toMs)} AND ${s.unknown}
         GROUP BY 1 HAVING sum(bytes) >= ${minBytes} ORDER BY 1`,
  );
  return rows.map((r) => r.key);
}

/** Bytes per (entity, bucket) of the given entities over [fromMs, toMs). */
export async function readEntitySeries(
  db: Queryable,
  type: AnomalyType,
  keys: readonly string[],
  fromMs: number,
  toMs: number,
): Promise<Map<string, Map<number, number>>> {
  const out = new Map<string, Map<number, number>>(keys.map((k) => [k, new Map()]));
  if (keys.length === 0) return out;
  const s = SOURCE[type];
  const wanted =
    type === 'AS'
      ? sql`asn = ANY(${`{${keys.map(Number).join(',')}}`}::int[])`
      : sql`location = ANY(${`{${keys.join(',')}}`}::text[])`;
  const rows = await db.query<{ key: string; t: number; bytes: number }>(
    sql`SELECT ${sql.raw(s.key)}::text AS key, ${msOf('time')} AS t, sum(bytes)::float8 AS bytes
          FROM ${sql.raw(s.table)}
         WHERE time >= ${ts(fromMs)} AND time < ${ts(toMs)} AND ${wanted}
         GROUP BY 1, time`,
  );
  for (const r of rows) out.get(r.key)?.set(r.t, r.bytes);
  return out;
}

/**
 * The 15-minute buckets in [fromMs, toMs) whose numbers the exporters' own reports put in doubt,
 * as `confidenceInfo` would annotate them: more than {@link LOSS_THRESHOLD} of the records lost
 * (where loss was measured: minutes split between collectors have none), or more than that share
 * of records of unknown sampling. A drop there may be the collection's, not the network's.
 */
export async function readDoubtfulBuckets(db: Queryable, fromMs: number, toMs: number): Promise<Set<number>> {
  const rows = await db.query<{ t: number }>(
    sql`SELECT ${msOf("time_bucket(INTERVAL '15 minutes', time)")} AS t
          FROM exporter_minutes WHERE time >= ${ts(fromMs)} AND time < ${ts(toMs)}
         GROUP BY time_bucket(INTERVAL '15 minutes', time)
        HAVING sum(lost_records) > ${LOSS_THRESHOLD} * (coalesce(sum(records) FILTER (WHERE split = 0), 0) + sum(lost_records))
            OR sum(unsampled_records) > ${LOSS_THRESHOLD} * greatest(sum(records), 1)`,
  );
  return new Set(rows.map((r) => r.t));
}

/** An anomaly as stored. */
export interface AnomalyRow {
  uuid: string;
  type: AnomalyType;
  asn: number | null;
  location: string | null;
  start_ms: number;
  end_ms: number | null;
  status: AnomalyStatus;
  depth: number;
}

/** The entity key of a stored anomaly, as {@link readEntities} gives it. */
export const keyOf = (a: Pick<AnomalyRow, 'type' | 'asn' | 'location'>) =>
  a.type === 'AS' ? String(a.asn) : (a.location ?? '');

/**
 * The anomalies of `type` that overlap [fromMs, toMs) or are still open, oldest first.
 */
export function readOverlapping(
  db: Queryable,
  type: AnomalyType,
  fromMs: number,
  toMs: number,
): Promise<AnomalyRow[]> {
  return db.query<AnomalyRow>(
    sql`SELECT uuid::text, type, asn, location::text, ${msOf('start_time')} AS start_ms, ${msOf('end_time')} AS end_ms,
               status, depth::float8
          FROM traffic_anomalies
         WHERE type = ${type} AND start_time < ${ts(toMs)} AND (end_time IS NULL OR end_time > ${ts(fromMs)})
         ORDER BY start_time`,
  );
}

/** A state change webhooks deliver. */
export type AnomalyEvent = 'opened' | 'closed' | 'removed' | 'verified' | 'dismissed' | 'unverified';

/**
 * Records a state change of an anomaly with the anomaly as it is now (call before deleting it).
 * @example await recordEvent(db, uuid, 'closed')
 */
export async function recordEvent(db: Queryable, uuid: string, event: AnomalyEvent): Promise<void> {
  await db.query(sql`INSERT INTO anomaly_events (anomaly_uuid, event, anomaly)
    SELECT a.uuid, ${event}, jsonb_build_object(
             'uuid', a.uuid, 'type', a.type, 'status', a.status,
             'asn', a.asn, 'location', a.location,
             'startDate', to_char(a.start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
             'endDate', to_char(a.end_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
             'depth', round(a.depth::numeric, 3), 'asnName', n.name)
      FROM traffic_anomalies a LEFT JOIN asn_names n ON n.asn = a.asn
     WHERE a.uuid = ${uuid}::uuid`);
}

/**
 * Makes the stored anomalies of `type` starting in [fromMs, toMs) those `found` there, per entity:
 * a found interval overlapping a stored one updates it (its uuid and an operator's status stay), a
 * new one is inserted, and a stored UNVERIFIED one that nothing found any more (late data filled
 * the gap) is deleted. One an operator verified or dismissed is kept as the operator left it.
 * Returns what changed, for alerts.
 */
export async function reconcile(
  db: Queryable,
  type: AnomalyType,
  fromMs: number,
  toMs: number,
  found: ReadonlyMap<string, readonly AnomalyInterval[]>,
  params: DetectorParams,
): Promise<{ opened: number; closed: number; removed: number }> {
  const stored = (await readOverlapping(db, type, fromMs, toMs)).filter((a) => a.start_ms >= fromMs);
  const byKey = new Map<string, AnomalyRow[]>();
  for (const a of stored) byKey.set(keyOf(a), [...(byKey.get(keyOf(a)) ?? []), a]);
  const counts = { opened: 0, closed: 0, removed: 0 };
  const { weeks, minWeeks, dropBelow, openAfter, recoverAbove, closeAfter, minShare, minRestScale } = params;
  const paramsJson = JSON.stringify({
    method: 'weekly-median-scaled',
    bucket: '15m',
    weeks,
    minWeeks,
    dropBelow,
    openAfter,
    recoverAbove,
    closeAfter,
    minShare,
    minRestScale,
  });
  for (const [key, intervals] of found) {
    const mine = byKey.get(key) ?? [];
    for (const f of intervals) {
      const fEnd = f.endMs ?? Number.POSITIVE_INFINITY;
      const match = mine.findIndex(
        (a) => a.start_ms < fEnd && (a.end_ms ?? Number.POSITIVE_INFINITY) > f.startMs,
      );
      const end = f.endMs === null ? sql`NULL` : ts(f.endMs);
      if (match >= 0) {
        const [a] = mine.splice(match, 1);
        // Only when it moved: updated_at is part of the data watermark the response cache keys on.
        const moved =
          await db.query(sql`UPDATE traffic_anomalies SET start_time = ${ts(f.startMs)}, end_time = ${end},
            depth = ${f.depth}, baseline_bytes = ${Math.round(f.baseline)}, observed_bytes = ${Math.round(f.observed)},
            params = ${paramsJson}::jsonb, updated_at = now()
          WHERE uuid = ${a!.uuid}::uuid
            AND (start_time IS DISTINCT FROM ${ts(f.startMs)} OR end_time IS DISTINCT FROM ${end}
                 OR abs(depth - ${f.depth}) > 0.001)
          RETURNING uuid`);
        if (moved.length && (a!.end_ms === null) !== (f.endMs === null)) {
          if (f.endMs !== null) counts.closed++;
          await recordEvent(db, a!.uuid, f.endMs === null ? 'opened' : 'closed');
        }
        continue;
      }
      counts.opened++;
      if (f.endMs !== null) counts.closed++;
      const [inserted] = await db.query<{
        uuid: string;
      }>(sql`INSERT INTO traffic_anomalies (type, asn, location,
            start_time, end_time, depth, baseline_bytes, observed_bytes, params)
          VALUES (${type}, ${type === 'AS' ? Number(key) : null}, ${type === 'LOCATION' ? key : null},
            ${ts(f.startMs)}, ${end}, ${f.depth}, ${Math.round(f.baseline)}, ${Math.round(f.observed)}, ${paramsJson}::jsonb)
          RETURNING uuid::text`);
      await recordEvent(db, inserted!.uuid, 'opened');
      if (f.endMs !== null) await recordEvent(db, inserted!.uuid, 'closed');
    }
    byKey.set(key, mine);
  }
  for (const left of byKey.values())
    for (const a of left) {
      if (a.status !== 'UNVERIFIED') continue;
      await recordEvent(db, a.uuid, 'removed');
      await db.query(sql`DELETE FROM traffic_anomalies WHERE uuid = ${a.uuid}::uuid`);
      counts.removed++;
    }
  return counts;
}

/** The detector's progress (see the anomaly_detector table). */
export interface DetectorState {
  evaluatedThroughMs: number | null;
  batchesSeenAtMs: number | null;
}

export async function readState(db: Queryable): Promise<DetectorState> {
  const [row] = await db.query<{ e: number | null; b: number | null }>(
    sql`SELECT ${msOf('evaluated_through')} AS e, ${msOf('batches_seen_at')} AS b FROM anomaly_detector WHERE id = 1`,
  );
  return { evaluatedThroughMs: row?.e ?? null, batchesSeenAtMs: row?.b ?? null };
}

export async function writeState(db: Queryable, state: DetectorState): Promise<void> {
  const at = (ms: number | null) => (ms === null ? sql`NULL` : ts(ms));
  await db.query(sql`INSERT INTO anomaly_detector (id, evaluated_through, batches_seen_at)
      VALUES (1, ${at(state.evaluatedThroughMs)}, ${at(state.batchesSeenAtMs)})
      ON CONFLICT (id) DO UPDATE SET evaluated_through = excluded.evaluated_through,
                                     batches_seen_at = excluded.batches_seen_at`);
}

/**
 * The minutes written by ingest batches recorded since `sinceMs` (less `marginMs`: a transaction
 * stamps its rows when it starts and shows them when it commits) that start before `beforeMs`:
 * late data, in buckets the detector has already judged. Each span is widened to whole buckets.
 */
export async function readLateSpans(
  db: Queryable,
  sinceMs: number,
  beforeMs: number,
  marginMs = 10 * 60_000,
): Promise<[number, number][]> {
  const rows = await db.query<{ a: number; b: number }>(
    sql`SELECT ${msOf('first_minute')} AS a, ${msOf('last_minute')} AS b FROM ingest_batches
         WHERE created_at > ${ts(sinceMs - marginMs)} AND first_minute < ${ts(beforeMs)}`,
  );
  return rows.map((r) => [
    Math.floor(r.a / BUCKET_MS) * BUCKET_MS,
    Math.floor((r.b + 60_000 + BUCKET_MS - 1) / BUCKET_MS) * BUCKET_MS,
  ]);
}

/** The database's clock, Unix ms: what ingest_batches.created_at is stamped with. */
export async function databaseNow(db: Queryable): Promise<number> {
  const [row] = await db.query<{ ms: number }>(sql`SELECT ${msOf('now()')} AS ms`);
  return row!.ms;
}

/** What an operator may set an anomaly to. */
export const STATUSES = ['UNVERIFIED', 'VERIFIED', 'DISMISSED'] as const;

/**
 * Sets an anomaly's status, recording when and by whom (a token id, or `cli`). Returns the anomaly
 * as it is now, or undefined when there is none with that uuid.
 * @example await setAnomalyStatus(db, '8b45b114-…', 'VERIFIED', 'cli')
 */
export async function setAnomalyStatus(
  db: Queryable,
  uuid: string,
  status: AnomalyStatus,
  by: string,
): Promise<AnomalyRow | undefined> {
  // Anything but a uuid matches nothing, rather than failing the cast in the database.
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(uuid)) return undefined;
  const [row] = await db.query<AnomalyRow & { was: AnomalyStatus }>(
    sql`UPDATE traffic_anomalies a SET status = ${status}, status_changed_at = now(), status_changed_by = ${by},
               updated_at = now()
          FROM traffic_anomalies before
         WHERE a.uuid = ${uuid}::uuid AND before.uuid = a.uuid
     RETURNING a.uuid::text, a.type, a.asn, a.location::text, ${msOf('a.start_time')} AS start_ms,
               ${msOf('a.end_time')} AS end_ms, a.status, a.depth::float8, before.status AS was`,
  );
  if (!row) return undefined;
  // Once per state change: setting the status it already has tells no one anything.
  if (row.was !== status) await recordEvent(db, row.uuid, status.toLowerCase() as AnomalyEvent);
  const { was: _, ...anomaly } = row;
  return anomaly;
}

/** A verified anomaly with its AS's name, for confidenceInfo. */
export interface VerifiedAnomalyRow extends AnomalyRow {
  as_name: string | null;
}

/**
 * The VERIFIED anomalies overlapping any of the windows (not empty; an ongoing one from its start
 * on), oldest first, at most 50: the statement, whose rows are {@link VerifiedAnomalyRow}s.
 * @example await db.query<VerifiedAnomalyRow>(verifiedAnomaliesSql(q.series))
 */
export function verifiedAnomaliesSql(windows: readonly { start: number; end: number }[]): SQL {
  const overlapsAny = sql.join(
    windows.map(
      (w) => sql`(a.start_time < ${ts(w.end)} AND (a.end_time IS NULL OR a.end_time > ${ts(w.start)}))`,
    ),
    sql` OR `,
  );
  return sql`SELECT a.uuid::text, a.type, a.asn, a.location::text, ${msOf('a.start_time')} AS start_ms,
               ${msOf('a.end_time')} AS end_ms, a.status, a.depth::float8, n.name AS as_name
          FROM traffic_anomalies a LEFT JOIN asn_names n ON n.asn = a.asn
         WHERE a.status = 'VERIFIED' AND (${overlapsAny})
         ORDER BY a.start_time, a.uuid LIMIT 50`;
}
