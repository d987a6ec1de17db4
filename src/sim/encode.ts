/**
 * Encoders for the traffic simulator: pure functions that turn flows into real export datagrams
 * (NetFlow v5, NetFlow v9, IPFIX, sFlow v5) as an exporter would send them, so the collector is
 * exercised through its real decoders. Output is checked against Wireshark in test/sim/encode.test.ts.
 *
 * Invalid input (unparsable address, value too wide for its field) throws a RangeError: the
 * simulator is trusted code and a silent clamp would hide its bugs.
 */
import ipaddr from 'ipaddr.js';

/** One flow to export. For sFlow, one sampled packet: `bytes` is its frame length, `packets` unused. */
export interface SimFlow {
  /** Flow start, Unix ms. */
  startMs: number;
  /** Flow end, Unix ms. */
  endMs: number;
  /** Source address as text, IPv4 or IPv6 (same family as dst). */
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  /** IP protocol number. */
  proto: number;
  bytes: number;
  packets: number;
  srcAs: number;
  dstAs: number;
  inIf: number;
  outIf: number;
}

/** Exporter state and settings shared by all encoders. */
export interface EncodeOptions {
  /** Export time, Unix ms (header time of v5/v9/IPFIX). */
  exportMs: number;
  /** Exporter boot time, Unix ms; v5/v9 flow times and all uptimes are relative to it. */
  bootMs?: number;
  /** Exporter uptime at exportMs; used when bootMs is absent. Default: one day. */
  exporterUptimeMs?: number;
  /** Sequence number of the first datagram (v9, sFlow) / first record (v5, IPFIX). Default 0. */
  sequence?: number;
  /** v5: engine type << 8 | engine id; v9: source id; IPFIX: observation domain; sFlow: sub-agent id. */
  domain?: number;
  /** 1 in N packet sampling; 0 or absent = not sampled (sFlow then reports rate 1). */
  samplingRate?: number;
  /** Largest datagram (UDP payload) in bytes. Default 1400, minimum 512. */
  mtu?: number;
  /** v9/IPFIX: templates (and sampling options) go into every N-th datagram of the exporter. Default 20. */
  templateEvery?: number;
  /** v9/IPFIX: datagrams this exporter sent before; with templateEvery decides where templates go. */
  datagramIndex?: number;
  /** sFlow agent address. Default 127.0.0.1. */
  agent?: string;
  /** sFlow: use expanded flow samples (format 3) instead of compact ones (format 1). */
  expanded?: boolean;
  /** sFlow: 802.1Q tags (outermost first) in the sampled Ethernet header; two or more = QinQ. */
  vlans?: number[];
  /** sFlow: sequence number of the first flow sample. Default 0. */
  sampleSequence?: number;
}

/** Datagrams of one encoder call and the counters to pass to the next call. */
export interface EncodeResult {
  datagrams: Uint8Array[];
  /** Value for `opts.sequence` of the next call. */
  nextSequence: number;
  /** Value for `opts.datagramIndex` of the next call. */
  nextDatagramIndex: number;
  /** Flows that the format cannot carry (v5: IPv6 flows), left out. */
  skipped: number;
}

/** sFlow adds the flow-sample sequence, which counts samples rather than datagrams. */
export interface SflowEncodeResult extends EncodeResult {
  nextSampleSequence: number;
}

const DEFAULT_MTU = 1400;
const MIN_MTU = 512;
const DEFAULT_UPTIME_MS = 86_400_000;
const DEFAULT_TEMPLATE_EVERY = 20;
/** Room for one more record past the MTU, so a record can be written and then rolled back. */
const SLACK = 1024;
const AS_TRANS = 23456;

// ---------------------------------------------------------------------------------------------
// Byte writing

