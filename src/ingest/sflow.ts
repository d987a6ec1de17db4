/**
 * sFlow v5 decoder (https://sflow.org/sflow_version_5.txt). Pure function over one UDP payload.
 *
 * Two passes over each datagram: {@link checkFraming} walks every sample and flow-record header
 * and rejects the datagram as a whole when a count or length lies, so a rejected datagram never
 * reaches the sink half-decoded; then the samples are decoded into the caller's reusable
 * FlowRecord. A flow sample whose content is inconsistent (e.g. a raw header longer than its
 * record) is dropped alone and counted in `skipped.bad_record`, the other samples still count.
 *
 * Hardening: every length and count is checked against the bytes left before use, every loop
 * consumes at least 4 bytes, nothing is allocated from a count, nothing throws.
 */
import {
  type DecodeDropReason,
  type DecodeResult,
  type FlowRecord,
  type FlowSink,
  resetFlowRecord,
} from './types.js';

/** Samples per datagram and flow records per sample above which a datagram is rejected ('too_many'). */
export const SFLOW_MAX_COUNT = 1000;

/** Per-datagram input of {@link decodeSflow}. */
export interface SflowContext {
  /** Agent name to report when the datagram carries none usable (rejected early, or 0.0.0.0 / ::). */
  agentFallback?: string;
  /** Receive time, Unix ms: sFlow carries no flow timestamps, so every record gets this time. */
  nowMs: number;
  /** Reused for every record; the sink must copy what it keeps. */
  record: FlowRecord;
}

/** {@link DecodeResult} plus the agent address in text form (allocated once per datagram). */
export type SflowResult = DecodeResult & { agent: string };

const ENTERPRISE_SHIFT = 12;
const FORMAT_MASK = 0xfff;
// Sample formats (enterprise 0).
// Counter samples (2, 4) and any other sample format are only counted in `ignored`.
const FLOW_SAMPLE = 1;
const FLOW_SAMPLE_EXPANDED = 3;
// Flow record formats (enterprise 0).
const REC_RAW_HEADER = 1;
const REC_SAMPLED_IPV4 = 3;
const REC_SAMPLED_IPV6 = 4;
const REC_EXTENDED_GATEWAY = 1003;
// Raw header protocols.
const HDR_ETHERNET = 1;
const HDR_IPV4 = 11;
const HDR_IPV6 = 12;
/** Fixed part of a flow sample up to and including the record count. */
const FLOW_SAMPLE_FIXED = 32;
const FLOW_SAMPLE_EXPANDED_FIXED = 44;
/** ifIndex value meaning "the agent itself / no interface": reported as 0 (unknown). */
const IF_INTERNAL = 0x3fffffff;

/** Big-endian unsigned 32-bit read; callers have checked the 4 bytes exist. */
function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

/** XDR opaque data is padded to 4 bytes; the declared length excludes the padding. */
function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** Offset after an XDR opaque of `len` bytes at `body`, tolerating a missing final padding. */
function nextOffset(body: number, len: number, end: number): number {
  return Math.min(body + pad4(len), end);
}

function isFlowSample(tag: number): boolean {
  return tag === FLOW_SAMPLE || tag === FLOW_SAMPLE_EXPANDED;
}

/**
 * Decode one sFlow v5 datagram. Each flow sample yields one FlowRecord (bytes = sampled frame
 * length, packets = 1, start = end = ctx.nowMs); counter and unknown samples count in `ignored`.
 * @example
 * const res = decodeSflow(payload, { nowMs: Date.now(), record, agentFallback: rinfo.address }, sink);
 * if (!res.ok) metrics.decodeError(res.reason!);
 */
export function decodeSflow(buf: Uint8Array, ctx: SflowContext, sink: FlowSink): SflowResult {
  const res = emptyResult(ctx);
  const first = readHeader(buf, res);
  if (first < 0) return res;
  const count = u32(buf, first - 4);
  if (count > SFLOW_MAX_COUNT) return reject(res, 'too_many');
  const framing = checkFraming(buf, first, buf.length, count);
  if (framing !== undefined) return reject(res, framing);
  decodeSamples(buf, first, buf.length, count, ctx, sink, res);
  return res;
}

/**
 * Datagram header: version, agent address, sub-agent id, sequence, uptime, sample count.
 * Fills `res` and returns the offset of the first sample, or -1 after rejecting the datagram.
 */
