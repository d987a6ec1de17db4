/**
 * IPFIX decoder (RFC 7011) over UDP: a pure function over one message. Templates and options
 * data go to the registry of the context; data records go to the sink, one reused record at a
 * time.
 */
import type { DecodeResult, FlowSink } from '../types.js';
import { fail, newResult, openMessage, skip } from './message.js';
import { decodeSets, FIELD_SCRATCH, learnTemplate, type SetLayout, type TemplateSetParser } from './sets.js';
import type { DecodeContext } from './templates.js';

const HEADER_LENGTH = 16;
const ENTERPRISE_BIT = 0x8000;

/**
 * Decode one IPFIX message.
 *
 * Header (16 bytes): version 10, message length (must equal the datagram length), export time
 * (s), sequence (counts data records, reported as is), observation domain id.
 * @example
 * const res = decodeIpfix(payload, { exporter: '192.0.2.1', registry, nowMs: Date.now(), record }, sink);
 */
export function decodeIpfix(buf: Uint8Array, ctx: DecodeContext, sink: FlowSink): DecodeResult {
  const res = newResult('ipfix');
  const dv = openMessage(buf, 10, HEADER_LENGTH, res);
  if (dv === undefined) return res;
  const length = dv.getUint16(2);
  res.exportMs = dv.getUint32(4) * 1000;
  res.sequence = dv.getUint32(8);
  res.domain = dv.getUint32(12);
  if (length !== buf.length) return fail(res, 'bad_length');
  return decodeSets(dv, HEADER_LENGTH, length, IPFIX_SETS, -1, ctx, sink, res);
}

/**
 * Read `count` field specifiers at `p` into the field scratch; enterprise-specific ones carry a
 * 4-byte enterprise number. Returns the offset after them, or -1 if they overrun `end`.
 */
function readFields(dv: DataView, p: number, end: number, count: number): number {
  FIELD_SCRATCH.count = count;
  for (let i = 0; i < count; i++) {
    if (end - p < 4) return -1;
    const type = dv.getUint16(p);
    FIELD_SCRATCH.lengths[i] = dv.getUint16(p + 2);
    p += 4;
    let pen = 0;
    if (type & ENTERPRISE_BIT) {
      if (end - p < 4) return -1;
      pen = dv.getUint32(p);
      p += 4;
    }
    FIELD_SCRATCH.types[i] = type & ~ENTERPRISE_BIT;
    FIELD_SCRATCH.pens[i] = pen;
  }
  return p;
}

function countEnterprise(count: number): number {
  let n = 0;
  for (let i = 0; i < count; i++) if (FIELD_SCRATCH.pens[i] !== 0) n++;
  return n;
}

/**
 * Template or options template set. Rules where the RFC leaves room:
 * - field count 0 is a withdrawal: over UDP it is ignored (counted in `ignored`), RFC 7011 §8.4;
 * - scope field count 0 or above the field count: bad_template, record skipped (§3.4.2.2 says
 *   it MUST NOT be zero);
 * - template id below 256: bad_template, record skipped;
 * - too many fields or fields overrunning the set: the rest of the set is abandoned (the reason
 *   is returned);
 * - enterprise-specific field specifiers are kept (skipped when decoding) and counted in
 *   `ignored` once per definition.
 */
const parseTemplates: TemplateSetParser = (dv, p, end, options, source, ctx, res) => {
  while (end - p >= 4) {
    const id = dv.getUint16(p);
    const count = dv.getUint16(p + 2);
    p += 4;
    if (count === 0) {
      res.ignored++;
      continue;
    }
    let scopeCount = 0;
    if (options) {
      if (end - p < 2) return 'bad_template';
      scopeCount = dv.getUint16(p);
      p += 2;
    }
    if (count > ctx.registry.maxFieldsPerTemplate) return 'too_many';
    const next = readFields(dv, p, end, count);
    if (next < 0) return 'bad_template';
    p = next;
    if (options && (scopeCount === 0 || scopeCount > count)) {
      skip(res, 'bad_template');
      continue;
    }
    if (learnTemplate(id, options ? 'options' : 'data', scopeCount, source, ctx, res))
      res.ignored += countEnterprise(count);
  }
  return undefined;
};

const IPFIX_SETS: SetLayout = { protocol: 'ipfix', templateSet: 2, optionsTemplateSet: 3, parseTemplates };