/** Big-endian writer over a fixed buffer; the encoders size their datagrams before writing. */
class Writer {
  readonly buf: Uint8Array;
  private readonly view: DataView;
  len = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }

  u8(v: number): void {
    this.view.setUint8(this.len, v);
    this.len += 1;
  }

  u16(v: number): void {
    this.view.setUint16(this.len, v);
    this.len += 2;
  }

  u32(v: number): void {
    this.view.setUint32(this.len, v >>> 0);
    this.len += 4;
  }

  /** 64-bit counters from a JS number (exact up to 2^53). */
  u64(v: number): void {
    this.u32(Math.floor(v / 2 ** 32));
    this.u32(v % 2 ** 32);
  }

  bytes(a: Uint8Array): void {
    this.buf.set(a, this.len);
    this.len += a.length;
  }

  /** Zero padding to the next multiple of 4 (XDR, v9 flowsets, IPFIX sets). */
  pad4(): void {
    while (this.len % 4 !== 0) this.u8(0);
  }

  setU16(at: number, v: number): void {
    this.view.setUint16(at, v);
  }

  setU32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0);
  }

  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

// ---------------------------------------------------------------------------------------------
// Input checks and shared helpers

interface Prepared {
  f: SimFlow;
  v6: boolean;
  src: Uint8Array;
  dst: Uint8Array;
}

function parseIp(text: string): Uint8Array {
  if (!ipaddr.isValid(text)) throw new RangeError(`not an IP address: ${text}`);
  return Uint8Array.from(ipaddr.parse(text).toByteArray());
}

function checkUint(name: string, v: number, bits: number): number {
  if (!Number.isSafeInteger(v) || v < 0 || v >= 2 ** bits)
    throw new RangeError(`${name} ${v} does not fit ${bits} bits`);
  return v;
}

function prepare(flows: readonly SimFlow[]): Prepared[] {
  return flows.map((f) => {
    const src = parseIp(f.src);
    const dst = parseIp(f.dst);
    if (src.length !== dst.length) throw new RangeError(`mixed address families: ${f.src} -> ${f.dst}`);
    checkUint('proto', f.proto, 8);
    checkUint('srcPort', f.srcPort, 16);
    checkUint('dstPort', f.dstPort, 16);
    checkUint('srcAs', f.srcAs, 32);
    checkUint('dstAs', f.dstAs, 32);
    checkUint('inIf', f.inIf, 32);
    checkUint('outIf', f.outIf, 32);
    checkUint('bytes', f.bytes, 53);
    checkUint('packets', f.packets, 53);
    return { f, v6: src.length === 16, src, dst };
  });
}

interface Common {
  mtu: number;
  bootMs: number;
  sequence: number;
  domain: number;
  rate: number;
  templateEvery: number;
  datagramIndex: number;
}

function common(opts: EncodeOptions): Common {
  const mtu = opts.mtu ?? DEFAULT_MTU;
  if (mtu < MIN_MTU || mtu > 65507) throw new RangeError(`mtu ${mtu} outside ${MIN_MTU}..65507`);
  const templateEvery = opts.templateEvery ?? DEFAULT_TEMPLATE_EVERY;
  if (!Number.isInteger(templateEvery) || templateEvery < 1)
    throw new RangeError('templateEvery must be ≥ 1');
  return {
    mtu,
    bootMs: opts.bootMs ?? opts.exportMs - (opts.exporterUptimeMs ?? DEFAULT_UPTIME_MS),
    sequence: checkUint('sequence', opts.sequence ?? 0, 32),
    domain: checkUint('domain', opts.domain ?? 0, 32),
    rate: checkUint('samplingRate', opts.samplingRate ?? 0, 32),
    templateEvery,
    datagramIndex: opts.datagramIndex ?? 0,
  };
}

/** Milliseconds since boot as the 32-bit counter routers use; it wraps after ~49.7 days. */
function uptime(c: Common, ms: number): number {
  return (ms - c.bootMs) >>> 0;
}

/** Export headers carry whole seconds (+ nanoseconds in v5). */
function unixSecs(ms: number): number {
  return Math.floor(ms / 1000) >>> 0;
}

const seq32 = (v: number): number => v >>> 0;

/** 16-bit AS fields (v5) carry AS_TRANS for 4-byte ASNs, as routers do (RFC 6793). */
const as16 = (as: number): number => (as > 0xffff ? AS_TRANS : as);

