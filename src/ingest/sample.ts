/**
 * The sampling step: the rate (1 in N) that scales a decoded record's bytes and packets. Shared
 * by the UDP collector and `POST /ingest/flows`; runs once per record, so it allocates nothing.
 */
import type { FlowRecord } from './types.js';

/** What the sampling step reads and counts per exporter (an {@link ExporterAccount} is one). */
export interface SamplingAccount {
  /** Rate configured for this exporter (`samplingOverrides`), 0 when none: wins over the record's. */
  readonly samplingOverride: number;
  /** Records whose rate was unknown, so the default was used. */
  unsampledRecords: number;
  /** Records per rate used. */
  readonly rates: Map<number, number>;
}

/**
 * The rate for one record of `exporter`: the exporter's override, else the rate the decoder
 * found (v5 header, v9/IPFIX sampler options, sFlow sample), else `defaultRate`, in which case
 * the record is counted as unsampled, never silently taken as 1:1. Counts the rate used.
 * @example
 * const rate = sample(record, exporter, config.defaultSamplingRate);
 * aggregator.addRecord(record, cls, rate);
 */
export function sample(r: FlowRecord, exporter: SamplingAccount, defaultRate: number): number {
  let rate = exporter.samplingOverride || r.samplingRate;
  if (rate <= 0) {
    rate = defaultRate;
    exporter.unsampledRecords++;
  }
  exporter.rates.set(rate, (exporter.rates.get(rate) ?? 0) + 1);
  return rate;
}
