/**
 * The traffic-anomaly detector's core, pure: series of 15-minute buckets in, anomaly intervals
 * out. The method and its parameters are argued in docs/decisions/0009-anomalies.md; in short,
 * each closed bucket of an AS or location is compared with what the same weekday and slot carried
 * over the previous weeks (their median), scaled by how the rest of the traffic compares with its
 * own such baseline right now, and an anomaly opens after a run of buckets far below that.
 */

export const BUCKET_MS = 15 * 60_000;
export const WEEK_MS = 7 * 86_400_000;
/** Buckets in a week: the baseline looks this many buckets back per week. */
export const BUCKETS_PER_WEEK = WEEK_MS / BUCKET_MS;

/** What the detector is tuned by; the defaults are {@link DEFAULT_PARAMS}. */
export interface DetectorParams {
  /** Weeks of history the baseline is the median of. */
  weeks: number;
  /** Fewest of those weeks that must have data in a slot for it to have a baseline. */
  minWeeks: number;
  /** A bucket is low when observed / expected is below this. */
  dropBelow: number;
  /** Consecutive low buckets that open an anomaly. */
  openAfter: number;
  /** A bucket is recovered when observed / expected is at least this. */
  recoverAbove: number;
  /** Consecutive recovered buckets that close an anomaly. */
  closeAfter: number;
  /** Entities carrying less than this share of all traffic over the baseline span are not watched. */
  minShare: number;
  /**
   * When the rest of the traffic is below this fraction of its own baseline, the collection itself
   * is failing (an exporter down, a collector away): the bucket says nothing about one entity.
   */
  minRestScale: number;
}

export const DEFAULT_PARAMS: DetectorParams = {
  weeks: 4,
  minWeeks: 2,
  dropBelow: 0.6,
  openAfter: 2,
  recoverAbove: 0.75,
  closeAfter: 2,
  minShare: 0.005,
  minRestScale: 0.2,
};

/**
 * One entity's traffic and the rest of the traffic, per bucket from `startMs`: `NaN` where nothing
 * is known (no traffic at all was collected then, or the data quality rules the bucket out).
 */
export interface SeriesInput {
  startMs: number;
  /** The entity's bytes per bucket; 0 where it sent nothing while others did. */
  values: ArrayLike<number>;
  /** Every other entity's bytes per bucket. */
  rest: ArrayLike<number>;
  /** Buckets not to judge (exporter loss or unknown sampling there), by index. */
  skip?: ReadonlySet<number> | undefined;
}

/** A detected anomaly: [startMs, endMs), endMs null while it lasts. */
export interface AnomalyInterval {
  startMs: number;
  endMs: number | null;
  /** 1 − the mean observed / expected over its low buckets, in [0, 1]. */
  depth: number;
  /** Mean expected bytes per bucket over its low buckets. */
  baseline: number;
  /** Mean observed bytes per bucket over its low buckets. */
  observed: number;
}

/**
 * The median of the finite numbers among `xs`, or NaN when there are fewer than `min` of them.
 * @example median([3, NaN, 1, 2], 2) // 2
 */
export function median(xs: readonly number[], min = 1): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length < Math.max(1, min)) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** The same slot in the `weeks` weeks before bucket `i`, as values of `xs` (NaN before the start). */
function sameSlot(xs: ArrayLike<number>, i: number, weeks: number): number[] {
  const out: number[] = [];
  for (let k = 1; k <= weeks; k++) {
    const j = i - k * BUCKETS_PER_WEEK;
    out.push(j >= 0 ? xs[j]! : Number.NaN);
  }
  return out;
}

/**
 * The expected bytes of each bucket from index `from` on: the baseline of its slot scaled by the
 * rest of the traffic; NaN where it cannot be judged (no baseline, no data, a skipped bucket, the
 * rest of the traffic collapsed, a baseline of 0).
 * @example expectedBytes({ startMs, values, rest }, DEFAULT_PARAMS, 4 * BUCKETS_PER_WEEK)
 */
