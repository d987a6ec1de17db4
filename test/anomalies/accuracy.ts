/**
 * A generated month for the detector's accuracy: many ASes with diurnal, weekly and noisy traffic,
 * outages of chosen depths and lengths cut in, and the score of what the detector finds.
 */
import { BUCKET_MS, BUCKETS_PER_WEEK, type DetectorParams, detect } from '../../src/anomalies/detect.js';

const DAY = 96;
export const START = Date.parse('2026-09-07T00:00:00Z'); // a Monday

/** A deterministic pseudo-random source (LCG), so the month is the same on every run. */
function random(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export interface Outage {
  as: number;
  /** Bucket index of its start, and its length in buckets. */
  start: number;
  length: number;
  /** Fraction of the traffic lost, 0–1. */
  depth: number;
}

export interface Month {
  /** Bytes per AS per bucket; the first `history` buckets are the baseline's weeks. */
  values: Float64Array[];
  total: Float64Array;
  history: number;
  outages: Outage[];
}

/**
 * `ases` ASes over `historyWeeks` weeks plus `days` evaluated days: per AS a size, a peak hour, a
 * weekend factor, a day-to-day level (±10 %) and per-bucket noise (±`noise`); outages cut in.
 */
export function generateMonth(opts: {
  ases: number;
  historyWeeks: number;
  days: number;
  noise: number;
  outages: readonly Outage[];
  seed?: number;
}): Month {
  const rand = random(opts.seed ?? 42);
  const history = opts.historyWeeks * BUCKETS_PER_WEEK;
  const n = history + opts.days * DAY;
  const values: Float64Array[] = [];
  const total = new Float64Array(n);
  for (let a = 0; a < opts.ases; a++) {
    const size = 1e8 * 10 ** (2 * rand());
    const peak = 8 + 14 * rand();
    const weekend = 0.6 + 0.5 * rand();
    const dayLevel = Array.from({ length: Math.ceil(n / DAY) }, () => 0.9 + 0.2 * rand());
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const hour = ((i % DAY) / DAY) * 24;
      const day = Math.floor(i / DAY);
      const shape = 0.5 + 0.5 * Math.cos(((hour - peak) / 24) * 2 * Math.PI);
      v[i] =
        size *
        (0.2 + 0.8 * shape) *
        (day % 7 >= 5 ? weekend : 1) *
        dayLevel[day]! *
        (1 + opts.noise * (2 * rand() - 1));
    }
    values.push(v);
  }
  for (const o of opts.outages)
    for (let i = history + o.start; i < history + o.start + o.length; i++) values[o.as]![i]! *= 1 - o.depth;
  for (const v of values) for (let i = 0; i < n; i++) total[i]! += v[i]!;
  return { values, total, history, outages: [...opts.outages] };
}

export interface Score {
  found: number;
  missed: Outage[];
  falsePositives: number;
  /** |detected − true| of the found outages' starts and ends, minutes. */
  startErrors: number[];
  endErrors: number[];
}

/** Runs the detector on every AS of the month and matches what it finds to the outages. */
export function score(month: Month, params: DetectorParams): Score {
  const result: Score = { found: 0, missed: [], falsePositives: 0, startErrors: [], endErrors: [] };
  const minutes = (buckets: number) => (buckets * BUCKET_MS) / 60_000;
  month.values.forEach((values, as) => {
    const rest = month.total.map((t, i) => t - values[i]!);
    const found = detect({ startMs: START, values, rest }, params, month.history).map((f) => ({
      start: (f.startMs - START) / BUCKET_MS - month.history,
      end: f.endMs === null ? Number.POSITIVE_INFINITY : (f.endMs - START) / BUCKET_MS - month.history,
    }));
    const mine = month.outages.filter((o) => o.as === as);
    const used = new Set<number>();
    for (const o of mine) {
      const k = found.findIndex((f, j) => !used.has(j) && f.start < o.start + o.length && f.end > o.start);
      if (k < 0) {
        result.missed.push(o);
        continue;
      }
      used.add(k);
      result.found++;
      result.startErrors.push(minutes(Math.abs(found[k]!.start - o.start)));
      result.endErrors.push(minutes(Math.abs(found[k]!.end - (o.start + o.length))));
    }
    result.falsePositives += found.length - used.size;
  });
  return result;
}