function readHeader(buf: Uint8Array, res: SflowResult): number {
  if (buf.length < 8) return fail(res, 'truncated');
  if (u32(buf, 0) !== 5) {
    res.protocol = 'unknown'; // not sFlow v5, whatever port it came to
    return fail(res, 'bad_version');
  }
  const addrType = u32(buf, 4);
  const addrLen = addrType === 1 ? 4 : addrType === 2 ? 16 : -1;
  // Without a known address length the rest of the header cannot be located.
  if (addrLen < 0) return fail(res, 'bad_record');
  const off = 8 + addrLen;
  if (buf.length < off + 16) return fail(res, 'truncated');
  const agent = formatAddress(buf, 8, addrLen);
  if (agent !== '') res.agent = agent;
  res.domain = u32(buf, off);
  res.sequence = u32(buf, off + 4);
  res.uptimeMs = u32(buf, off + 8);
  return off + 16;
}

function emptyResult(ctx: SflowContext): SflowResult {
  return {
    protocol: 'sflow',
    ok: true,
    records: 0,
    domain: 0,
    sequence: 0,
    uptimeMs: -1,
    exportMs: ctx.nowMs,
    skipped: {},
    templatesLearned: 0,
    ignored: 0,
    agent: ctx.agentFallback ?? '',
  };
}

function reject(res: SflowResult, reason: DecodeDropReason): SflowResult {
  res.ok = false;
  res.reason = reason;
  return res;
}

function fail(res: SflowResult, reason: DecodeDropReason): -1 {
  reject(res, reason);
  return -1;
}

/**
 * Pass 1: verify that `count` samples, and the flow records of every flow sample, fit inside
 * their parents. Returns the drop reason of the first lie found.
 */
function checkFraming(b: Uint8Array, off: number, end: number, count: number): DecodeDropReason | undefined {
  return checkItems(b, off, end, count, 'truncated', 'bad_length', true);
}

/**
 * Walk `count` XDR items (tag, length, body) from `off`: each must have its 8-byte header and its
 * body before `end`. A count that cannot fit, or a header cut, is `cut`; a body overrunning is
 * `overrun`. With `samples`, the items are samples and each flow sample's records are walked too.
 */
function checkItems(
  b: Uint8Array,
  off: number,
  end: number,
  count: number,
  cut: DecodeDropReason,
  overrun: DecodeDropReason,
  samples: boolean,
): DecodeDropReason | undefined {
  // Each item needs at least its 8-byte tag + length, so a larger count is a lie.
  if (count * 8 > end - off) return cut;
  for (let i = 0; i < count; i++) {
    if (end - off < 8) return cut;
    const tag = u32(b, off);
    const len = u32(b, off + 4);
    const body = off + 8;
    if (len > end - body) return overrun;
    if (samples && isFlowSample(tag)) {
      const r = checkFlowSampleFraming(b, body, body + len, tag === FLOW_SAMPLE_EXPANDED);
      if (r !== undefined) return r;
    }
    off = nextOffset(body, len, end);
  }
  return undefined;
}

/** A flow sample's fixed part, then its flow records: any lie about them is bad_record. */
function checkFlowSampleFraming(
  b: Uint8Array,
  start: number,
  end: number,
  expanded: boolean,
): DecodeDropReason | undefined {
  const fixed = expanded ? FLOW_SAMPLE_EXPANDED_FIXED : FLOW_SAMPLE_FIXED;
  if (end - start < fixed) return 'bad_record';
  const n = u32(b, start + fixed - 4);
  if (n > SFLOW_MAX_COUNT) return 'too_many';
  return checkItems(b, start + fixed, end, n, 'bad_record', 'bad_record', false);
}

/** Pass 2: framing is known to be sound; decode flow samples, count the rest. */
function decodeSamples(
  b: Uint8Array,
  off: number,
  end: number,
  count: number,
  ctx: SflowContext,
  sink: FlowSink,
  res: SflowResult,
): void {
  for (let i = 0; i < count; i++) {
    const tag = u32(b, off);
    const len = u32(b, off + 4);
    const body = off + 8;
    if (isFlowSample(tag)) {
      if (decodeFlowSample(b, body, body + len, tag === FLOW_SAMPLE_EXPANDED, ctx)) {
        sink(ctx.record);
        res.records++;
      } else {
        res.skipped.bad_record = (res.skipped.bad_record ?? 0) + 1;
      }
    } else {
      res.ignored++; // counter samples and unknown formats
    }
    off = nextOffset(body, len, end);
  }
}

/** Compact interface: 2-bit format + 30-bit value; only format 0 (ifIndex) names an interface. */
function compactIf(v: number): number {
  return expandedIf(v >>> 30, v & 0x3fffffff);
}

function expandedIf(format: number, value: number): number {
  return format === 0 && value !== IF_INTERNAL ? value : 0;
}