// ---------------------------------------------------------------------------------------------
// NetFlow v5

const V5_HEADER = 24;
const V5_RECORD = 48;
const V5_MAX_RECORDS = 30;

/**
 * NetFlow v5 datagrams (IPv4 only; IPv6 flows are skipped and counted). The sequence is the
 * flow sequence (records exported before), sampling goes into the header as deterministic mode.
 * @example
 * const { datagrams } = encodeV5(flows, { exportMs: Date.now(), samplingRate: 100 });
 */
export function encodeV5(flows: readonly SimFlow[], opts: EncodeOptions): EncodeResult {
  const c = common(opts);
  if (c.rate > 0x3fff) throw new RangeError(`v5 sampling interval ${c.rate} exceeds 14 bits`);
  const v4 = prepare(flows).filter((p) => !p.v6);
  const perDatagram = Math.min(V5_MAX_RECORDS, Math.floor((c.mtu - V5_HEADER) / V5_RECORD));
  const datagrams: Uint8Array[] = [];
  let seq = c.sequence;
  for (let i = 0; i < v4.length; i += perDatagram) {
    const batch = v4.slice(i, i + perDatagram);
    datagrams.push(v5Datagram(batch, c, opts.exportMs, seq));
    seq += batch.length;
  }
  return {
    datagrams,
    nextSequence: seq32(seq),
    nextDatagramIndex: c.datagramIndex + datagrams.length,
    skipped: flows.length - v4.length,
  };
}

function v5Datagram(batch: Prepared[], c: Common, exportMs: number, seq: number): Uint8Array {
  const w = new Writer(V5_HEADER + batch.length * V5_RECORD);
  w.u16(5);
  w.u16(batch.length);
  w.u32(uptime(c, exportMs));
  w.u32(unixSecs(exportMs));
  w.u32((exportMs % 1000) * 1_000_000);
  w.u32(seq32(seq));
  w.u8((c.domain >>> 8) & 0xff);
  w.u8(c.domain & 0xff);
  // Top two bits: sampling mode, 01 = deterministic ("1 in N" packet interval).
  w.u16(c.rate > 0 ? (1 << 14) | c.rate : 0);
  for (const p of batch) v5Record(w, p, c);
  return w.done();
}

function v5Record(w: Writer, p: Prepared, c: Common): void {
  const f = p.f;
  w.bytes(p.src);
  w.bytes(p.dst);
  w.u32(0); // next hop
  w.u16(checkUint('v5 inIf', f.inIf, 16));
  w.u16(checkUint('v5 outIf', f.outIf, 16));
  w.u32(checkUint('v5 packets', f.packets, 32));
  w.u32(checkUint('v5 bytes', f.bytes, 32));
  w.u32(uptime(c, f.startMs));
  w.u32(uptime(c, f.endMs));
  w.u16(f.srcPort);
  w.u16(f.dstPort);
  w.u8(0); // pad1
  w.u8(tcpFlags(f.proto));
  w.u8(f.proto);
  w.u8(0); // tos
  w.u16(as16(f.srcAs));
  w.u16(as16(f.dstAs));
  w.u8(0); // src mask
  w.u8(0); // dst mask
  w.u16(0); // pad2
}

/** Plausible cumulative flags for a TCP flow (SYN, PSH, ACK, FIN); 0 for other protocols. */
function tcpFlags(proto: number): number {
  return proto === 6 ? 0x1b : 0;
}

// ---------------------------------------------------------------------------------------------
// NetFlow v9 and IPFIX: template-based

/** A data field: information element id, length, and how to write it from a flow. */
interface Field {
  id: number;
  len: number;
  put: (w: Writer, p: Prepared, c: Common) => void;
}

interface Template {
  id: number;
  fields: Field[];
  /** Bytes per data record. */
  size: number;
}

function template(id: number, fields: Field[]): Template {
  return { id, fields, size: fields.reduce((n, f) => n + f.len, 0) };
}

