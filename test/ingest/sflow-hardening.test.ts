/**
 * sFlow decoder against hostile or broken input: every count and length that can lie does,
 * and the decoder must answer ok:false (or skip the sample) without throwing or over-reading.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeSflow, type SflowResult } from '../../src/ingest/sflow.js';
import { type FlowRecord, newFlowRecord } from '../../src/ingest/types.js';
import { encodeSflow, type SimFlow } from '../../src/sim/encode.js';
import { readPcapFile } from '../helpers/pcap.js';

// ---------------------------------------------------------------------------------------------
// XDR builders: every length can be overridden to lie.

function u32s(...v: number[]): Uint8Array {
  const out = new Uint8Array(v.length * 4);
  const dv = new DataView(out.buffer);
  for (const [i, x] of v.entries()) dv.setUint32(i * 4, x >>> 0);
  return out;
}

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const pad4 = (b: Uint8Array): Uint8Array => cat(b, new Uint8Array((4 - (b.length % 4)) % 4));

/** tag + length + body (padded); `len` overrides the declared length. */
const block = (tag: number, body: Uint8Array, len = body.length): Uint8Array =>
  cat(u32s(tag, len), pad4(body));

interface DatagramOpts {
  version?: number;
  addrType?: number;
  addr?: number[];
  count?: number;
}

function datagram(samples: Uint8Array[], o: DatagramOpts = {}): Uint8Array {
  const addr = o.addr ?? [192, 0, 2, 1];
  return cat(
    u32s(o.version ?? 5, o.addrType ?? (addr.length === 16 ? 2 : 1)),
    Uint8Array.from(addr),
    u32s(3, 77, 123_456, o.count ?? samples.length),
    ...samples,
  );
}

interface SampleOpts {
  expanded?: boolean;
  rate?: number;
  inIf?: number;
  outIf?: number;
  count?: number;
  len?: number;
}

function flowSample(records: Uint8Array[], o: SampleOpts = {}): Uint8Array {
  const rate = o.rate ?? 100;
  const n = o.count ?? records.length;
  const fixed = o.expanded
    ? u32s(9, 0, 1, rate, 1000, 0, 0, o.inIf ?? 5, 0, o.outIf ?? 6, n)
    : u32s(9, 1, rate, 1000, 0, o.inIf ?? 5, o.outIf ?? 6, n);
  const body = cat(fixed, ...records);
  return block(o.expanded ? 3 : 1, body, o.len ?? body.length);
}

function rawHeader(
  header: Uint8Array,
  o: { proto?: number; frameLen?: number; hlen?: number; len?: number } = {},
) {
  const body = cat(u32s(o.proto ?? 1, o.frameLen ?? 1514, 4, o.hlen ?? header.length), pad4(header));
  return block(1, body, o.len ?? body.length);
}

/** extended_gateway with the given AS path segments (each an AS_SEQUENCE). */
function gateway(srcAs: number, segments: number[][], o: { nextHopType?: number; segCount?: number } = {}) {
  const nh = o.nextHopType ?? 1;
  const parts = [u32s(nh), new Uint8Array(nh === 2 ? 16 : nh === 1 ? 4 : 0), u32s(65000, srcAs, 0)];
  parts.push(u32s(o.segCount ?? segments.length));
  for (const s of segments) parts.push(u32s(2, s.length, ...s));
  parts.push(u32s(0, 0));
  return block(1003, cat(...parts));
}

const ETH_DST_SRC = new Uint8Array(12).fill(0x02);

function ipv4(proto: number, l4: Uint8Array, o: { fragOffset?: number } = {}): Uint8Array {
  const h = Uint8Array.of(0x45, 0, 0, 40, 0, 0, 0, 0, 64, proto, 0, 0, 10, 1, 2, 3, 192, 0, 2, 9);
  h[6] = (o.fragOffset ?? 0) >> 8;
  h[7] = (o.fragOffset ?? 0) & 0xff;
  return cat(h, l4);
}

function ipv6(next: number, rest: Uint8Array): Uint8Array {
  const h = new Uint8Array(40);
  h[0] = 0x60;
  h[6] = next;
  h[7] = 64;
  h.set([0x20, 0x01, 0x0d, 0xb8], 8);
  h[23] = 1;
  h.set([0x20, 0x01, 0x0d, 0xb8], 24);
  h[39] = 2;
  return cat(h, rest);
}

