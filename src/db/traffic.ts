import { sql } from 'drizzle-orm';
import type { Database } from './client.js';

/**
 * The largest AS number `traffic` and its rollups hold: their `asn` is a PostgreSQL integer, while AS
 * numbers run to 4,294,967,295 (4,200,000,000–4,294,967,294 are the 32-bit private range, common in
 * data-centre fabrics). Larger ones are written as 0 (unknown) and counted per exporter
 * ({@link BatchBuilder}); an API filter on one matches no row.
 */
export const MAX_STORED_ASN = 2_147_483_647;

/** One row of `traffic` as writers produce it. */
export interface TrafficDelta {
  /** Minute start, Unix ms. */
  minuteMs: number;
  asn: number;
  location: string;
  /** First-level subdivision, GeoNames id; 0 (or absent: rows spooled before it existed) when unknown. */
  adm1?: number;
  product: 'HTTP' | 'OTHER';
  direction: 'in' | 'out';
  bytes: number;
  packets: number;
  flows: number;
}

/**
 * Rows of `traffic` in columns, row i across the arrays: what the collector's aggregator drains (a
 * flush of 80 k rows is ten arrays, not 80 k objects with a boxed number per counter, all of them
 * outliving the young generation while the flush is written) and what {@link addTraffic} writes
 * from. Plain data: it crosses threads by structured clone.
 */
export interface TrafficColumns {
  length: number;
  minuteMs: Float64Array;
  asn: Float64Array;
  /** Location codes; rows share the strings. */
  location: string[];
  /** 0 when unknown. */
  adm1: Int32Array;
  /** Index in {@link PRODUCTS}. */
  product: Uint8Array;
  /** Index in {@link DIRECTIONS}. */
  direction: Uint8Array;
  bytes: Float64Array;
  packets: Float64Array;
  flows: Float64Array;
}

/** Rows as writers hand them over: objects (HTTP ingest, the spool, tests) or columns (the collector). */
export type TrafficRows = TrafficDelta[] | TrafficColumns;

export const PRODUCTS = ['HTTP', 'OTHER'] as const;
export const DIRECTIONS = ['in', 'out'] as const;

/** Columns for `n` rows, zeroed (locations empty strings). */
export function newTrafficColumns(n: number): TrafficColumns {
  return {
    length: n,
    minuteMs: new Float64Array(n),
    asn: new Float64Array(n),
    location: new Array<string>(n).fill(''),
    adm1: new Int32Array(n),
    product: new Uint8Array(n),
    direction: new Uint8Array(n),
    bytes: new Float64Array(n),
    packets: new Float64Array(n),
    flows: new Float64Array(n),
  };
}

function codeOf<T extends string>(names: readonly T[], value: T, field: string): number {
  const i = names.indexOf(value);
  if (i < 0) throw new Error(`traffic row with ${field} ${JSON.stringify(value)}`);
  return i;
}

/** The rows in columns: the same object when they already are. */
export function trafficColumns(rows: TrafficRows): TrafficColumns {
  if (!Array.isArray(rows)) return rows;
  const c = newTrafficColumns(rows.length);
  rows.forEach((r, i) => {
    c.minuteMs[i] = r.minuteMs;
    c.asn[i] = r.asn;
    c.location[i] = r.location;
    c.adm1[i] = r.adm1 ?? 0;
    c.product[i] = codeOf(PRODUCTS, r.product, 'product');
    c.direction[i] = codeOf(DIRECTIONS, r.direction, 'direction');
    c.bytes[i] = r.bytes;
    c.packets[i] = r.packets;
    c.flows[i] = r.flows;
  });
  return c;
}

/** The rows as objects (adm1 left out when unknown): the same array when they already are. */
export function trafficRows(rows: TrafficRows): TrafficDelta[] {
  if (Array.isArray(rows)) return rows;
  return Array.from({ length: rows.length }, (_, i) => {
    const adm1 = rows.adm1[i]!;
    return {
      minuteMs: rows.minuteMs[i]!,
      asn: rows.asn[i]!,
      location: rows.location[i]!,
      ...(adm1 !== 0 ? { adm1 } : {}),
      product: PRODUCTS[rows.product[i]!]!,
      direction: DIRECTIONS[rows.direction[i]!]!,
      bytes: rows.bytes[i]!,
      packets: rows.packets[i]!,
      flows: rows.flows[i]!,
    };
  });
}

/** Several batches' rows one after another, in columns; one batch's columns are returned as they are. */
export function concatTraffic(parts: readonly TrafficRows[]): TrafficColumns {
  if (parts.length === 1) return trafficColumns(parts[0]!);
  const cols = parts.map(trafficColumns);
  const out = newTrafficColumns(cols.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of cols) {
    out.minuteMs.set(c.minuteMs.subarray(0, c.length), at);
    out.asn.set(c.asn.subarray(0, c.length), at);
    for (let i = 0; i < c.length; i++) out.location[at + i] = c.location[i]!;
    out.adm1.set(c.adm1.subarray(0, c.length), at);
    out.product.set(c.product.subarray(0, c.length), at);
    out.direction.set(c.direction.subarray(0, c.length), at);
    out.bytes.set(c.bytes.subarray(0, c.length), at);
    out.packets.set(c.packets.subarray(0, c.length), at);
    out.flows.set(c.flows.subarray(0, c.length), at);
    at += c.length;
  }
  return out;
}