const F = {
  bytes: { id: 1, len: 8, put: (w, p) => w.u64(p.f.bytes) },
  packets: { id: 2, len: 8, put: (w, p) => w.u64(p.f.packets) },
  proto: { id: 4, len: 1, put: (w, p) => w.u8(p.f.proto) },
  tcpFlags: { id: 6, len: 1, put: (w, p) => w.u8(tcpFlags(p.f.proto)) },
  srcPort: { id: 7, len: 2, put: (w, p) => w.u16(p.f.srcPort) },
  src4: { id: 8, len: 4, put: (w, p) => w.bytes(p.src) },
  inIf: { id: 10, len: 4, put: (w, p) => w.u32(p.f.inIf) },
  dstPort: { id: 11, len: 2, put: (w, p) => w.u16(p.f.dstPort) },
  dst4: { id: 12, len: 4, put: (w, p) => w.bytes(p.dst) },
  outIf: { id: 14, len: 4, put: (w, p) => w.u32(p.f.outIf) },
  srcAs: { id: 16, len: 4, put: (w, p) => w.u32(p.f.srcAs) },
  dstAs: { id: 17, len: 4, put: (w, p) => w.u32(p.f.dstAs) },
  last: { id: 21, len: 4, put: (w, p, c) => w.u32(uptime(c, p.f.endMs)) },
  first: { id: 22, len: 4, put: (w, p, c) => w.u32(uptime(c, p.f.startMs)) },
  src6: { id: 27, len: 16, put: (w, p) => w.bytes(p.src) },
  dst6: { id: 28, len: 16, put: (w, p) => w.bytes(p.dst) },
  samplerId: { id: 48, len: 1, put: (w) => w.u8(SAMPLER_ID) },
  startMs: { id: 152, len: 8, put: (w, p) => w.u64(p.f.startMs) },
  endMs: { id: 153, len: 8, put: (w, p) => w.u64(p.f.endMs) },
} satisfies Record<string, Field>;

const SAMPLER_ID = 1;
const TEMPLATE_V4 = 256;
const TEMPLATE_V6 = 257;
const TEMPLATE_OPTIONS = 258;

function flowFields(v6: boolean, timeFields: Field[]): Field[] {
  return [
    F.bytes,
    F.packets,
    F.proto,
    F.tcpFlags,
    F.srcPort,
    v6 ? F.src6 : F.src4,
    F.inIf,
    F.dstPort,
    v6 ? F.dst6 : F.dst4,
    F.outIf,
    F.srcAs,
    F.dstAs,
    ...timeFields,
  ];
}

/** What differs between NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) framing. */
interface Dialect {
  headerLen: number;
  templateSetId: number;
  optionsSetId: number;
  v4: Template;
  v6: Template;
  /** Options template + its single data record, present only when sampling is set. */
  options?: { writeTemplate: (w: Writer) => void; writeData: (w: Writer, c: Common) => void };
  writeHeader: (w: Writer, h: HeaderInfo) => void;
  /** Whether the header sequence counts datagrams (v9) or data records (IPFIX). */
  sequencePerDatagram: boolean;
}

interface HeaderInfo {
  c: Common;
  exportMs: number;
  sequence: number;
  /** v9 count: every template, options template and data record in the datagram. */
  records: number;
}

function v9Dialect(sampled: boolean): Dialect {
  return {
    headerLen: 20,
    templateSetId: 0,
    optionsSetId: 1,
    v4: template(TEMPLATE_V4, flowFields(false, [F.first, F.last])),
    v6: template(TEMPLATE_V6, flowFields(true, [F.first, F.last])),
    options: sampled ? v9SamplingOptions() : undefined,
    sequencePerDatagram: true,
    writeHeader: (w, h) => {
      w.u16(9);
      w.u16(h.records);
      w.u32(uptime(h.c, h.exportMs));
      w.u32(unixSecs(h.exportMs));
      w.u32(seq32(h.sequence));
      w.u32(h.c.domain);
    },
  };
}

