/**
 * Field handling shared by NetFlow v9 (RFC 3954) and IPFIX (RFC 7011): the information elements
 * we understand, the compilation of a template into a compact decoding plan, and the record
 * decoder that walks such a plan. Everything here is allocation-free per record: the plan is
 * built once when a template is learned, per-record values live in locals of the decode loop and
 * the rarer sampling fields in one module-level scratch object (decoding is synchronous, so
 * nothing else can observe it in between).
 */
import type { DecodeDropReason, DecodeResult, FlowRecord, FlowSink } from '../types.js';
import type { DecodeContext, LearnOutcome, SourceState, Template, TemplateRegistry } from './templates.js';

/** IANA IPFIX information element ids (v9 field types 1..127 are the same numbers). */
export const IE = {
  octetDeltaCount: 1, // v9 IN_BYTES
  packetDeltaCount: 2, // v9 IN_PKTS
  deltaFlowCount: 3, // v9 FLOWS
  protocolIdentifier: 4,
  sourceTransportPort: 7,
  sourceIPv4Address: 8,
  ingressInterface: 10, // v9 INPUT_SNMP
  destinationTransportPort: 11,
  destinationIPv4Address: 12,
  egressInterface: 14, // v9 OUTPUT_SNMP
  bgpSourceAsNumber: 16, // v9 SRC_AS
  bgpDestinationAsNumber: 17, // v9 DST_AS
  flowEndSysUpTime: 21, // v9 LAST_SWITCHED
  flowStartSysUpTime: 22, // v9 FIRST_SWITCHED
  postOctetDeltaCount: 23, // v9 OUT_BYTES
  postPacketDeltaCount: 24, // v9 OUT_PKTS
  sourceIPv6Address: 27,
  destinationIPv6Address: 28,
  samplingInterval: 34, // v9 SAMPLING_INTERVAL
  samplingAlgorithm: 35, // v9 SAMPLING_ALGORITHM
  samplerId: 48, // v9 FLOW_SAMPLER_ID
  samplerMode: 49, // v9 FLOW_SAMPLER_MODE
  samplerRandomInterval: 50, // v9 FLOW_SAMPLER_RANDOM_INTERVAL
  ipVersion: 60, // v9 IP_PROTOCOL_VERSION
  octetTotalCount: 85,
  packetTotalCount: 86,
  flowStartSeconds: 150,
  flowEndSeconds: 151,
  flowStartMilliseconds: 152,
  flowEndMilliseconds: 153,
  flowStartMicroseconds: 154,
  flowEndMicroseconds: 155,
  flowStartNanoseconds: 156,
  flowEndNanoseconds: 157,
  flowStartDeltaMicroseconds: 158,
  flowEndDeltaMicroseconds: 159,
  systemInitTimeMilliseconds: 160,
  selectorId: 302,
  selectorAlgorithm: 304,
  samplingPacketInterval: 305,
  samplingPacketSpace: 306,
  samplingSize: 309,
  samplingPopulation: 310,
  samplingProbability: 311,
} as const;

/** What the decoder does with one field of a plan. Numbers, so a plan is a Uint8Array. */
export const K = {
  SKIP: 0,
  BYTES: 1,
  PACKETS: 2,
  PROTO: 3,
  SRC_PORT: 4,
  DST_PORT: 5,
  SRC4: 6,
  DST4: 7,
  SRC6: 8,
  DST6: 9,
  IN_IF: 10,
  OUT_IF: 11,
  SRC_AS: 12,
  DST_AS: 13,
  START_UPTIME: 14,
  END_UPTIME: 15,
  START_SEC: 16,
  END_SEC: 17,
  START_MS: 18,
  END_MS: 19,
  START_NTP: 20,
  END_NTP: 21,
  START_DELTA_US: 22,
  END_DELTA_US: 23,
  SAMPLING_INTERVAL: 24,
  SAMPLER_ID: 25,
  PACKET_INTERVAL: 26,
  PACKET_SPACE: 27,
  SAMPLING_SIZE: 28,
  SAMPLING_POPULATION: 29,
  SAMPLING_PROBABILITY: 30,
  SYSTEM_INIT_MS: 31,
} as const;

