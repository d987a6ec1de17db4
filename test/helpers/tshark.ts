/**
 * Reading Wireshark's decode (`tshark -T json`) of NetFlow/IPFIX captures: the command line and
 * the small parsers the conformance tests share.
 */
import { execFileSync } from 'node:child_process';
import type { FlowRecord } from '../../src/ingest/types.js';
import { addrText } from './pcap.js';

let onPath: boolean | undefined;
/** Whether `tshark` runs here (asked once per test file); tests that re-derive references skip without it. */
export function tsharkOnPath(): boolean {
  if (onPath === undefined) {
    try {
      execFileSync('tshark', ['--version'], { stdio: 'ignore' });
      onPath = true;
    } catch {
      onPath = false;
    }
  }
  return onPath;
}

let version: string | undefined;
/** The first line of `tshark --version`, as the references record it. */
export function tsharkVersion(): string {
  version ??= execFileSync('tshark', ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] })
    .toString()
    .split('\n')[0]!;
  return version;
}

/** tshark arguments decoding UDP 2055 as cflow, one JSON object per packet. */
export const tsharkArgs = (pcap: string) => [
  '-r',
  pcap,
  '-d',
  'udp.port==2055,cflow',
  '-Y',
  'cflow',
  '-T',
  'json',
  '-J',
  'frame cflow',
  '--no-duplicate-keys',
];

export type Json = Record<string, unknown>;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "1048574.864000000" (seconds) → 1048574864 ms, exactly (floored below the ms). */
export function secondsToMs(text: string): number {
  const [int = '0', frac = ''] = text.split('.');
  return Number(int) * 1000 + Number(frac.padEnd(3, '0').slice(0, 3));
}

/** "Nov 22, 2026 12:09:00.293000000 UTC" → Unix ms. */
export function dateToMs(text: string): number {
  const m = /^(\w{3})\s+(\d+), (\d{4}) (\d\d):(\d\d):(\d\d)(?:\.(\d+))? UTC$/.exec(text);
  if (m === null) throw new Error(`unexpected tshark date ${text}`);
  const [, mon, day, year, hh, mm, ss, frac = ''] = m;
  const base = Date.UTC(Number(year), MONTHS.indexOf(mon!), Number(day), Number(hh), Number(mm), Number(ss));
  return base + Number(frac.padEnd(3, '0').slice(0, 3));
}

export const str = (o: Json, key: string): string | undefined =>
  typeof o[key] === 'string' ? (o[key] as string) : undefined;
export const num = (o: Json, key: string): number => Number(str(o, key) ?? 0);

/** The command line a reference records: {@link tsharkArgs} on test/fixtures/<name>.pcap, quoted for a shell. */
export const tsharkCommand = (name: string): string =>
  `tshark ${tsharkArgs(`test/fixtures/${name}.pcap`)
    .map((a) => (a.includes(' ') ? `'${a}'` : a))
    .join(' ')}`;

/** One flow of a NetFlow/IPFIX reference: the fields our decoder must give as tshark does. */
export interface RefFlow {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  proto: number;
  bytes: number;
  packets: number;
  srcAs: number;
  dstAs: number;
  startMs: number;
  endMs: number;
}

/** What a datagram header says about time: uptime-relative flow times are relative to it. */
export interface CflowClock {
  version: number;
  exportMs: number;
  /** v5/v9 sysUptime; IPFIX has none: -1. */
  uptimeMs: number;
}

/** The clock of a datagram's header (`layers.cflow`). */
export function cflowClock(cflow: Json): CflowClock {
  const ts = (cflow['cflow.timestamp_tree'] ?? {}) as Json;
  const version = num(cflow, 'cflow.version');
  if (version === 10) return { version, exportMs: num(ts, 'cflow.exporttime') * 1000, uptimeMs: -1 };
  return {
    version,
    exportMs: num(ts, 'cflow.unix_secs') * 1000 + Math.floor(num(ts, 'cflow.unix_nsecs') / 1e6),
    uptimeMs: secondsToMs(str(cflow, 'cflow.sysuptime') ?? '0'),
  };
}

/** The observation domain of a datagram: v5 engine type and id, v9 source id, IPFIX domain id. */
export function cflowDomain(cflow: Json): number {
  const version = num(cflow, 'cflow.version');
  return version === 5
    ? (num(cflow, 'cflow.engine_type') << 8) | num(cflow, 'cflow.engine_id')
    : num(cflow, version === 9 ? 'cflow.source_id' : 'cflow.od_id');
}

/**
 * A flow start or end in Unix ms. tshark prints uptime-relative times as seconds (v5/v9: since
 * boot; IPFIX: since `sysInitMs`, the exporter's systemInitTime as the source last announced it)
 * and absolute ones as dates; a relative 0 comes out as the date 1970-01-01 (a tshark quirk),
 * hence the "before 1970-01-12 means relative" rule.
 */
export function flowTime(
  tree: Json,
  rel: string,
  abs: string,
  clock: CflowClock,
  sysInitMs: number,
): number | undefined {
  let relMs: number;
  const absText = str(tree, abs);
  if (absText !== undefined) {
    const ms = dateToMs(absText);
    if (ms >= 1e9) return ms;
    relMs = ms;
  } else {
    const relText = str(tree, rel);
    if (relText === undefined) return undefined;
    relMs = secondsToMs(relText);
  }
  if (clock.version === 10) return sysInitMs + relMs;
  return clock.exportMs - ((clock.uptimeMs - relMs) | 0);
}

