import { describe, expect, it } from 'vitest';
import { demoHourRows, demoRows } from '../src/demo.js';

const HOUR = Date.UTC(2026, 10, 2, 17, 0, 0);

describe('the demo history', () => {
  it('writes an old hour as one row per key holding its twelve five-minute slices', () => {
    const hour = demoHourRows(HOUR);
    const slices = Array.from({ length: 12 }, (_, k) => demoRows(HOUR + k * 300_000));
    expect(hour).toHaveLength(slices[0]!.length);
    hour.forEach((row, i) => {
      expect(row.minuteMs).toBe(HOUR);
      expect(row).toMatchObject({
        asn: slices[0]![i]!.asn,
        product: slices[0]![i]!.product,
        direction: slices[0]![i]!.direction,
      });
      for (const m of ['bytes', 'packets', 'flows'] as const)
        expect(row[m]).toBeCloseTo(
          slices.reduce((sum, s) => sum + s[i]![m], 0),
          3,
        );
    });
    // The shape still varies: the slices are not all alike.
    expect(slices[0]![0]!.bytes).not.toBe(slices[11]![0]!.bytes);
  });
});
