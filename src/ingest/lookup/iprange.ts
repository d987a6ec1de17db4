/**
 * Numeric IP range tables and CIDR sets for the enrichment step. Everything here is built once at
 * load. The hot-path lookups (`findAt`, `containsV4At`, `containsV6At`) read the address straight
 * from the record's byte buffer and allocate nothing: 32-bit words passed as arguments would be
 * boxed as heap numbers (above 2^30) whenever V8 does not inline the call. The number-taking
 * variants are for tests and tools.
 */

/**
 * Parses a dotted-quad IPv4 address (the whole string, or s[from..to)) to an unsigned 32-bit
 * number; -1 when it is not one.
 */
export function parseIPv4(s: string, from = 0, to = s.length): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Parses an IPv6 address in RFC 4291 text form (groups of 1-4 hex digits, at most one `::`, an
 * optional dotted-quad tail; no zone id) to a 128-bit bigint; null when it is not one.
 * Hand-written: ipaddr.js's regular expressions are slow over a whole table at load, and ipaddr.js
 * reads `::a.b.c.d` as `::ffff:a.b.c.d`, where RFC 4291 (and the mmdb reader) mean `::a.b:c.d`.
 */
export function parseIPv6(s: string): bigint | null {
  const n = s.length;
  const groups: number[] = [];
  let gap = -1; // index in groups where `::` stands
  let i = 0;
  if (n < 2) return null;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return null;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    let v = 0;
    let j = i;
    for (let h = hexValue(s.charCodeAt(j)); h >= 0 && j < n; h = hexValue(s.charCodeAt(++j))) {
      v = v * 16 + h;
      if (j - i >= 4) return null;
    }
    if (j < n && s.charCodeAt(j) === 46) {
      const v4 = parseIPv4(s, i, n);
      if (v4 < 0 || groups.length > 6) return null;
      groups.push(v4 >>> 16, v4 & 0xffff);
      break;
    }
    if (j === i || groups.push(v) > 8) return null;
    if (j === n) break;
    if (s.charCodeAt(j) !== 58) return null;
    j++;
    if (s.charCodeAt(j) === 58) {
      if (gap >= 0) return null;
      gap = groups.length;
      j++;
    } else if (j === n) return null; // a single trailing colon
    i = j;
  }
  if (gap < 0 ? groups.length !== 8 : groups.length > 7) return null;
  const fill = 8 - groups.length;
  const g = (k: number) => (gap < 0 || k < gap ? groups[k]! : k < gap + fill ? 0 : groups[k - fill]!);
  return (
    (BigInt(g(0) * 65536 + g(1)) << 96n) |
    (BigInt(g(2) * 65536 + g(3)) << 64n) |
    (BigInt(g(4) * 65536 + g(5)) << 32n) |
    BigInt(g(6) * 65536 + g(7))
  );
}

/** Unsigned 32-bit value of the IPv4 address stored at `bytes[off..off+3]`. */
export function v4At(bytes: Uint8Array, off: number): number {
  return ((bytes[off]! << 24) | (bytes[off + 1]! << 16) | (bytes[off + 2]! << 8) | bytes[off + 3]!) >>> 0;
}

/** Big-endian 32-bit word `w` (0..3) of a 16-byte IPv6 address. */
export function v6Word(bytes: Uint8Array, w: number): number {
  return v4At(bytes, w * 4);
}

/** True for an IPv4-mapped IPv6 address (::ffff:a.b.c.d); its IPv4 address is in bytes 12..15. */
export function isV4Mapped(b: Uint8Array): boolean {
  return (
    b[0] === 0 &&
    b[1] === 0 &&
    b[2] === 0 &&
    b[3] === 0 &&
    b[4] === 0 &&
    b[5] === 0 &&
    b[6] === 0 &&
    b[7] === 0 &&
    b[8] === 0 &&
    b[9] === 0 &&
    b[10] === 0xff &&
    b[11] === 0xff
  );
}

