import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addr6, Bytes, concat, FIXTURES_DIR } from '../fixtures/netflow-build.js';
import { formatIPv6, LINKTYPE, readPcap, readPcapFile } from './pcap.js';

const PAYLOAD = Uint8Array.of(0, 10, 0, 16, 1, 2, 3, 4);

function udp(srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  return concat(
    new Bytes()
      .u16(srcPort)
      .u16(dstPort)
      .u16(8 + payload.length)
      .u16(0)
      .build(),
    payload,
  );
}

function ipv4(
  src: string,
  dst: string,
  body: Uint8Array,
  opts: { proto?: number; frag?: number } = {},
): Uint8Array {
  return concat(
    new Bytes()
      .u8(0x45)
      .u8(0)
      .u16(20 + body.length)
      .u16(1)
      .u16(opts.frag ?? 0x4000) // DF set, not a fragment
      .u8(64)
      .u8(opts.proto ?? 17)
      .u16(0)
      .addr4(src)
      .addr4(dst)
      .build(),
    body,
  );
}

function ipv6(src: string, dst: string, body: Uint8Array, next = 17, ext?: Uint8Array): Uint8Array {
  const payload = ext === undefined ? body : concat(ext, body);
  return concat(
    new Bytes()
      .u32(0x6000_0000)
      .u16(payload.length)
      .u8(ext === undefined ? next : 0)
      .u8(64)
      .bytes(addr6(src))
      .bytes(addr6(dst))
      .build(),
    payload,
  );
}

const ethernet = (ip: Uint8Array, etherType = 0x0800, vlan = false) =>
  concat(
    new Uint8Array(12),
    vlan ? new Bytes().u16(0x8100).u16(42).build() : new Uint8Array(0),
    new Bytes().u16(etherType).build(),
    ip,
  );

interface PcapOpts {
  little?: boolean;
  nano?: boolean;
  linkType?: number;
}

/** A classic pcap file with one record per frame; timestamps 1.5 s, 2.5 s, ... */
function pcap(frames: Uint8Array[], opts: PcapOpts = {}): Uint8Array {
  const little = opts.little ?? true;
  const buf = new ArrayBuffer(24 + frames.reduce((n, f) => n + 16 + f.length, 0));
  const dv = new DataView(buf);
  const out = new Uint8Array(buf);
  dv.setUint32(0, opts.nano ? 0xa1b23c4d : 0xa1b2c3d4, little);
  dv.setUint16(4, 2, little);
  dv.setUint16(6, 4, little);
  dv.setUint32(16, 65535, little);
  dv.setUint32(20, opts.linkType ?? LINKTYPE.ETHERNET, little);
  let off = 24;
  frames.forEach((f, i) => {
    dv.setUint32(off, 1 + i, little);
    dv.setUint32(off + 4, opts.nano ? 500_000_000 : 500_000, little);
    dv.setUint32(off + 8, f.length, little);
    dv.setUint32(off + 12, f.length, little);
    out.set(f, off + 16);
    off += 16 + f.length;
  });
  return out;
}

