/**
 * The decode step: one datagram to the decoder of its listener (NetFlow v5/v9/IPFIX by version,
 * sFlow v5), records handed to the sink as they are decoded, the outcome and every drop reason
 * counted in the result. Never throws.
 */
import type { DatagramKind } from './dedupe.js';
import { decodeNetflow, type TemplateRegistry } from './netflow/index.js';
import { fail, newResult } from './netflow/message.js';
import { decodeSflow } from './sflow.js';
import type { DecodeResult, FlowRecord, FlowSink } from './types.js';

/** Per-datagram inputs of {@link decodeDatagram}. */
export interface DatagramContext {
  /** Sender address: the exporter (sFlow: the agent when the datagram names none). */
  exporter: string;
  /** v9/IPFIX templates and sampler state. */
  registry: TemplateRegistry;
  /** Receive time, Unix ms. */
  nowMs: number;
  /** Reused for every record handed to the sink. */
  record: FlowRecord;
}

/**
 * Decodes one datagram of `kind`. A datagram rejected as a whole says so with `ok: false` and a
 * reason (a version no decoder knows is protocol 'unknown', reason 'bad_version'); parts skipped
 * count in `skipped`. Decoders never throw by contract: if one does, the datagram counts as
 * bad_record of protocol 'unknown' and `onThrow` hears why.
 * @example
 * const res = decodeDatagram(buf, 'netflow', { exporter, registry, nowMs: Date.now(), record }, sink);
 * if (!res.ok) metrics.decodeError(res.reason!);
 */
export function decodeDatagram(
  buf: Uint8Array,
  kind: DatagramKind,
  ctx: DatagramContext,
  sink: FlowSink,
  onThrow?: (err: unknown) => void,
): DecodeResult {
  try {
    return kind === 'sflow'
      ? decodeSflow(buf, { nowMs: ctx.nowMs, record: ctx.record, agentFallback: ctx.exporter }, sink)
      : decodeNetflow(buf, ctx, sink);
  } catch (err) {
    onThrow?.(err);
    return fail(newResult('unknown'), 'bad_record');
  }
}
