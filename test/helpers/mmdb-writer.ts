/**
 * A tiny MaxMind DB (format 2.0) writer for tests: the `maxmind` package only reads. Builds the
 * binary search tree from CIDR → record pairs, a data section (map, utf8 string, uint16/32/64,
 * int32, double, boolean, array), the 16-byte separator and the metadata map behind the
 * "\xAB\xCD\xEFMaxMind.com" marker. Records of 24, 28 or 32 bits. No pointers inside the data
 * section; identical records are stored once and shared by every network that maps to them.
 */
import ipaddr from 'ipaddr.js';

export type MmdbValue = string | number | bigint | boolean | MmdbValue[] | { [key: string]: MmdbValue };

export interface MmdbWriterOptions {
  ipVersion: 4 | 6;
  recordSize?: 24 | 28 | 32;
  databaseType: string;
  description?: string;
  languages?: string[];
  /** Unix seconds; default a fixed date so output is reproducible. */
  buildEpoch?: number;
}

const TYPE = { pointer: 1, utf8: 2, double: 3, bytes: 4, uint16: 5, uint32: 6, map: 7 } as const;
const EXT = { int32: 8, uint64: 9, uint128: 10, array: 11, boolean: 14, float: 15 } as const;

function ctrl(type: number, size: number): number[] {
  const out: number[] = [];
  let sizeBits: number;
  const extra: number[] = [];
  if (size < 29) sizeBits = size;
  else if (size < 29 + 256) {
    sizeBits = 29;
    extra.push(size - 29);
  } else if (size < 285 + 65536) {
    sizeBits = 30;
    const v = size - 285;
    extra.push(v >> 8, v & 0xff);
  } else {
    sizeBits = 31;
    const v = size - 65821;
    extra.push((v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
  }
  if (type <= 7) out.push((type << 5) | sizeBits);
  else out.push(sizeBits, type - 7); // extended: type 0 in the control byte, then type - 7
  out.push(...extra);
  return out;
}

function uintBytes(v: bigint): number[] {
  const out: number[] = [];
  while (v > 0n) {
    out.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  return out;
}

/** Encodes one value of the data section. */
export function encodeValue(v: MmdbValue, hint?: 'uint16' | 'uint32' | 'uint64'): number[] {
  if (typeof v === 'string') {
    const bytes = [...Buffer.from(v, 'utf8')];
    return [...ctrl(TYPE.utf8, bytes.length), ...bytes];
  }
  if (typeof v === 'boolean') return ctrl(EXT.boolean, v ? 1 : 0);
  if (typeof v === 'bigint') {
    const b = uintBytes(v);
    return [...ctrl(v < 1n << 64n ? EXT.uint64 : EXT.uint128, b.length), ...b];
  }
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0 && v <= 0xffffffff) {
      const b = uintBytes(BigInt(v));
      const t = hint === 'uint16' ? TYPE.uint16 : hint === 'uint64' ? EXT.uint64 : TYPE.uint32;
      return [...ctrl(t, b.length), ...b];
    }
    if (Number.isInteger(v) && v < 0 && v >= -0x80000000) {
      const buf = Buffer.alloc(4);
      buf.writeInt32BE(v);
      return [...ctrl(EXT.int32, 4), ...buf];
    }
    const buf = Buffer.alloc(8);
    buf.writeDoubleBE(v);
    return [...ctrl(TYPE.double, 8), ...buf];
  }
  if (Array.isArray(v)) return [...ctrl(EXT.array, v.length), ...v.flatMap((x) => encodeValue(x))];
  const entries = Object.entries(v);
  return [
    ...ctrl(TYPE.map, entries.length),
    ...entries.flatMap(([k, x]) => [...encodeValue(k), ...encodeValue(x)]),
  ];
}

type Rec = { kind: 'empty' } | { kind: 'node'; node: number } | { kind: 'data'; data: number };

/** Writes an MMDB file image. Later networks override earlier ones where they overlap. */
export function writeMmdb(opts: MmdbWriterOptions, networks: [cidr: string, record: MmdbValue][]): Buffer {
  const recordSize = opts.recordSize ?? 24;
  const nodes: [Rec, Rec][] = [[{ kind: 'empty' }, { kind: 'empty' }]];

  const dataIndex = new Map<string, number>();
  const dataBlobs: number[][] = [];
  const dataId = (rec: MmdbValue) => {
    const key = JSON.stringify(rec, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));
    let id = dataIndex.get(key);
    if (id === undefined) {
      id = dataBlobs.length;
      dataBlobs.push(encodeValue(rec));
      dataIndex.set(key, id);
    }
    return id;
  };

  for (const [cidr, record] of networks) {
    const [addr, len] = ipaddr.parseCIDR(cidr);
    let bytes = addr.toByteArray();
    let bits = len;
    if (addr.kind() === 'ipv4' && opts.ipVersion === 6) {
      bytes = [...new Array(12).fill(0), ...bytes]; // IPv4 lives in ::/96 of an IPv6 tree
      bits += 96;
    } else if (addr.kind() === 'ipv6' && opts.ipVersion === 4) {
      throw new Error(`IPv6 network ${cidr} in an IPv4 database`);
    }
    if (bits === 0) throw new Error('a /0 network cannot be stored');
    const id = dataId(record);
    let node = 0;
    for (let depth = 0; depth < bits; depth++) {
      const bit = (bytes[depth >> 3]! >> (7 - (depth & 7))) & 1;
      const pair = nodes[node]!;
      if (depth === bits - 1) {
        pair[bit] = { kind: 'data', data: id };
        break;
      }
      const cur = bit === 0 ? pair[0] : pair[1];
      if (cur.kind === 'node') {
        node = cur.node;
        continue;
      }
      // Empty or a wider network's data: split it into a node whose both halves keep it.
      const child = nodes.push([{ ...cur }, { ...cur }] as [Rec, Rec]) - 1;
      pair[bit] = { kind: 'node', node: child };
      node = child;
    }
  }

  const nodeCount = nodes.length;
  const dataOffsets: number[] = [];
  let off = 0;
  for (const blob of dataBlobs) {
    dataOffsets.push(off);
    off += blob.length;
  }
  const value = (r: Rec) =>
    r.kind === 'empty' ? nodeCount : r.kind === 'node' ? r.node : nodeCount + 16 + dataOffsets[r.data]!;

  const nodeBytes = recordSize / 4;
  const tree = Buffer.alloc(nodeCount * nodeBytes);
  nodes.forEach(([l, r], i) => {
    const a = value(l);
    const b = value(r);
    const o = i * nodeBytes;
    if (recordSize === 24) {
      tree.writeUIntBE(a, o, 3);
      tree.writeUIntBE(b, o + 3, 3);
    } else if (recordSize === 28) {
      tree.writeUIntBE(a & 0xffffff, o, 3);
      tree[o + 3] = ((a >>> 24) << 4) | (b >>> 24);
      tree.writeUIntBE(b & 0xffffff, o + 4, 3);
    } else {
      tree.writeUInt32BE(a, o);
      tree.writeUInt32BE(b, o + 4);
    }
  });
  const max = 2 ** recordSize;
  if (nodeCount + 16 + off >= max) throw new Error('database too large for the record size');

  const meta = Buffer.from([
    ...ctrl(TYPE.map, 9),
    ...encodeValue('node_count'),
    ...encodeValue(nodeCount, 'uint32'),
    ...encodeValue('record_size'),
    ...encodeValue(recordSize, 'uint16'),
    ...encodeValue('ip_version'),
    ...encodeValue(opts.ipVersion, 'uint16'),
    ...encodeValue('database_type'),
    ...encodeValue(opts.databaseType),
    ...encodeValue('languages'),
    ...encodeValue(opts.languages ?? ['en']),
    ...encodeValue('binary_format_major_version'),
    ...encodeValue(2, 'uint16'),
    ...encodeValue('binary_format_minor_version'),
    ...encodeValue(0, 'uint16'),
    ...encodeValue('build_epoch'),
    ...encodeValue(opts.buildEpoch ?? 1_700_000_000, 'uint64'),
    ...encodeValue('description'),
    ...encodeValue({ en: opts.description ?? `${opts.databaseType} test database` }),
  ]);
  return Buffer.concat([
    tree,
    Buffer.alloc(16),
    Buffer.from(dataBlobs.flat()),
    Buffer.from('\xAB\xCD\xEFMaxMind.com', 'latin1'),
    meta,
  ]);
}