/** Text of an IPv4 address given as an unsigned 32-bit value. */
export function formatIPv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Uncompressed text of an IPv6 address given as four 32-bit words (every reader parses that form). */
export function formatIPv6(w0: number, w1: number, w2: number, w3: number): string {
  const h = (w: number) => `${(w >>> 16).toString(16)}:${(w & 0xffff).toString(16)}`;
  return `${h(w0)}:${h(w1)}:${h(w2)}:${h(w3)}`;
}

/** An ordered list of addresses as keys of one family: number for IPv4, bigint for IPv6. */
type Key = number | bigint;

/** Arithmetic on keys of one family, so {@link flattenRanges} serves both. */
export interface KeyOps<K extends Key> {
  succ(k: K): K;
  pred(k: K): K;
  width(start: K, end: K): K;
}

export const V4_OPS: KeyOps<number> = { succ: (k) => k + 1, pred: (k) => k - 1, width: (s, e) => e - s };
export const V6_OPS: KeyOps<bigint> = { succ: (k) => k + 1n, pred: (k) => k - 1n, width: (s, e) => e - s };

/** Ranges before flattening: parallel arrays, input order is the tie-break order. */
export interface RawRanges<K extends Key> {
  starts: K[];
  ends: K[];
  entries: number[];
}

/** Result of {@link flattenRanges}: sorted, non-overlapping, adjacent equal entries merged. */
export interface FlatRanges<K extends Key> extends RawRanges<K> {
  /** Input ranges that overlapped an earlier (in start order) range. */
  overlapping: number;
}

/**
 * Sorts ranges by start and resolves overlaps so that every address maps to at most one entry:
 * where ranges overlap, the NARROWEST range covering an address wins (like a longest-prefix
 * match, so a more specific carve-out inside a wide block keeps its own AS); among ranges of equal
 * width the one given first (earlier file, earlier line) wins. Already sorted, disjoint input (the
 * normal iptoasn.com case) is passed through without sorting.
 */
export function flattenRanges<K extends Key>(raw: RawRanges<K>, ops: KeyOps<K>): FlatRanges<K> {
  const { starts, ends, entries } = raw;
  const { succ, pred, width } = ops;
  const n = starts.length;
  let sortedDisjoint = true;
  for (let i = 1; i < n && sortedDisjoint; i++) sortedDisjoint = starts[i]! > ends[i - 1]!;
  if (sortedDisjoint) return { starts: [...starts], ends: [...ends], entries: [...entries], overlapping: 0 };

  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => (starts[a]! < starts[b]! ? -1 : starts[a]! > starts[b]! ? 1 : a - b));
  let overlapping = 0;
  let maxEnd: K | undefined;
  for (const i of order) {
    if (maxEnd !== undefined && starts[i]! <= maxEnd) overlapping++;
    if (maxEnd === undefined || ends[i]! > maxEnd) maxEnd = ends[i]!;
  }

  const widths = order.map(() => undefined as K | undefined);
  const w = (i: number): K => {
    let v = widths[i];
    if (v === undefined) widths[i] = v = width(starts[i]!, ends[i]!);
    return v;
  };
  // Min-heap of range indices by (width, input index): the top is the winner while it lasts.
  const heap: number[] = [];
  const better = (a: number, b: number) => {
    const wa = w(a);
    const wb = w(b);
    return wa < wb || (wa === wb && a < b);
  };
  const push = (x: number) => {
    let i = heap.push(x) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!better(heap[i]!, heap[p]!)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  };
  const pop = () => {
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && better(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && better(heap[r]!, heap[m]!)) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };

  const out: FlatRanges<K> = { starts: [], ends: [], entries: [], overlapping };
  const emit = (s: K, e: K, entry: number) => {
    const last = out.starts.length - 1;
    if (last >= 0 && out.entries[last] === entry && succ(out.ends[last]!) === s) out.ends[last] = e;
    else {
      out.starts.push(s);
      out.ends.push(e);
      out.entries.push(entry);
    }
  };
  let next = 0; // next range (in start order) not yet pushed
  let p: K = starts[order[0]!]!; // current sweep point: everything below is done
  while (next < n || heap.length > 0) {
    if (heap.length === 0 && starts[order[next]!]! > p) p = starts[order[next]!]!;
    while (next < n && starts[order[next]!]! <= p) push(order[next++]!);
    while (heap.length > 0 && ends[heap[0]!]! < p) pop();
    if (heap.length === 0) continue;
    const top = heap[0]!;
    // The winner can change where the top ends or where a (possibly narrower) range starts.
    const topEnd = ends[top]!;
    const nextStart = next < n ? starts[order[next]!]! : undefined;
    if (nextStart !== undefined && nextStart <= topEnd) {
      emit(p, pred(nextStart), entries[top]!);
      p = nextStart;
    } else {
      emit(p, topEnd, entries[top]!);
      p = succ(topEnd);
    }
  }
  return out;
}