/** v9 options: scope System (the whole exporter) → SAMPLING_INTERVAL, SAMPLING_ALGORITHM. */
function v9SamplingOptions(): NonNullable<Dialect['options']> {
  return {
    writeTemplate: (w) => {
      w.u16(TEMPLATE_OPTIONS);
      w.u16(4); // scope length in bytes: one (type, length) pair
      w.u16(8); // options length in bytes: two pairs
      w.u16(1); // scope type System
      w.u16(4);
      w.u16(34); // SAMPLING_INTERVAL
      w.u16(4);
      w.u16(35); // SAMPLING_ALGORITHM
      w.u16(1);
    },
    writeData: (w, c) => {
      w.u32(c.domain);
      w.u32(c.rate);
      w.u8(1); // deterministic
    },
  };
}

function ipfixDialect(sampled: boolean): Dialect {
  const time = [F.startMs, F.endMs];
  const sampler = sampled ? [F.samplerId] : [];
  return {
    headerLen: 16,
    templateSetId: 2,
    optionsSetId: 3,
    v4: template(TEMPLATE_V4, [...flowFields(false, time), ...sampler]),
    v6: template(TEMPLATE_V6, [...flowFields(true, time), ...sampler]),
    options: sampled ? ipfixSamplingOptions() : undefined,
    sequencePerDatagram: false,
    writeHeader: (w, h) => {
      w.u16(10);
      w.u16(0); // length, patched when the message is complete
      w.u32(unixSecs(h.exportMs));
      w.u32(seq32(h.sequence));
      w.u32(h.c.domain);
    },
  };
}

/**
 * IPFIX options, scoped by samplerId (data records carry samplerId too). The rate is given both
 * as samplingInterval (34, = N, what most collectors read) and the PSAMP way: systematic
 * count-based selection of samplingPacketInterval = 1 packet every samplingPacketSpace = N - 1.
 */
function ipfixSamplingOptions(): NonNullable<Dialect['options']> {
  const fields: [number, number][] = [
    [48, 1], // samplerId (scope)
    [34, 4], // samplingInterval
    [304, 1], // selectorAlgorithm
    [305, 4], // samplingPacketInterval
    [306, 4], // samplingPacketSpace
  ];
  return {
    writeTemplate: (w) => {
      w.u16(TEMPLATE_OPTIONS);
      w.u16(fields.length);
      w.u16(1); // scope field count
      for (const [id, len] of fields) {
        w.u16(id);
        w.u16(len);
      }
    },
    writeData: (w, c) => {
      w.u8(SAMPLER_ID);
      w.u32(c.rate);
      w.u8(1); // systematic count-based sampling
      w.u32(1);
      w.u32(c.rate - 1);
    },
  };
}

/**
 * NetFlow v9 datagrams: an IPv4 and an IPv6 template (in every `templateEvery`-th datagram),
 * data flowsets per address family, and with sampling an options template + data record carrying
 * SAMPLING_INTERVAL. The header sequence counts datagrams.
 * @example
 * const { datagrams, nextSequence } = encodeV9(flows, { exportMs: Date.now(), domain: 7 });
 */
export function encodeV9(flows: readonly SimFlow[], opts: EncodeOptions): EncodeResult {
  const c = common(opts);
  return encodeTemplated(prepare(flows), c, opts.exportMs, v9Dialect(c.rate > 0));
}

/**
 * IPFIX messages: as v9 with IPFIX framing and absolute millisecond timestamps; with sampling an
 * options template scoped by samplerId. The header sequence counts data records.
 * @example
 * const { datagrams } = encodeIpfix(flows, { exportMs: Date.now(), domain: 1, templateEvery: 1 });
 */
export function encodeIpfix(flows: readonly SimFlow[], opts: EncodeOptions): EncodeResult {
  const c = common(opts);
  return encodeTemplated(prepare(flows), c, opts.exportMs, ipfixDialect(c.rate > 0));
}