/** Fill ctx.record from one flow sample; false when a record's content is inconsistent. */
function decodeFlowSample(
  b: Uint8Array,
  start: number,
  end: number,
  expanded: boolean,
  ctx: SflowContext,
): boolean {
  const r = ctx.record;
  resetFlowRecord(r);
  r.startMs = ctx.nowMs;
  r.endMs = ctx.nowMs;
  r.packets = 1;
  // sequence, source id (expanded: type + index) precede the sampling rate.
  let p = start + (expanded ? 12 : 8);
  r.samplingRate = u32(b, p);
  p += 12; // sampling_rate, sample_pool, drops
  if (expanded) {
    r.inIf = expandedIf(u32(b, p), u32(b, p + 4));
    r.outIf = expandedIf(u32(b, p + 8), u32(b, p + 12));
    p += 16;
  } else {
    r.inIf = compactIf(u32(b, p));
    r.outIf = compactIf(u32(b, p + 4));
    p += 8;
  }
  const n = u32(b, p);
  p += 4;
  for (let i = 0; i < n; i++) {
    const tag = u32(b, p);
    const len = u32(b, p + 4);
    const body = p + 8;
    if (!decodeFlowRecord(b, tag, body, body + len, r)) return false;
    p = nextOffset(body, len, end);
  }
  return true;
}

function decodeFlowRecord(b: Uint8Array, tag: number, start: number, end: number, r: FlowRecord): boolean {
  if (tag >>> ENTERPRISE_SHIFT !== 0) return true;
  switch (tag & FORMAT_MASK) {
    case REC_RAW_HEADER:
      return decodeRawHeader(b, start, end, r);
    case REC_SAMPLED_IPV4:
      return decodeSampledIp(b, start, end, r, 4);
    case REC_SAMPLED_IPV6:
      return decodeSampledIp(b, start, end, r, 16);
    case REC_EXTENDED_GATEWAY:
      return decodeGateway(b, start, end, r);
    default:
      return true; // unknown records are skipped by their declared length
  }
}

/**
 * sampled_header: protocol, frame_length, stripped, header<>. Its frame length is the record's
 * bytes; addresses come from the first record that has them.
 */
function decodeRawHeader(b: Uint8Array, start: number, end: number, r: FlowRecord): boolean {
  if (end - start < 16) return false;
  const hlen = u32(b, start + 12);
  const h = start + 16;
  if (hlen > end - h) return false;
  r.bytes = u32(b, start + 4);
  if (r.ipVersion !== 0) return true;
  const proto = u32(b, start);
  if (proto === HDR_ETHERNET) parseEthernet(b, h, h + hlen, r);
  else if (proto === HDR_IPV4) parseIpv4(b, h, h + hlen, r);
  else if (proto === HDR_IPV6) parseIpv6(b, h, h + hlen, r);
  return true;
}

/**
 * sampled_ipv4 / sampled_ipv6: length, protocol, src, dst, src_port, dst_port, tcp_flags, tos.
 * Used only when no raw header gave the addresses; its IP length stands in for the frame length.
 */
function decodeSampledIp(b: Uint8Array, start: number, end: number, r: FlowRecord, alen: number): boolean {
  if (end - start < 8 + 2 * alen + 16) return false;
  if (r.ipVersion !== 0) return true;
  if (r.bytes === 0) r.bytes = u32(b, start);
  r.proto = u32(b, start + 4) & 0xff;
  let p = start + 8;
  copyAddr(b, p, alen, r.srcAddr);
  copyAddr(b, p + alen, alen, r.dstAddr);
  p += 2 * alen;
  r.srcPort = u32(b, p) & 0xffff;
  r.dstPort = u32(b, p + 4) & 0xffff;
  r.ipVersion = alen === 4 ? 4 : 6;
  return true;
}

/**
 * extended_gateway: next hop, as, src_as, src_peer_as, dst_as_path segments, (communities and
 * localpref follow; unused). srcAs = src_as; dstAs = last AS of the last non-empty segment.
 */
function decodeGateway(b: Uint8Array, start: number, end: number, r: FlowRecord): boolean {
  if (end - start < 4) return false;
  const t = u32(b, start);
  const alen = t === 1 ? 4 : t === 2 ? 16 : t === 0 ? 0 : -1;
  if (alen < 0) return false;
  let p = start + 4 + alen;
  if (end - p < 16) return false;
  r.srcAs = u32(b, p + 4);
  const segments = u32(b, p + 12);
  p += 16;
  let dstAs = 0;
  for (let i = 0; i < segments; i++) {
    if (end - p < 8) return false;
    const n = u32(b, p + 4);
    p += 8;
    if (n > (end - p) / 4) return false;
    if (n > 0) dstAs = u32(b, p + (n - 1) * 4);
    p += n * 4;
  }
  r.dstAs = dstAs;
  return true;
}