/** IPFIX variable-length marker in a field specifier (RFC 7011 §7). */
export const VARIABLE_LENGTH = 65535;
/** Hard ceiling on fields per template: a 65535-byte set cannot describe more. */
export const MAX_FIELDS_HARD = 16384;

const NTP_UNIX_OFFSET_S = 2208988800;
const TWO_32 = 4294967296;

/**
 * Role of each element we interpret, in flat tables indexed by element id (all ours are below
 * 512): its kind and, for roles that must come from one field only, an exclusive group (1 bytes,
 * 2 packets, 3 start, 4 end) and a priority, lower wins when a template carries several (e.g.
 * flowStartMilliseconds beats flowStartSysUpTime).
 */
const ROLE_TABLE_SIZE = 512;
const ROLE_KIND = new Uint8Array(ROLE_TABLE_SIZE);
const ROLE_GROUP = new Uint8Array(ROLE_TABLE_SIZE);
const ROLE_PRIORITY = new Uint8Array(ROLE_TABLE_SIZE);
const GROUPS = 5;

function role(ie: number, kind: number, group = 0, priority = 0): void {
  ROLE_KIND[ie] = kind;
  ROLE_GROUP[ie] = group;
  ROLE_PRIORITY[ie] = priority;
}
role(IE.octetDeltaCount, K.BYTES, 1, 0);
role(IE.postOctetDeltaCount, K.BYTES, 1, 1);
role(IE.octetTotalCount, K.BYTES, 1, 2);
role(IE.packetDeltaCount, K.PACKETS, 2, 0);
role(IE.postPacketDeltaCount, K.PACKETS, 2, 1);
role(IE.packetTotalCount, K.PACKETS, 2, 2);
role(IE.protocolIdentifier, K.PROTO);
role(IE.sourceTransportPort, K.SRC_PORT);
role(IE.destinationTransportPort, K.DST_PORT);
role(IE.sourceIPv4Address, K.SRC4);
role(IE.destinationIPv4Address, K.DST4);
role(IE.sourceIPv6Address, K.SRC6);
role(IE.destinationIPv6Address, K.DST6);
role(IE.ingressInterface, K.IN_IF);
role(IE.egressInterface, K.OUT_IF);
role(IE.bgpSourceAsNumber, K.SRC_AS);
role(IE.bgpDestinationAsNumber, K.DST_AS);
role(IE.flowStartMilliseconds, K.START_MS, 3, 0);
role(IE.flowStartMicroseconds, K.START_NTP, 3, 1);
role(IE.flowStartNanoseconds, K.START_NTP, 3, 2);
role(IE.flowStartSeconds, K.START_SEC, 3, 3);
role(IE.flowStartDeltaMicroseconds, K.START_DELTA_US, 3, 4);
role(IE.flowStartSysUpTime, K.START_UPTIME, 3, 5);
role(IE.flowEndMilliseconds, K.END_MS, 4, 0);
role(IE.flowEndMicroseconds, K.END_NTP, 4, 1);
role(IE.flowEndNanoseconds, K.END_NTP, 4, 2);
role(IE.flowEndSeconds, K.END_SEC, 4, 3);
role(IE.flowEndDeltaMicroseconds, K.END_DELTA_US, 4, 4);
role(IE.flowEndSysUpTime, K.END_UPTIME, 4, 5);
role(IE.samplingInterval, K.SAMPLING_INTERVAL);
role(IE.samplerRandomInterval, K.SAMPLING_INTERVAL);
role(IE.samplerId, K.SAMPLER_ID);
role(IE.selectorId, K.SAMPLER_ID);
role(IE.samplingPacketInterval, K.PACKET_INTERVAL);
role(IE.samplingPacketSpace, K.PACKET_SPACE);
role(IE.samplingSize, K.SAMPLING_SIZE);
role(IE.samplingPopulation, K.SAMPLING_POPULATION);
role(IE.samplingProbability, K.SAMPLING_PROBABILITY);
role(IE.systemInitTimeMilliseconds, K.SYSTEM_INIT_MS);