function encodeTemplated(flows: Prepared[], c: Common, exportMs: number, d: Dialect): EncodeResult {
  const datagrams: Uint8Array[] = [];
  let seq = c.sequence;
  let index = c.datagramIndex;
  for (let i = 0; i < flows.length; index++) {
    const w = new Writer(c.mtu);
    w.len = d.headerLen;
    const extra = index % c.templateEvery === 0 ? writeTemplateSets(w, d, c) : { templates: 0, data: 0 };
    const next = writeDataSets(w, d, c, flows, i);
    if (next === i) throw new Error('encoder bug: no flow fits an empty datagram');
    const dataRecords = extra.data + next - i;
    i = next;
    const body = w.len;
    w.len = 0;
    d.writeHeader(w, { c, exportMs, sequence: seq, records: extra.templates + dataRecords });
    if (!d.sequencePerDatagram) w.setU16(2, body); // IPFIX message length
    w.len = body;
    datagrams.push(w.done());
    seq += d.sequencePerDatagram ? 1 : dataRecords;
  }
  return { datagrams, nextSequence: seq32(seq), nextDatagramIndex: index, skipped: 0 };
}

/**
 * Template set (both families) and, when sampled, options template set + options data set.
 * Returns the template records and data records written (v9 counts both, IPFIX sequences data).
 */
function writeTemplateSets(w: Writer, d: Dialect, c: Common): { templates: number; data: number } {
  openSet(w, d.templateSetId, () => {
    for (const t of [d.v4, d.v6]) {
      w.u16(t.id);
      w.u16(t.fields.length);
      for (const f of t.fields) {
        w.u16(f.id);
        w.u16(f.len);
      }
    }
  });
  if (!d.options) return { templates: 2, data: 0 };
  const o = d.options;
  openSet(w, d.optionsSetId, () => o.writeTemplate(w));
  openSet(w, TEMPLATE_OPTIONS, () => o.writeData(w, c));
  return { templates: 3, data: 1 };
}

/** Set/flowset header (id, length) around `body`, padded to 4 bytes. */
function openSet(w: Writer, id: number, body: () => void): void {
  const start = w.len;
  w.u16(id);
  w.u16(0);
  body();
  w.pad4();
  w.setU16(start + 2, w.len - start);
}

/**
 * Data sets from flows[from..]: consecutive flows of one family share a set. Stops before the
 * flow that would push the datagram over the MTU; returns the index of the first flow left.
 */
function writeDataSets(w: Writer, d: Dialect, c: Common, flows: Prepared[], from: number): number {
  let i = from;
  let setStart = -1;
  let setV6 = false;
  const close = () => {
    w.pad4();
    w.setU16(setStart + 2, w.len - setStart);
  };
  for (; i < flows.length; i++) {
    const p = flows[i]!;
    const t = p.v6 ? d.v6 : d.v4;
    const opening = setStart < 0 || setV6 !== p.v6;
    // 3 + 4: padding of the set being closed and the new set header; 3: final padding.
    if (w.len + (opening ? 7 : 0) + t.size + 3 > c.mtu) break;
    if (opening) {
      if (setStart >= 0) close();
      setStart = w.len;
      setV6 = p.v6;
      w.u16(t.id);
      w.u16(0);
    }
    for (const f of t.fields) f.put(w, p, c);
  }
  if (setStart >= 0) close();
  return i;
}

// ---------------------------------------------------------------------------------------------
// sFlow v5

/** Flow samples come from one data source: ifIndex 1 (source id class 0). */
const SFLOW_SOURCE_INDEX = 1;
const ETH_FCS = 4;

/**
 * sFlow v5 datagrams, one flow sample per input packet: a raw-packet-header record (Ethernet,
 * optional 802.1Q tags, IPv4/IPv6, TCP/UDP header) and an extended gateway record (src_as;
 * dst AS as a one-AS AS_SEQUENCE path). The header sequence counts datagrams.
 * @example
 * const { datagrams } = encodeSflow(samples, { exportMs: Date.now(), samplingRate: 1000 });
 */
