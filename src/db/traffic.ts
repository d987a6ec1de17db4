import { sql } from 'drizzle-orm';
import type { Database } from './client.js';

/** One row of `traffic` as writers produce it. */
export interface TrafficDelta {
  /** Minute start, Unix ms. */
  minuteMs: number;
  asn: number;
  location: string;
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
      product: r.product,
      direction: r.direction,
      bytes: Math.round(r.bytes),
      packets: Math.round(r.packets),
      flows: Math.round(r.flows),
    })),
  );
  return sql`INSERT INTO traffic (time, asn, location, product, direction, bytes, packets, flows)
    SELECT time, asn, location, product, direction, bytes, packets, flows
      FROM json_to_recordset(${json}::json) AS r(time timestamptz, asn int, location text, product text,
                                                direction text, bytes bigint, packets bigint, flows bigint)
    ON CONFLICT (time, asn, location, product, direction) DO UPDATE SET
      bytes = traffic.bytes + excluded.bytes,
      packets = traffic.packets + excluded.packets,
      flows = traffic.flows + excluded.flows`;
}

/**
 * Adds deltas to `traffic`: additive upserts, so several writers may each add part of a minute.
 * Callers that need exactly-once run this inside a transaction with their batch id.
 */
export async function addTraffic(db: Pick<Database, 'query'>, rows: TrafficDelta[]): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK) {
    if (i > 0) await yieldToLoop();
    await db.query(upsertChunk(rows.slice(i, i + CHUNK)));
  }
}