const ports = (src: number, dst: number): Uint8Array =>
  Uint8Array.of(src >> 8, src & 0xff, dst >> 8, dst & 0xff);
const tcp = (src = 40000, dst = 443): Uint8Array => cat(ports(src, dst), new Uint8Array(16));

function ethernet(etherType: number, payload: Uint8Array, tags: [number, number][] = []): Uint8Array {
  const t = tags.flatMap(([tpid, vid]) => [tpid >> 8, tpid & 0xff, vid >> 8, vid & 0xff]);
  return cat(ETH_DST_SRC, Uint8Array.from(t), Uint8Array.of(etherType >> 8, etherType & 0xff), payload);
}

const V4_TCP = ethernet(0x0800, ipv4(6, tcp()));

// ---------------------------------------------------------------------------------------------

interface Decoded {
  res: SflowResult;
  records: FlowRecord[];
}

function decode(buf: Uint8Array, agentFallback = '198.51.100.1'): Decoded {
  const ctx = { nowMs: 1_000, record: newFlowRecord(), agentFallback };
  const records: FlowRecord[] = [];
  const res = decodeSflow(buf, ctx, (r) => {
    expect(r).toBe(ctx.record); // the hot loop reuses the caller's record
    records.push({ ...r, srcAddr: r.srcAddr.slice(), dstAddr: r.dstAddr.slice() });
  });
  expect(res.records).toBe(records.length);
  if (!res.ok) expect(records).toEqual([]); // a rejected datagram never reaches the sink
  return { res, records };
}

function rejected(buf: Uint8Array, reason: string): SflowResult {
  const { res } = decode(buf);
  expect(res).toMatchObject({ ok: false, reason, records: 0 });
  return res;
}

const good = (): Uint8Array => flowSample([rawHeader(V4_TCP), gateway(64500, [[174, 15169]])]);

describe('sFlow hardening: a well-formed baseline', () => {
  it('decodes header, sample, raw header and gateway', () => {
    const { res, records } = decode(datagram([good()]));
    expect(res).toMatchObject({
      protocol: 'sflow',
      ok: true,
      agent: '192.0.2.1',
      domain: 3,
      sequence: 77,
      uptimeMs: 123_456,
      exportMs: 1_000,
      records: 1,
      ignored: 0,
      skipped: {},
    });
    const r = records[0]!;
    expect(r).toMatchObject({
      ipVersion: 4,
      proto: 6,
      srcPort: 40000,
      dstPort: 443,
      bytes: 1514,
      packets: 1,
    });
    expect(r).toMatchObject({ samplingRate: 100, inIf: 5, outIf: 6, srcAs: 64500, dstAs: 15169 });
    expect(r).toMatchObject({ startMs: 1_000, endMs: 1_000 });
    expect([...r.srcAddr.subarray(0, 4)]).toEqual([10, 1, 2, 3]);
    expect([...r.dstAddr.subarray(0, 4)]).toEqual([192, 0, 2, 9]);
  });
});

describe('sFlow hardening: datagram header', () => {
  it('version other than 5 → bad_version, agent from the fallback', () => {
    for (const version of [0, 2, 4, 6, 0x05000000, 0xffffffff]) {
      const res = rejected(datagram([good()], { version }), 'bad_version');
      expect(res.protocol).toBe('unknown');
      expect(res.agent).toBe('198.51.100.1');
    }
  });

  it('unknown agent address type → bad_record', () => {
    for (const addrType of [0, 3, 0xffffffff]) rejected(datagram([good()], { addrType }), 'bad_record');
  });

  it('agent 0.0.0.0 reports the fallback; IPv6 agents are formatted', () => {
    expect(decode(datagram([good()], { addr: [0, 0, 0, 0] })).res.agent).toBe('198.51.100.1');
    const v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    expect(decode(datagram([good()], { addr: v6 })).res.agent).toBe('2001:db8::1:0:0:1'); // first of two equal zero runs;
  });

  it('header shorter than declared → truncated', () => {
    const d = datagram([]);
    for (let n = 0; n < d.length; n++) rejected(d.subarray(0, n), 'truncated');
    expect(decode(d).res).toMatchObject({ ok: true, records: 0 });
  });
});

