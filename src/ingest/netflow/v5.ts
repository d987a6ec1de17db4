/**
 * NetFlow v5 decoder: a pure function over one datagram. Fixed 24-byte header, then `count`
 * fixed 48-byte records; no templates.
 */
import type { DecodeResult, FlowSink } from '../types.js';
import { resetFlowRecord } from '../types.js';
import { fail, newResult, openMessage, saneTimes, skip } from './message.js';
import type { DecodeContext } from './templates.js';

const HEADER_LENGTH = 24;
const RECORD_LENGTH = 48;
/** Cisco's documented maximum of records per v5 datagram. */
export const V5_MAX_RECORDS = 30;

/**
 * Decode one NetFlow v5 datagram.
 *
 * Length rules: shorter than the header → truncated; count > 30 → bad_length; fewer bytes than
 * 24 + count × 48 → truncated (nothing emitted); bytes after the last record are ignored.
 * Timestamps: first/last are sysUptime-relative; absolute = unix_secs × 1000 +
 * floor(unix_nsecs / 1e6) − (sysUptime − first), the difference taken as signed 32-bit so a
 * flow that started before an uptime wraparound stays in the recent past. Sampling: the low 14
 * bits of sampling_interval; 0 means "no sampling configured" and gives a rate of 1.
 * @example
 * const res = decodeV5(payload, { exporter: '192.0.2.1', registry, nowMs: Date.now(), record }, sink);
 */
export function decodeV5(buf: Uint8Array, ctx: DecodeContext, sink: FlowSink): DecodeResult {
  const res = newResult('v5');
  const dv = openMessage(buf, 5, HEADER_LENGTH, res);
  if (dv === undefined) return res;
  const count = dv.getUint16(2);
  const uptime = dv.getUint32(4);
  res.uptimeMs = uptime;
  res.exportMs = dv.getUint32(8) * 1000 + Math.floor(dv.getUint32(12) / 1e6);
  res.sequence = dv.getUint32(16);
  res.domain = (dv.getUint8(20) << 8) | dv.getUint8(21);
  if (count > V5_MAX_RECORDS) return fail(res, 'bad_length');
  if (HEADER_LENGTH + count * RECORD_LENGTH > buf.length) return fail(res, 'truncated');
  const rate = dv.getUint16(22) & 0x3fff || 1;

  const rec = ctx.record;
  for (let i = 0, off = HEADER_LENGTH; i < count; i++, off += RECORD_LENGTH) {
    resetFlowRecord(rec);
    for (let b = 0; b < 4; b++) {
      rec.srcAddr[b] = dv.getUint8(off + b);
      rec.dstAddr[b] = dv.getUint8(off + 4 + b);
    }
    rec.ipVersion = 4;
    rec.inIf = dv.getUint16(off + 12);
    rec.outIf = dv.getUint16(off + 14);
    rec.packets = dv.getUint32(off + 16);
    rec.bytes = dv.getUint32(off + 20);
    rec.startMs = res.exportMs - ((uptime - dv.getUint32(off + 24)) | 0);
    rec.endMs = res.exportMs - ((uptime - dv.getUint32(off + 28)) | 0);
    rec.srcPort = dv.getUint16(off + 32);
    rec.dstPort = dv.getUint16(off + 34);
    rec.proto = dv.getUint8(off + 38);
    rec.srcAs = dv.getUint16(off + 40);
    rec.dstAs = dv.getUint16(off + 42);
    rec.samplingRate = rate;
    if (!saneTimes(rec, ctx)) {
      skip(res, 'bad_timestamp');
      continue;
    }
    res.records++;
    sink(rec);
  }
  return res;
}
