/**
 * What the NetFlow v5, v9 and IPFIX decoders share at the level of a message: the result they
 * fill, the header check, how a datagram is rejected or a part of it skipped, and the timestamp
 * sanity rule.
 */
import type { DecodeDropReason, DecodeResult, FlowRecord } from '../types.js';
import type { DecodeContext } from './templates.js';

/** Default bounds of the timestamp sanity rule, relative to the receive time (ctx.nowMs). */
export const DEFAULT_MAX_FUTURE_MS = 24 * 3600 * 1000;
export const DEFAULT_MAX_PAST_MS = 3 * 365 * 24 * 3600 * 1000;

/**
 * Timestamp rule shared by all decoders: an end before the start is clamped (start = end); a
 * record whose end lies more than maxFutureMs after the receive time, or whose start lies more
 * than maxPastMs before it, is dropped (bad_timestamp).
 * @example
 * if (!saneTimes(record, ctx)) skip(res, 'bad_timestamp');
 */
export function saneTimes(rec: FlowRecord, ctx: DecodeContext): boolean {
  if (rec.endMs < rec.startMs) rec.startMs = rec.endMs;
  const future = ctx.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
  const past = ctx.maxPastMs ?? DEFAULT_MAX_PAST_MS;
  return rec.endMs <= ctx.nowMs + future && rec.startMs >= ctx.nowMs - past;
}

/**
 * Count a skipped part of a datagram.
 * @example
 * skip(res, 'unknown_template'); // res.skipped.unknown_template += 1
 */
export function skip(res: DecodeResult, reason: DecodeDropReason): void {
  res.skipped[reason] = (res.skipped[reason] ?? 0) + 1;
}

/**
 * An empty result for a protocol; the decoders fill it in.
 * @example
 * const res = newResult('ipfix');
 */
export function newResult(protocol: DecodeResult['protocol']): DecodeResult {
  return {
    protocol,
    ok: true,
    records: 0,
    // Present from the start (undefined until a data record is decoded): adding it later would
    // move the result to a transition map that GC may drop, deoptimizing the decoder each time.
    dataRecords: undefined,
    domain: 0,
    sequence: 0,
    uptimeMs: -1,
    exportMs: 0,
    skipped: {},
    templatesLearned: 0,
    ignored: 0,
  };
}

/**
 * Mark a result as a rejected datagram.
 * @example
 * if (length !== buf.length) return fail(res, 'bad_length');
 */
export function fail(res: DecodeResult, reason: DecodeDropReason): DecodeResult {
  res.ok = false;
  res.reason = reason;
  return res;
}

/**
 * The message as a DataView when it holds at least a header of `headerLength` bytes starting
 * with `version`; otherwise undefined, and `res` rejects it: truncated, or bad_version with
 * protocol 'unknown' (a datagram of another version is not this protocol's).
 * @example
 * const res = newResult('v9');
 * const dv = openMessage(buf, 9, 20, res);
 * if (dv === undefined) return res;
 */
export function openMessage(
  buf: Uint8Array,
  version: number,
  headerLength: number,
  res: DecodeResult,
): DataView | undefined {
  if (buf.length < headerLength) {
    fail(res, 'truncated');
    return undefined;
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint16(0) === version) return dv;
  res.protocol = 'unknown';
  fail(res, 'bad_version');
  return undefined;
}
