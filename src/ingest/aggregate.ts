import { newTrafficColumns, type TrafficColumns } from '../db/traffic.js';
import type { Classification } from './enrich.js';
import type { FlowRecord } from './types.js';

const MINUTE = 60_000;
/** A flow longer than this is spread over its last MAX_SPREAD_MINUTES only (active timeouts are far shorter). */
export const MAX_SPREAD_MINUTES = 120;

const EMPTY = -1;
const INITIAL_CELLS = 1024;

/** Location code → 0…675 (AA…ZZ); anything else is stored as XX. */
function locationIndex(loc: string): number {
  const a = loc.charCodeAt(0) - 65;
  const b = loc.charCodeAt(1) - 65;
  if (loc.length !== 2 || a < 0 || a > 25 || b < 0 || b > 25) return 23 * 26 + 23;
  return a * 26 + b;
}

/** Index → location code, built once: a drained row shares its location string, none is made per row. */
const LOCATIONS = Array.from({ length: 26 * 26 }, (_, i) =>
  String.fromCharCode(65 + Math.floor(i / 26), 65 + (i % 26)),
);

/** (location, product, direction) in one small integer: loc * 4 + product * 2 + direction, product and direction as their codes in TrafficColumns. */
function dimsOf(location: string, product: 'HTTP' | 'OTHER', direction: 'in' | 'out'): number {
  return locationIndex(location) * 4 + (product === 'HTTP' ? 0 : 2) + (direction === 'in' ? 0 : 1);
}

/** 32-bit hash of a cell key; only int32 arithmetic, so nothing is boxed. */
function hashOf(minute: number, asn: number, dims: number, adm1: number): number {
  let h = Math.imul(minute | 0, 0x9e3779b1);
  h = Math.imul(h ^ (asn | 0) ^ Math.imul(adm1 | 0, 0x27d4eb2f), 0x85ebca6b);
  h = Math.imul(h ^ ((asn / 4294967296) | 0) ^ (dims << 7), 0xc2b2ae35);
  return h ^ (h >>> 15);
}

/**
 * Sums flows into one-minute cells keyed like `traffic`: (minute, asn, location, adm1, product,
 * direction). The cells live in typed-array columns behind an open-addressing hash table with
 * numeric keys, so adding a flow allocates nothing once its cells exist (no Map, no key string,
 * no boxed number). Rows come out in the order their cells were first met (addTraffic orders them
 * by key for the statement).
 * @example
 * const agg = new MinuteAggregator();
 * agg.addRecord(record, cls, samplingRate);
 * const rows = agg.drain(); // TrafficColumns for addTraffic
 */
export class MinuteAggregator {
  /** Hash slot → cell index, EMPTY when free; capacity a power of two, at most half full. */
  private slots = new Int32Array(INITIAL_CELLS * 2).fill(EMPTY);
  /** Per cell: minute index (Unix ms / 60,000), AS number, subdivision, dims, hash. */
  private minuteOf = new Float64Array(INITIAL_CELLS);
  private asnOf = new Float64Array(INITIAL_CELLS);
  private adm1Of = new Int32Array(INITIAL_CELLS);
  private dimsOfCell = new Uint16Array(INITIAL_CELLS);
  private hashOfCell = new Int32Array(INITIAL_CELLS);
  /** bytes, packets, flows per cell. */
  private values = new Float64Array(3 * INITIAL_CELLS);
  private size = 0;
  /** Scaled bytes added since {@link takeAddedBytes} (the pipeline's bytes counter, per datagram). */
  private addedBytes = 0;
  // Inputs of one flow: written by add / addRecord, read by spread. Fields, not parameters, so a
  // non-inlined call never boxes a timestamp or a counter.
  private inStart = 0;
  private inEnd = 0;
  private inAsn = 0;
  private inAdm1 = 0;
  private inDims = 0;
  private inBytes = 0;
  private inPackets = 0;

  /** Cells held now; the writer flushes before this grows without bound. */
  get cells(): number {
    return this.size;
  }

  /**
   * Adds one flow. Bytes and packets (already scaled by sampling) are spread over the minutes
   * the flow spans in proportion to the time it spent in each, as whole numbers that sum
   * exactly to the totals; the flow itself counts once, in its first minute. `adm1` is the
   * subdivision's GeoNames id, 0 when unknown.
   */
  add(
    startMs: number,
    endMs: number,
    asn: number,
    location: string,
    product: 'HTTP' | 'OTHER',
    direction: 'in' | 'out',
    bytes: number,
    packets: number,
    adm1 = 0,
  ): void {
    this.inStart = startMs;
    this.inEnd = endMs;
    this.inAsn = asn;
    this.inAdm1 = adm1;
    this.inDims = dimsOf(location, product, direction);
    this.inBytes = bytes;
    this.inPackets = packets;
    this.spread();
  }

  /**
   * {@link add} for a decoded record as classified, its bytes and packets scaled by `rate`:
   * what Pipeline does per record, reading the record's fields here so nothing is boxed.
   */
  addRecord(r: FlowRecord, cls: Classification, rate: number): void {
    const bytes = r.bytes * rate;
    this.addedBytes += bytes;
    this.inStart = r.startMs;
    this.inEnd = r.endMs;
    this.inAsn = cls.asn;
    this.inAdm1 = cls.adm1;
    this.inDims = dimsOf(cls.location, cls.product, cls.direction);
    this.inBytes = bytes;
    this.inPackets = r.packets * rate;
    this.spread();
  }

