/**
 * The contract between the flow decoders (pure functions over bytes) and the rest of the
 * collector. Decoders fill one reusable {@link FlowRecord} per record and hand it to a sink, so
 * the hot loop allocates nothing per record; the sink copies what it keeps.
 */

/** One decoded flow, protocol-neutral. Reused by the decoder: copy fields, never keep the object. */
export interface FlowRecord {
  /** Absolute flow start, Unix milliseconds (UTC). */
  startMs: number;
  /** Absolute flow end, Unix milliseconds (UTC); equal to startMs for sampled packets. */
  endMs: number;
  /** Bytes as exported, not yet scaled by sampling. */
  bytes: number;
  /** Packets as exported, not yet scaled by sampling. */
  packets: number;
  /**
   * Sampling rate that applies to this record as known to the decoder (1 in N): v5 header
   * interval, v9/IPFIX per-record or per-sampler options data, sFlow sampling rate. 0 = unknown.
   */
  samplingRate: number;
  /** 4 or 6; 0 when the record carried no address. */
  ipVersion: number;
  /** Source address: 4 bytes used for IPv4, 16 for IPv6. Reused buffer of length 16. */
  srcAddr: Uint8Array;
  /** Destination address, as srcAddr. */
  dstAddr: Uint8Array;
  srcPort: number;
  dstPort: number;
  /** IP protocol number (6 TCP, 17 UDP, ...). */
  proto: number;
  /** BGP source AS reported by the exporter, 0 when absent. */
  srcAs: number;
  /** BGP destination AS reported by the exporter, 0 when absent. */
  dstAs: number;
  inIf: number;
  outIf: number;
}

/**
 * A zeroed record; every field present from the start, so all records share one hidden class.
 * @example
 * const record = newFlowRecord(); // one per decoder loop, handed to the sink again and again
 */
export function newFlowRecord(): FlowRecord {
  return {
    startMs: 0,
    endMs: 0,
    bytes: 0,
    packets: 0,
    samplingRate: 0,
    ipVersion: 0,
    srcAddr: new Uint8Array(16),
    dstAddr: new Uint8Array(16),
    srcPort: 0,
    dstPort: 0,
    proto: 0,
    srcAs: 0,
    dstAs: 0,
    inIf: 0,
    outIf: 0,
  };
}

/**
 * Zeroes a reused record, field by field (per record in the v5 and sFlow decoders: no allocation).
 * @example
 * resetFlowRecord(ctx.record);
 */
export function resetFlowRecord(r: FlowRecord): void {
  r.startMs = 0;
  r.endMs = 0;
  r.bytes = 0;
  r.packets = 0;
  r.samplingRate = 0;
  r.ipVersion = 0;
  r.srcAddr.fill(0);
  r.dstAddr.fill(0);
  r.srcPort = 0;
  r.dstPort = 0;
  r.proto = 0;
  r.srcAs = 0;
  r.dstAs = 0;
  r.inIf = 0;
  r.outIf = 0;
}

/** Called once per decoded record. */
export type FlowSink = (record: FlowRecord) => void;

/**
 * Closed set of reasons a decoder drops a datagram (or part of it); what is dropped after
 * decoding has its own reasons (WriteDropReason in writer.ts, duplicates, the receive queue).
 * Used as the `reason` label of `flowradar_decode_errors_total` and in the exporters table, so it
 * must stay small and never carry packet content.
 */
export const DECODE_DROP_REASONS = [
  'truncated', // header or record shorter than declared
  'bad_version', // unknown protocol version
  'bad_length', // set / flowset / message length 0, beyond datagram, or inconsistent
  'bad_template', // template with 0 fields, record size 0, field count overrunning the set, ...
  'unknown_template', // data set whose template is not known (yet)
  'too_many', // counts beyond limits (sFlow samples/records > 1000, ...)
  'bad_timestamp', // absurd timestamps
  'bad_record', // a record that cannot be decoded (e.g. sFlow nested length lies)
] as const;
export type DecodeDropReason = (typeof DECODE_DROP_REASONS)[number];

/** What a decoder reports for one datagram, besides the records it gave to the sink. */
export interface DecodeResult {
  /**
   * What the datagram is: NetFlow v5, v9, IPFIX or sFlow v5; 'unknown' when its version is none
   * of them or it is too short to say (then ok is false and reason says why).
   */
  protocol: 'v5' | 'v9' | 'ipfix' | 'sflow' | 'unknown';
  /** false: the datagram was rejected as a whole; reason says why. */
  ok: boolean;
  reason?: DecodeDropReason;
  /** Records handed to the sink. */
  records: number;
  /**
   * Every data record decoded from a set whose template was known, options records and records
   * dropped for bad timestamps included: what an IPFIX sequence number counts.
   */
  dataRecords?: number;
  /** Observation domain (IPFIX) / source id (v9) / engine type<<8|id (v5) / sub-agent id (sFlow). */
  domain: number;
  /** Export sequence number as found in the header (sFlow: datagram sequence). */
  sequence: number;
  /** Exporter uptime in ms when the protocol carries it (v5, v9, sFlow), else -1. */
  uptimeMs: number;
  /** Export time, Unix ms (v5/v9/IPFIX header; sFlow: receive time given by caller). */
  exportMs: number;
  /** Parts skipped but not fatal, counted by reason (e.g. a data set with unknown template). */
  skipped: Partial<Record<DecodeDropReason, number>>;
  /** Template definitions taken: new, changed or refreshed (refused ones count in `skipped`). */
  templatesLearned: number;
  /** sFlow counter samples and other ignored-but-valid parts. */
  ignored: number;
}