describe('pcap reader', () => {
  it('reads the reference captures (Ethernet)', () => {
    const packets = readPcapFile(join(FIXTURES_DIR, 'softflowd-v9.pcap'));
    expect(packets).toHaveLength(3);
    expect(packets[0]).toMatchObject({
      srcAddr: '127.0.0.1',
      dstAddr: '127.0.0.1',
      srcPort: 36895,
      dstPort: 2055,
    });
    expect(packets[0]!.payload.length).toBe(1360);
    expect(packets[0]!.payload[1]).toBe(9);
    expect(Math.floor(packets[0]!.tsMs)).toBe(1_795_350_183_147);
    const pmacct = readPcapFile(join(FIXTURES_DIR, 'pmacct.pcap'));
    expect(pmacct.filter((p) => p.dstPort === 2055)).toHaveLength(12);
    expect(pmacct.filter((p) => p.dstPort === 6343)).toHaveLength(85);
  });

  it.each([
    ['little-endian µs', { little: true }],
    ['big-endian µs', { little: false }],
    ['little-endian ns', { little: true, nano: true }],
    ['big-endian ns', { little: false, nano: true }],
  ])('%s files', (_name, opts) => {
    const [p] = [...readPcap(pcap([ethernet(ipv4('10.0.0.1', '10.0.0.2', udp(5000, 2055, PAYLOAD)))], opts))];
    expect(p).toMatchObject({
      tsMs: 1500,
      srcAddr: '10.0.0.1',
      dstAddr: '10.0.0.2',
      srcPort: 5000,
      dstPort: 2055,
    });
    expect([...p!.payload]).toEqual([...PAYLOAD]);
  });

  const v4 = ipv4('192.0.2.1', '192.0.2.2', udp(1, 2, PAYLOAD));
  const v6 = ipv6('2001:db8::1', '2001:db8:0:0:1:0:0:2', udp(3, 4, PAYLOAD));
  it.each([
    ['Ethernet', LINKTYPE.ETHERNET, ethernet(v4), ethernet(v6, 0x86dd)],
    ['Ethernet + 802.1Q', LINKTYPE.ETHERNET, ethernet(v4, 0x0800, true), ethernet(v6, 0x86dd, true)],
    ['raw IP', LINKTYPE.RAW, v4, v6],
    [
      'null/loopback',
      LINKTYPE.NULL,
      concat(Uint8Array.of(2, 0, 0, 0), v4),
      concat(Uint8Array.of(30, 0, 0, 0), v6),
    ],
    [
      'Linux cooked (SLL)',
      LINKTYPE.LINUX_SLL,
      concat(new Bytes().u16(0).u16(772).u16(0).bytes(new Uint8Array(8)).u16(0x0800).build(), v4),
      concat(new Bytes().u16(0).u16(772).u16(0).bytes(new Uint8Array(8)).u16(0x86dd).build(), v6),
    ],
    [
      'Linux cooked v2 (SLL2)',
      LINKTYPE.LINUX_SLL2,
      concat(new Bytes().u16(0x0800).u16(0).u32(1).u16(772).u8(0).u8(0).bytes(new Uint8Array(8)).build(), v4),
      concat(new Bytes().u16(0x86dd).u16(0).u32(1).u16(772).u8(0).u8(0).bytes(new Uint8Array(8)).build(), v6),
    ],
  ])('link type %s: UDP over IPv4 and IPv6', (_name, linkType, f4, f6) => {
    const packets = [...readPcap(pcap([f4, f6], { linkType }))];
    expect(packets.map(({ payload: _p, ...rest }) => rest)).toEqual([
      { tsMs: 1500, srcAddr: '192.0.2.1', dstAddr: '192.0.2.2', srcPort: 1, dstPort: 2 },
      { tsMs: 2500, srcAddr: '2001:db8::1', dstAddr: '2001:db8::1:0:0:2', srcPort: 3, dstPort: 4 },
    ]);
    expect(packets.every((p) => p.payload.length === PAYLOAD.length)).toBe(true);
  });

  it('IPv6 extension headers are walked', () => {
    const hopByHop = Uint8Array.of(17, 0, 0, 0, 0, 0, 0, 0);
    const frame = ipv6('::1', '::2', udp(7, 8, PAYLOAD), 17, hopByHop);
    expect([...readPcap(pcap([frame], { linkType: LINKTYPE.RAW }))][0]).toMatchObject({
      srcPort: 7,
      srcAddr: '::1',
    });
  });

  it('skips non-UDP, IP fragments, ARP and frames too short', () => {
    const frames = [
      ethernet(ipv4('10.0.0.1', '10.0.0.2', udp(1, 2, PAYLOAD), { proto: 6 })),
      ethernet(ipv4('10.0.0.1', '10.0.0.2', udp(1, 2, PAYLOAD), { frag: 0x2000 })),
      ethernet(ipv4('10.0.0.1', '10.0.0.2', udp(1, 2, PAYLOAD), { frag: 0x0010 })),
      ethernet(new Uint8Array(28), 0x0806),
      ethernet(ipv4('10.0.0.1', '10.0.0.2', new Uint8Array(3))),
      new Uint8Array(5),
      ethernet(ipv4('10.0.0.1', '10.0.0.2', udp(9, 9, PAYLOAD))),
    ];
    expect([...readPcap(pcap(frames))].map((p) => p.srcPort)).toEqual([9]);
  });

  it('a truncated last record ends the iteration', () => {
    const file = pcap([ethernet(v4), ethernet(v4)]);
    expect([...readPcap(file.subarray(0, file.length - 1))]).toHaveLength(1);
    expect([...readPcap(file.subarray(0, 24))]).toHaveLength(0);
  });

  it('payloads are views into the file (byteOffset honoured)', () => {
    const file = pcap([ethernet(v4)]);
    const big = concat(new Uint8Array(7), file);
    const [p] = [...readPcap(big.subarray(7))];
    expect([...p!.payload]).toEqual([...PAYLOAD]);
    expect(p!.payload.buffer).toBe(big.buffer);
  });

  it('rejects non-pcap files and unsupported link types', () => {
    expect(() => [...readPcap(new Uint8Array(10))]).toThrow(/global header/);
    expect(() => [...readPcap(new Uint8Array(24))]).toThrow(/not a classic libpcap/);
    expect(() => [...readPcap(pcap([], { linkType: 105 }))]).toThrow(/link type 105/);
  });

  it('formats IPv6 as RFC 5952', () => {
    const text = (a: string) => {
      const b = Uint8Array.from(addr6(a));
      return formatIPv6(new DataView(b.buffer), 0);
    };
    expect(text('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(text('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1');
    expect(text('::')).toBe('::');
    expect(text('fe80::')).toBe('fe80::');
    expect(text('1:0:0:2:0:0:0:3')).toBe('1:0:0:2::3');
  });
});
