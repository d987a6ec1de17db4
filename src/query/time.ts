export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const WEEK = 7 * DAY;

/** Bucket origin shared with SQL's time_bucket: Monday 2000-01-03, so weeks start on Monday. */
export const ORIGIN_MS = Date.UTC(2000, 0, 3);

export interface Interval {
  /** As given in queries. */
  name: '15m' | '1h' | '1d' | '1w';
  /** As reported in meta.aggInterval. */
  long: 'FIFTEEN_MINUTES' | 'ONE_HOUR' | 'ONE_DAY' | 'ONE_WEEK';
  ms: number;
}

export const INTERVALS: Record<Interval['name'], Interval> = {
  '15m': { name: '15m', long: 'FIFTEEN_MINUTES', ms: 15 * MINUTE },
  '1h': { name: '1h', long: 'ONE_HOUR', ms: HOUR },
  '1d': { name: '1d', long: 'ONE_DAY', ms: DAY },
  '1w': { name: '1w', long: 'ONE_WEEK', ms: WEEK },
};

/** Start of the bucket of width `width` that holds `t`, aligned like time_bucket. */
export function floorTo(t: number, width: number): number {
  return ORIGIN_MS + Math.floor((t - ORIGIN_MS) / width) * width;
}

/** How many buckets of `interval` cover [start, end). */
export function bucketsBetween(start: number, end: number, interval: Interval): number {
  return Math.ceil((end - floorTo(start, interval.ms)) / interval.ms);
}

/** UTC timestamp without milliseconds: 2026-11-23T10:00:00Z. */
export function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}