/** Whether `len` bytes are a valid encoding for a field of `kind` (RFC 7011 reduced-size rules). */
function lengthFits(kind: number, len: number): boolean {
  switch (kind) {
    case K.SKIP:
      return true;
    case K.SRC4:
    case K.DST4:
      return len === 4;
    case K.SRC6:
    case K.DST6:
      return len === 16;
    case K.START_NTP:
    case K.END_NTP:
      return len === 8;
    case K.SAMPLING_PROBABILITY:
      return len === 4 || len === 8;
    default:
      return len >= 1 && len <= 8;
  }
}

/** A template compiled for decoding: parallel arrays, one entry per (merged) field. */
export interface DecodePlan {
  readonly kinds: Uint8Array;
  /** Field length in bytes, or VARIABLE_LENGTH (IPFIX only). */
  readonly lengths: Uint16Array;
  /** Smallest record size: fixed lengths plus one length byte per variable-length field. */
  readonly minLength: number;
  /** Some field we read is a sampling field or sampler id (records resolve their own rate). */
  readonly hasSampling: boolean;
  /** Record size when every field has a fixed length (then minLength), 0 with variable-length fields. */
  readonly fixedLength: number;
  /** Some field we read is a sampling field, sampler id or system init time (kept in the scratch). */
  readonly hasRare: boolean;
}

/** The raw field specifiers of one template, as parsed (scratch or stored). */
export interface FieldList {
  count: number;
  types: ArrayLike<number>;
  lengths: ArrayLike<number>;
  /** Private enterprise numbers, 0 for IANA elements. */
  pens: ArrayLike<number>;
}

/** Kind of an IANA element id, SKIP when we do not interpret it. */
const kindOf = (type: number): number => (type < ROLE_TABLE_SIZE ? ROLE_KIND[type]! : K.SKIP);

/**
 * Compile field specifiers into a plan, or return the reason the template is unusable.
 * v9 scope fields use their own type space (1 System, 2 Interface, ...), so they are skipped;
 * IPFIX scope fields are ordinary elements (selectorId is a typical scope) and are decoded.
 */
export function compilePlan(
  protocol: 'v9' | 'ipfix',
  fields: FieldList,
  scopeCount: number,
): DecodePlan | DecodeDropReason {
  const { count } = fields;
  if (count === 0) return 'bad_template';
  const chosen = chooseExclusive(protocol, fields, scopeCount);
  const kinds = new Uint8Array(count);
  const lengths = new Uint16Array(count);
  let n = 0;
  let minLength = 0;
  let hasSampling = false;
  let hasRare = false;
  let hasVariable = false;
  for (let i = 0; i < count; i++) {
    const len = fields.lengths[i]!;
    const variable = protocol === 'ipfix' && len === VARIABLE_LENGTH;
    // v9 has no variable length: a 65535-byte field cannot fit in an export packet at all.
    if (len === VARIABLE_LENGTH && !variable) return 'bad_template';
    const type = fields.types[i]!;
    let kind = interpreted(protocol, fields, i, scopeCount) ? kindOf(type) : K.SKIP;
    // Lost to a better field of the same exclusive group (kindOf is SKIP for types >= 512).
    if (kind !== K.SKIP && ROLE_GROUP[type] !== 0 && chosen[ROLE_GROUP[type]!] !== i) kind = K.SKIP;
    if (!variable && !lengthFits(kind, len)) kind = K.SKIP;
    minLength += variable ? 1 : len;
    if (kind >= K.SAMPLING_INTERVAL && kind <= K.SAMPLING_PROBABILITY) hasSampling = true;
    if (kind >= K.SAMPLING_INTERVAL) hasRare = true;
    if (variable) hasVariable = true;
    // Merge runs of fixed-length skipped fields: fewer iterations per record.
    const last = n - 1;
    if (kind === K.SKIP && !variable && last >= 0 && kinds[last] === K.SKIP) {
      const prev = lengths[last]!;
      if (prev !== VARIABLE_LENGTH && prev + len < VARIABLE_LENGTH) {
        lengths[last] = prev + len;
        continue;
      }
    }
    kinds[n] = kind;
    lengths[n] = variable ? VARIABLE_LENGTH : len;
    n++;
  }
  if (minLength === 0) return 'bad_template';
  return {
    kinds: kinds.slice(0, n),
    lengths: lengths.slice(0, n),
    minLength,
    hasSampling,
    fixedLength: hasVariable ? 0 : minLength,
    hasRare,
  };
}