const TPID_8021Q = 0x8100;
const TPID_8021AD = 0x88a8;
const TPID_QINQ_OLD = 0x9100;

/** Ethernet II with any number of 802.1Q / 802.1ad tags; non-IP frames leave ipVersion 0. */
function parseEthernet(b: Uint8Array, p: number, end: number, r: FlowRecord): void {
  if (end - p < 14) return;
  let type = u16(b, p + 12);
  p += 14;
  while ((type === TPID_8021Q || type === TPID_8021AD || type === TPID_QINQ_OLD) && end - p >= 4) {
    type = u16(b, p + 2);
    p += 4;
  }
  if (type === 0x0800) parseIpv4(b, p, end, r);
  else if (type === 0x86dd) parseIpv6(b, p, end, r);
}

function parseIpv4(b: Uint8Array, p: number, end: number, r: FlowRecord): void {
  if (end - p < 20 || b[p]! >> 4 !== 4) return;
  const ihl = (b[p]! & 0x0f) * 4;
  if (ihl < 20) return;
  r.ipVersion = 4;
  r.proto = b[p + 9]!;
  copyAddr(b, p + 12, 4, r.srcAddr);
  copyAddr(b, p + 16, 4, r.dstAddr);
  // Only the first fragment carries the transport header.
  if ((u16(b, p + 6) & 0x1fff) !== 0) return;
  parsePorts(b, p + ihl, end, r);
}

const IPV6_HOP_BY_HOP = 0;
const IPV6_ROUTING = 43;
const IPV6_FRAGMENT = 44;
const IPV6_DEST_OPTS = 60;
/** Extension headers followed before giving up on finding the transport header. */
const IPV6_MAX_EXT = 8;

function parseIpv6(b: Uint8Array, p: number, end: number, r: FlowRecord): void {
  if (end - p < 40 || b[p]! >> 4 !== 6) return;
  r.ipVersion = 6;
  copyAddr(b, p + 8, 16, r.srcAddr);
  copyAddr(b, p + 24, 16, r.dstAddr);
  let next = b[p + 6]!;
  p += 40;
  for (let i = 0; i < IPV6_MAX_EXT; i++) {
    if (
      next !== IPV6_HOP_BY_HOP &&
      next !== IPV6_ROUTING &&
      next !== IPV6_DEST_OPTS &&
      next !== IPV6_FRAGMENT
    )
      break;
    if (end - p < 8) break; // header cut by the agent: report the extension header as protocol
    if (next === IPV6_FRAGMENT && u16(b, p + 2) >> 3 !== 0) {
      r.proto = b[p]!; // later fragment: protocol known, ports absent
      return;
    }
    const len = next === IPV6_FRAGMENT ? 8 : (b[p + 1]! + 1) * 8;
    next = b[p]!;
    p += len;
  }
  r.proto = next;
  parsePorts(b, p, end, r);
}

/** TCP, UDP and SCTP all start with 16-bit source and destination ports. */
function parsePorts(b: Uint8Array, p: number, end: number, r: FlowRecord): void {
  if (r.proto !== 6 && r.proto !== 17 && r.proto !== 132) return;
  if (end - p < 4) return;
  r.srcPort = u16(b, p);
  r.dstPort = u16(b, p + 2);
}

function copyAddr(b: Uint8Array, p: number, len: number, dst: Uint8Array): void {
  for (let i = 0; i < len; i++) dst[i] = b[p + i]!;
}

/** Text form of an agent address, '' for the unspecified address (0.0.0.0 / ::). */
function formatAddress(b: Uint8Array, p: number, len: number): string {
  let zero = true;
  for (let i = 0; i < len; i++) if (b[p + i] !== 0) zero = false;
  if (zero) return '';
  return len === 4 ? `${b[p]}.${b[p + 1]}.${b[p + 2]}.${b[p + 3]}` : formatIpv6(b, p);
}

/**
 * RFC 5952 text: lowercase hex, longest run (≥ 2) of zero groups compressed to '::'.
 * @example
 * formatIpv6(Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1)); // '2001:db8::1'
 */
export function formatIpv6(b: Uint8Array, p = 0): string {
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && u16(b, p + 2 * j) === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestAt) {
      s += '::';
      i += bestLen - 1;
      continue;
    }
    if (s !== '' && !s.endsWith(':')) s += ':';
    s += u16(b, p + 2 * i).toString(16);
  }
  return s;
}
