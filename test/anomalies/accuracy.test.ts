/**
 * The accuracy target on a generated month (test/anomalies/accuracy.ts): every outage at
 * least 50 % deep and 30 minutes long found, its start within 15 minutes, and no false positive
 * over a normal month. BENCHMARKS.md ("Traffic anomalies") reports the same runs.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS } from '../../src/anomalies/detect.js';
import { generateMonth, type Outage, score } from './accuracy.js';

const ASES = 100;
const DEPTHS = [0.5, 0.6, 0.75, 0.9, 1];
/** 30 minutes to a day, in 15-minute buckets. */
const LENGTHS = [2, 3, 4, 8, 24, 96];

/** One outage per depth and length, spread over ASes, slots and days of the evaluated month. */
function outages(): Outage[] {
  const out: Outage[] = [];
  let k = 0;
  for (const depth of DEPTHS)
    for (const length of LENGTHS) {
      out.push({ as: (k * 7) % ASES, start: 150 + ((k * 263) % 2600), length, depth });
      k++;
    }
  return out;
}

describe('detector accuracy on a generated month (100 ASes, ±15 % noise per bucket)', () => {
  const month = { ases: ASES, historyWeeks: 4, days: 30, noise: 0.15 };

  it('finds every outage ≥ 50 % deep and ≥ 30 minutes long, its start within 15 minutes', () => {
    const cut = outages();
    const s = score(generateMonth({ ...month, outages: cut }), DEFAULT_PARAMS);
    expect(s.missed).toEqual([]);
    expect(s.found).toBe(cut.length);
    expect(Math.max(...s.startErrors)).toBeLessThanOrEqual(15);
    expect(s.falsePositives).toBe(0);
  });

  it('finds nothing in a normal month', () => {
    expect(score(generateMonth({ ...month, outages: [] }), DEFAULT_PARAMS).falsePositives).toBe(0);
  });

  it('leaves shallow dips alone by design (25 % deep)', () => {
    const shallow = outages().map((o) => ({ ...o, depth: 0.25 }));
    const s = score(generateMonth({ ...month, outages: shallow }), DEFAULT_PARAMS);
    expect(s.found).toBe(0);
  });
});
