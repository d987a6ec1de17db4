import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { trafficRows } from '../../src/db/traffic.js';
import { MAX_SPREAD_MINUTES, MinuteAggregator } from '../../src/ingest/aggregate.js';

const T0 = Date.parse('2026-11-20T10:00:00Z');
const min = (m: number, s = 0) => T0 + m * 60_000 + s * 1000;

describe('MinuteAggregator', () => {
  it.each([
    { name: 'inside one minute', start: min(0, 10), end: min(0, 50), bytes: 1000, expect: { 0: 1000 } },
    { name: 'two halves', start: min(0, 30), end: min(1, 30), bytes: 1000, expect: { 0: 500, 1: 500 } },
    {
      name: 'one third / two thirds',
      start: min(0, 40),
      end: min(1, 40),
      bytes: 900,
      expect: { 0: 300, 1: 600 },
    },
    {
      name: 'three minutes, remainder to the last',
      start: min(0),
      end: min(3),
      bytes: 100,
      expect: { 0: 33, 1: 33, 2: 34, 3: 0 },
    },
    { name: 'end before start counts at start', start: min(2), end: min(1), bytes: 7, expect: { 2: 7 } },
  ])('spreads a flow $name, exactly', ({ start, end, bytes, expect: want }) => {
    const a = new MinuteAggregator();
    a.add(start, end, 3243, 'PT', 'HTTP', 'in', bytes, 10);
    const rows = trafficRows(a.drain());
    const got = Object.fromEntries(rows.map((r) => [(r.minuteMs - T0) / 60_000, r.bytes]));
    expect(got).toEqual(want);
    expect(rows.reduce((s, r) => s + r.packets, 0)).toBe(10);
    expect(rows.reduce((s, r) => s + r.flows, 0)).toBe(1);
  });

  it('keeps keys apart and sums equal keys', () => {
    const a = new MinuteAggregator();
    a.add(min(0), min(0), 3243, 'PT', 'HTTP', 'in', 10, 1);
    a.add(min(0, 5), min(0, 6), 3243, 'PT', 'HTTP', 'in', 5, 1);
    a.add(min(0), min(0), 3243, 'PT', 'OTHER', 'in', 1, 1);
    a.add(min(0), min(0), 3243, 'PT', 'HTTP', 'out', 2, 1);
    a.add(min(0), min(0), 4294967295, 'ZZ', 'HTTP', 'in', 3, 1);
    a.add(min(0), min(0), 0, '??', 'HTTP', 'in', 4, 1);
    const rows = trafficRows(a.drain()).map(
      (r) => `${r.asn}/${r.location}/${r.product}/${r.direction}=${r.bytes}/${r.flows}`,
    );
    expect(rows.sort()).toEqual(
      [
        '3243/PT/HTTP/in=15/2',
        '3243/PT/OTHER/in=1/1',
        '3243/PT/HTTP/out=2/1',
        '4294967295/ZZ/HTTP/in=3/1',
        '0/XX/HTTP/in=4/1',
      ].sort(),
    );
    expect(trafficRows(a.drain())).toEqual([]);
  });

  it(`spreads a flow longer than ${MAX_SPREAD_MINUTES} minutes over its last ${MAX_SPREAD_MINUTES}`, () => {
    const a = new MinuteAggregator();
    a.add(min(0), min(1000), 1, 'US', 'HTTP', 'in', 1200, 1);
    const rows = trafficRows(a.drain());
    expect(Math.min(...rows.map((r) => r.minuteMs))).toBe(min(1000 - MAX_SPREAD_MINUTES));
    expect(rows.reduce((s, r) => s + r.bytes, 0)).toBe(1200);
  });

  it('always sums to the flow totals (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10 * 60_000 }),
        fc.integer({ min: 0, max: 200 * 60_000 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 0, max: 2 ** 30 }),
        (offset, duration, bytes, packets) => {
          const a = new MinuteAggregator();
          a.add(T0 + offset, T0 + offset + duration, 1, 'PT', 'HTTP', 'in', bytes, packets);
          const rows = trafficRows(a.drain());
          expect(rows.reduce((s, r) => s + r.bytes, 0)).toBe(bytes);
          expect(rows.reduce((s, r) => s + r.packets, 0)).toBe(packets);
          for (const r of rows) expect(r.bytes).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 500 },
    );
  });
});