/** Enterprise-specific fields are not ours to interpret; v9 scope fields use another type space. */
function interpreted(protocol: 'v9' | 'ipfix', fields: FieldList, i: number, scopeCount: number): boolean {
  return fields.pens[i] === 0 && !(protocol === 'v9' && i < scopeCount);
}

/** For each exclusive group, the index of the field that wins (-1 none). */
function chooseExclusive(protocol: 'v9' | 'ipfix', fields: FieldList, scopeCount: number): Int32Array {
  const chosen = new Int32Array(GROUPS).fill(-1);
  const best = new Uint8Array(GROUPS).fill(255);
  for (let i = 0; i < fields.count; i++) {
    const type = fields.types[i]!;
    const kind = kindOf(type);
    if (kind === K.SKIP || ROLE_GROUP[type] === 0 || !interpreted(protocol, fields, i, scopeCount)) continue;
    const len = fields.lengths[i]!;
    if (!lengthFits(kind, len) && !(protocol === 'ipfix' && len === VARIABLE_LENGTH)) continue;
    const group = ROLE_GROUP[type]!;
    if (ROLE_PRIORITY[type]! < best[group]!) {
      best[group] = ROLE_PRIORITY[type]!;
      chosen[group] = i;
    }
  }
  return chosen;
}

/** Unsigned big-endian integer of 1..8 bytes; values beyond 2^53 - 1 are clamped to it. */
export function readUint(dv: DataView, off: number, len: number): number {
  switch (len) {
    case 1:
      return dv.getUint8(off);
    case 2:
      return dv.getUint16(off);
    case 4:
      return dv.getUint32(off);
    case 8: {
      const hi = dv.getUint32(off);
      // hi >= 2^21 means the value is >= 2^53: not representable, clamp.
      return hi >= 0x200000 ? Number.MAX_SAFE_INTEGER : hi * TWO_32 + dv.getUint32(off + 4);
    }
    default: {
      let v = 0;
      for (let i = 0; i < len; i++) v = v * 256 + dv.getUint8(off + i);
      return Math.min(v, Number.MAX_SAFE_INTEGER);
    }
  }
}

/**
 * NTP 64-bit timestamp (dateTimeMicroseconds / dateTimeNanoseconds) to Unix ms, floored.
 * Seconds with the top bit clear are taken as NTP era 1 (after 2036), as RFC 4330 suggests.
 */
export function ntpToMs(dv: DataView, off: number): number {
  const secs = dv.getUint32(off);
  const frac = dv.getUint32(off + 4);
  const unix = secs >= 0x80000000 ? secs - NTP_UNIX_OFFSET_S : secs + TWO_32 - NTP_UNIX_OFFSET_S;
  return unix * 1000 + Math.floor((frac * 1000) / TWO_32);
}

/**
 * Per-record values that only some templates carry (sampling, sampler id, system init time),
 * reset per record when the plan has such fields. Time, address family and counter values live
 * in locals of {@link decodeDataSet}.
 */
interface Scratch {
  interval: number;
  pktInterval: number;
  pktSpace: number;
  sampleSize: number;
  population: number;
  probability: number;
  samplerId: number;
  sysInitMs: number;
}

