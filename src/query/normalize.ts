/**
 * The normalizations of the NetFlows answers. Each takes every series of a request at once, so the
 * series stay comparable: they share one scale.
 */
import { formatValue } from './format.js';

/**
 * The normalizations of /timeseries: MIN0_MAX (÷ the largest value of all series, the default),
 * MIN_MAX, PERCENTAGE_CHANGE (against the second series) and RAW_VALUES.
 * @example normalizeSeries([[1, 2], [4, 0]], 'MIN0_MAX') // [['0.25', '0.5'], ['1', '0']]
 */
export function normalizeSeries(values: number[][], method: string): (string | null)[][] {
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  for (const s of values)
    for (const v of s) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  switch (method) {
    case 'RAW_VALUES':
      return values.map((s) => s.map(formatValue));
    case 'MIN_MAX': {
      const range = max - min;
      return values.map((s) => s.map((v) => formatValue(range === 0 ? 0 : (v - min) / range)));
    }
    case 'PERCENTAGE_CHANGE': {
      const base = values[1]!;
      // A zero baseline has no percentage change: 0 when the value is 0 too, else null.
      const change = (v: number, b: number) =>
        b === 0 ? (v === 0 ? '0' : null) : formatValue((100 * (v - b)) / b);
      return values.map((s) => s.map((v, k) => change(v, base[k]!)));
    }
    default: {
      return values.map((s) => s.map((v) => formatValue(max === 0 ? 0 : v / max)));
    }
  }
}

/**
 * The normalizations of /timeseries_groups, per series' grid of group → value per bucket:
 * PERCENTAGE, each group's share of its bucket, or MIN0_MAX, ÷ the largest value of all series.
 * @example
 * normalizeGroups([new Map([['HTTP', [1, 0]], ['OTHER', [3, 0]]])], 'PERCENTAGE')
 * // [{ HTTP: ['25', '0'], OTHER: ['75', '0'] }]
 */
export function normalizeGroups(
  grids: Map<string, number[]>[],
  method: 'PERCENTAGE' | 'MIN0_MAX',
): Record<string, string[]>[] {
  // A loop, not Math.max(...values): groups × buckets × series can exceed the argument limit.
  let max = 0;
  for (const grid of grids) for (const vs of grid.values()) for (const v of vs) if (v > max) max = v;
  return grids.map((grid) => {
    const totals: number[] = [];
    for (const vs of grid.values())
      vs.forEach((v, k) => {
        totals[k] = (totals[k] ?? 0) + v;
      });
    const out: Record<string, string[]> = {};
    for (const [g, vs] of grid)
      out[g] = vs.map((v, k) =>
        formatValue(
          method === 'PERCENTAGE' ? (totals[k] === 0 ? 0 : (100 * v) / totals[k]!) : max === 0 ? 0 : v / max,
        ),
      );
    return out;
  });
}