describe('sFlow hardening: counts', () => {
  it('sample count > 1000 → too_many, even with the bytes present', () => {
    const samples = Array.from({ length: 1001 }, () => block(2, new Uint8Array(0)));
    rejected(datagram(samples), 'too_many');
    rejected(datagram([good()], { count: 0xffffffff }), 'too_many');
    // 1000 empty samples are fine: each loop turn still consumes their 8-byte header.
    expect(decode(datagram(samples.slice(1))).res).toMatchObject({ ok: true, ignored: 1000 });
  });

  it('sample count beyond what the bytes allow → truncated', () => {
    rejected(datagram([good()], { count: 2 }), 'truncated');
    rejected(datagram([good()], { count: 1000 }), 'truncated');
  });

  it('record count > 1000 → too_many for the whole datagram', () => {
    const many = Array.from({ length: 1001 }, () => block(1001, new Uint8Array(0)));
    rejected(datagram([good(), flowSample(many)]), 'too_many');
    rejected(datagram([good(), flowSample([], { count: 0xffffffff })]), 'too_many');
    expect(decode(datagram([flowSample(many.slice(1))])).res).toMatchObject({ ok: true, records: 1 });
  });

  it('record count beyond the sample bytes → bad_record', () => {
    rejected(datagram([good(), flowSample([rawHeader(V4_TCP)], { count: 2 })]), 'bad_record');
    rejected(datagram([flowSample([rawHeader(V4_TCP)], { count: 1000 })]), 'bad_record');
  });
});

describe('sFlow hardening: nested lengths that lie', () => {
  it('sample longer than the datagram → bad_length', () => {
    rejected(datagram([good(), flowSample([rawHeader(V4_TCP)], { len: 10_000 })]), 'bad_length');
    rejected(datagram([block(2, new Uint8Array(8), 0xffffffff)]), 'bad_length');
    rejected(datagram([block(2, new Uint8Array(8), 9)]), 'bad_length');
  });

  it('flow sample shorter than its fixed fields → bad_record', () => {
    rejected(datagram([flowSample([], { len: 16 })]), 'bad_record');
    rejected(datagram([flowSample([], { expanded: true, len: 40 })]), 'bad_record');
    rejected(datagram([block(1, new Uint8Array(0))]), 'bad_record');
  });

  it('record longer than its sample → bad_record', () => {
    rejected(datagram([flowSample([rawHeader(V4_TCP, { len: 500 })]), good()]), 'bad_record');
    rejected(datagram([flowSample([block(1003, new Uint8Array(8), 0xfffffff0)])]), 'bad_record');
  });

  it('raw header longer than its record: the sample alone is skipped', () => {
    const { res, records } = decode(datagram([flowSample([rawHeader(V4_TCP, { hlen: 200 })]), good()]));
    expect(res).toMatchObject({ ok: true, records: 1, skipped: { bad_record: 1 } });
    expect(records[0]!.srcPort).toBe(40000);
    for (const hlen of [V4_TCP.length + 4, 0xffffffff]) {
      expect(decode(datagram([flowSample([rawHeader(V4_TCP, { hlen })])])).res.skipped).toEqual({
        bad_record: 1,
      });
    }
  });

  it('records shorter than the structure they must hold: the sample is skipped', () => {
    const short = [
      block(1, u32s(1, 64, 4)), // raw header without header length
      block(3, u32s(40, 6, 1, 2, 3, 4, 0)), // sampled IPv4: 28 of 32 bytes
      block(4, new Uint8Array(52)), // sampled IPv6: 52 of 56 bytes
      block(1003, u32s(1)), // gateway: next hop address missing
      block(1003, u32s(1, 0, 65000, 1, 0)), // gateway: segment count missing
    ];
    for (const rec of short) {
      expect(decode(datagram([flowSample([rec])])).res).toMatchObject({
        ok: true,
        records: 0,
        skipped: { bad_record: 1 },
      });
    }
  });

  it('gateway AS path that lies: the sample is skipped', () => {
    const lies = [
      gateway(1, [[2, 3]], { segCount: 5 }), // more segments than bytes
      gateway(1, [], { segCount: 0xffffffff }),
      block(1003, cat(u32s(1, 0, 65000, 1, 0, 1), u32s(2, 0x40000000, 7))), // AS count beyond record
      gateway(1, [], { nextHopType: 9 }),
    ];
    for (const rec of lies) {
      expect(decode(datagram([flowSample([rawHeader(V4_TCP), rec])])).res.skipped).toEqual({ bad_record: 1 });
    }
  });

  it('an empty last segment keeps the last AS seen; no path → dstAs 0', () => {
    const r = (segs: number[][]) => decode(datagram([flowSample([gateway(9, segs)])])).records[0]!;
    expect(r([[1, 2], [3], []]).dstAs).toBe(3);
    expect(r([]).dstAs).toBe(0);
    expect(r([[1, 2], [3], []]).srcAs).toBe(9);
    const v6hop = decode(datagram([flowSample([gateway(9, [[4]], { nextHopType: 2 })])])).records[0]!;
    expect(v6hop.dstAs).toBe(4);
  });
});

