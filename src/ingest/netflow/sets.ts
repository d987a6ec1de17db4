/**
 * The set walk NetFlow v9 (flowsets, RFC 3954) and IPFIX (sets, RFC 7011) share: after the
 * header, a chain of (set id, length, body); template and options template sets go to the
 * protocol's template parser, data sets (id ≥ 256) to the data set decoder with the template of
 * their id, the reserved ids are counted and skipped. Only the set ids and the template record
 * layouts differ, and each protocol passes those in a {@link SetLayout}.
 */
import type { DecodeDropReason, DecodeResult, FlowSink } from '../types.js';
import { decodeDataSet, type HeaderClock } from './dataset.js';
import { MAX_FIELDS_HARD } from './elements.js';
import { fail, skip } from './message.js';
import type { DecodeContext, SourceState, TemplateKind, TemplateProtocol } from './templates.js';

/** Data sets have ids from 256; lower ids are template sets or reserved. */
export const FIRST_DATA_SET = 256;

/** Scratch field list a template record is parsed into, before it is known to be new. */
export const FIELD_SCRATCH = {
  count: 0,
  types: new Uint16Array(MAX_FIELDS_HARD),
  lengths: new Uint16Array(MAX_FIELDS_HARD),
  pens: new Uint32Array(MAX_FIELDS_HARD),
};

/**
 * Parses the template records of a (options) template set body from `p` to `end` into the
 * registry; returns the reason the rest of the set was abandoned, if it was.
 */
export type TemplateSetParser = (
  dv: DataView,
  p: number,
  end: number,
  options: boolean,
  source: SourceState,
  ctx: DecodeContext,
  res: DecodeResult,
) => DecodeDropReason | undefined;

/** How one protocol lays out its sets. */
export interface SetLayout {
  protocol: TemplateProtocol;
  templateSet: number;
  optionsTemplateSet: number;
  parseTemplates: TemplateSetParser;
}

/**
 * Walk the sets of a message from `off` to `end` and check that their lengths chain: every set
 * at least 4 bytes and inside the datagram. Trailing bytes shorter than a set header are
 * tolerated as padding. Done before anything is decoded, so a rejected datagram emits nothing.
 */
function checkSetChain(dv: DataView, off: number, end: number): DecodeDropReason | undefined {
  while (end - off >= 4) {
    const len = dv.getUint16(off + 2);
    if (len < 4 || len > end - off) return 'bad_length';
    off += len;
  }
  return undefined;
}

/**
 * Decode the sets of a message from `off` (after the header) to `end`: first check that their
 * lengths chain (else the datagram is rejected, nothing emitted), then templates into the
 * registry, data records to the sink, everything counted in `res`, which is returned. The
 * source's state is created only when a template set arrives, and dropped again when that set
 * left it empty. `uptimeMs` is the header's sysUptime (v9), -1 without one (IPFIX).
 * @example
 * return decodeSets(dv, 20, buf.length, V9_SETS, res.uptimeMs, ctx, sink, res);
 */
export function decodeSets(
  dv: DataView,
  off: number,
  end: number,
  layout: SetLayout,
  uptimeMs: number,
  ctx: DecodeContext,
  sink: FlowSink,
  res: DecodeResult,
): DecodeResult {
  const bad = checkSetChain(dv, off, end);
  if (bad !== undefined) return fail(res, bad);
  const clock: HeaderClock = { exportMs: res.exportMs, uptimeMs };
  const { protocol, templateSet, optionsTemplateSet } = layout;
  let source = ctx.registry.findSource(protocol, ctx.exporter, res.domain);
  while (end - off >= 4) {
    const id = dv.getUint16(off);
    const setEnd = off + dv.getUint16(off + 2);
    if (id === templateSet || id === optionsTemplateSet) {
      source ??= ctx.registry.sourceFor(protocol, ctx.exporter, res.domain);
      const abandoned = layout.parseTemplates(
        dv,
        off + 4,
        setEnd,
        id === optionsTemplateSet,
        source,
        ctx,
        res,
      );
      if (abandoned !== undefined) skip(res, abandoned);
      if (ctx.registry.releaseIfEmpty(source)) source = undefined;
    } else if (id >= FIRST_DATA_SET) {
      const tpl = source === undefined ? undefined : ctx.registry.getTemplate(source, id, ctx.nowMs);
      if (tpl === undefined || source === undefined) skip(res, 'unknown_template');
      else decodeDataSet(dv, off + 4, setEnd, tpl, source, clock, ctx, sink, res);
    } else {
      res.ignored++; // reserved set ids
    }
    off = setEnd;
  }
  return res;
}

/**
 * Learn the template in {@link FIELD_SCRATCH} under `id`, counting the outcome: refused
 * definitions (an id below 256, too many fields, an unusable plan) count as skipped. Returns
 * whether it was taken.
 * @example
 * readFields(dv, p + 4, count); // into FIELD_SCRATCH
 * learnTemplate(id, 'data', 0, source, ctx, res);
 */
export function learnTemplate(
  id: number,
  kind: TemplateKind,
  scopeCount: number,
  source: SourceState,
  ctx: DecodeContext,
  res: DecodeResult,
): boolean {
  if (id < FIRST_DATA_SET) {
    skip(res, 'bad_template');
    return false;
  }
  const outcome = ctx.registry.learn(source, id, kind, scopeCount, FIELD_SCRATCH, ctx.nowMs);
  if (outcome === 'too_many' || outcome === 'bad_template') {
    skip(res, outcome);
    return false;
  }
  res.templatesLearned++;
  return true;
}
