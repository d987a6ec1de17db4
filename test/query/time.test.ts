/**
 * isoSeconds formats the date part once per day it meets and the time of day from a table: it
 * must give what `Date#toISOString` gives (without milliseconds) for any instant of years
 * 1–9999, whole or fractional milliseconds, in any order of days (the day it remembers changes).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoSeconds } from '../../src/query/time.js';

const reference = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}Z`;
const instant = fc.oneof(
  fc.integer({
    min: new Date('0001-01-01T00:00:00Z').getTime(),
    max: Date.UTC(9999, 11, 31, 23, 59, 59, 999),
  }),
  fc.double({ min: 0, max: 4_102_444_800_000, noNaN: true }),
  // Near the day boundaries of recent years: the last and first second of a day.
  fc
    .tuple(fc.integer({ min: 18_000, max: 22_000 }), fc.integer({ min: -2_000, max: 2_000 }))
    .map(([day, off]) => day * 86_400_000 + off),
);

describe('isoSeconds', () => {
  it('formats what toISOString formats, to the second', () => {
    fc.assert(
      fc.property(fc.array(instant, { minLength: 1, maxLength: 20 }), (list) => {
        for (const ms of list) expect(isoSeconds(ms)).toBe(reference(ms));
      }),
      { numRuns: 2_000 },
    );
  });

  it('formats a series of hours across a day and a year boundary', () => {
    const start = Date.UTC(2026, 11, 31, 20);
    const out = Array.from({ length: 6 }, (_, i) => isoSeconds(start + i * 3_600_000));
    expect(out).toEqual([
      '2026-12-31T20:00:00Z',
      '2026-12-31T21:00:00Z',
      '2026-12-31T22:00:00Z',
      '2026-12-31T23:00:00Z',
      '2027-01-01T00:00:00Z',
      '2027-01-01T01:00:00Z',
    ]);
    expect(isoSeconds(Date.UTC(1969, 11, 31, 23, 59, 59, 500))).toBe('1969-12-31T23:59:59Z');
  });
});
