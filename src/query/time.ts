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

/** '00'…'59': the two digits of an hour, minute or second. */
const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
/** The day isoSeconds formatted last and its `YYYY-MM-DDT`: a series' points share a few days. */
let prefixDay = Number.NaN;
let prefix = '';

/**
 * UTC timestamp without milliseconds: 2026-11-23T10:00:00Z. Called for every point of every
 * series answered, so the date part is formatted once per day met and the time of day from a
 * table (a Date and toISOString per point were 5 % of the API's CPU on distinct queries).
 */
export function isoSeconds(ms: number): string {
  const day = Math.floor(ms / DAY);
  if (day !== prefixDay) {
    prefix = new Date(day * DAY).toISOString().slice(0, 11);
    prefixDay = day;
  }
  const second = Math.floor((ms - day * DAY) / 1000);
  return `${prefix}${TWO_DIGITS[Math.floor(second / 3600)]}:${TWO_DIGITS[Math.floor(second / 60) % 60]}:${TWO_DIGITS[second % 60]}Z`;
}
