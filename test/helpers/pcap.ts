/**
 * A tiny reader for classic libpcap files, enough to replay captured flow exports in tests and
 * benchmarks: it yields the UDP datagrams (IPv4 and IPv6) of a capture. Not for pcapng.
 * IP fragments are skipped (no reassembly), as are non-UDP packets and truncated frames.
 */
import { readFileSync } from 'node:fs';

/** One UDP datagram found in a capture. `payload` is a view into the file buffer. */
export interface PcapPacket {
  /** Capture time, Unix ms (fractional below the millisecond). */
  tsMs: number;
  /** Source address as text (dotted IPv4, RFC 5952 IPv6). */
  srcAddr: string;
  dstAddr: string;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

/** Link types understood (LINKTYPE_* numbers). */
export const LINKTYPE = { NULL: 0, ETHERNET: 1, RAW: 101, LINUX_SLL: 113, LINUX_SLL2: 276 } as const;

const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;

interface FileFormat {
  little: boolean;
  /** Divisor turning the sub-second field into ms: 1000 (µs files) or 1e6 (ns files). */
  fracPerMs: number;
  linkType: number;
}

function readFormat(dv: DataView): FileFormat {
  if (dv.byteLength < GLOBAL_HEADER) throw new Error('pcap: file shorter than its global header');
  const magics: [number, boolean, number][] = [
    [0xa1b2c3d4, false, 1000],
    [0xd4c3b2a1, true, 1000],
    [0xa1b23c4d, false, 1e6],
    [0x4d3cb2a1, true, 1e6],
  ];
  const magic = dv.getUint32(0);
  const found = magics.find(([m]) => m === magic);
  if (found === undefined) throw new Error('pcap: not a classic libpcap file (pcapng is not supported)');
  const little = found[1];
  return { little, fracPerMs: found[2], linkType: dv.getUint32(20, little) & 0x0fffffff };
}

/**
 * Iterate over the UDP datagrams of a classic pcap file held in memory. Throws only on a file
 * that is not pcap or has an unsupported link type; a truncated last record ends the iteration.
 * @example
 * for (const p of readPcap(readFileSync('softflowd-v9.pcap'))) decodeNetflow(p.payload, ctx, sink);
 */
export function* readPcap(file: Uint8Array): Generator<PcapPacket> {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const fmt = readFormat(dv);
  if (!Object.values(LINKTYPE).includes(fmt.linkType as never)) {
    throw new Error(`pcap: unsupported link type ${fmt.linkType}`);
  }
  let off = GLOBAL_HEADER;
  while (file.length - off >= RECORD_HEADER) {
    const sec = dv.getUint32(off, fmt.little);
    const frac = dv.getUint32(off + 4, fmt.little);
    const incl = dv.getUint32(off + 8, fmt.little);
    const start = off + RECORD_HEADER;
    if (incl > file.length - start) return;
    off = start + incl;
    const packet = udpOf(dv, start, start + incl, fmt.linkType);
    if (packet !== undefined) {
      packet.tsMs = sec * 1000 + frac / fmt.fracPerMs;
      yield packet;
    }
  }
}

/** Read a pcap file from disk and return its UDP datagrams. */
export function readPcapFile(path: string): PcapPacket[] {
  return [...readPcap(readFileSync(path))];
}

/** Offset of the IP header in a frame and the network protocol (4, 6, or 0 unknown). */
function ipStart(dv: DataView, off: number, end: number, linkType: number): [number, number] {
  switch (linkType) {
    case LINKTYPE.ETHERNET: {
      let p = off + 12;
      // Skip 802.1Q / 802.1ad tags.
      while (end - p >= 2 && (dv.getUint16(p) === 0x8100 || dv.getUint16(p) === 0x88a8)) p += 4;
      if (end - p < 2) return [0, 0];
      return [p + 2, etherTypeFamily(dv.getUint16(p))];
    }
    case LINKTYPE.LINUX_SLL:
      return end - off < 16 ? [0, 0] : [off + 16, etherTypeFamily(dv.getUint16(off + 14))];
    case LINKTYPE.LINUX_SLL2:
      return end - off < 20 ? [0, 0] : [off + 20, etherTypeFamily(dv.getUint16(off))];
    case LINKTYPE.NULL:
      // The 4-byte address family is in the capturing host's byte order and its IPv6 value
      // differs per OS: trust the IP version nibble instead.
      return end - off < 5 ? [0, 0] : [off + 4, dv.getUint8(off + 4) >> 4];
    default:
      return end - off < 1 ? [0, 0] : [off, dv.getUint8(off) >> 4];
  }
}

function etherTypeFamily(etherType: number): number {
  if (etherType === 0x0800) return 4;
  if (etherType === 0x86dd) return 6;
  return 0;
}

function udpOf(dv: DataView, off: number, end: number, linkType: number): PcapPacket | undefined {
  const [ip, family] = ipStart(dv, off, end, linkType);
  if (family === 4) return udpOverIPv4(dv, ip, end);
  if (family === 6) return udpOverIPv6(dv, ip, end);
  return undefined;
}

function udpOverIPv4(dv: DataView, ip: number, end: number): PcapPacket | undefined {
  if (end - ip < 20 || dv.getUint8(ip) >> 4 !== 4) return undefined;
  const ihl = (dv.getUint8(ip) & 0x0f) * 4;
  const total = dv.getUint16(ip + 2);
  const fragment = dv.getUint16(ip + 6) & 0x3fff; // MF flag or offset: a fragment
  if (ihl < 20 || dv.getUint8(ip + 9) !== 17 || fragment !== 0) return undefined;
  const ipEnd = Math.min(end, ip + Math.max(total, ihl));
  const src = `${dv.getUint8(ip + 12)}.${dv.getUint8(ip + 13)}.${dv.getUint8(ip + 14)}.${dv.getUint8(ip + 15)}`;
  const dst = `${dv.getUint8(ip + 16)}.${dv.getUint8(ip + 17)}.${dv.getUint8(ip + 18)}.${dv.getUint8(ip + 19)}`;
  return udp(dv, ip + ihl, ipEnd, src, dst);
}

const IPV6_EXTENSIONS = new Set([0, 43, 60]); // hop-by-hop, routing, destination options

function udpOverIPv6(dv: DataView, ip: number, end: number): PcapPacket | undefined {
  if (end - ip < 40 || dv.getUint8(ip) >> 4 !== 6) return undefined;
  const ipEnd = Math.min(end, ip + 40 + dv.getUint16(ip + 4));
  let next = dv.getUint8(ip + 6);
  let p = ip + 40;
  while (IPV6_EXTENSIONS.has(next)) {
    if (ipEnd - p < 8) return undefined;
    next = dv.getUint8(p);
    p += (dv.getUint8(p + 1) + 1) * 8;
  }
  if (next !== 17) return undefined; // includes fragment headers (44): no reassembly
  return udp(dv, p, ipEnd, formatIPv6(dv, ip + 8), formatIPv6(dv, ip + 24));
}

function udp(dv: DataView, p: number, end: number, srcAddr: string, dstAddr: string): PcapPacket | undefined {
  if (end - p < 8) return undefined;
  const length = dv.getUint16(p + 4);
  // A zero UDP length happens with IPv6 jumbograms and some offloaded captures: use the IP end.
  const payloadEnd = length >= 8 ? Math.min(end, p + length) : end;
  return {
    tsMs: 0,
    srcAddr,
    dstAddr,
    srcPort: dv.getUint16(p),
    dstPort: dv.getUint16(p + 2),
    payload: new Uint8Array(dv.buffer, dv.byteOffset + p + 8, payloadEnd - p - 8),
  };
}

/** RFC 5952 text of the 16-byte address at `off`: lower case, longest zero run (≥ 2) as "::". */
export function formatIPv6(dv: DataView, off: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(dv.getUint16(off + i * 2));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

/** A decoded record's address as text: dotted quad, RFC 5952 IPv6, or '' when it has none (ipVersion 0). */
export function addrText(
  rec: { ipVersion: number; srcAddr: Uint8Array; dstAddr: Uint8Array },
  which: 'srcAddr' | 'dstAddr',
): string {
  const a = rec[which];
  if (rec.ipVersion === 4) return `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
  if (rec.ipVersion === 6) return formatIPv6(new DataView(a.buffer, a.byteOffset, 16), 0);
  return '';
}
