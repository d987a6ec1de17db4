/**
 * NetFlow v9 decoder (RFC 3954): a pure function over one datagram. Templates and options data
 * go to the registry of the context; data records go to the sink, one reused record at a time.
 */
import type { DecodeResult, FlowSink } from '../types.js';
import { newResult, openMessage, skip } from './message.js';
import { decodeSets, FIELD_SCRATCH, learnTemplate, type SetLayout, type TemplateSetParser } from './sets.js';
import type { DecodeContext } from './templates.js';

const HEADER_LENGTH = 20;

/**
 * Decode one NetFlow v9 export packet.
 *
 * Header (20 bytes): version 9, count, sysUptime (ms), unix_secs, sequence (counts export
 * packets), source id. The header count is not trusted: flowsets are walked by their lengths.
 * @example
 * const res = decodeV9(payload, { exporter: '192.0.2.1', registry, nowMs: Date.now(), record }, sink);
 */
export function decodeV9(buf: Uint8Array, ctx: DecodeContext, sink: FlowSink): DecodeResult {
  const res = newResult('v9');
  const dv = openMessage(buf, 9, HEADER_LENGTH, res);
  if (dv === undefined) return res;
  res.uptimeMs = dv.getUint32(4);
  res.exportMs = dv.getUint32(8) * 1000;
  res.sequence = dv.getUint32(12);
  res.domain = dv.getUint32(16);
  return decodeSets(dv, HEADER_LENGTH, buf.length, V9_SETS, res.uptimeMs, ctx, sink, res);
}

/** Read `count` (type, length) pairs at `off` into the field scratch. Caller checked bounds. */
function readFields(dv: DataView, off: number, count: number): void {
  FIELD_SCRATCH.count = count;
  for (let i = 0; i < count; i++, off += 4) {
    FIELD_SCRATCH.types[i] = dv.getUint16(off);
    FIELD_SCRATCH.lengths[i] = dv.getUint16(off + 2);
    FIELD_SCRATCH.pens[i] = 0;
  }
}

/**
 * Template flowset (id 0): records of (template id, field count, fields). Options template
 * flowset (id 1): records of (template id, option scope length, option length) in bytes, then
 * scope and option fields; a scope length of 0 is accepted (RFC 3954 does not forbid it, the
 * options then describe the whole source), lengths that are not multiples of 4 abandon the set.
 * A zero field count is a bad template (v9 has no withdrawal) whose header is skipped; an
 * all-zero record header is padding. A field count beyond the limit or the flowset end abandons
 * the rest of the flowset: the reason is returned.
 */
const parseTemplates: TemplateSetParser = (dv, p, end, options, source, ctx, res) => {
  const headerLength = options ? 6 : 4;
  while (end - p >= headerLength) {
    const id = dv.getUint16(p);
    let count: number;
    let scopeCount = 0;
    if (options) {
      const scopeLen = dv.getUint16(p + 2);
      const optLen = dv.getUint16(p + 4);
      if (id === 0 && scopeLen === 0 && optLen === 0) return undefined; // padding
      if (scopeLen % 4 !== 0 || optLen % 4 !== 0) return 'bad_template';
      count = (scopeLen + optLen) / 4;
      scopeCount = scopeLen / 4;
    } else {
      count = dv.getUint16(p + 2);
      if (id === 0 && count === 0) return undefined; // padding
    }
    if (count === 0) {
      skip(res, 'bad_template');
      p += headerLength;
      continue;
    }
    if (count > ctx.registry.maxFieldsPerTemplate) return 'too_many';
    if (count * 4 > end - p - headerLength) return 'bad_template';
    readFields(dv, p + headerLength, count);
    p += headerLength + count * 4;
    learnTemplate(id, options ? 'options' : 'data', scopeCount, source, ctx, res);
  }
  return undefined;
};

const V9_SETS: SetLayout = { protocol: 'v9', templateSet: 0, optionsTemplateSet: 1, parseTemplates };