const S: Scratch = {
  interval: 0,
  pktInterval: 0,
  pktSpace: 0,
  sampleSize: 0,
  population: 0,
  probability: 0,
  samplerId: -1,
  sysInitMs: -1,
};

function resetScratch(): void {
  S.interval = 0;
  S.pktInterval = 0;
  S.pktSpace = 0;
  S.sampleSize = 0;
  S.population = 0;
  S.probability = 0;
  S.samplerId = -1;
  S.sysInitMs = -1;
}

function isZero(dv: DataView, off: number, len: number): boolean {
  for (let i = 0; i < len; i += 4) if (dv.getUint32(off + i) !== 0) return false;
  return true;
}

/** Family of an all-zero IPv6 value: it yields to an IPv4 field of the same side. */
const ZERO_V6 = 60;

/**
 * Copy an address into a record's 16-byte array. When a template carries both families, an
 * all-zero IPv6 value (::) does not override IPv4, in either field order, and a non-zero IPv6
 * value wins over IPv4. Returns the side's family: 4, 6 or ZERO_V6.
 */
function setAddr(dv: DataView, off: number, len: number, out: Uint8Array, family: number): number {
  if (len === 16) {
    const zero = isZero(dv, off, 16);
    if (zero && family === 4) return family;
    for (let i = 0; i < 16; i++) out[i] = dv.getUint8(off + i);
    return zero ? ZERO_V6 : 6;
  }
  if (family === 6) return family;
  if (family === ZERO_V6) out.fill(0, 4);
  out[0] = dv.getUint8(off);
  out[1] = dv.getUint8(off + 1);
  out[2] = dv.getUint8(off + 2);
  out[3] = dv.getUint8(off + 3);
  return 4;
}

/** ipVersion of the record from the families of its sides. */
function ipVersionOf(src: number, dst: number): number {
  const family = src === 4 || src === 6 ? src : dst === 4 || dst === 6 ? dst : src || dst;
  return family === ZERO_V6 ? 6 : family;
}

/** A sampling, sampler or system-init field: into the scratch. */
function applyRare(kind: number, v: number): void {
  switch (kind) {
    case K.SAMPLING_INTERVAL:
      S.interval = v || S.interval;
      return;
    case K.SAMPLER_ID:
      S.samplerId = v;
      return;
    case K.PACKET_INTERVAL:
      S.pktInterval = v;
      return;
    case K.PACKET_SPACE:
      S.pktSpace = v;
      return;
    case K.SAMPLING_SIZE:
      S.sampleSize = v;
      return;
    case K.SAMPLING_POPULATION:
      S.population = v;
      return;
    case K.SYSTEM_INIT_MS:
      S.sysInitMs = v;
      return;
  }
}

/** Sampling rate (1 in N) described by the sampling fields of the current record, 0 if none. */
function rateFromScratch(): number {
  if (S.interval > 0) return S.interval;
  if (S.pktInterval > 0) return (S.pktInterval + S.pktSpace) / S.pktInterval;
  if (S.sampleSize > 0 && S.population >= S.sampleSize) return S.population / S.sampleSize;
  // A denormal probability would give an infinite rate.
  if (S.probability > 0 && S.probability <= 1 && Number.isFinite(1 / S.probability)) return 1 / S.probability;
  return 0;
}

/** Time and clock facts of the datagram being decoded. */
export interface HeaderClock {
  exportMs: number;
  /** v9 header sysUptime in ms; -1 for IPFIX (no uptime in the header). */
  uptimeMs: number;
}

/** Default bounds of the timestamp sanity rule, relative to the receive time (ctx.nowMs). */
export const DEFAULT_MAX_FUTURE_MS = 24 * 3600 * 1000;
export const DEFAULT_MAX_PAST_MS = 3 * 365 * 24 * 3600 * 1000;

