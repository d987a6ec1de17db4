/**
 * Conformance of the sFlow decoder with Wireshark on a real capture (pmacct sfprobe). The
 * reference is tshark's decode reduced to the fields we compare, committed as JSON so the test
 * runs without tshark; when tshark is on PATH the reference itself is re-derived and checked.
 * Regenerate: UPDATE_SFLOW_REF=1 npx vitest run test/sflow-fixtures.test.ts
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readPcapFile } from '../src/ingest/pcap.js';
import { decodeSflow, formatIpv6 } from '../src/ingest/sflow.js';
import { type FlowRecord, newFlowRecord } from '../src/ingest/types.js';

const PCAP = fileURLToPath(new URL('./fixtures/pmacct.pcap', import.meta.url));
const REF = fileURLToPath(new URL('./fixtures/pmacct-sflow.tshark.json', import.meta.url));
const TSHARK_ARGS = [
  '-r',
  PCAP,
  '-d',
  'udp.port==6343,sflow',
  '-Y',
  'sflow',
  '-T',
  'json',
  '--no-duplicate-keys',
];

interface RefSample {
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
interface RefDatagram {
  frame: number;
  agent: string;
  subAgentId: number;
  sequence: number;
  uptimeMs: number;
  flowSamples: RefSample[];
  otherSamples: number;
}

type Json = Record<string, unknown>;

/** First value of `key` in a depth-first walk (document order), as tshark nests fields in trees. */
function find(o: unknown, key: string): string | undefined {
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

const num = (o: unknown, key: string): number => Number(find(o, key) ?? 0);

function refSample(s: Json): RefSample {
  const hdr = find(s, 'sflow_245.header_protocol') === undefined ? {} : s;
  const proto = num(hdr, 'ip.proto') || num(hdr, 'ipv6.nxt');
  const l4 = proto === 6 ? 'tcp' : proto === 17 ? 'udp' : '';
  return {
    sequence: num(s, 'sflow.flow_sample.sequence_number'),
    samplingRate: num(s, 'sflow.flow_sample.sampling_rate'),
    inIf: num(s, 'sflow.flow_sample.input_interface_value') || num(s, 'sflow.flow_sample.input_interface'),
    outIf: num(s, 'sflow.flow_sample.output_interface_value'),
    frameLength: num(s, 'sflow_245.header.frame_length'),
    src: find(hdr, 'ip.src') ?? find(hdr, 'ipv6.src') ?? '',
    dst: find(hdr, 'ip.dst') ?? find(hdr, 'ipv6.dst') ?? '',
    srcPort: l4 ? num(hdr, `${l4}.srcport`) : 0,
    dstPort: l4 ? num(hdr, `${l4}.dstport`) : 0,
    proto,
  };
}

/** Reduce `tshark -T json --no-duplicate-keys` output to the fields the decoder must match. */
function extractReference(tsharkJson: string): RefDatagram[] {
  const packets = JSON.parse(tsharkJson) as { _source: { layers: Json } }[];
  return packets.map((p) => {
    const layers = p._source.layers;
    const sf = layers.sflow as Json;
    const samples = Object.entries(sf).filter(([k]) => /sample/i.test(k) && !k.startsWith('sflow'));
    const flows = samples.filter(([k]) => /^(expanded )?flow sample/i.test(k));
    return {
      frame: num(layers.frame, 'frame.number'),
      agent: find(sf, 'sflow_245.agent') ?? find(sf, 'sflow_245.agent.v6') ?? '',
      subAgentId: num(sf, 'sflow_245.sub_agent_id'),
      sequence: num(sf, 'sflow_245.sequence_number'),
      uptimeMs: num(sf, 'sflow_245.sysuptime'),
      flowSamples: flows.map(([, v]) => refSample(v as Json)),
      otherSamples: samples.length - flows.length,
    };
  });
}

function addrText(r: FlowRecord, which: 'srcAddr' | 'dstAddr'): string {
  const a = r[which];
  if (r.ipVersion === 4) return `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
  return r.ipVersion === 6 ? formatIpv6(a) : '';
}

/** Our decode, shaped like the reference (interfaces use the decoder's "0 = unknown" rule). */
function decodeLikeRef(frame: number, payload: Uint8Array, nowMs: number) {
  const flowSamples: RefSample[] = [];
  const res = decodeSflow(payload, { nowMs, record: newFlowRecord() }, (r) => {
    expect(r.startMs).toBe(nowMs);
    expect(r.endMs).toBe(nowMs);
    expect(r.packets).toBe(1);
    flowSamples.push({
      sequence: -1, // not surfaced by the decoder
      samplingRate: r.samplingRate,
      inIf: r.inIf,
      outIf: r.outIf,
      frameLength: r.bytes,
      src: addrText(r, 'srcAddr'),
      dst: addrText(r, 'dstAddr'),
      srcPort: r.srcPort,
      dstPort: r.dstPort,
      proto: r.proto,
    });
  });
  expect(res.ok, `frame ${frame}: ${res.reason}`).toBe(true);
  return { res, flowSamples };
}

const unknownIf = (v: number): number => (v === 0x3fffffff ? 0 : v);

function tsharkOnPath(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('sFlow v5 decoder vs tshark on pmacct.pcap', () => {
  const datagrams = readPcapFile(PCAP)
    .filter((p) => p.dstPort === 6343)
    .map((p) => p.payload);
  const ref = JSON.parse(readFileSync(REF, 'utf8')) as RefDatagram[];

  it('finds all 85 sFlow datagrams of the capture', () => {
    expect(datagrams).toHaveLength(85);
    expect(ref).toHaveLength(85); // same order: capture order
  });

  it('decodes every datagram and every flow sample like tshark', () => {
    let samples = 0;
    for (const [i, payload] of datagrams.entries()) {
      const want = ref[i]!;
      const { res, flowSamples } = decodeLikeRef(want.frame, payload, 1_700_000_000_000 + i);
      expect(res.agent).toBe(want.agent);
      expect(res.domain).toBe(want.subAgentId);
      expect(res.sequence).toBe(want.sequence);
      expect(res.uptimeMs).toBe(want.uptimeMs);
      expect(res.exportMs).toBe(1_700_000_000_000 + i);
      expect(res.records).toBe(want.flowSamples.length);
      expect(res.ignored).toBe(want.otherSamples);
      expect(res.skipped).toEqual({});
      const expected = want.flowSamples.map((s) => ({
        ...s,
        sequence: -1,
        inIf: unknownIf(s.inIf),
        outIf: unknownIf(s.outIf),
      }));
      expect(flowSamples, `frame ${want.frame}`).toEqual(expected);
      samples += flowSamples.length;
    }
    expect(samples).toBe(662);
  });

  it('committed reference equals a fresh tshark decode', (ctx) => {
    ctx.skip(!tsharkOnPath(), 'tshark not on PATH: cannot re-verify pmacct-sflow.tshark.json');
    const out = execFileSync('tshark', TSHARK_ARGS, { maxBuffer: 1 << 28, encoding: 'utf8' });
    const fresh = extractReference(out);
    if (process.env.UPDATE_SFLOW_REF === '1') writeFileSync(REF, `${JSON.stringify(fresh, null, 1)}\n`);
    expect(fresh).toEqual(ref);
  });
});
