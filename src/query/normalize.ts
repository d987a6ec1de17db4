/**
 * The normalizations of the NetFlows answers. Each takes every series of a request at once, so the
 * series stay comparable: they share one scale.
 */
import { badParam } from '../errors.js';
import { formatValue } from './format.js';

/** The value shown where a percentage change has a zero baseline and so no meaning. */
export const ZERO_BASELINE_VALUE = '0';

/**
 * Percentage change of each value against the baseline at the same position. Over a zero
 * baseline there is none: {@link ZERO_BASELINE_VALUE} is shown, and where the value itself is
 * not zero (a real change the number hides) its position is listed in `zeroBaseline`.
 * @example percentageChange([3, 5, 0], [2, 0, 0]) // { values: ['50', '0', '0'], zeroBaseline: [1] }
 */
export function percentageChange(
  values: readonly number[],
  base: readonly number[],
): { values: string[]; zeroBaseline: number[] } {
  const zeroBaseline: number[] = [];
  const out = values.map((v, k) => {
    const b = base[k] ?? 0;
    if (b !== 0) return formatValue((100 * (v - b)) / b);
    if (v !== 0) zeroBaseline.push(k);
    return ZERO_BASELINE_VALUE;
  });
  return { values: out, zeroBaseline };
}

/**
 * PERCENTAGE_CHANGE compares a series with a baseline: it needs exactly two series, the second
 * the baseline. /timeseries and /timeseries_groups share the rule.
 */
export function checkPercentageChange(seriesCount: number): void {
  if (seriesCount !== 2)
    throw badParam(
      'normalization',
      `PERCENTAGE_CHANGE needs exactly two series (the second is the baseline), got ${seriesCount}`,
    );
}

/** Series (by index) whose percentage change hid values over a zero baseline, and where. */
export type ZeroBaselines = { series: number; positions: number[]; groups?: string[] }[];

/**
 * The normalizations of /timeseries: MIN0_MAX (÷ the largest value of all series, the default),
 * MIN_MAX, PERCENTAGE_CHANGE (against the second series) and RAW_VALUES.
 * @example normalizeSeries([[1, 2], [4, 0]], 'MIN0_MAX').values // [['0.25', '0.5'], ['1', '0']]
 */
export function normalizeSeries(
  values: number[][],
  method: string,
): { values: string[][]; zeroBaselines: ZeroBaselines } {
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  for (const s of values)
    for (const v of s) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  const plain = (out: string[][]) => ({ values: out, zeroBaselines: [] });
  switch (method) {
    case 'RAW_VALUES':
      return plain(values.map((s) => s.map(formatValue)));
    case 'MIN_MAX': {
      const range = max - min;
      return plain(values.map((s) => s.map((v) => formatValue(range === 0 ? 0 : (v - min) / range))));
    }
    case 'PERCENTAGE_CHANGE': {
      const changes = values.map((s) => percentageChange(s, values[1]!));
      return {
        values: changes.map((c) => c.values),
        zeroBaselines: changes
          .map((c, series) => ({ series, positions: c.zeroBaseline }))
          .filter((z) => z.positions.length > 0),
      };
    }
    default: {
      return plain(values.map((s) => s.map((v) => formatValue(max === 0 ? 0 : v / max))));
    }
  }
}

/**
 * The normalizations of /timeseries_groups, per series' grid of group → value per bucket:
 * PERCENTAGE, each group's share of its bucket; MIN0_MAX, ÷ the largest value of all series; or
 * PERCENTAGE_CHANGE, each group against the same group of the second series (the baseline; a
 * group the baseline lacks has a zero baseline).
 * @example
 * normalizeGroups([new Map([['HTTP', [1, 0]], ['OTHER', [3, 0]]])], 'PERCENTAGE').values
 * // [{ HTTP: ['25', '0'], OTHER: ['75', '0'] }]
 */
export function normalizeGroups(
  grids: Map<string, number[]>[],
  method: 'PERCENTAGE' | 'MIN0_MAX' | 'PERCENTAGE_CHANGE',
): { values: Record<string, string[]>[]; zeroBaselines: ZeroBaselines } {
  if (method === 'PERCENTAGE_CHANGE') {
    const base = grids[1]!;
    const zeroBaselines: ZeroBaselines = [];
    const values = grids.map((grid, series) => {
      const out: Record<string, string[]> = {};
      const positions = new Set<number>();
      const groups: string[] = [];
      for (const [g, vs] of grid) {
        const change = percentageChange(vs, base.get(g) ?? []);
        out[g] = change.values;
        if (change.zeroBaseline.length > 0) groups.push(g);
        for (const k of change.zeroBaseline) positions.add(k);
      }
      if (positions.size > 0)
        zeroBaselines.push({ series, positions: [...positions].sort((a, b) => a - b), groups });
      return out;
    });
    return { values, zeroBaselines };
  }
  // A loop, not Math.max(...values): groups × buckets × series can exceed the argument limit.
  let max = 0;
  for (const grid of grids) for (const vs of grid.values()) for (const v of vs) if (v > max) max = v;
  const values = grids.map((grid) => {
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
  return { values, zeroBaselines: [] };
}