/**
 * Distinct keys per statement. Each statement runs to its end on the embedded database's thread,
 * which is also the collector's: the writer yields to the event loop between statements so
 * datagrams queued meanwhile are read before the socket buffer overflows.
 */
const CHUNK = 1000;

const yieldToLoop = () => new Promise<void>((ok) => setImmediate(ok));

/** Strings a row repeats, quoted once for the JSON; others (locations) are quoted as met, up to a bound. */
const quotedStrings = new Map<string, string>(
  [...PRODUCTS, ...DIRECTIONS].map((s) => [s, JSON.stringify(s)]),
);
function quoted(s: string): string {
  let q = quotedStrings.get(s);
  if (q === undefined) {
    q = JSON.stringify(s);
    if (quotedStrings.size < 4096) quotedStrings.set(s, q);
  }
  return q;
}

/**
 * One statement, its rows as one JSON parameter (cheap to build, one parameter whatever the size):
 * objects with one-letter keys, the minute as Unix ms. 1,000 rows stay under ~100 KB, a string V8
 * keeps in its young generation rather than in the large-object space that only a full collection
 * frees.
 */
function upsertStatement(rows: string[]) {
  return sql`INSERT INTO traffic (time, asn, location, adm1, product, direction, bytes, packets, flows)
    SELECT to_timestamp(m / 1000.0), a, l, d, p, o, b, k, f
      FROM json_to_recordset(${`[${rows.join(',')}]`}::json) AS r(m bigint, a int, l text, d int, p text,
                                                                  o text, b bigint, k bigint, f bigint)
    ON CONFLICT (time, asn, location, adm1, product, direction) DO UPDATE SET
      bytes = traffic.bytes + excluded.bytes,
      packets = traffic.packets + excluded.packets,
      flows = traffic.flows + excluded.flows`;
}

/**
 * Row indices in the order every writer upserts rows in: by the conflict key (minute, asn,
 * location, adm1, product, direction). Each upsert locks the rows it adds to; two transactions that
 * lock overlapping rows in different orders can each wait for the other (a deadlock, seen on a real
 * server with two collectors), while in one order the later one only waits.
 */
function keyOrder(c: TrafficColumns): Int32Array {
  const order = new Int32Array(c.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  return order.sort((i, j) => compareKeys(c, i, j));
}

function compareKeys(c: TrafficColumns, i: number, j: number): number {
  const li = c.location[i]!;
  const lj = c.location[j]!;
  return (
    c.minuteMs[i]! - c.minuteMs[j]! ||
    c.asn[i]! - c.asn[j]! ||
    (li < lj ? -1 : li > lj ? 1 : 0) ||
    c.adm1[i]! - c.adm1[j]! ||
    c.product[i]! - c.product[j]! ||
    c.direction[i]! - c.direction[j]!
  );
}

/**
 * Adds deltas to `traffic`: additive upserts, so several writers may each add part of a minute.
 * Rows are written in key order (json_to_recordset yields them in array order), so concurrent
 * writers never deadlock; rows of one key (several batches written as one) are summed first, since
 * one statement may not update a row twice, each row's counters rounded before they are summed, as
 * writing the rows one by one would. The rows given are not changed (a batch may be written again
 * after a failed attempt). Callers that need exactly-once run this inside a transaction with their
 * batch id.
 */
export async function addTraffic(db: Pick<Database, 'query'>, rows: TrafficRows): Promise<void> {
  const c = trafficColumns(rows);
  const order = keyOrder(c);
  let json: string[] = [];
  let statements = 0;
  for (let k = 0; k < order.length; ) {
    const i = order[k]!;
    let bytes = Math.round(c.bytes[i]!);
    let packets = Math.round(c.packets[i]!);
    let flows = Math.round(c.flows[i]!);
    let next = k + 1;
    for (; next < order.length && compareKeys(c, i, order[next]!) === 0; next++) {
      const j = order[next]!;
      bytes += Math.round(c.bytes[j]!);
      packets += Math.round(c.packets[j]!);
      flows += Math.round(c.flows[j]!);
    }
    k = next;
    json.push(
      `{"m":${c.minuteMs[i]},"a":${c.asn[i]},"l":${quoted(c.location[i]!)},"d":${c.adm1[i]},` +
        `"p":${quoted(PRODUCTS[c.product[i]!]!)},"o":${quoted(DIRECTIONS[c.direction[i]!]!)},` +
        `"b":${bytes},"k":${packets},"f":${flows}}`,
    );
    if (json.length === CHUNK || k === order.length) {
      if (statements++ > 0) await yieldToLoop();
      await db.query(upsertStatement(json));
      json = [];
    }
  }
}
