/**
 * Synthetic traffic for the anomaly tests: a few ASes in their own locations with diurnal traffic
 * (one row per 15-minute bucket), weeks of it, with outages cut into chosen buckets.
 */
import { sql } from 'drizzle-orm';
import { BUCKET_MS } from '../../src/anomalies/detect.js';
import type { Database, Queryable } from '../../src/db/client.js';
import { refreshRollups } from '../../src/db/maintenance.js';
import { addTraffic, type TrafficDelta } from '../../src/db/traffic.js';

/** A Monday: the data starts here. */
export const START = Date.parse('2026-10-05T00:00:00Z');
export const DAY_MS = 86_400_000;

/** The watched networks: AS, its location, its peak bytes per bucket. */
export const NETWORKS = [
  { asn: 64500, location: 'PT', peak: 1e9 },
  { asn: 64501, location: 'DE', peak: 3e9 },
  { asn: 64502, location: 'FR', peak: 2e9 },
] as const;

/** A network's diurnal bytes in the bucket starting at `t`, with a deterministic ±4 % jitter. */
export function diurnalBytes(peak: number, t: number, salt: number): number {
  const hour = ((t % DAY_MS) / DAY_MS) * 24;
  const weekday = Math.floor((t - START) / DAY_MS) % 7;
  const shape = 0.55 + 0.45 * Math.sin(((hour - 10) / 24) * 2 * Math.PI);
  const jitter = 1 + 0.04 * Math.sin(t / 9_999_991 + salt * 7.3);
  return peak * shape * (weekday >= 5 ? 0.8 : 1) * jitter;
}

/** A cut: the AS's traffic multiplied by `factor` in [fromMs, toMs). */
export interface Outage {
  asn: number;
  fromMs: number;
  toMs: number;
  factor: number;
}

/** The traffic rows of [fromMs, toMs), with the outages applied. */
export function trafficRows(fromMs: number, toMs: number, outages: readonly Outage[] = []): TrafficDelta[] {
  const rows: TrafficDelta[] = [];
  for (let t = fromMs; t < toMs; t += BUCKET_MS)
    for (const [k, n] of NETWORKS.entries()) {
      let bytes = diurnalBytes(n.peak, t, k);
      for (const o of outages) if (o.asn === n.asn && t >= o.fromMs && t < o.toMs) bytes *= o.factor;
      if (bytes < 1) continue;
      rows.push({
        minuteMs: t,
        asn: n.asn,
        location: n.location,
        product: 'OTHER',
        direction: 'in',
        bytes,
        packets: 1,
        flows: 1,
      });
    }
  return rows;
}

/** Writes the traffic of [fromMs, toMs) and refreshes the rollups. */
export async function writeTraffic(
  db: Database,
  fromMs: number,
  toMs: number,
  outages: readonly Outage[] = [],
) {
  await addTraffic(db, trafficRows(fromMs, toMs, outages));
  await refreshRollups(db);
}

/** Stores an anomaly as the detector would; returns its uuid. */
export async function storeAnomaly(
  db: Queryable,
  a: {
    type: 'AS' | 'LOCATION';
    asn?: number;
    location?: string;
    start: string;
    end: string | null;
    status?: string;
  },
): Promise<string> {
  const [row] = await db.query<{ uuid: string }>(sql`INSERT INTO traffic_anomalies
      (type, asn, location, start_time, end_time, status, depth, baseline_bytes, observed_bytes, params)
    VALUES (${a.type}, ${a.asn ?? null}, ${a.location ?? null}, ${a.start}::timestamptz, ${a.end}::timestamptz,
            ${a.status ?? 'UNVERIFIED'}, 0.9, 1000000, 100000, '{}'::jsonb)
    RETURNING uuid::text`);
  return row!.uuid;
}
