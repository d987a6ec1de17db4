/**
 * NetFlow / IPFIX entry point: dispatch one UDP payload on its version field.
 */
import type { DecodeResult, FlowSink } from '../types.js';
import { decodeIpfix } from './ipfix.js';
import { fail, newResult } from './message.js';
import type { DecodeContext } from './templates.js';
import { decodeV5 } from './v5.js';
import { decodeV9 } from './v9.js';

export { decodeIpfix } from './ipfix.js';
export { DEFAULT_MAX_FUTURE_MS, DEFAULT_MAX_PAST_MS } from './message.js';
export type {
  DecodeContext,
  LearnOutcome,
  RegistryChange,
  RegistryOptions,
  SerializedTemplate,
  Template,
  TemplateField,
  TemplateKind,
  TemplateProtocol,
} from './templates.js';
export { SourceState, TemplateRegistry } from './templates.js';
export { decodeV5, V5_MAX_RECORDS } from './v5.js';
export { decodeV9 } from './v9.js';

/**
 * Decode a NetFlow v5, v9 or IPFIX datagram, chosen by its first two bytes. Never throws on
 * bad input: the result says ok:false with a reason. A datagram of another version (or too
 * short to carry one) is protocol 'unknown', reason 'bad_version' (or 'truncated').
 * @example
 * const registry = new TemplateRegistry();
 * const record = newFlowRecord();
 * const res = decodeNetflow(payload, { exporter: rinfo.address, registry, nowMs: Date.now(), record }, (r) =>
 *   aggregator.addRecord(r, classify(r), r.samplingRate || 1),
 * );
 * if (!res.ok) metrics.decodeError(res.reason!);
 */
export function decodeNetflow(buf: Uint8Array, ctx: DecodeContext, sink: FlowSink): DecodeResult {
  if (buf.length < 2) return fail(newResult('unknown'), 'truncated');
  const version = (buf[0]! << 8) | buf[1]!;
  switch (version) {
    case 5:
      return decodeV5(buf, ctx, sink);
    case 9:
      return decodeV9(buf, ctx, sink);
    case 10:
      return decodeIpfix(buf, ctx, sink);
    default:
      return fail(newResult('unknown'), 'bad_version');
  }
}