/**
 * Timestamp rule shared by all decoders: an end before the start is clamped (start = end); a
 * record whose end lies more than maxFutureMs after the receive time, or whose start lies more
 * than maxPastMs before it, is dropped (bad_timestamp).
 */
export function saneTimes(rec: FlowRecord, ctx: DecodeContext): boolean {
  if (rec.endMs < rec.startMs) rec.startMs = rec.endMs;
  const future = ctx.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
  const past = ctx.maxPastMs ?? DEFAULT_MAX_PAST_MS;
  return rec.endMs <= ctx.nowMs + future && rec.startMs >= ctx.nowMs - past;
}

/** Count a skipped part of a datagram. */
export function skip(res: DecodeResult, reason: DecodeDropReason): void {
  res.skipped[reason] = (res.skipped[reason] ?? 0) + 1;
}

/** Sampling rate for a data record: its own fields, else its sampler, else the source default. */
function resolveRate(source: SourceState, plan: DecodePlan): number {
  if (plan.hasSampling) {
    const own = rateFromScratch();
    if (own > 0) return own;
    if (S.samplerId >= 0) {
      const sampler = source.samplers.get(S.samplerId);
      if (sampler !== undefined) return sampler.rate;
    }
  }
  return source.defaultRate;
}

/** Options data: remember sampler intervals and the exporter's system init time. */
function applyOptions(registry: TemplateRegistry, source: SourceState, nowMs: number): void {
  if (S.sysInitMs >= 0) source.systemInitMs = S.sysInitMs;
  const rate = rateFromScratch();
  if (rate <= 0) return;
  if (S.samplerId >= 0) registry.setSampler(source, S.samplerId, rate, nowMs);
  else registry.setDefaultRate(source, rate, nowMs);
}

/**
 * Decode the records of one data set (body from `off` to `end`) with a known template. Data
 * records go to the sink; options records update the registry. A record cut by the set end
 * stops the set (truncated); padding shorter than one record is ignored.
 *
 * One loop over the plan per record, every value kept in a local or written straight into the
 * record: nothing is allocated or boxed per record.
 *
 * Timestamps: sysUpTime-relative values are resolved against the v9 header (signed 32-bit
 * difference, so uptime wraparound stays sane); for IPFIX against systemInitTimeMilliseconds
 * (record, else options data), else the flow is anchored to end at export time so its duration
 * survives. A missing start or end borrows from the other; neither gives the export time.
 */
