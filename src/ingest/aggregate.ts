import type { TrafficDelta } from '../db/traffic.js';

const MINUTE = 60_000;
/** A flow longer than this is spread over its last MAX_SPREAD_MINUTES only (active timeouts are far shorter). */
export const MAX_SPREAD_MINUTES = 120;

const PRODUCTS = ['HTTP', 'OTHER'] as const;
const DIRECTIONS = ['in', 'out'] as const;

/** Location code → 0…675 (AA…ZZ); anything else is stored as XX. */
function locationIndex(loc: string): number {
  const a = loc.charCodeAt(0) - 65;
  const b = loc.charCodeAt(1) - 65;
  if (loc.length !== 2 || a < 0 || a > 25 || b < 0 || b > 25) return 23 * 26 + 23;
  return a * 26 + b;
}

function locationOf(index: number): string {
  return String.fromCharCode(65 + Math.floor(index / 26), 65 + (index % 26));
}

/** One number for (asn, location, product, direction): asn < 2^32, so the key stays below 2^44. */
function keyOf(asn: number, loc: number, product: number, direction: number): number {
  return asn * 4096 + loc * 4 + product * 2 + direction;
}

/**
 * Sums flows into one-minute cells keyed like `traffic`. Cells live in flat Float64Arrays with a
 * numeric key map per minute, so adding a flow allocates nothing once a cell exists.
 */
export class MinuteAggregator {
  private minutes = new Map<number, Map<number, number>>();
  private values = new Float64Array(3 * 1024);
  private size = 0;
  /** Cells held now; the writer flushes before this grows without bound. */
  get cells(): number {
    return this.size;
  }

  private add1(minute: number, key: number, bytes: number, packets: number, flows: number): void {
    let cells = this.minutes.get(minute);
    if (!cells) {
      cells = new Map();
      this.minutes.set(minute, cells);
    }
    let slot = cells.get(key);
    if (slot === undefined) {
      slot = this.size++;
      if (slot * 3 + 3 > this.values.length) {
        const grown = new Float64Array(this.values.length * 2);
        grown.set(this.values);
        this.values = grown;
      }
      this.values[slot * 3] = 0;
      this.values[slot * 3 + 1] = 0;
      this.values[slot * 3 + 2] = 0;
      cells.set(key, slot);
    }
    this.values[slot * 3]! += bytes;
    this.values[slot * 3 + 1]! += packets;
    this.values[slot * 3 + 2]! += flows;
  }

  /**
   * Adds one flow. Bytes and packets (already scaled by sampling) are spread over the minutes
   * the flow spans in proportion to the time it spent in each, as whole numbers that sum
   * exactly to the totals; the flow itself counts once, in its first minute.
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
  ): void {
    const key = keyOf(asn, locationIndex(location), product === 'HTTP' ? 0 : 1, direction === 'in' ? 0 : 1);
    if (endMs < startMs) endMs = startMs;
    if (endMs - startMs > MAX_SPREAD_MINUTES * MINUTE) startMs = endMs - MAX_SPREAD_MINUTES * MINUTE;
    const first = Math.floor(startMs / MINUTE);
    const last = Math.floor(endMs / MINUTE);
    if (first === last) {
      this.add1(first * MINUTE, key, bytes, packets, 1);
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
      this.add1(m * MINUTE, key, cumBytes - doneBytes, cumPackets - donePackets, m === first ? 1 : 0);
      doneBytes = cumBytes;
      donePackets = cumPackets;
    }
  }

  /** Takes everything summed so far as rows, and starts empty. */
  drain(): TrafficDelta[] {
    const rows: TrafficDelta[] = [];
    for (const [minuteMs, cells] of this.minutes) {
      for (const [key, slot] of cells) {
        const direction = key % 2;
        const product = Math.floor(key / 2) % 2;
        const loc = Math.floor(key / 4) % 1024;
        rows.push({
          minuteMs,
          asn: Math.floor(key / 4096),
          location: locationOf(loc),
          product: PRODUCTS[product]!,
          direction: DIRECTIONS[direction]!,
          bytes: this.values[slot * 3]!,
          packets: this.values[slot * 3 + 1]!,
          flows: this.values[slot * 3 + 2]!,
        });
      }
    }
    this.minutes = new Map();
    this.size = 0;
    return rows;
  }
}
