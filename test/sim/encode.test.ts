/**
 * The simulator's encoders: sFlow round trip through our decoder, and every format checked by
 * Wireshark (tshark) field by field, so the simulator feeds the collector real-looking exports.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeSflow } from '../../src/ingest/sflow.js';
import { type FlowRecord, newFlowRecord } from '../../src/ingest/types.js';
import {
  type EncodeOptions,
  type EncodeResult,
  encodeIpfix,
  encodeSflow,
  encodeV5,
  encodeV9,
  type SimFlow,
} from '../../src/sim/encode.js';
import { addrText, readPcap } from '../helpers/pcap.js';
import { writePcap } from '../helpers/pcap-write.js';
import { type Json, tsharkOnPath } from '../helpers/tshark.js';

const NOW = Date.UTC(2025, 10, 23, 12, 0, 0, 250);
const BOOT = NOW - 3 * 86_400_000 - 1234;

/** Deterministic mix of IPv4/IPv6, TCP/UDP/ICMP, 2- and 4-byte ASNs, AS 0 (unknown). */
function makeFlows(n: number): SimFlow[] {
  const flows: SimFlow[] = [];
  let x = 12345;
  const rnd = (mod: number) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % mod;
  };
  for (let i = 0; i < n; i++) {
    const v6 = rnd(3) === 0;
    const proto = [6, 6, 17, 1][rnd(4)]!;
    const ports = proto === 1 ? [0, 0] : [1024 + rnd(60000), [443, 80, 8443, 4500][rnd(4)]!];
    const startMs = NOW - 60_000 + rnd(50_000);
    flows.push({
      startMs,
      endMs: startMs + rnd(9_000),
      src: v6
        ? `2001:db8:${rnd(0xffff).toString(16)}::${(i + 1).toString(16)}`
        : `10.${rnd(256)}.${rnd(256)}.${i % 256}`,
      dst: v6 ? `2a00:1450:4001:${rnd(0xffff).toString(16)}::200e` : `198.51.100.${rnd(256)}`,
      srcPort: ports[0]!,
      dstPort: ports[1]!,
      proto,
      bytes: 100 + rnd(1400),
      packets: 1 + rnd(1000),
      srcAs: [0, 64500 + rnd(400), 4_200_000_000 + rnd(1000)][rnd(3)]!,
      dstAs: [0, 15169, 4_200_000_123][rnd(3)]!,
      inIf: rnd(1000),
      outIf: rnd(1000),
    });
  }
  return flows;
}

const FLOWS = makeFlows(150);
const BASE: EncodeOptions = { exportMs: NOW, bootMs: BOOT, sequence: 41, domain: 7, samplingRate: 512 };

const ipText = (s: string): string => ipaddr.parse(s).toString();

/** Ports as a flow decoder reports them: only TCP/UDP carry ports. */
const l4Port = (f: SimFlow, port: number): number => (f.proto === 6 || f.proto === 17 ? port : 0);

function decodeAll(r: EncodeResult): {
  records: ReturnType<typeof copy>[];
  results: ReturnType<typeof decodeSflow>[];
} {
  const records: ReturnType<typeof copy>[] = [];
  const results = r.datagrams.map((d) =>
    decodeSflow(d, { nowMs: NOW, record: newFlowRecord() }, (rec) => records.push(copy(rec))),
  );
  return { records, results };
}

function copy(r: FlowRecord) {
  return {
    src: addrText(r, 'srcAddr'),
    dst: addrText(r, 'dstAddr'),
    srcPort: r.srcPort,
    dstPort: r.dstPort,
    proto: r.proto,
    bytes: r.bytes,
    packets: r.packets,
    samplingRate: r.samplingRate,
    srcAs: r.srcAs,
    dstAs: r.dstAs,
    inIf: r.inIf,
    outIf: r.outIf,
    startMs: r.startMs,
    endMs: r.endMs,
  };
}