/** Two 32-bit payload words stored beside each range; the default keeps the entry itself. */
export type Payload = (entry: number) => readonly [number, number];
const ENTRY_PAYLOAD: Payload = (entry) => [entry, 0];

/**
 * Sorted, disjoint IPv4 ranges in one Uint32Array, four words per range: start, end and two
 * payload words, so the range found and its answer share a cache line. A /16 directory (65537
 * offsets, 256 KiB) narrows the binary search to the ranges starting inside the address's /16.
 */
export class V4RangeTable {
  /** start, end, payload a, payload b per range. */
  readonly rows: Uint32Array;
  /** bucket[b] = index of the first range whose start is >= b << 16. */
  private readonly bucket: Uint32Array;

  constructor(flat: RawRanges<number>, payload: Payload = ENTRY_PAYLOAD) {
    const n = flat.starts.length;
    const rows = new Uint32Array(n * 4);
    for (let i = 0; i < n; i++) {
      const [pa, pb] = payload(flat.entries[i]!);
      rows[i * 4] = flat.starts[i]!;
      rows[i * 4 + 1] = flat.ends[i]!;
      rows[i * 4 + 2] = pa;
      rows[i * 4 + 3] = pb;
    }
    this.rows = rows;
    this.bucket = new Uint32Array(65537);
    let i = 0;
    for (let b = 0; b <= 65536; b++) {
      const lower = b * 65536;
      while (i < n && rows[i * 4]! < lower) i++;
      this.bucket[b] = i;
    }
  }

  get size(): number {
    return this.rows.length >>> 2;
  }

  /** Offset in {@link rows} of the range containing the IPv4 address at bytes[off..off+3], or -1. */
  findAt(bytes: Uint8Array, off: number): number {
    const ip =
      ((bytes[off]! << 24) | (bytes[off + 1]! << 16) | (bytes[off + 2]! << 8) | bytes[off + 3]!) >>> 0;
    const rows = this.rows;
    // Last range with start <= ip: among those starting in this /16, else the one before them.
    let lo = this.bucket[ip >>> 16]!;
    let hi = this.bucket[(ip >>> 16) + 1]! - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (rows[mid * 4]! <= ip) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && rows[hi * 4 + 1]! >= ip ? hi * 4 : -1;
  }

  /** Offset in {@link rows} of the range containing `ip` (unsigned 32-bit), or -1. */
  find(ip: number): number {
    putV4(this.scratch, 0, ip);
    return this.findAt(this.scratch, 0);
  }

  /** First payload word (by default the entry) of the range containing `ip`, or -1. */
  lookup(ip: number): number {
    const r = this.find(ip);
    return r < 0 ? -1 : this.rows[r + 2]!;
  }

  private readonly scratch = new Uint8Array(4);
}

function putV4(bytes: Uint8Array, off: number, v: number): void {
  bytes[off] = v >>> 24;
  bytes[off + 1] = v >>> 16;
  bytes[off + 2] = v >>> 8;
  bytes[off + 3] = v;
}

/** Words per IPv6 row: start (4), end (4), payload a, payload b. */
const V6_STRIDE = 10;

