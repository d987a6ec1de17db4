/**
 * The dedupe step: a datagram whose (source, sequence number, content) was seen recently is a
 * duplicate (a router or a network path sending it twice) and must not count again. It runs
 * before decoding because records reach the aggregator while they are decoded.
 */
import { contentHash, type SequenceTracker } from './sequence.js';

/** The listener a datagram came to: NetFlow v5/v9 and IPFIX share one port, sFlow has its own. */
export type DatagramKind = 'netflow' | 'sflow';

/** A datagram as the duplicate check saw it; sequence tracking goes on with the same identity. */
export interface DatagramIdentity {
  /**
   * Its sequence source (protocol, domain or agent, exporter address), or undefined when the
   * header is too short to say (then the decoded protocol stands in for it).
   */
  key: string | undefined;
  sequence: number;
  /** Content hash: a reused sequence number with new content is not a duplicate. */
  hash: number;
}

/**
 * Protocol, domain (sFlow: agent and sub-agent) and sequence from a datagram's fixed header,
 * before decoding; undefined when the header is too short or of an unknown version.
 * @example
 * peekSource(ipfixDatagram, 'netflow'); // { key: 'ipfix|1', sequence: 4711 }
 */
export function peekSource(
  buf: Uint8Array,
  kind: DatagramKind,
): { key: string; sequence: number } | undefined {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (kind === 'sflow') {
    if (buf.length < 28 || dv.getUint32(0) !== 5) return undefined;
    const type = dv.getUint32(4);
    const at = type === 1 ? 12 : type === 2 ? 24 : -1;
    if (at < 0 || buf.length < at + 8) return undefined;
    const agent = Buffer.from(buf.subarray(8, at)).toString('hex');
    return { key: `sflow|${agent}|${dv.getUint32(at)}`, sequence: dv.getUint32(at + 4) };
  }
  if (buf.length < 20) return undefined;
  switch (dv.getUint16(0)) {
    case 5:
      return buf.length >= 24 ? { key: `v5|${dv.getUint16(20)}`, sequence: dv.getUint32(16) } : undefined;
    case 9:
      return { key: `v9|${dv.getUint32(16)}`, sequence: dv.getUint32(12) };
    case 10:
      return { key: `ipfix|${dv.getUint32(12)}`, sequence: dv.getUint32(8) };
    default:
      return undefined;
  }
}

/**
 * The datagram's identity, or 'duplicate' when `sequences` saw the same sequence number with the
 * same content from the same source recently (the caller counts it and drops the datagram).
 * @example
 * const id = dedupe(sequences, buf, '192.0.2.1', 'netflow');
 * if (id === 'duplicate') return metrics.dropped('duplicate', 1);
 */
export function dedupe(
  sequences: SequenceTracker,
  buf: Uint8Array,
  address: string,
  kind: DatagramKind,
): DatagramIdentity | 'duplicate' {
  const peek = peekSource(buf, kind);
  if (peek === undefined) return { key: undefined, sequence: 0, hash: 0 };
  const key = `${peek.key}|${address}`;
  const hash = contentHash(buf);
  if (sequences.isDuplicate(key, peek.sequence, hash)) return 'duplicate';
  return { key, sequence: peek.sequence, hash };
}