describe('encodeSflow → decodeSflow round trip', () => {
  for (const variant of [
    { name: 'compact samples, no VLAN', expanded: false, vlans: [] },
    { name: 'expanded samples, one 802.1Q tag', expanded: true, vlans: [100] },
    { name: 'compact samples, QinQ', expanded: false, vlans: [10, 20] },
  ]) {
    it(variant.name, () => {
      const out = encodeSflow(FLOWS, {
        ...BASE,
        expanded: variant.expanded,
        vlans: variant.vlans,
        agent: '192.0.2.1',
      });
      expect(out.datagrams.length).toBeGreaterThan(1);
      expect(out.nextSequence).toBe(41 + out.datagrams.length);
      expect(out.nextSampleSequence).toBe(FLOWS.length);
      const { records, results } = decodeAll(out);
      results.forEach((res, i) => {
        expect(res).toMatchObject({ ok: true, agent: '192.0.2.1', domain: 7, sequence: 41 + i, ignored: 0 });
        expect(res.uptimeMs).toBe(NOW - BOOT);
        expect(res.skipped).toEqual({});
      });
      expect(records).toEqual(
        FLOWS.map((f) => ({
          src: ipText(f.src),
          dst: ipText(f.dst),
          srcPort: l4Port(f, f.srcPort),
          dstPort: l4Port(f, f.dstPort),
          proto: f.proto,
          bytes: f.bytes,
          packets: 1,
          samplingRate: 512,
          srcAs: f.srcAs,
          dstAs: f.dstAs,
          inIf: f.inIf,
          outIf: f.outIf,
          startMs: NOW,
          endMs: NOW,
        })),
      );
    });
  }

  it('IPv6 agent, unsampled (rate 1), sequences continue across calls', () => {
    const a = encodeSflow(FLOWS.slice(0, 10), {
      exportMs: NOW,
      agent: '2001:db8::a',
      sequence: 0xffffffff,
      mtu: 9000,
    });
    const b = encodeSflow(FLOWS.slice(10, 20), {
      exportMs: NOW,
      mtu: 9000,
      agent: '2001:db8::a',
      sequence: a.nextSequence,
      sampleSequence: a.nextSampleSequence,
    });
    expect(a.nextSequence).toBe(0); // 32-bit wrap
    const [ra] = decodeAll(a).results;
    const [rb] = decodeAll(b).results;
    expect(ra).toMatchObject({ ok: true, agent: '2001:db8::a', sequence: 0xffffffff, records: 10 });
    expect(rb).toMatchObject({ ok: true, sequence: 0, records: 10 });
    expect(decodeAll(b).records.every((r) => r.samplingRate === 1)).toBe(true);
  });
});

describe('encoder framing', () => {
  const all = { v5: encodeV5, v9: encodeV9, ipfix: encodeIpfix, sflow: encodeSflow };

  it('keeps every datagram within the MTU and loses no flow', () => {
    for (const [name, enc] of Object.entries(all)) {
      for (const mtu of [512, 1400, 9000]) {
        const out = enc(FLOWS, { ...BASE, mtu });
        for (const d of out.datagrams) expect(d.length, `${name} mtu ${mtu}`).toBeLessThanOrEqual(mtu);
        if (name === 'v5') {
          const v4 = FLOWS.filter((f) => !f.src.includes(':')).length;
          expect(out.skipped).toBe(FLOWS.length - v4);
          expect(out.nextSequence).toBe(41 + v4);
        }
      }
    }
  });

  it('returns nothing for no flows', () => {
    for (const enc of Object.values(all)) expect(enc([], BASE).datagrams).toEqual([]);
  });

  it('v9/IPFIX put templates into every templateEvery-th datagram of the exporter', () => {
    for (const [enc, hdr, templateSet] of [
      [encodeV9, 20, 0],
      [encodeIpfix, 16, 2],
    ] as const) {
      const out = enc(FLOWS, { ...BASE, templateEvery: 3, datagramIndex: 2, mtu: 600 });
      expect(out.datagrams.length).toBeGreaterThan(4);
      const setIds = out.datagrams.map((d) => (d[hdr]! << 8) | d[hdr + 1]!);
      const expected = setIds.map((_, i) => ((2 + i) % 3 === 0 ? templateSet : 256));
      expect(setIds.map((id) => (id === templateSet ? templateSet : 256))).toEqual(expected);
      expect(out.nextDatagramIndex).toBe(2 + out.datagrams.length);
    }
  });

  it('rejects input it cannot encode', () => {
    const f = FLOWS[0]!;
    expect(() => encodeV9([{ ...f, src: 'nope' }], BASE)).toThrow(RangeError);
    expect(() => encodeV9([{ ...f, src: '10.0.0.1', dst: '::1' }], BASE)).toThrow(RangeError);
    expect(() => encodeV5([f], { ...BASE, samplingRate: 20000 })).toThrow(RangeError);
    expect(() => encodeSflow([{ ...f, bytes: 40 }], BASE)).toThrow(RangeError);
    expect(() => encodeIpfix([{ ...f, srcPort: 70000 }], BASE)).toThrow(RangeError);
    expect(() => encodeIpfix([f], { ...BASE, mtu: 100 })).toThrow(RangeError);
  });
});

