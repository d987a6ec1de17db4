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

/** Rows per statement: 8 parameters each stays far below the protocol's 65,535. */
const CHUNK = 2000;

function valuesOf(rows: TrafficDelta[]) {
  return sql.join(
    rows.map(
      (r) =>
        sql`(${new Date(r.minuteMs).toISOString()}::timestamptz, ${r.asn}::int, ${r.location}, ${r.product}, ${r.direction}, ${Math.round(r.bytes)}::bigint, ${Math.round(r.packets)}::bigint, ${Math.round(r.flows)}::bigint)`,
    ),
    sql`, `,
  );
}

/**
 * Adds deltas to `traffic`: additive upserts, so several writers may each add part of a minute.
 * Callers that need exactly-once run this inside a transaction with their batch id.
 */
export async function addTraffic(db: Pick<Database, 'query'>, rows: TrafficDelta[]): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK) {
    await db.query(sql`INSERT INTO traffic (time, asn, location, product, direction, bytes, packets, flows)
      VALUES ${valuesOf(rows.slice(i, i + CHUNK))}
      ON CONFLICT (time, asn, location, product, direction) DO UPDATE SET
        bytes = traffic.bytes + excluded.bytes,
        packets = traffic.packets + excluded.packets,
        flows = traffic.flows + excluded.flows`);
  }
}
