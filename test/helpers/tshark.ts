/**
 * Reading Wireshark's decode (`tshark -T json`) of NetFlow/IPFIX captures: the command line and
 * the small parsers the conformance tests share.
 */

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