export function encodeSflow(samples: readonly SimFlow[], opts: EncodeOptions): SflowEncodeResult {
  const c = common(opts);
  const agent = parseIp(opts.agent ?? '127.0.0.1');
  const vlans = opts.vlans ?? [];
  for (const v of vlans) checkUint('vlan', v, 12);
  const prepared = prepare(samples);
  const datagrams: Uint8Array[] = [];
  let sampleSeq = opts.sampleSequence ?? 0;
  for (let i = 0; i < prepared.length; ) {
    const w = new Writer(c.mtu + SLACK);
    sflowHeader(w, agent, c, opts.exportMs, c.sequence + datagrams.length);
    const countAt = w.len - 4;
    let n = 0;
    for (; i < prepared.length; i++, n++) {
      const mark = w.len;
      sflowFlowSample(w, prepared[i]!, c, seq32(sampleSeq + n), opts.expanded === true, vlans);
      if (w.len > c.mtu) {
        w.len = mark; // roll back the sample that did not fit
        break;
      }
    }
    if (n === 0) throw new Error('encoder bug: no sample fits an empty datagram');
    w.setU32(countAt, n);
    sampleSeq += n;
    datagrams.push(w.done());
  }
  return {
    datagrams,
    nextSequence: seq32(c.sequence + datagrams.length),
    nextDatagramIndex: c.datagramIndex + datagrams.length,
    skipped: 0,
    nextSampleSequence: seq32(sampleSeq),
  };
}

function sflowHeader(w: Writer, agent: Uint8Array, c: Common, exportMs: number, seq: number): void {
  w.u32(5);
  w.u32(agent.length === 4 ? 1 : 2);
  w.bytes(agent);
  w.u32(c.domain);
  w.u32(seq32(seq));
  w.u32(uptime(c, exportMs));
  w.u32(0); // sample count, patched
}

/** XDR structure with a 4-byte format tag and a length patched after the body is written. */
function xdrBlock(w: Writer, tag: number, body: () => void): void {
  w.u32(tag);
  const lenAt = w.len;
  w.u32(0);
  body();
  w.setU32(lenAt, w.len - lenAt - 4);
  w.pad4();
}

function sflowFlowSample(w: Writer, p: Prepared, c: Common, seq: number, expanded: boolean, vlans: number[]) {
  const rate = c.rate > 0 ? c.rate : 1;
  const inIf = checkUint('sFlow inIf', p.f.inIf, 30);
  const outIf = checkUint('sFlow outIf', p.f.outIf, 30);
  xdrBlock(w, expanded ? 3 : 1, () => {
    w.u32(seq);
    if (expanded) {
      w.u32(0); // source id type: ifIndex
      w.u32(SFLOW_SOURCE_INDEX);
    } else {
      w.u32(SFLOW_SOURCE_INDEX);
    }
    w.u32(rate);
    w.u32(Math.imul(seq + 1, rate) >>> 0); // sample pool: packets seen by the source
    w.u32(0); // drops
    if (expanded) {
      w.u32(0);
      w.u32(inIf);
      w.u32(0);
      w.u32(outIf);
    } else {
      w.u32(inIf);
      w.u32(outIf);
    }
    w.u32(2); // records
    xdrBlock(w, 1, () => rawHeaderRecord(w, p, vlans));
    xdrBlock(w, 1003, () => gatewayRecord(w, p));
  });
}

function rawHeaderRecord(w: Writer, p: Prepared, vlans: number[]): void {
  const header = packetHeader(p, vlans);
  w.u32(1); // header protocol: Ethernet
  w.u32(checkUint('sFlow frame length', p.f.bytes, 32));
  w.u32(ETH_FCS); // stripped: the FCS is not in the header
  w.u32(header.length);
  w.bytes(header);
}

