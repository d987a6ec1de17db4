/**
 * Minimal classic-pcap writer: wraps UDP payloads (e.g. encoder output) in IPv4/UDP packets to
 * 127.0.0.1 so Wireshark/tshark and our pcap reader can decode them like a real capture.
 */
import { ipChecksum } from '../../src/sim/encode.js';

/** One UDP datagram to write. */
export interface PcapUdpPacket {
  /** UDP payload. */
  payload: Uint8Array;
  /** Capture time, Unix ms. */
  tsMs: number;
  /** e.g. 2055 (NetFlow/IPFIX) or 6343 (sFlow). */
  dstPort: number;
  /** Default 50000. */
  srcPort?: number;
}

/** Ethernet (LINKTYPE_ETHERNET 1) or raw IPv4 without link header (LINKTYPE_RAW 101). */
export type PcapLinkType = 'ethernet' | 'raw';

const LINKTYPE: Record<PcapLinkType, number> = { ethernet: 1, raw: 101 };
const SNAPLEN = 262_144;
const LOCALHOST = Uint8Array.of(127, 0, 0, 1);

/** A complete pcap file (little-endian, microsecond timestamps) holding `packets` in order. */
export function writePcap(
  packets: readonly PcapUdpPacket[],
  linkType: PcapLinkType = 'ethernet',
): Uint8Array {
  const frames = packets.map((p, i) => frame(p, i, linkType));
  const total = 24 + frames.reduce((n, f) => n + 16 + f.length, 0);
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0xa1b2c3d4, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setUint32(16, SNAPLEN, true); // thiszone and sigfigs (8..16) stay 0
  v.setUint32(20, LINKTYPE[linkType], true);
  let off = 24;
  frames.forEach((f, i) => {
    const ts = packets[i]!.tsMs;
    v.setUint32(off, Math.floor(ts / 1000), true);
    v.setUint32(off + 4, Math.round((ts % 1000) * 1000), true);
    v.setUint32(off + 8, f.length, true);
    v.setUint32(off + 12, f.length, true);
    out.set(f, off + 16);
    off += 16 + f.length;
  });
  return out;
}

/** Link header (if any) + IPv4 + UDP + payload. */
function frame(p: PcapUdpPacket, id: number, linkType: PcapLinkType): Uint8Array {
  const ipLen = 20 + 8 + p.payload.length;
  if (ipLen > 65535) throw new RangeError(`UDP payload of ${p.payload.length} bytes does not fit IPv4`);
  const l2 = linkType === 'ethernet' ? 14 : 0;
  const out = new Uint8Array(l2 + ipLen);
  const v = new DataView(out.buffer);
  if (l2) v.setUint16(12, 0x0800); // MACs all zero, as on the loopback interface
  const ip = l2;
  v.setUint8(ip, 0x45);
  v.setUint16(ip + 2, ipLen);
  v.setUint16(ip + 4, id & 0xffff);
  v.setUint16(ip + 6, 0x4000); // DF
  v.setUint8(ip + 8, 64);
  v.setUint8(ip + 9, 17);
  out.set(LOCALHOST, ip + 12);
  out.set(LOCALHOST, ip + 16);
  v.setUint16(ip + 10, ipChecksum(out, ip, 20));
  const udp = ip + 20;
  v.setUint16(udp, p.srcPort ?? 50000);
  v.setUint16(udp + 2, p.dstPort);
  v.setUint16(udp + 4, 8 + p.payload.length); // checksum stays 0: none, allowed over IPv4
  out.set(p.payload, udp + 8);
  return out;
}
