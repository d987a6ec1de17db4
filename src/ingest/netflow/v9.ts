/**
 * NetFlow v9 decoder (RFC 3954): a pure function over one datagram. Templates and options data
 * go to the registry of the context; data records go to the sink, one reused record at a time.
 */
import type { DecodeDropReason, DecodeResult, FlowSink } from '../types.js';
import {
  checkSetChain,
  countLearn,
  decodeDataSet,
  FIELD_SCRATCH,
  fail,
  type HeaderClock,
  newResult,
  skip,
} from './fields.js';
import type { DecodeContext, SourceState, TemplateKind } from './templates.js';

const HEADER_LENGTH = 20;
const TEMPLATE_SET = 0;
const OPTIONS_TEMPLATE_SET = 1;
const FIRST_DATA_SET = 256;

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
  if (buf.length < HEADER_LENGTH) return fail(res, 'truncated');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint16(0) !== 9) return fail(res, 'bad_version');
  res.uptimeMs = dv.getUint32(4);
  res.exportMs = dv.getUint32(8) * 1000;
  res.sequence = dv.getUint32(12);
  res.domain = dv.getUint32(16);
  const end = buf.length;
  const bad = checkSetChain(dv, HEADER_LENGTH, end);
  if (bad !== undefined) return fail(res, bad);

  const clock: HeaderClock = { exportMs: res.exportMs, uptimeMs: res.uptimeMs };
  let source = ctx.registry.findSource('v9', ctx.exporter, res.domain);
  let off = HEADER_LENGTH;
  while (end - off >= 4) {
    const id = dv.getUint16(off);
    const len = dv.getUint16(off + 2);
    const body = off + 4;
    const setEnd = off + len;
    if (id === TEMPLATE_SET || id === OPTIONS_TEMPLATE_SET) {
      source ??= ctx.registry.sourceFor('v9', ctx.exporter, res.domain);
      const abandoned =
        id === TEMPLATE_SET
          ? parseTemplates(dv, body, setEnd, source, ctx, res)
          : parseOptionsTemplates(dv, body, setEnd, source, ctx, res);
      if (abandoned !== undefined) skip(res, abandoned);
      if (ctx.registry.releaseIfEmpty(source)) source = undefined;
    } else if (id >= FIRST_DATA_SET) {
      const tpl = source === undefined ? undefined : ctx.registry.getTemplate(source, id, ctx.nowMs);
      if (tpl === undefined || source === undefined) skip(res, 'unknown_template');
      else decodeDataSet(dv, body, setEnd, tpl, source, clock, ctx, sink, res);
    } else {
      res.ignored++; // reserved flowset ids 2..255
    }
    off = setEnd;
  }
  return res;
}

function learn(
  kind: TemplateKind,
  id: number,
  scopeCount: number,
  source: SourceState,
  ctx: DecodeContext,
  res: DecodeResult,
): void {
  if (id < FIRST_DATA_SET) {
    skip(res, 'bad_template');
    return;
  }
  countLearn(res, ctx.registry.learn(source, id, kind, scopeCount, FIELD_SCRATCH, ctx.nowMs));
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
 * Template flowset: records of (template id, field count, fields). A zero field count is a bad
 * template (v9 has no withdrawal) but its 4 bytes are skipped; an all-zero record is padding. A
 * field count beyond the limit or the flowset end abandons the rest of the flowset: the reason
 * is returned.
 */
function parseTemplates(
  dv: DataView,
  p: number,
  end: number,
  source: SourceState,
  ctx: DecodeContext,
  res: DecodeResult,
): DecodeDropReason | undefined {
  while (end - p >= 4) {
    const id = dv.getUint16(p);
    const count = dv.getUint16(p + 2);
    if (id === 0 && count === 0) return undefined; // padding
    if (count === 0) {
      skip(res, 'bad_template');
      p += 4;
      continue;
    }
    if (count > ctx.registry.maxFieldsPerTemplate) return 'too_many';
    if (count * 4 > end - p - 4) return 'bad_template';
    readFields(dv, p + 4, count);
    p += 4 + count * 4;
    learn('data', id, 0, source, ctx, res);
  }
  return undefined;
}

/**
 * Options template flowset: (template id, option scope length, option length) in bytes, then
 * scope and option fields. A scope length of 0 is accepted: RFC 3954 does not forbid it and the
 * options then describe the whole source. Lengths that are not multiples of 4 abandon the set.
 */
function parseOptionsTemplates(
  dv: DataView,
  p: number,
  end: number,
  source: SourceState,
  ctx: DecodeContext,
  res: DecodeResult,
): DecodeDropReason | undefined {
  while (end - p >= 6) {
    const id = dv.getUint16(p);
    const scopeLen = dv.getUint16(p + 2);
    const optLen = dv.getUint16(p + 4);
    if (id === 0 && scopeLen === 0 && optLen === 0) return undefined; // padding
    if (scopeLen % 4 !== 0 || optLen % 4 !== 0) return 'bad_template';
    const count = (scopeLen + optLen) / 4;
    if (count === 0) {
      skip(res, 'bad_template');
      p += 6;
      continue;
    }
    if (count > ctx.registry.maxFieldsPerTemplate) return 'too_many';
    if (scopeLen + optLen > end - p - 6) return 'bad_template';
    readFields(dv, p + 6, count);
    p += 6 + scopeLen + optLen;
    learn('options', id, scopeLen / 4, source, ctx, res);
  }
  return undefined;
}
