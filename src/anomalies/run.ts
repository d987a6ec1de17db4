/**
 * The detector against the database: which windows to judge (new closed buckets, and those late
 * data touched), the series each needs, and the anomalies that result. Runs in every maintenance
 * round (src/db/maintenance.ts), after the rollups it reads are refreshed.
 */
import type { Queryable } from '../db/client.js';
import { BUCKET_MS, type DetectorParams, detect, WEEK_MS } from './detect.js';
import {
  type AnomalyType,
  databaseNow,
  keyOf,
  readDoubtfulBuckets,
  readEntities,
  readEntitySeries,
  readLateSpans,
  readOverlapping,
  readState,
  readTotals,
  reconcile,
  writeState,
} from './store.js';

/** The detector's configuration: its method's parameters and when it judges. */
export interface AnomalyConfig extends DetectorParams {
  enabled: boolean;
  /** A bucket is judged once this long has passed since its end (flows are written a little late). */
  settle: number;
  /** How far back the first round judges, ms. */
  backfill: number;
}

/** Longest window judged in one pass: bounds the series held in memory. */
const PASS_MS = 7 * 86_400_000;
const TYPES: readonly AnomalyType[] = ['AS', 'LOCATION'];

const floorBucket = (ms: number) => Math.floor(ms / BUCKET_MS) * BUCKET_MS;

/** The union of [start, end) spans as disjoint spans, in order. */
export function mergeSpans(spans: readonly [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const [a, b] of [...spans].sort((x, y) => x[0] - y[0])) {
    const last = out.at(-1);
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else if (a < b) out.push([a, b]);
  }
  return out;
}

/**
 * Judges the closed buckets of [fromMs, toMs) for one entity type and stores what it finds.
 * Judging starts earlier when an anomaly is open at `fromMs` (at its start: its state is rebuilt,
 * not carried) or when a run of low buckets may have begun just before it.
 */
async function judgeWindow(
  db: Queryable,
  type: AnomalyType,
  fromMs: number,
  toMs: number,
  params: DetectorParams,
) {
  const open = await readOverlapping(db, type, fromMs - params.closeAfter * BUCKET_MS, toMs);
  const start = Math.min(fromMs - (params.openAfter - 1) * BUCKET_MS, ...open.map((a) => a.start_ms));
  const spanStart = start - params.weeks * WEEK_MS;
  const totals = await readTotals(db, spanStart, toMs);
  let grand = 0;
  for (const v of totals.values()) grand += v;
  const keys = new Set(await readEntities(db, type, spanStart, toMs, Math.max(1, grand * params.minShare)));
  for (const a of open) keys.add(keyOf(a));
  const series = await readEntitySeries(db, type, [...keys], spanStart, toMs);
  const doubtful = await readDoubtfulBuckets(db, spanStart, toMs);
  const n = Math.round((toMs - spanStart) / BUCKET_MS);
  const from = Math.round((start - spanStart) / BUCKET_MS);
  const found = new Map<string, ReturnType<typeof detect>>();
  for (const key of keys) {
    const mine = series.get(key) ?? new Map<number, number>();
    const values = new Float64Array(n);
    const rest = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const t = spanStart + i * BUCKET_MS;
      const total = totals.get(t) ?? 0;
      // No traffic at all, or numbers the exporters put in doubt: unknown, not zero.
      if (!(total > 0) || doubtful.has(t)) {
        values[i] = Number.NaN;
        rest[i] = Number.NaN;
        continue;
      }
      values[i] = mine.get(t) ?? 0;
      rest[i] = Math.max(0, total - values[i]!);
    }
    found.set(key, detect({ startMs: spanStart, values, rest }, params, from));
  }
  return reconcile(db, type, start, toMs, found, params);
}

/**
 * Judges every closed bucket of [fromMs, toMs), a week at a time, for ASes and locations.
 * Idempotent: judging a window again finds what it found before, unless its data changed.
 * @example await judgeRange(db, Date.parse('2026-11-01T00:00:00Z'), Date.parse('2026-12-01T00:00:00Z'), config)
 */
export async function judgeRange(db: Queryable, fromMs: number, toMs: number, params: DetectorParams) {
  const totals = { opened: 0, closed: 0, removed: 0 };
  for (let a = floorBucket(fromMs); a < toMs; a += PASS_MS) {
    const b = Math.min(floorBucket(toMs), a + PASS_MS);
    if (b <= a) break;
    for (const type of TYPES) {
      const c = await judgeWindow(db, type, a, b, params);
      totals.opened += c.opened;
      totals.closed += c.closed;
      totals.removed += c.removed;
    }
  }
  return totals;
}

/**
 * One round of the detector at `nowMs`: re-judges the windows that ingest batches recorded since
 * the last round wrote into already judged buckets (and the weeks after them, whose baselines they
 * are part of), then judges the buckets closed since. The first round judges the last `backfill`.
 * @example const { opened } = await detectAnomalies(db, config.anomalies, Date.now());
 */
export async function detectAnomalies(db: Queryable, config: AnomalyConfig, nowMs: number) {
  const closedEnd = floorBucket(nowMs - config.settle);
  const roundStart = await databaseNow(db);
  const state = await readState(db);
  const totals = { opened: 0, closed: 0, removed: 0, lateWindows: 0 };
  const add = (c: { opened: number; closed: number; removed: number }) => {
    totals.opened += c.opened;
    totals.closed += c.closed;
    totals.removed += c.removed;
  };
  const through = state.evaluatedThroughMs;
  if (through !== null && state.batchesSeenAtMs !== null) {
    const late = await readLateSpans(db, state.batchesSeenAtMs, through);
    const shifted: [number, number][] = [];
    for (const [a, b] of late)
      for (let k = 0; k <= config.weeks; k++)
        if (a + k * WEEK_MS < through) shifted.push([a + k * WEEK_MS, Math.min(b + k * WEEK_MS, through)]);
    for (const [a, b] of mergeSpans(shifted)) {
      totals.lateWindows++;
      add(await judgeRange(db, a, b, config));
    }
  }
  const from = through ?? closedEnd - config.backfill;
  if (from < closedEnd) add(await judgeRange(db, from, closedEnd, config));
  await writeState(db, {
    evaluatedThroughMs: Math.max(closedEnd, through ?? closedEnd),
    batchesSeenAtMs: roundStart,
  });
  return totals;
}