describe('sFlow hardening: formats skipped or ignored', () => {
  it('counter samples (2, 4) and unknown samples are counted in ignored', () => {
    const samples = [
      block(2, new Uint8Array(64)),
      block(4, new Uint8Array(80)),
      block((7 << 12) | 1, good()),
      good(),
    ];
    expect(decode(datagram(samples)).res).toMatchObject({ ok: true, records: 1, ignored: 3 });
  });

  it('unknown and enterprise flow records are skipped by their length', () => {
    const recs = [
      block(1001, new Uint8Array(16)),
      block((9 << 12) | 1, new Uint8Array(5)),
      rawHeader(V4_TCP),
    ];
    expect(decode(datagram([flowSample(recs)])).records[0]).toMatchObject({ srcPort: 40000, dstPort: 443 });
  });

  it('a sample without packet records still counts as one sampled packet', () => {
    expect(decode(datagram([flowSample([])])).records[0]).toMatchObject({
      ipVersion: 0,
      bytes: 0,
      packets: 1,
    });
  });
});

describe('sFlow hardening: raw packet headers', () => {
  const one = (header: Uint8Array, proto = 1) =>
    decode(datagram([flowSample([rawHeader(header, { proto })])])).records[0]!;

  it('802.1Q, QinQ and triple tags', () => {
    for (const tags of [
      [[0x8100, 10]],
      [
        [0x88a8, 10],
        [0x8100, 20],
      ],
      [
        [0x9100, 1],
        [0x88a8, 2],
        [0x8100, 3],
      ],
    ] as [number, number][][]) {
      expect(one(ethernet(0x0800, ipv4(17, ports(53, 5353)), tags))).toMatchObject({
        ipVersion: 4,
        srcPort: 53,
      });
    }
  });

  it('IPv4 (11) and IPv6 (12) raw headers, IPv6 over Ethernet with an extension header', () => {
    expect(one(ipv4(6, tcp(1, 2)), 11)).toMatchObject({ ipVersion: 4, proto: 6, srcPort: 1, dstPort: 2 });
    const v6 = one(ipv6(17, ports(3, 4)), 12);
    expect(v6).toMatchObject({ ipVersion: 6, proto: 17, srcPort: 3, dstPort: 4 });
    expect([...v6.srcAddr]).toEqual([0x20, 1, 0x0d, 0xb8, ...new Array(11).fill(0), 1]);
    const hopByHop = cat(Uint8Array.of(6, 0), new Uint8Array(6), tcp(5, 6));
    expect(one(ethernet(0x86dd, ipv6(0, hopByHop)))).toMatchObject({ ipVersion: 6, proto: 6, srcPort: 5 });
  });

  it('non-IP, unknown header protocol, cut or fragmented headers keep what is known', () => {
    expect(one(ethernet(0x0806, new Uint8Array(28)))).toMatchObject({ ipVersion: 0, bytes: 1514 });
    expect(one(V4_TCP, 2)).toMatchObject({ ipVersion: 0, bytes: 1514 });
    expect(one(V4_TCP.subarray(0, 14 + 20 + 2))).toMatchObject({ ipVersion: 4, proto: 6, srcPort: 0 });
    expect(one(V4_TCP.subarray(0, 14 + 19))).toMatchObject({ ipVersion: 0 });
    expect(one(ethernet(0x0800, ipv4(6, tcp(), { fragOffset: 185 })))).toMatchObject({
      ipVersion: 4,
      srcPort: 0,
    });
    expect(one(ethernet(0x8100, new Uint8Array(2)))).toMatchObject({ ipVersion: 0 });
    expect(one(Uint8Array.of(0x55, 0, 0), 11)).toMatchObject({ ipVersion: 0 });
  });

  it('sampled IPv4 / IPv6 records stand in for a missing raw header', () => {
    const v4 = block(3, u32s(1400, 17, 0x0a000001, 0x0a000002, 53, 9999, 0, 0));
    expect(decode(datagram([flowSample([v4])])).records[0]).toMatchObject({
      ipVersion: 4,
      bytes: 1400,
      dstPort: 9999,
    });
    const v6 = block(4, cat(u32s(900, 6), new Uint8Array(32).fill(1), u32s(80, 81, 0, 0)));
    expect(decode(datagram([flowSample([v6])])).records[0]).toMatchObject({
      ipVersion: 6,
      bytes: 900,
      srcPort: 80,
    });
    // With a raw header too: its frame length and addresses win.
    const both = decode(datagram([flowSample([v4, rawHeader(V4_TCP)])])).records[0]!;
    expect(both).toMatchObject({ bytes: 1514, proto: 17, dstPort: 9999 });
  });

  it('interfaces: 0x3FFFFFFF (internal) and discard/multiple formats read as 0', () => {
    const r = (o: SampleOpts) => decode(datagram([flowSample([], o)])).records[0]!;
    expect(r({ inIf: 0x3fffffff, outIf: (1 << 30) | 5 })).toMatchObject({ inIf: 0, outIf: 0 });
    expect(r({ inIf: 7, outIf: (2 << 30) | 3 })).toMatchObject({ inIf: 7, outIf: 0 });
    expect(r({ expanded: true, inIf: 0x40000000, outIf: 0x3fffffff })).toMatchObject({
      inIf: 0x40000000,
      outIf: 0,
    });
  });
});