export function decodeDataSet(
  dv: DataView,
  off: number,
  end: number,
  tpl: Template,
  source: SourceState,
  clock: HeaderClock,
  ctx: DecodeContext,
  sink: FlowSink,
  res: DecodeResult,
): void {
  const plan = tpl.plan;
  const kinds = plan.kinds;
  const lengths = plan.lengths;
  const n = kinds.length;
  const minLength = plan.minLength;
  const fixed = plan.fixedLength > 0;
  const hasRare = plan.hasRare;
  const rec = ctx.record;
  const srcAddr = rec.srcAddr;
  const dstAddr = rec.dstAddr;
  const options = tpl.kind === 'options';
  const exportMs = clock.exportMs;
  const uptimeMs = clock.uptimeMs;
  resetScratch();
  let decoded = 0;
  while (end - off >= minLength) {
    if (hasRare) resetScratch();
    rec.bytes = 0;
    rec.packets = 0;
    rec.proto = 0;
    rec.srcPort = 0;
    rec.dstPort = 0;
    rec.srcAs = 0;
    rec.dstAs = 0;
    rec.inIf = 0;
    rec.outIf = 0;
    let startMs = 0;
    let endMs = 0;
    let hasStart = false;
    let hasEnd = false;
    let startUp = -1;
    let endUp = -1;
    let srcFamily = 0;
    let dstFamily = 0;
    let p = off;
    let cut = false;
    for (let i = 0; i < n; i++) {
      const kind = kinds[i]!;
      let len = lengths[i]!;
      if (!fixed) {
        if (len === VARIABLE_LENGTH) {
          if (p >= end) {
            cut = true;
            break;
          }
          len = dv.getUint8(p++);
          if (len === 255) {
            if (p + 2 > end) {
              cut = true;
              break;
            }
            len = dv.getUint16(p);
            p += 2;
          }
          if (p + len > end) {
            cut = true;
            break;
          }
          // Fixed lengths were checked when the plan was compiled; variable ones are checked here.
          if (!lengthFits(kind, len)) {
            p += len;
            continue;
          }
        } else if (p + len > end) {
          cut = true;
          break;
        }
      }
      switch (kind) {
        case K.SKIP:
          break;
        case K.SRC4:
        case K.SRC6:
          srcFamily = setAddr(dv, p, len, srcAddr, srcFamily);
          break;
        case K.DST4:
        case K.DST6:
          dstFamily = setAddr(dv, p, len, dstAddr, dstFamily);
          break;
        case K.START_NTP:
        case K.END_NTP: {
          const secs = dv.getUint32(p);
          const frac = dv.getUint32(p + 4);
          const unix = secs >= 0x80000000 ? secs - NTP_UNIX_OFFSET_S : secs + TWO_32 - NTP_UNIX_OFFSET_S;
          const ms = unix * 1000 + Math.floor((frac * 1000) / TWO_32);
          if (kind === K.START_NTP) {
            startMs = ms;
            hasStart = true;
          } else {
            endMs = ms;
            hasEnd = true;
          }
          break;
        }
        case K.SAMPLING_PROBABILITY:
          S.probability = len === 8 ? dv.getFloat64(p) : dv.getFloat32(p);
          break;
        default: {
          // Unsigned big-endian integer of 1..8 bytes (readUint, written out).
          let v: number;
          if (len === 4) v = dv.getUint32(p);
          else if (len === 2) v = dv.getUint16(p);
          else if (len === 1) v = dv.getUint8(p);
          else if (len === 8) {
            const hi = dv.getUint32(p);
            // hi >= 2^21 means the value is >= 2^53: not representable, clamp.
            v = hi >= 0x200000 ? Number.MAX_SAFE_INTEGER : hi * TWO_32 + dv.getUint32(p + 4);
          } else {
            v = 0;
            for (let j = 0; j < len; j++) v = v * 256 + dv.getUint8(p + j);
            if (v > Number.MAX_SAFE_INTEGER) v = Number.MAX_SAFE_INTEGER;
          }
          switch (kind) {
            case K.BYTES:
              rec.bytes = v;
              break;
            case K.PACKETS:
              rec.packets = v;
              break;
            case K.PROTO:
              rec.proto = v;
              break;
            case K.SRC_PORT:
              rec.srcPort = v;
              break;
            case K.DST_PORT:
              rec.dstPort = v;
              break;
            case K.IN_IF:
              rec.inIf = v;
              break;
            case K.OUT_IF:
              rec.outIf = v;
              break;
            case K.SRC_AS:
              rec.srcAs = v;
              break;
            case K.DST_AS:
              rec.dstAs = v;
              break;
            case K.START_UPTIME:
              startUp = v;
              break;
            case K.END_UPTIME:
              endUp = v;
              break;
            case K.START_SEC:
              startMs = v * 1000;
              hasStart = true;
              break;
            case K.END_SEC:
              endMs = v * 1000;
              hasEnd = true;
              break;
            case K.START_MS:
              startMs = v;
              hasStart = true;
              break;
            case K.END_MS:
              endMs = v;
              hasEnd = true;
              break;
            case K.START_DELTA_US:
              startMs = exportMs - Math.ceil(v / 1000);
              hasStart = true;
              break;
            case K.END_DELTA_US:
              endMs = exportMs - Math.ceil(v / 1000);
              hasEnd = true;
              break;
            default:
              applyRare(kind, v);
          }
        }
      }
      p += len;
    }
    if (cut) {
      if (decoded > 0) res.dataRecords = (res.dataRecords ?? 0) + decoded;
      skip(res, 'truncated');
      return;
    }
    off = p;
    decoded++;
    if (options) {
      applyOptions(ctx.registry, source, ctx.nowMs);
      continue;
    }

    // sysUpTime-relative times: v9 against the header clock, IPFIX against the system init time.
    if (startUp >= 0 || endUp >= 0) {
      if (uptimeMs >= 0) {
        if (startUp >= 0 && !hasStart) {
          startMs = exportMs - ((uptimeMs - startUp) | 0);
          hasStart = true;
        }
        if (endUp >= 0 && !hasEnd) {
          endMs = exportMs - ((uptimeMs - endUp) | 0);
          hasEnd = true;
        }
      } else {
        const init = S.sysInitMs >= 0 ? S.sysInitMs : source.systemInitMs;
        if (init >= 0) {
          if (startUp >= 0 && !hasStart) {
            startMs = init + startUp;
            hasStart = true;
          }
          if (endUp >= 0 && !hasEnd) {
            endMs = init + endUp;
            hasEnd = true;
          }
        } else {
          if (!hasEnd) {
            endMs = exportMs;
            hasEnd = true;
          }
          if (!hasStart && startUp >= 0) {
            const dur = endUp >= 0 ? (endUp - startUp) | 0 : 0;
            startMs = endMs - Math.max(dur, 0);
            hasStart = true;
          }
        }
      }
    }
    if (!hasStart && !hasEnd) {
      rec.startMs = exportMs;
      rec.endMs = exportMs;
    } else {
      const e = hasEnd ? endMs : startMs;
      rec.endMs = e;
      rec.startMs = hasStart ? startMs : e;
    }
    // Address bytes not written by this record are zero (the record is reused). Written out:
    // this function is too large for the optimizer to inline a helper here.
    if (srcFamily === 0 || srcFamily === 4) {
      for (let j = srcFamily; j < 16; j++) srcAddr[j] = 0;
    }
    if (dstFamily === 0 || dstFamily === 4) {
      for (let j = dstFamily; j < 16; j++) dstAddr[j] = 0;
    }
    if (!saneTimes(rec, ctx)) {
      skip(res, 'bad_timestamp');
      continue;
    }
    rec.samplingRate = resolveRate(source, plan);
    rec.ipVersion = ipVersionOf(srcFamily, dstFamily);
    res.records++;
    sink(rec);
  }
  if (decoded > 0) res.dataRecords = (res.dataRecords ?? 0) + decoded;
  if (decoded === 0 && end > off) skip(res, 'truncated');
}