function putWords(rows: Uint32Array, o: number, v: bigint): void {
  const lo = BigInt.asUintN(64, v);
  const hi = v >> 64n;
  rows[o] = Number(hi >> 32n);
  rows[o + 1] = Number(BigInt.asUintN(32, hi));
  rows[o + 2] = Number(lo >> 32n);
  rows[o + 3] = Number(BigInt.asUintN(32, lo));
}

/**
 * Sorted, disjoint IPv6 ranges, ten words per range (start and end as four big-endian 32-bit
 * words each, two payload words); binary search comparing words, no bigint per lookup.
 */
export class V6RangeTable {
  readonly rows: Uint32Array;

  constructor(flat: RawRanges<bigint>, payload: Payload = ENTRY_PAYLOAD) {
    const n = flat.starts.length;
    this.rows = new Uint32Array(n * V6_STRIDE);
    for (let i = 0; i < n; i++) {
      const o = i * V6_STRIDE;
      putWords(this.rows, o, flat.starts[i]!);
      putWords(this.rows, o + 4, flat.ends[i]!);
      const [pa, pb] = payload(flat.entries[i]!);
      this.rows[o + 8] = pa;
      this.rows[o + 9] = pb;
    }
  }

  get size(): number {
    return this.rows.length / V6_STRIDE;
  }

  /** Offset in {@link rows} of the range containing the IPv6 address at bytes[off..off+15], or -1; payload at +8, +9. */
  findAt(bytes: Uint8Array, off: number): number {
    const w0 = v4At(bytes, off);
    const w1 = v4At(bytes, off + 4);
    const w2 = v4At(bytes, off + 8);
    const w3 = v4At(bytes, off + 12);
    const rows = this.rows;
    let lo = 0;
    let hi = rows.length / V6_STRIDE - 1;
    // Comparisons written out: a helper taking the words would box them when not inlined.
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const o = mid * V6_STRIDE;
      let startLe: boolean; // row start <= address
      if (rows[o] !== w0) startLe = rows[o]! < w0;
      else if (rows[o + 1] !== w1) startLe = rows[o + 1]! < w1;
      else if (rows[o + 2] !== w2) startLe = rows[o + 2]! < w2;
      else startLe = rows[o + 3]! <= w3;
      if (startLe) lo = mid + 1;
      else hi = mid - 1;
    }
    if (hi < 0) return -1;
    const e = hi * V6_STRIDE + 4;
    let endGe: boolean; // row end >= address
    if (rows[e] !== w0) endGe = rows[e]! > w0;
    else if (rows[e + 1] !== w1) endGe = rows[e + 1]! > w1;
    else if (rows[e + 2] !== w2) endGe = rows[e + 2]! > w2;
    else endGe = rows[e + 3]! >= w3;
    return endGe ? hi * V6_STRIDE : -1;
  }

  /** Offset in {@link rows} of the range containing the address (big-endian words), or -1. */
  find(w0: number, w1: number, w2: number, w3: number): number {
    putV6(this.scratch, w0, w1, w2, w3);
    return this.findAt(this.scratch, 0);
  }

  /** First payload word (by default the entry) of the range containing the address, or -1. */
  lookup(w0: number, w1: number, w2: number, w3: number): number {
    const r = this.find(w0, w1, w2, w3);
    return r < 0 ? -1 : this.rows[r + 8]!;
  }

  private readonly scratch = new Uint8Array(16);
}

function putV6(bytes: Uint8Array, w0: number, w1: number, w2: number, w3: number): void {
  putV4(bytes, 0, w0);
  putV4(bytes, 4, w1);
  putV4(bytes, 8, w2);
  putV4(bytes, 12, w3);
}

/**
 * A set of CIDR blocks as numeric (network, mask) pairs, matched by a linear scan: local-network
 * lists are short. IPv4 blocks match IPv4 addresses only, IPv6 blocks IPv6 addresses only.
 */
