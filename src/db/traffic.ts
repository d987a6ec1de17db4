import { sql } from 'drizzle-orm';
import type { Database } from './client.js';

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
 * Rows per statement. Each statement runs to its end on the embedded database's thread, which is
 * also the collector's: the writer yields to the event loop between statements so datagrams
 * queued meanwhile are read before the socket buffer overflows.
 */
const CHUNK = 1000;

const yieldToLoop = () => new Promise<void>((ok) => setImmediate(ok));

/** One statement per chunk, the rows as one JSON parameter: cheap to build, one parameter whatever the size. */
function upsertChunk(rows: TrafficDelta[]) {
  const json = JSON.stringify(
    rows.map((r) => ({
      time: new Date(r.minuteMs).toISOString(),
      asn: r.asn,
      location: r.location,
      adm1: r.adm1 ?? 0,
      product: r.product,
      direction: r.direction,
      bytes: Math.round(r.bytes),
      packets: Math.round(r.packets),
      flows: Math.round(r.flows),
    })),
  );
  return sql`INSERT INTO traffic (time, asn, location, adm1, product, direction, bytes, packets, flows)
    SELECT time, asn, location, adm1, product, direction, bytes, packets, flows
      FROM json_to_recordset(${json}::json) AS r(time timestamptz, asn int, location text, adm1 int, product text,
                                                direction text, bytes bigint, packets bigint, flows bigint)
    ON CONFLICT (time, asn, location, adm1, product, direction) DO UPDATE SET
      bytes = traffic.bytes + excluded.bytes,
      packets = traffic.packets + excluded.packets,
      flows = traffic.flows + excluded.flows`;
}

/**
 * The order every writer upserts rows in: by the conflict key (minute, asn, location, adm1,
 * product, direction). Each upsert locks the rows it adds to; two transactions that lock overlapping rows
 * in different orders can each wait for the other (a deadlock, seen on a real server with two
 * collectors), while in one order the later one only waits.
 */
export function byTrafficKey(a: TrafficDelta, b: TrafficDelta): number {
  return (
    a.minuteMs - b.minuteMs ||
    a.asn - b.asn ||
    (a.location < b.location ? -1 : a.location > b.location ? 1 : 0) ||
    (a.adm1 ?? 0) - (b.adm1 ?? 0) ||
    (a.product < b.product ? -1 : a.product > b.product ? 1 : 0) ||
    (a.direction < b.direction ? -1 : a.direction > b.direction ? 1 : 0)
  );
}

/**
 * Adds deltas to `traffic`: additive upserts, so several writers may each add part of a minute.
 * Rows are written in {@link byTrafficKey} order (json_to_recordset yields them in array order),
 * so concurrent writers never deadlock. Callers that need exactly-once run this inside a
 * transaction with their batch id.
 */
export async function addTraffic(db: Pick<Database, 'query'>, rows: TrafficDelta[]): Promise<void> {
  const sorted = [...rows].sort(byTrafficKey);
  for (let i = 0; i < sorted.length; i += CHUNK) {
    if (i > 0) await yieldToLoop();
    await db.query(upsertChunk(sorted.slice(i, i + CHUNK)));
  }
}
