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
 * Sorted rows (by {@link byTrafficKey}) with the rows of one key summed into one: a key's rows are
 * adjacent. Each row's counters are rounded before they are summed, as the statement rounds each
 * row, so the sums are those of writing the rows one by one. The rows given are not changed (a
 * batch may be written again after a failed attempt); a summed row is a new object.
 */
function sumAdjacent(sorted: TrafficDelta[]): TrafficDelta[] {
  const out: TrafficDelta[] = [];
  let summed = false;
  for (const r of sorted) {
    const last = out.at(-1);
    if (last === undefined || byTrafficKey(last, r) !== 0) {
      out.push(r);
      summed = false;
      continue;
    }
    const into = summed
      ? last
      : {
          ...last,
          bytes: Math.round(last.bytes),
          packets: Math.round(last.packets),
          flows: Math.round(last.flows),
        };
    into.bytes += Math.round(r.bytes);
    into.packets += Math.round(r.packets);
    into.flows += Math.round(r.flows);
    out[out.length - 1] = into;
    summed = true;
  }
  return out;
}

/**
 * Adds deltas to `traffic`: additive upserts, so several writers may each add part of a minute.
 * Rows are written in {@link byTrafficKey} order (json_to_recordset yields them in array order),
 * so concurrent writers never deadlock; rows of the same key (several batches written as one) are
 * summed first, since one statement may not update a row twice. Callers that need exactly-once run
 * this inside a transaction with their batch id.
 */
export async function addTraffic(db: Pick<Database, 'query'>, rows: TrafficDelta[]): Promise<void> {
  const sorted = sumAdjacent([...rows].sort(byTrafficKey));
  for (let i = 0; i < sorted.length; i += CHUNK) {
    if (i > 0) await yieldToLoop();
    await db.query(upsertChunk(sorted.slice(i, i + CHUNK)));
  }
}