/** A data record (one with cflow.octets) as tshark decoded it; a missing start or end is the other, else the export time. */
export function refFlow(f: Json, clock: CflowClock, sysInitMs: number): RefFlow {
  const tree = (f['cflow.timedelta_tree'] ?? {}) as Json;
  const start = flowTime(tree, 'cflow.timestart', 'cflow.abstimestart', clock, sysInitMs);
  const end = flowTime(tree, 'cflow.timeend', 'cflow.abstimeend', clock, sysInitMs);
  return {
    src: str(f, 'cflow.srcaddr') ?? str(f, 'cflow.srcaddrv6') ?? '',
    dst: str(f, 'cflow.dstaddr') ?? str(f, 'cflow.dstaddrv6') ?? '',
    srcPort: num(f, 'cflow.srcport'),
    dstPort: num(f, 'cflow.dstport'),
    proto: num(f, 'cflow.protocol'),
    bytes: num(f, 'cflow.octets'),
    packets: num(f, 'cflow.packets'),
    srcAs: num(f, 'cflow.srcas'),
    dstAs: num(f, 'cflow.dstas'),
    startMs: start ?? end ?? clock.exportMs,
    endMs: end ?? start ?? clock.exportMs,
  };
}

/** A flow our decoder gave, shaped like {@link RefFlow}. */
export function decodedFlow(rec: FlowRecord): RefFlow {
  return {
    src: addrText(rec, 'srcAddr'),
    dst: addrText(rec, 'dstAddr'),
    srcPort: rec.srcPort,
    dstPort: rec.dstPort,
    proto: rec.proto,
    bytes: rec.bytes,
    packets: rec.packets,
    srcAs: rec.srcAs,
    dstAs: rec.dstAs,
    startMs: rec.startMs,
    endMs: rec.endMs,
  };
}

/** Depth-first, in document order: every record object ("Flow n" of a set, "pdu n/m" of v5). */
export function collectRecords(node: Json, out: Json[]): void {
  for (const [key, value] of Object.entries(node)) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) continue;
    if (key.startsWith('Flow ') || key.startsWith('pdu ')) out.push(value as Json);
    else collectRecords(value as Json, out);
  }
}

/** tshark arguments decoding UDP 6343 as sFlow. */
export const sflowTsharkArgs = (pcap: string) => [
  '-r',
  pcap,
  '-d',
  'udp.port==6343,sflow',
  '-Y',
  'sflow',
  '-T',
  'json',
  '--no-duplicate-keys',
];

/** One sFlow flow sample as the decoders must see it. */
export interface RefSample {
  sequence: number;
  samplingRate: number;
  inIf: number;
  outIf: number;
  frameLength: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  proto: number;
}

export interface SflowRefDatagram {
  frame: number;
  agent: string;
  subAgentId: number;
  sequence: number;
  uptimeMs: number;
  flowSamples: RefSample[];
  otherSamples: number;
}

/** First value of `key` in a depth-first walk (document order), as tshark nests fields in trees. */
export function find(o: unknown, key: string): string | undefined {
  if (o === null || typeof o !== 'object') return undefined;
  if (Array.isArray(o)) {
    for (const x of o) {
      const v = find(x, key);
      if (v !== undefined) return v;
    }
    return undefined;
  }
  for (const [k, v] of Object.entries(o as Json)) {
    if (k === key) return Array.isArray(v) ? String(v[0]) : String(v);
    const r = find(v, key);
    if (r !== undefined) return r;
  }
  return undefined;
}

const fnum = (o: unknown, key: string): number => Number(find(o, key) ?? 0);

function refSample(s: Json): RefSample {
  const hdr = find(s, 'sflow_245.header_protocol') === undefined ? {} : s;
  const proto = fnum(hdr, 'ip.proto') || fnum(hdr, 'ipv6.nxt');
  const l4 = proto === 6 ? 'tcp' : proto === 17 ? 'udp' : '';
  return {
    sequence: fnum(s, 'sflow.flow_sample.sequence_number'),
    samplingRate: fnum(s, 'sflow.flow_sample.sampling_rate'),
    inIf: fnum(s, 'sflow.flow_sample.input_interface_value') || fnum(s, 'sflow.flow_sample.input_interface'),
    outIf: fnum(s, 'sflow.flow_sample.output_interface_value'),
    frameLength: fnum(s, 'sflow_245.header.frame_length'),
    src: find(hdr, 'ip.src') ?? find(hdr, 'ipv6.src') ?? '',
    dst: find(hdr, 'ip.dst') ?? find(hdr, 'ipv6.dst') ?? '',
    srcPort: l4 ? fnum(hdr, `${l4}.srcport`) : 0,
    dstPort: l4 ? fnum(hdr, `${l4}.dstport`) : 0,
    proto,
  };
}

/** Reduces `tshark -T json --no-duplicate-keys` output of sFlow to the fields the decoder must match. */
export function extractSflowReference(tsharkJson: string): SflowRefDatagram[] {
  const packets = JSON.parse(tsharkJson) as { _source: { layers: Json } }[];
  return packets.map((p) => {
    const layers = p._source.layers;
    const sf = layers.sflow as Json;
    const samples = Object.entries(sf).filter(([k]) => /sample/i.test(k) && !k.startsWith('sflow'));
    const flows = samples.filter(([k]) => /^(expanded )?flow sample/i.test(k));
    return {
      frame: fnum(layers.frame, 'frame.number'),
      agent: find(sf, 'sflow_245.agent') ?? find(sf, 'sflow_245.agent.v6') ?? '',
      subAgentId: fnum(sf, 'sflow_245.sub_agent_id'),
      sequence: fnum(sf, 'sflow_245.sequence_number'),
      uptimeMs: fnum(sf, 'sflow_245.sysuptime'),
      flowSamples: flows.map(([, v]) => refSample(v as Json)),
      otherSamples: samples.length - flows.length,
    };
  });
}
