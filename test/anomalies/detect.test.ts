import { describe, expect, it } from 'vitest';
import {
  BUCKET_MS,
  BUCKETS_PER_WEEK,
  DEFAULT_PARAMS,
  detect,
  median,
  ratios,
  type SeriesInput,
} from '../../src/anomalies/detect.js';

const START = Date.parse('2026-10-05T00:00:00Z'); // a Monday
const WEEKS = 4;
const DAY = 96;

/** Diurnal traffic: a daily sine (trough at 04:00), lower weekends, ±`noise` deterministic jitter. */
function diurnal(buckets: number, peak: number, noise = 0.05, seed = 1): number[] {
  let s = seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
  return Array.from({ length: buckets }, (_, i) => {
    const hour = ((i % DAY) / DAY) * 24;
    const day = Math.floor(i / DAY) % 7;
    const shape = 0.55 + 0.45 * Math.sin(((hour - 10) / 24) * 2 * Math.PI);
    const weekend = day >= 5 ? 0.8 : 1;
    return peak * shape * weekend * (1 + noise * (2 * rand() - 1));
  });
}

/** Four weeks of history, then `days` evaluated days. */
function input(days: number, edit?: (values: number[], rest: number[]) => void): SeriesInput {
  const n = WEEKS * BUCKETS_PER_WEEK + days * DAY;
  const values = diurnal(n, 1e9, 0.05, 7);
  const rest = diurnal(n, 2e10, 0.03, 11);
  edit?.(values, rest);
  return { startMs: START, values, rest };
}

const FROM = WEEKS * BUCKETS_PER_WEEK;
const at = (day: number, hour: number, minute = 0) => FROM + day * DAY + hour * 4 + minute / 15;
const ms = (index: number) => START + index * BUCKET_MS;

function scale(xs: number[], from: number, to: number, by: number) {
  for (let i = from; i < to; i++) xs[i]! *= by;
}

describe('median', () => {
  it('ignores NaN and needs `min` values', () => {
    expect(median([3, Number.NaN, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([Number.NaN, 5], 2)).toBeNaN();
  });
});

describe('detect', () => {
  it('finds nothing in a normal week of diurnal traffic', () => {
    expect(detect(input(7), DEFAULT_PARAMS, FROM)).toEqual([]);
  });

  it('finds an outage, its start and end to the bucket, and its depth', () => {
    const start = at(2, 13);
    const end = at(2, 15, 30);
    const found = detect(
      input(7, (v) => scale(v, start, end, 0.1)),
      DEFAULT_PARAMS,
      FROM,
    );
    expect(found).toHaveLength(1);
    expect(found[0]!.startMs).toBe(ms(start));
    expect(found[0]!.endMs).toBe(ms(end));
    expect(found[0]!.depth).toBeGreaterThan(0.85);
    expect(found[0]!.depth).toBeLessThan(0.95);
    expect(found[0]!.observed).toBeLessThan(found[0]!.baseline * 0.2);
  });

  it('finds a total outage at night, where traffic is lowest', () => {
    const start = at(3, 3);
    const found = detect(
      input(5, (v) => scale(v, start, start + 3, 0)),
      DEFAULT_PARAMS,
      FROM,
    );
    expect(found.map((a) => [a.startMs, a.endMs, a.depth])).toEqual([[ms(start), ms(start + 3), 1]]);
  });

  it('needs two consecutive low buckets: one low bucket is noise', () => {
    const one = at(1, 12);
    expect(
      detect(
        input(3, (v) => scale(v, one, one + 1, 0)),
        DEFAULT_PARAMS,
        FROM,
      ),
    ).toEqual([]);
    // Two low buckets with a normal one between them are not a run either.
    expect(
      detect(
        input(3, (v) => {
          scale(v, one, one + 1, 0);
          scale(v, one + 2, one + 3, 0);
        }),
        DEFAULT_PARAMS,
        FROM,
      ),
    ).toEqual([]);
  });

  it('ignores a shallow dip (above the fraction)', () => {
    const start = at(1, 10);
    expect(
      detect(
        input(3, (v) => scale(v, start, start + 8, 0.7)),
        DEFAULT_PARAMS,
        FROM,
      ),
    ).toEqual([]);
  });

  it('is no outage when the rest of the traffic fell alike (the collection lost it)', () => {
    const start = at(2, 9);
    const found = detect(
      input(4, (v, r) => {
        scale(v, start, start + 8, 0.3);
        scale(r, start, start + 8, 0.3);
      }),
      DEFAULT_PARAMS,
      FROM,
    );
    expect(found).toEqual([]);
  });

  it('leaves an outage still under way open (no end)', () => {
    const start = at(1, 20);
    const n = FROM + 2 * DAY;
    const found = detect(
      input(2, (v) => scale(v, start, n, 0.05)),
      DEFAULT_PARAMS,
      FROM,
    );
    expect(found).toHaveLength(1);
    expect(found[0]!.startMs).toBe(ms(start));
    expect(found[0]!.endMs).toBeNull();
  });

  it('needs a sustained recovery: one good bucket inside an outage does not end it', () => {
    const start = at(1, 8);
    const found = detect(
      input(3, (v) => {
        scale(v, start, start + 4, 0.1);
        scale(v, start + 5, start + 9, 0.1);
      }),
      DEFAULT_PARAMS,
      FROM,
    );
    expect(found.map((a) => [a.startMs, a.endMs])).toEqual([[ms(start), ms(start + 9)]]);
  });

  it('judges no skipped bucket: a drop explained by exporter loss opens nothing', () => {
    const start = at(1, 12);
    const inp = input(3, (v) => scale(v, start, start + 4, 0.1));
    const skip = new Set([start, start + 1, start + 2, start + 3]);
    expect(detect({ ...inp, skip }, DEFAULT_PARAMS, FROM)).toEqual([]);
    // Skipping every other bucket breaks every run of two.
    expect(detect({ ...inp, skip: new Set([start + 1, start + 3]) }, DEFAULT_PARAMS, FROM)).toEqual([]);
  });

  it('has no baseline without enough weeks of history in the slot', () => {
    const inp = input(2, (v) => scale(v, at(1, 10), at(1, 14), 0));
    // Only one week of history before the evaluated days: minWeeks is 2.
    const cut = 3 * BUCKETS_PER_WEEK;
    const short = {
      startMs: ms(cut),
      values: (inp.values as number[]).slice(cut),
      rest: (inp.rest as number[]).slice(cut),
    };
    expect(detect(short, DEFAULT_PARAMS, FROM - cut)).toEqual([]);
    expect(detect(short, { ...DEFAULT_PARAMS, minWeeks: 1 }, FROM - cut)).toHaveLength(1);
  });

  it('keeps a week with no data out of the baseline (NaN is unknown, not zero)', () => {
    const inp = input(2, (v, r) => {
      // The collector was down for the whole of two of the four history weeks.
      for (let i = 0; i < 2 * BUCKETS_PER_WEEK; i++) {
        v[i] = Number.NaN;
        r[i] = Number.NaN;
      }
    });
    expect(detect(inp, DEFAULT_PARAMS, FROM)).toEqual([]);
    const r = ratios(inp, DEFAULT_PARAMS, FROM);
    expect(Math.min(...r)).toBeGreaterThan(0.8);
  });
});