export function expectedBytes(input: SeriesInput, params: DetectorParams, from: number): Float64Array {
  const n = input.values.length;
  const out = new Float64Array(Math.max(0, n - from)).fill(Number.NaN);
  for (let i = from; i < n; i++) {
    const value = input.values[i]!;
    const rest = input.rest[i]!;
    if (!Number.isFinite(value) || !Number.isFinite(rest) || input.skip?.has(i)) continue;
    const baseline = median(sameSlot(input.values, i, params.weeks), params.minWeeks);
    const restBaseline = median(sameSlot(input.rest, i, params.weeks), params.minWeeks);
    if (!(baseline > 0)) continue;
    // With no other traffic to compare with (a single entity), its own history is all there is.
    const scale = restBaseline > 0 ? rest / restBaseline : 1;
    if (scale < params.minRestScale) continue;
    out[i - from] = baseline * scale;
  }
  return out;
}

/**
 * Observed / expected for each bucket from index `from` on; NaN where it cannot be judged.
 * @example ratios({ startMs, values, rest }, DEFAULT_PARAMS, 4 * BUCKETS_PER_WEEK)
 */
export function ratios(input: SeriesInput, params: DetectorParams, from: number): Float64Array {
  const expected = expectedBytes(input, params, from);
  return expected.map((e, i) => input.values[from + i]! / e);
}

/**
 * Runs the open/close rule over the buckets from index `from`: an anomaly starts at the first of
 * `openAfter` consecutive buckets below `dropBelow`, and ends at the first of `closeAfter`
 * consecutive buckets at or above `recoverAbove`. A bucket that cannot be judged breaks either run
 * (it proves neither a drop nor a recovery), and an anomaly still open at the end has no end.
 * @example
 * detect({ startMs, values, rest }, DEFAULT_PARAMS, 4 * BUCKETS_PER_WEEK)
 * // [{ startMs: …, endMs: …, depth: 0.9, baseline: 1.2e9, observed: 1.2e8 }]
 */
export function detect(input: SeriesInput, params: DetectorParams, from: number): AnomalyInterval[] {
  const expected = expectedBytes(input, params, from);
  const r = expected.map((e, i) => input.values[from + i]! / e);
  const at = (i: number) => input.startMs + (from + i) * BUCKET_MS;
  const found: AnomalyInterval[] = [];
  let lowRun = 0;
  let goodRun = 0;
  let open: { start: number; ratioSum: number; expectedSum: number; observedSum: number; n: number } | null =
    null;
  const close = (endIndex: number | null) => {
    if (!open) return;
    const meanRatio = open.n ? open.ratioSum / open.n : 0;
    found.push({
      startMs: at(open.start),
      endMs: endIndex === null ? null : at(endIndex),
      depth: Math.min(1, Math.max(0, 1 - meanRatio)),
      baseline: open.n ? open.expectedSum / open.n : 0,
      observed: open.n ? open.observedSum / open.n : 0,
    });
    open = null;
  };
  const addLow = (o: NonNullable<typeof open>, i: number) => {
    o.ratioSum += Math.min(1, r[i]!);
    o.expectedSum += expected[i]!;
    o.observedSum += input.values[from + i]!;
    o.n++;
  };
  for (let i = 0; i < r.length; i++) {
    const q = r[i]!;
    const known = Number.isFinite(q);
    if (!open) {
      lowRun = known && q < params.dropBelow ? lowRun + 1 : 0;
      if (lowRun >= params.openAfter) {
        const o = { start: i - lowRun + 1, ratioSum: 0, expectedSum: 0, observedSum: 0, n: 0 };
        for (let j = o.start; j <= i; j++) addLow(o, j);
        open = o;
        lowRun = 0;
        goodRun = 0;
      }
      continue;
    }
    goodRun = known && q >= params.recoverAbove ? goodRun + 1 : 0;
    if (goodRun >= params.closeAfter) {
      close(i - goodRun + 1);
      goodRun = 0;
      continue;
    }
    if (known && q < params.recoverAbove) addLow(open, i);
  }
  close(null);
  return found;
}
