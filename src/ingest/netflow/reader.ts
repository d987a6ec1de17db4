/**
 * A fixed-length template compiled to straight-line JavaScript: one function per template that
 * reads a record's fields at their constant offsets, no loop over the plan and no switch on the
 * field kind. Built once when the template is learned (like the plan it comes from); the data-set
 * loop of dataset.ts calls it per record and settles times, addresses and sampling as for any
 * template. The code is generated from the plan's numbers only (kinds, lengths, offsets), never
 * from bytes of the datagram. Where code generation is refused (a runtime that forbids it) there is
 * no reader and dataset.ts walks the plan instead: the same result, slower.
 */
import { LRUCache } from 'lru-cache';
import { K, NTP_UNIX_OFFSET_S, TWO_32 } from './elements.js';

/**
 * Reads one record starting at `p` (the caller checked that the whole record fits): counters,
 * ports, interfaces and AS numbers into `rec`, addresses into `srcAddr`/`dstAddr` through
 * `setAddr`, sampling fields into the scratch, times and address families into {@link READ}.
 */
export type FixedReader = (
  dv: DataView,
  p: number,
  rec: ReaderRecord,
  srcAddr: Uint8Array,
  dstAddr: Uint8Array,
) => void;

/** The record fields a reader writes. */
export interface ReaderRecord {
  bytes: number;
  packets: number;
  proto: number;
  srcPort: number;
  dstPort: number;
  inIf: number;
  outIf: number;
  srcAs: number;
  dstAs: number;
}

/** Slots of {@link READ}: what a reader found in the record besides what it wrote into it. */
export const R = {
  START_MS: 0,
  END_MS: 1,
  /** 1 when the record carries a start (end) time of its own, else 0. */
  HAS_START: 2,
  HAS_END: 3,
  /** sysUpTime-relative start (end), -1 when absent. */
  START_UP: 4,
  END_UP: 5,
  /** Address family of each side as setAddr returns it, 0 when absent. */
  SRC_FAMILY: 6,
  DST_FAMILY: 7,
} as const;

/** Written by every reader call, read right after it (decoding is synchronous). */
export const READ = new Float64Array(Object.keys(R).length);

/** The generated code's last statement: each local into its slot of {@link READ}. */
const OUT = (
  [
    [R.START_MS, 'startMs'],
    [R.END_MS, 'endMs'],
    [R.HAS_START, 'hasStart'],
    [R.HAS_END, 'hasEnd'],
    [R.START_UP, 'startUp'],
    [R.END_UP, 'endUp'],
    [R.SRC_FAMILY, 'srcFamily'],
    [R.DST_FAMILY, 'dstFamily'],
  ] as const
)
  .map(([slot, local]) => `R[${slot}] = ${local};`)
  .join(' ');

/** What a generated reader calls: dataset.ts's helpers, so both paths share them. */
export interface ReaderHelpers {
  setAddr(dv: DataView, off: number, len: number, out: Uint8Array, family: number): number;
  applyRare(kind: number, v: number): void;
  /** The scratch of rare per-record values (the sampling probability is written here). */
  scratch: { probability: number };
}

/** Record fields by integer kind: `rec.<field> = v`. */
const RECORD_FIELD: Partial<Record<number, keyof ReaderRecord>> = {
  [K.BYTES]: 'bytes',
  [K.PACKETS]: 'packets',
  [K.PROTO]: 'proto',
  [K.SRC_PORT]: 'srcPort',
  [K.DST_PORT]: 'dstPort',
  [K.IN_IF]: 'inIf',
  [K.OUT_IF]: 'outIf',
  [K.SRC_AS]: 'srcAs',
  [K.DST_AS]: 'dstAs',
};

/** Unsigned big-endian integer of `len` bytes at `at` into `v`, clamped to 2^53-1 (as dataset.ts reads). */
function readUint(at: string, len: number): string {
  if (len === 4) return `v = dv.getUint32(${at});`;
  if (len === 2) return `v = dv.getUint16(${at});`;
  if (len === 1) return `v = dv.getUint8(${at});`;
  if (len === 8)
    return `hi = dv.getUint32(${at}); v = hi >= 0x200000 ? ${Number.MAX_SAFE_INTEGER} : hi * ${TWO_32} + dv.getUint32(${at} + 4);`;
  return `v = 0; for (let j = 0; j < ${len}; j++) v = v * 256 + dv.getUint8(${at} + j); if (v > ${Number.MAX_SAFE_INTEGER}) v = ${Number.MAX_SAFE_INTEGER};`;
}