// ---------------------------------------------------------------------------------------------

const NOW = 1_763_900_000_000;
const SIM: SimFlow[] = Array.from({ length: 20 }, (_, i) => ({
  startMs: NOW,
  endMs: NOW,
  src: i % 2 ? `2001:db8::${i}` : `10.0.0.${i}`,
  dst: i % 2 ? '2001:db8::ffff' : '10.9.9.9',
  srcPort: 1000 + i,
  dstPort: 443,
  proto: i % 3 ? 6 : 17,
  bytes: 1500,
  packets: 1,
  srcAs: i,
  dstAs: 100 + i,
  inIf: i,
  outIf: 2 * i,
}));

/** pmacct's 85 datagrams plus encoder output (expanded samples, IPv6, QinQ, IPv6 agent). */
function fixtureDatagrams(): Uint8Array[] {
  const pcap = fileURLToPath(new URL('../fixtures/pmacct.pcap', import.meta.url));
  const pmacct = readPcapFile(pcap)
    .filter((p) => p.dstPort === 6343)
    .map((p) => p.payload);
  const enc = encodeSflow(SIM, {
    exportMs: NOW,
    expanded: true,
    vlans: [1, 2],
    agent: '2001:db8::1',
  }).datagrams;
  return [...pmacct, ...enc, ...encodeSflow(SIM, { exportMs: NOW, samplingRate: 64 }).datagrams];
}

describe('sFlow hardening: truncated at every offset', () => {
  it('every prefix of every fixture datagram decodes without throwing', () => {
    const datagrams = fixtureDatagrams();
    expect(datagrams.length).toBeGreaterThan(85);
    let prefixes = 0;
    let emitted = 0;
    const ctx = { nowMs: 1, record: newFlowRecord() };
    const sink = () => void emitted++;
    for (const d of datagrams) {
      expect(decode(d).res.ok).toBe(true);
      for (let n = 0; n < d.length; n++) {
        emitted = 0;
        const res = decodeSflow(d.subarray(0, n), ctx, sink);
        if (!res.ok && emitted > 0) expect.unreachable('a rejected datagram reached the sink');
        // A cut datagram still declares all its samples, so it fails the framing check, unless
        // only the final XDR padding is missing (tolerated).
        if (res.ok) expect(n).toBeGreaterThan(d.length - 4);
        prefixes++;
      }
    }
    expect(prefixes).toBeGreaterThan(100_000);
  });
});