/** Scratch field list used while parsing a template record, before it is known to be new. */
export const FIELD_SCRATCH = {
  count: 0,
  types: new Uint16Array(MAX_FIELDS_HARD),
  lengths: new Uint16Array(MAX_FIELDS_HARD),
  pens: new Uint32Array(MAX_FIELDS_HARD),
};

/**
 * Walk the sets of a message from `off` to `end` and check that their lengths chain: every set
 * at least 4 bytes and inside the datagram. Trailing bytes shorter than a set header are
 * tolerated as padding. Done before anything is decoded, so a rejected datagram emits nothing.
 */
export function checkSetChain(dv: DataView, off: number, end: number): DecodeDropReason | undefined {
  while (end - off >= 4) {
    const len = dv.getUint16(off + 2);
    if (len < 4 || len > end - off) return 'bad_length';
    off += len;
  }
  return undefined;
}

/** An empty result for a protocol; the decoders fill it in. */
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

/** Mark a result as a rejected datagram. */
export function fail(res: DecodeResult, reason: DecodeDropReason): DecodeResult {
  res.ok = false;
  res.reason = reason;
  return res;
}

/** Account for the outcome of a template definition. */
export function countLearn(res: DecodeResult, outcome: LearnOutcome): void {
  if (outcome === 'too_many' || outcome === 'bad_template') skip(res, outcome);
  else res.templatesLearned++;
}