export class CidrSet {
  private readonly v4Nets: Uint32Array;
  private readonly v4Masks: Uint32Array;
  private readonly v6Nets: Uint32Array;
  private readonly v6Masks: Uint32Array;

  /** Throws a RangeError naming the entry for anything that is not an address or CIDR. */
  constructor(cidrs: readonly string[]) {
    const v4: [number, number][] = [];
    const v6: number[][] = [];
    for (const text of cidrs) {
      const t = text.trim();
      const slash = t.indexOf('/');
      const addrText = slash < 0 ? t : t.slice(0, slash);
      const isV6 = addrText.includes(':');
      const max = isV6 ? 128 : 32;
      const bitsText = slash < 0 ? String(max) : t.slice(slash + 1);
      const bits = /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : -1;
      const v4addr = isV6 ? -1 : parseIPv4(addrText);
      const v6addr = isV6 ? parseIPv6(addrText) : null;
      if (bits < 0 || bits > max || (isV6 ? v6addr === null : v4addr < 0)) {
        throw new RangeError(`local network is not a CIDR or address: ${JSON.stringify(text)}`);
      }
      if (!isV6) {
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        v4.push([(v4addr & mask) >>> 0, mask]);
      } else {
        const row: number[] = [];
        for (let w = 0; w < 4; w++) {
          const word = Number((v6addr! >> BigInt(96 - w * 32)) & 0xffffffffn);
          const keep = Math.max(0, Math.min(32, bits - w * 32));
          const mask = keep === 0 ? 0 : (0xffffffff << (32 - keep)) >>> 0;
          row.push((word & mask) >>> 0, mask);
        }
        v6.push(row);
      }
    }
    this.v4Nets = Uint32Array.from(v4, (x) => x[0]);
    this.v4Masks = Uint32Array.from(v4, (x) => x[1]);
    this.v6Nets = new Uint32Array(v6.length * 4);
    this.v6Masks = new Uint32Array(v6.length * 4);
    v6.forEach((row, i) => {
      for (let w = 0; w < 4; w++) {
        this.v6Nets[i * 4 + w] = row[w * 2]!;
        this.v6Masks[i * 4 + w] = row[w * 2 + 1]!;
      }
    });
  }

  get empty(): boolean {
    return this.v4Nets.length === 0 && this.v6Nets.length === 0;
  }

  /** True when the IPv4 address at bytes[off..off+3] is in one of the IPv4 blocks. */
  containsV4At(bytes: Uint8Array, off: number): boolean {
    const ip = v4At(bytes, off);
    const nets = this.v4Nets;
    const masks = this.v4Masks;
    for (let i = 0; i < nets.length; i++) if ((ip & masks[i]!) >>> 0 === nets[i]) return true;
    return false;
  }

  /** True when the IPv6 address at bytes[off..off+15] is in one of the IPv6 blocks. */
  containsV6At(bytes: Uint8Array, off: number): boolean {
    const nets = this.v6Nets;
    if (nets.length === 0) return false;
    const masks = this.v6Masks;
    const w0 = v4At(bytes, off);
    const w1 = v4At(bytes, off + 4);
    const w2 = v4At(bytes, off + 8);
    const w3 = v4At(bytes, off + 12);
    for (let o = 0; o < nets.length; o += 4) {
      if (
        (w0 & masks[o]!) >>> 0 === nets[o] &&
        (w1 & masks[o + 1]!) >>> 0 === nets[o + 1] &&
        (w2 & masks[o + 2]!) >>> 0 === nets[o + 2] &&
        (w3 & masks[o + 3]!) >>> 0 === nets[o + 3]
      )
        return true;
    }
    return false;
  }

  containsV4(ip: number): boolean {
    putV4(this.scratch, 0, ip);
    return this.containsV4At(this.scratch, 0);
  }

  containsV6(w0: number, w1: number, w2: number, w3: number): boolean {
    putV6(this.scratch, w0, w1, w2, w3);
    return this.containsV6At(this.scratch, 0);
  }

  private readonly scratch = new Uint8Array(16);
}