/** extended_gateway: next hop (zero, same family), router AS 0, src AS, empty or one-AS dst path. */
function gatewayRecord(w: Writer, p: Prepared): void {
  w.u32(p.v6 ? 2 : 1);
  w.bytes(new Uint8Array(p.v6 ? 16 : 4));
  w.u32(0); // as of the router: unknown to the simulator
  w.u32(p.f.srcAs);
  w.u32(0); // src_peer_as: unknown
  if (p.f.dstAs === 0) {
    w.u32(0);
  } else {
    w.u32(1); // one segment
    w.u32(2); // AS_SEQUENCE
    w.u32(1);
    w.u32(p.f.dstAs);
  }
  w.u32(0); // communities
  w.u32(0); // localpref
}

const L4_TCP = 20;
const L4_UDP = 8;

/**
 * Ethernet + VLAN tags + IP + TCP/UDP header of one sampled packet whose frame (with FCS) is
 * `bytes` long; the payload is not included, as an agent that truncates the capture.
 */
function packetHeader(p: Prepared, vlans: number[]): Uint8Array {
  const f = p.f;
  const l4 = f.proto === 6 ? L4_TCP : f.proto === 17 ? L4_UDP : 0;
  const ipHdr = p.v6 ? 40 : 20;
  const l2 = 14 + 4 * vlans.length;
  const ipLen = f.bytes - l2 - ETH_FCS;
  if (ipLen < ipHdr + l4 || ipLen > 65535) {
    throw new RangeError(`sFlow frame length ${f.bytes} cannot hold its ${l2 + ipHdr + l4}-byte headers`);
  }
  const w = new Writer(l2 + ipHdr + l4);
  ethernet(w, vlans, p.v6 ? 0x86dd : 0x0800);
  if (p.v6) ipv6Header(w, p, ipLen - 40);
  else ipv4Header(w, p, ipLen);
  if (l4 === L4_TCP) tcpHeader(w, f);
  else if (l4 === L4_UDP) udpHeader(w, f, ipLen - ipHdr);
  return w.done();
}

function ethernet(w: Writer, vlans: number[], etherType: number): void {
  w.bytes(Uint8Array.of(0x02, 0, 0, 0, 0, 0x02)); // locally administered MACs
  w.bytes(Uint8Array.of(0x02, 0, 0, 0, 0, 0x01));
  vlans.forEach((vid, i) => {
    // 802.1ad outer tag for QinQ, 802.1Q for the innermost (or only) tag.
    w.u16(i < vlans.length - 1 ? 0x88a8 : 0x8100);
    w.u16(vid);
  });
  w.u16(etherType);
}

function ipv4Header(w: Writer, p: Prepared, totalLen: number): void {
  const start = w.len;
  w.u8(0x45);
  w.u8(0);
  w.u16(totalLen);
  w.u16(0); // id
  w.u16(0x4000); // DF
  w.u8(64);
  w.u8(p.f.proto);
  w.u16(0); // checksum, below
  w.bytes(p.src);
  w.bytes(p.dst);
  w.setU16(start + 10, ipChecksum(w.buf, start, 20));
}

/**
 * RFC 1071 one's-complement sum.
 * @example
 * header.setUint16(10, ipChecksum(bytes, 0, 20));
 */
export function ipChecksum(b: Uint8Array, start: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) sum += (b[start + i]! << 8) | (b[start + i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv6Header(w: Writer, p: Prepared, payloadLen: number): void {
  w.u32(0x60000000);
  w.u16(payloadLen);
  w.u8(p.f.proto);
  w.u8(64);
  w.bytes(p.src);
  w.bytes(p.dst);
}

function tcpHeader(w: Writer, f: SimFlow): void {
  w.u16(f.srcPort);
  w.u16(f.dstPort);
  w.u32(1); // seq
  w.u32(1); // ack
  w.u16(0x5018); // data offset 5, PSH+ACK
  w.u16(65535);
  w.u16(0); // checksum: the payload is not captured, so it cannot be computed
  w.u16(0);
}

function udpHeader(w: Writer, f: SimFlow, udpLen: number): void {
  w.u16(f.srcPort);
  w.u16(f.dstPort);
  w.u16(udpLen);
  w.u16(0xffff); // checksum unknown (payload not captured); 0 would mean "none", illegal on IPv6
}