/** The statements of one field at offset `o` of the record. */
function fieldCode(kind: number, len: number, o: number): string {
  const at = `p + ${o}`;
  switch (kind) {
    case K.SKIP:
      return '';
    case K.SRC4:
    case K.SRC6:
      return `srcFamily = setAddr(dv, ${at}, ${len}, srcAddr, srcFamily);`;
    case K.DST4:
    case K.DST6:
      return `dstFamily = setAddr(dv, ${at}, ${len}, dstAddr, dstFamily);`;
    case K.START_NTP:
    case K.END_NTP: {
      const side = kind === K.START_NTP ? 'start' : 'end';
      return (
        `secs = dv.getUint32(${at}); frac = dv.getUint32(${at} + 4);` +
        ` unix = secs >= 0x80000000 ? secs - ${NTP_UNIX_OFFSET_S} : secs + ${TWO_32 - NTP_UNIX_OFFSET_S};` +
        ` ${side}Ms = unix * 1000 + Math.floor((frac * 1000) / ${TWO_32}); has${side === 'start' ? 'Start' : 'End'} = 1;`
      );
    }
    case K.SAMPLING_PROBABILITY:
      return `S.probability = ${len === 8 ? `dv.getFloat64(${at})` : `dv.getFloat32(${at})`};`;
  }
  const read = readUint(at, len);
  const field = RECORD_FIELD[kind];
  if (field) return `${read} rec.${field} = v;`;
  switch (kind) {
    case K.START_UPTIME:
      return `${read} startUp = v;`;
    case K.END_UPTIME:
      return `${read} endUp = v;`;
    case K.START_SEC:
      return `${read} startMs = v * 1000; hasStart = 1;`;
    case K.END_SEC:
      return `${read} endMs = v * 1000; hasEnd = 1;`;
    case K.START_MS:
      return `${read} startMs = v; hasStart = 1;`;
    case K.END_MS:
      return `${read} endMs = v; hasEnd = 1;`;
    case K.START_DELTA_US:
      return `${read} startMs = exportMs - Math.ceil(v / 1000); hasStart = 1;`;
    case K.END_DELTA_US:
      return `${read} endMs = exportMs - Math.ceil(v / 1000); hasEnd = 1;`;
    default:
      return `${read} applyRare(${kind}, v);`;
  }
}

/**
 * The reader of a fixed-length plan (`kinds`, `lengths`: no variable-length field), or undefined
 * where the runtime refuses to compile code. Delta-microsecond times are counted back from
 * `READER_CLOCK[0]`, the export time the caller sets per data set.
 */
function compileReader(
  kinds: Uint8Array,
  lengths: Uint16Array,
  helpers: ReaderHelpers,
): FixedReader | undefined {
  const body: string[] = [];
  let o = 0;
  for (let i = 0; i < kinds.length; i++) {
    const code = fieldCode(kinds[i]!, lengths[i]!, o);
    if (code) body.push(code);
    o += lengths[i]!;
  }
  const source = `"use strict";
return function read(dv, p, rec, srcAddr, dstAddr) {
  const exportMs = CLOCK[0];
  let v = 0, hi = 0, secs = 0, frac = 0, unix = 0;
  let startMs = 0, endMs = 0, hasStart = 0, hasEnd = 0, startUp = -1, endUp = -1, srcFamily = 0, dstFamily = 0;
  ${body.join('\n  ')}
  ${OUT}
};`;
  try {
    const make = new Function('setAddr', 'applyRare', 'S', 'R', 'CLOCK', source) as (
      ...args: unknown[]
    ) => FixedReader;
    return make(helpers.setAddr, helpers.applyRare, helpers.scratch, READ, READER_CLOCK);
  } catch {
    return undefined;
  }
}

/** The export time of the data set being decoded, for delta-microsecond times (one slot). */
export const READER_CLOCK = new Float64Array(1);

/**
 * Readers by layout (kinds and lengths): the templates of many exporters of one model share one
 * function, and a flood of distinct templates compiles at most this many before reusing slots.
 */
const readers = new LRUCache<string, { read: FixedReader | undefined }>({ max: 1024 });

/**
 * {@link compileReader}, shared by every plan of the same layout.
 * @example
 * const read = readerFor(plan.kinds, plan.lengths, helpers);
 * if (read) { READER_CLOCK[0] = exportMs; read(dv, off, rec, rec.srcAddr, rec.dstAddr); }
 */
export function readerFor(
  kinds: Uint8Array,
  lengths: Uint16Array,
  helpers: ReaderHelpers,
): FixedReader | undefined {
  const key = `${kinds.join(',')}|${lengths.join(',')}`;
  let hit = readers.get(key);
  if (hit === undefined) {
    hit = { read: compileReader(kinds, lengths, helpers) };
    readers.set(key, hit);
  }
  return hit.read;
}