describe('writePcap', () => {
  it('writes a classic pcap header and IPv4/UDP frames', () => {
    const payload = Uint8Array.of(1, 2, 3);
    for (const [link, l2, type] of [
      ['ethernet', 14, 1],
      ['raw', 0, 101],
    ] as const) {
      const pcap = Buffer.from(writePcap([{ payload, tsMs: 1500, dstPort: 2055 }], link));
      expect(pcap.readUInt32LE(0)).toBe(0xa1b2c3d4);
      expect(pcap.readUInt32LE(20)).toBe(type);
      expect([pcap.readUInt32LE(24), pcap.readUInt32LE(28), pcap.readUInt32LE(32)]).toEqual([
        1,
        500_000,
        l2 + 31,
      ]);
      const ip = 40 + l2;
      expect(pcap.readUInt16BE(ip + 22)).toBe(2055);
      expect([...pcap.subarray(ip + 28)]).toEqual([1, 2, 3]);
    }
  });

  it('is read back by our pcap reader (both link types)', () => {
    const datagrams = encodeSflow(FLOWS, BASE).datagrams;
    const packets = datagrams.map((payload, i) => ({
      payload,
      tsMs: NOW + i,
      dstPort: 6343,
      srcPort: 40000 + i,
    }));
    for (const link of ['ethernet', 'raw'] as const) {
      const back = [...readPcap(writePcap(packets, link))];
      expect(back.map((p) => [p.srcAddr, p.dstAddr, p.srcPort, p.dstPort, p.tsMs])).toEqual(
        packets.map((p) => ['127.0.0.1', '127.0.0.1', p.srcPort, 6343, p.tsMs]),
      );
      expect(back.map((p) => [...p.payload])).toEqual(datagrams.map((d) => [...d]));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// tshark as the reference decoder

const HAVE_TSHARK = tsharkOnPath();
const NO_TSHARK = 'tshark not on PATH: Wireshark cross-check skipped (CI installs tshark)';
const dir = mkdtempSync(join(tmpdir(), 'flowradar-encode-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Decode the datagrams with tshark (as sent to port 2055 → cflow, 6343 → sflow). */
function tshark(name: string, datagrams: Uint8Array[], port: 2055 | 6343): { _source: { layers: Json } }[] {
  const file = join(dir, `${name}.pcap`);
  const packets = datagrams.map((payload, i) => ({ payload, tsMs: NOW + i, dstPort: port }));
  writeFileSync(file, writePcap(packets, name.length % 2 ? 'raw' : 'ethernet'));
  const as = port === 2055 ? 'udp.port==2055,cflow' : 'udp.port==6343,sflow';
  const out = execFileSync('tshark', ['-r', file, '-d', as, '-T', 'json', '--no-duplicate-keys'], {
    maxBuffer: 1 << 28,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return JSON.parse(out);
}

/** Entries (key, value) anywhere below `o` in document order. */
function* walk(o: unknown): Generator<[string, unknown]> {
  if (o === null || typeof o !== 'object') return;
  for (const [k, v] of Object.entries(o as Json)) {
    yield [k, v];
    if (Array.isArray(v)) for (const x of v) yield* walk(x);
    else yield* walk(v);
  }
}

const WARNING = 0x00600000;

/** Malformed-packet markers and expert infos of severity warning or error. */
function problems(packets: { _source: { layers: Json } }[]): string[] {
  const out: string[] = [];
  for (const [k, v] of walk(packets)) {
    if (k === '_ws.malformed') out.push('malformed');
    if (k === '_ws.expert' && Number((v as Json)['_ws.expert.severity']) >= WARNING) {
      out.push(String((v as Json)['_ws.expert.message']));
    }
  }
  return out;
}

function field(o: unknown, key: string): string | undefined {
  for (const [k, v] of walk(o)) if (k === key) return Array.isArray(v) ? String(v[0]) : String(v);
  return undefined;
}
const num = (o: unknown, key: string): number => Number(field(o, key) ?? Number.NaN);

/** NetFlow/IPFIX flow records: "pdu i/n" (v5) or "Flow i" objects that carry byte counts. */
function cflowRecords(layers: Json): Json[] {
  const out: Json[] = [];
  for (const [k, v] of walk(layers.cflow)) {
    if (/^(pdu \d+\/\d+|Flow \d+)$/.test(k) && field(v, 'cflow.octets') !== undefined) out.push(v as Json);
  }
  return out;
}

/** Options data records (v9/IPFIX) carrying a sampling interval. */
function cflowOptions(layers: Json): Json[] {
  const out: Json[] = [];
  for (const [k, v] of walk(layers.cflow)) {
    if (/^Flow \d+$/.test(k) && field(v, 'cflow.sampling_interval') !== undefined) out.push(v as Json);
  }
  return out;
}

/** tshark's "Nov 23, 2025 12:12:20.001000000 UTC" → Unix ms. */
const absTime = (s: string | undefined): number =>
  Date.parse((s ?? '').replace(/(\.\d{3})\d* UTC$/, '$1 UTC'));
/** Relative uptime "3540.001000000" seconds → ms. */
const relTime = (s: string | undefined): number => Math.round(Number(s) * 1000);

function cflowFlow(r: Json, times: 'uptime' | 'absolute') {
  const t = times === 'uptime' ? relTime : absTime;
  return {
    src: field(r, 'cflow.srcaddr') ?? field(r, 'cflow.srcaddrv6'),
    dst: field(r, 'cflow.dstaddr') ?? field(r, 'cflow.dstaddrv6'),
    srcPort: num(r, 'cflow.srcport'),
    dstPort: num(r, 'cflow.dstport'),
    proto: num(r, 'cflow.protocol'),
    bytes: num(r, 'cflow.octets'),
    packets: num(r, 'cflow.packets'),
    srcAs: num(r, 'cflow.srcas'),
    dstAs: num(r, 'cflow.dstas'),
    inIf: num(r, 'cflow.inputint'),
    outIf: num(r, 'cflow.outputint'),
    start: t(field(r, times === 'uptime' ? 'cflow.timestart' : 'cflow.abstimestart')),
    end: t(field(r, times === 'uptime' ? 'cflow.timeend' : 'cflow.abstimeend')),
  };
}

function expectedFlow(f: SimFlow, times: 'uptime' | 'absolute', as16 = false) {
  const as = (a: number) => (as16 && a > 0xffff ? 23456 : a);
  return {
    src: ipText(f.src),
    dst: ipText(f.dst),
    srcPort: f.srcPort,
    dstPort: f.dstPort,
    proto: f.proto,
    bytes: f.bytes,
    packets: f.packets,
    srcAs: as(f.srcAs),
    dstAs: as(f.dstAs),
    inIf: f.inIf,
    outIf: f.outIf,
    start: times === 'uptime' ? f.startMs - BOOT : f.startMs,
    end: times === 'uptime' ? f.endMs - BOOT : f.endMs,
  };
}

describe('tshark decodes the encoders output like the input flows', () => {
  it('the expert check sees tshark warnings (IPFIX sequence gap)', (ctx) => {
    ctx.skip(!HAVE_TSHARK, NO_TSHARK);
    const a = encodeIpfix(FLOWS.slice(0, 5), BASE);
    const b = encodeIpfix(FLOWS.slice(5, 10), { ...BASE, sequence: a.nextSequence + 3 });
    const found = problems(tshark('gap', [...a.datagrams, ...b.datagrams], 2055));
    expect(found).toEqual([expect.stringMatching(/Unexpected flow sequence/)]);
  });

  it('NetFlow v5', (ctx) => {
    ctx.skip(!HAVE_TSHARK, NO_TSHARK);
    const out = encodeV5(FLOWS, BASE);
    const pkts = tshark('v5', out.datagrams, 2055);
    expect(problems(pkts)).toEqual([]);
    let seq = 41;
    for (const p of pkts) {
      const cf = p._source.layers.cflow;
      expect([num(cf, 'cflow.version'), num(cf, 'cflow.sequence')]).toEqual([5, seq]);
      expect([num(cf, 'cflow.samplingmode'), num(cf, 'cflow.samplerate')]).toEqual([1, 512]);
      expect([num(cf, 'cflow.engine_type'), num(cf, 'cflow.engine_id')]).toEqual([0, 7]);
      seq += num(cf, 'cflow.count');
    }
    const got = pkts.flatMap((p) => cflowRecords(p._source.layers).map((r) => cflowFlow(r, 'uptime')));
    const v4 = FLOWS.filter((f) => !f.src.includes(':'));
    expect(got).toEqual(v4.map((f) => expectedFlow(f, 'uptime', true)));
  });

  it('NetFlow v9 with sampling options', (ctx) => {
    ctx.skip(!HAVE_TSHARK, NO_TSHARK);
    const out = encodeV9(FLOWS, { ...BASE, templateEvery: 2 });
    const pkts = tshark('v9', out.datagrams, 2055);
    expect(problems(pkts)).toEqual([]);
    pkts.forEach((p, i) => {
      const cf = p._source.layers.cflow;
      expect([num(cf, 'cflow.version'), num(cf, 'cflow.sequence'), num(cf, 'cflow.source_id')]).toEqual([
        9,
        41 + i,
        7,
      ]);
      // The v9 count covers templates, options templates and all data records.
      const keys = [...walk(cf)].map(([k]) => k);
      const counted = keys.filter((k) => /^((Options )?Template \(Id = |Flow \d+$)/.test(k));
      expect(num(cf, 'cflow.count')).toBe(counted.length);
      const opts = cflowOptions(p._source.layers);
      expect(opts.map((o) => num(o, 'cflow.sampling_interval'))).toEqual(i % 2 === 0 ? [512] : []);
    });
    const got = pkts.flatMap((p) => cflowRecords(p._source.layers).map((r) => cflowFlow(r, 'uptime')));
    expect(got).toEqual(FLOWS.map((f) => expectedFlow(f, 'uptime')));
  });

  it('IPFIX with sampling options', (ctx) => {
    ctx.skip(!HAVE_TSHARK, NO_TSHARK);
    const out = encodeIpfix(FLOWS, BASE);
    const pkts = tshark('ipfix', out.datagrams, 2055);
    // tshark also checks the IPFIX sequence (data records) and would warn here.
    expect(problems(pkts)).toEqual([]);
    expect(num(pkts[0]!._source.layers.cflow, 'cflow.sequence')).toBe(41);
    expect(out.nextSequence).toBe(41 + FLOWS.length + 1); // + the options data record
    const [opt] = cflowOptions(pkts[0]!._source.layers);
    expect([
      num(opt, 'cflow.sampler_id'),
      num(opt, 'cflow.sampling_interval'),
      num(opt, 'cflow.sampling_packet_interval'),
      num(opt, 'cflow.sampling_packet_space'),
    ]).toEqual([1, 512, 1, 511]);
    const records = pkts.flatMap((p) => cflowRecords(p._source.layers));
    expect(records.every((r) => num(r, 'cflow.sampler_id') === 1)).toBe(true);
    expect(records.map((r) => cflowFlow(r, 'absolute'))).toEqual(
      FLOWS.map((f) => expectedFlow(f, 'absolute')),
    );
  });

  it('sFlow v5 (compact and expanded samples, QinQ)', (ctx) => {
    ctx.skip(!HAVE_TSHARK, NO_TSHARK);
    for (const expanded of [false, true]) {
      const out = encodeSflow(FLOWS, { ...BASE, expanded, vlans: [10, 20] });
      const pkts = tshark(`sflow-${expanded}`, out.datagrams, 6343);
      expect(problems(pkts)).toEqual([]);
      const samples: Json[] = [];
      pkts.forEach((p, i) => {
        const sf = p._source.layers.sflow as Json;
        expect([num(sf, 'sflow_245.sequence_number'), num(sf, 'sflow_245.sub_agent_id')]).toEqual([
          41 + i,
          7,
        ]);
        for (const [k, v] of Object.entries(sf)) if (/flow sample/i.test(k)) samples.push(v as Json);
      });
      const got = samples.map((s) => {
        const proto = Number(field(s, 'ip.proto') ?? field(s, 'ipv6.nxt'));
        const l4 = proto === 6 ? 'tcp' : proto === 17 ? 'udp' : undefined;
        return {
          src: field(s, 'ip.src') ?? field(s, 'ipv6.src'),
          dst: field(s, 'ip.dst') ?? field(s, 'ipv6.dst'),
          srcPort: l4 ? num(s, `${l4}.srcport`) : 0,
          dstPort: l4 ? num(s, `${l4}.dstport`) : 0,
          proto,
          bytes: num(s, 'sflow_245.header.frame_length'),
          rate: num(s, 'sflow.flow_sample.sampling_rate'),
          srcAs: num(s, 'sflow_245.srcAS'),
          dstAs: Number(field(s, 'sflow_245.dstAS') ?? 0),
          inIf: Number(
            field(s, 'sflow.flow_sample.input_interface_value') ??
              field(s, 'sflow.flow_sample.input_interface'),
          ),
          outIf: num(s, 'sflow.flow_sample.output_interface_value'),
          vlans: [num(s, 'ieee8021ad.id'), num(s, 'vlan.id')],
        };
      });
      expect(got).toEqual(
        FLOWS.map((f) => ({
          src: ipText(f.src),
          dst: ipText(f.dst),
          srcPort: l4Port(f, f.srcPort),
          dstPort: l4Port(f, f.dstPort),
          proto: f.proto,
          bytes: f.bytes,
          rate: 512,
          srcAs: f.srcAs,
          dstAs: f.dstAs,
          inIf: f.inIf,
          outIf: f.outIf,
          vlans: [10, 20],
        })),
      );
    }
  });
});
