/**
 * Traffic rows in columns (src/db/traffic.ts), the collector's form of a flush: converting rows to
 * columns and back keeps every row, several batches' columns concatenate in order, and a row the
 * columns cannot code is refused rather than written as something else.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  concatTraffic,
  DIRECTIONS,
  PRODUCTS,
  type TrafficDelta,
  trafficColumns,
  trafficRows,
} from '../../src/db/traffic.js';

/** Rows as trafficRows gives them back: adm1 only when known. */
const row = fc
  .record({
    minuteMs: fc.integer({ min: 0, max: 4_102_444_800 }).map((m) => m * 60_000),
    asn: fc.integer({ min: 0, max: 4_294_967_295 }),
    location: fc.string({ minLength: 2, maxLength: 2 }),
    adm1: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    product: fc.constantFrom(...PRODUCTS),
    direction: fc.constantFrom(...DIRECTIONS),
    bytes: fc.double({ min: 0, max: 1e15, noNaN: true }),
    packets: fc.double({ min: 0, max: 1e12, noNaN: true }),
    flows: fc.integer({ min: 0, max: 1e9 }),
  })
  .map(({ adm1, ...r }): TrafficDelta => (adm1 === 0 ? r : { ...r, adm1 }));

describe('traffic columns', () => {
  it('hold every row: rows → columns → rows gives the rows back', () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 50 }), (rows) => {
        const cols = trafficColumns(rows);
        expect(cols.length).toBe(rows.length);
        expect(trafficRows(cols)).toEqual(rows);
        // Already in the form asked for: the same object.
        expect(trafficColumns(cols)).toBe(cols);
        expect(trafficRows(rows)).toBe(rows);
      }),
    );
  });

  it("concatenate batches in order, rows and columns alike, leaving each batch's rows as they were", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(row, { maxLength: 20 }), { maxLength: 5 }),
        fc.boolean(),
        (batches, cols) => {
          const given = batches.map((b) => (cols ? trafficColumns(b) : b));
          const before = structuredClone(given);
          expect(trafficRows(concatTraffic(given))).toEqual(batches.flat());
          expect(given).toEqual(before);
        },
      ),
    );
  });

  it('refuse a row whose product or direction has no code', () => {
    const r: TrafficDelta = {
      minuteMs: 0,
      asn: 1,
      location: 'DE',
      product: 'HTTP',
      direction: 'in',
      bytes: 1,
      packets: 1,
      flows: 1,
    };
    expect(() => trafficColumns([{ ...r, product: 'FTP' as 'HTTP' }])).toThrow(/product "FTP"/);
    expect(() => trafficColumns([{ ...r, direction: 'both' as 'in' }])).toThrow(/direction "both"/);
  });
});
