/**
 * Decodes the data sets of NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) with a compiled
 * {@link DecodePlan}. Allocation-free per record: per-record values live in locals of the decode
 * loop and the rarer sampling fields in one module-level scratch object (decoding is synchronous,
 * so nothing else can observe it in between).
 */
import type { DecodeResult, FlowSink } from '../types.js';
import { K, lengthFits, NTP_UNIX_OFFSET_S, TWO_32, VARIABLE_LENGTH } from './elements.js';
import { saneTimes, skip } from './message.js';
import type { DecodePlan } from './plan.js';
import { R, READ, READER_CLOCK, type ReaderHelpers, readerFor } from './reader.js';
import type { DecodeContext, SourceState, Template, TemplateRegistry } from './templates.js';

/**
 * Per-record values that only some templates carry (sampling, sampler id, system init time),
 * reset per record when the plan has such fields. Time, address family and counter values live
 * in locals of {@link decodeDataSet}.
 */
const S = {
  interval: 0,
  pktInterval: 0,
  pktSpace: 0,
  sampleSize: 0,
  population: 0,
  probability: 0,
  samplerId: -1,
  sysInitMs: -1,
};

// Field by field, like the record's counters below: per record, so no Object.assign or new object.
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

const HELPERS: ReaderHelpers = { setAddr, applyRare, scratch: S };

/** Time and clock facts of the datagram being decoded. */
export interface HeaderClock {
  exportMs: number;
  /** v9 header sysUptime in ms; -1 for IPFIX (no uptime in the header). */
  uptimeMs: number;
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
 * @example
 * const tpl = ctx.registry.getTemplate(source, setId, ctx.nowMs);
 * if (tpl) decodeDataSet(dv, off + 4, setEnd, tpl, source, { exportMs, uptimeMs: -1 }, ctx, sink, res);
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
  let reader = plan.reader;
  if (reader === undefined)
    reader = plan.reader = fixed ? (readerFor(kinds, lengths, HELPERS) ?? null) : null;
  READER_CLOCK[0] = exportMs;
  resetScratch();
  let decoded = 0;
  while (end - off >= minLength) {
    if (hasRare) resetScratch();
    // Only what a template may leave unset; addresses and times are settled after the field loop.
    // Deliberately not resetFlowRecord(): a subset, inline, on the per-record hot path.
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
    if (reader !== null) {
      reader(dv, p, rec, srcAddr, dstAddr);
      startMs = READ[R.START_MS]!;
      endMs = READ[R.END_MS]!;
      hasStart = READ[R.HAS_START] === 1;
      hasEnd = READ[R.HAS_END] === 1;
      startUp = READ[R.START_UP]!;
      endUp = READ[R.END_UP]!;
      srcFamily = READ[R.SRC_FAMILY]!;
      dstFamily = READ[R.DST_FAMILY]!;
      p += minLength;
    }
    // With a compiled reader the record has been read: the walk over the plan starts at its end.
    for (let i = reader !== null ? n : 0; i < n; i++) {
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