  /** Scaled bytes given to {@link addRecord} since the last call; resets the sum. */
  takeAddedBytes(): number {
    const n = this.addedBytes;
    this.addedBytes = 0;
    return n;
  }

  private spread(): void {
    let startMs = this.inStart;
    let endMs = this.inEnd;
    const bytes = this.inBytes;
    const packets = this.inPackets;
    if (endMs < startMs) endMs = startMs;
    if (endMs - startMs > MAX_SPREAD_MINUTES * MINUTE) startMs = endMs - MAX_SPREAD_MINUTES * MINUTE;
    const first = Math.floor(startMs / MINUTE);
    const last = Math.floor(endMs / MINUTE);
    if (first === last) {
      const v = this.cellFor(first) * 3;
      const values = this.values; // after cellFor, which may grow it
      values[v]! += bytes;
      values[v + 1]! += packets;
      values[v + 2]! += 1;
      return;
    }
    const duration = endMs - startMs;
    let doneBytes = 0;
    let donePackets = 0;
    for (let m = first; m <= last; m++) {
      const until = m === last ? endMs : (m + 1) * MINUTE;
      const elapsed = until - startMs;
      const cumBytes = m === last ? bytes : Math.floor((bytes * elapsed) / duration);
      const cumPackets = m === last ? packets : Math.floor((packets * elapsed) / duration);
      const v = this.cellFor(m) * 3;
      const values = this.values;
      values[v]! += cumBytes - doneBytes;
      values[v + 1]! += cumPackets - donePackets;
      if (m === first) values[v + 2]! += 1;
      doneBytes = cumBytes;
      donePackets = cumPackets;
    }
  }

  /** Index of the cell (minute, inAsn, inAdm1, inDims), created empty when missing. */
  private cellFor(minute: number): number {
    const asn = this.inAsn;
    const adm1 = this.inAdm1;
    const dims = this.inDims;
    const hash = hashOf(minute, asn, dims, adm1);
    let slots = this.slots;
    let mask = slots.length - 1;
    let h = hash & mask;
    for (;;) {
      const c = slots[h]!;
      if (c === EMPTY) break;
      if (
        this.minuteOf[c] === minute &&
        this.asnOf[c] === asn &&
        this.dimsOfCell[c] === dims &&
        this.adm1Of[c] === adm1
      )
        return c;
      h = (h + 1) & mask;
    }
    const c = this.size;
    if (c === this.minuteOf.length) this.growCells();
    if ((c + 1) * 2 > slots.length) {
      this.rehash(slots.length * 2);
      slots = this.slots;
      mask = slots.length - 1;
      h = hash & mask;
      while (slots[h] !== EMPTY) h = (h + 1) & mask;
    }
    slots[h] = c;
    this.size = c + 1;
    this.minuteOf[c] = minute;
    this.asnOf[c] = asn;
    this.adm1Of[c] = adm1;
    this.dimsOfCell[c] = dims;
    this.hashOfCell[c] = hash;
    this.values[c * 3] = 0;
    this.values[c * 3 + 1] = 0;
    this.values[c * 3 + 2] = 0;
    return c;
  }

  private growCells(): void {
    const n = this.minuteOf.length * 2;
    const grow = <T extends Float64Array | Int32Array | Uint16Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.minuteOf = grow(this.minuteOf, (k) => new Float64Array(k));
    this.asnOf = grow(this.asnOf, (k) => new Float64Array(k));
    this.adm1Of = grow(this.adm1Of, (k) => new Int32Array(k));
    this.dimsOfCell = grow(this.dimsOfCell, (k) => new Uint16Array(k));
    this.hashOfCell = grow(this.hashOfCell, (k) => new Int32Array(k));
    const values = new Float64Array(n * 3);
    values.set(this.values);
    this.values = values;
  }

  private rehash(capacity: number): void {
    const slots = new Int32Array(capacity).fill(EMPTY);
    const mask = capacity - 1;
    for (let c = 0; c < this.size; c++) {
      let h = this.hashOfCell[c]! & mask;
      while (slots[h] !== EMPTY) h = (h + 1) & mask;
      slots[h] = c;
    }
    this.slots = slots;
  }

  /** Takes everything summed so far as rows, and starts empty. */
  drain(): TrafficColumns {
    const n = this.size;
    const rows = newTrafficColumns(n);
    for (let c = 0; c < n; c++) {
      const dims = this.dimsOfCell[c]!;
      rows.minuteMs[c] = this.minuteOf[c]! * MINUTE;
      rows.asn[c] = this.asnOf[c]!;
      rows.location[c] = LOCATIONS[dims >> 2]!;
      rows.adm1[c] = this.adm1Of[c]!;
      rows.product[c] = (dims >> 1) & 1;
      rows.direction[c] = dims & 1;
      rows.bytes[c] = this.values[c * 3]!;
      rows.packets[c] = this.values[c * 3 + 1]!;
      rows.flows[c] = this.values[c * 3 + 2]!;
    }
    this.slots.fill(EMPTY);
    this.size = 0;
    return rows;
  }
}
