/** The Prometheus gauge of open traffic anomalies, read from the database at each scrape. */
import { sql } from 'drizzle-orm';
import { Gauge, type Registry } from 'prom-client';
import type { Queryable } from '../db/client.js';

const TYPES = ['AS', 'LOCATION'] as const;
const STATUSES = ['UNVERIFIED', 'VERIFIED'] as const;

/**
 * Registers `flowradar_traffic_anomalies_open{type, status}`: anomalies under way (no end yet),
 * dismissed ones left out. Every label pair is always present (0 when none), so an alert rule on
 * `> 0` sees the series before the first outage. A scrape the database cannot answer keeps the
 * last values, rather than failing the whole of /metrics.
 * @example registerAnomalyGauge(metrics.registry, db); // then GET /metrics
 */
export function registerAnomalyGauge(registry: Registry, db: Queryable): Gauge<'type' | 'status'> {
  return new Gauge({
    name: 'flowradar_traffic_anomalies_open',
    help: 'Traffic anomalies under way (not dismissed), by type (AS, LOCATION) and status (UNVERIFIED, VERIFIED)',
    labelNames: ['type', 'status'] as const,
    registers: [registry],
    async collect() {
      const rows = await db
        .query<{ type: string; status: string; n: number }>(
          sql`SELECT type, status, count(*)::float8 AS n FROM traffic_anomalies
               WHERE end_time IS NULL AND status <> 'DISMISSED' GROUP BY 1, 2`,
        )
        .catch(() => undefined);
      if (!rows) return;
      for (const type of TYPES)
        for (const status of STATUSES)
          this.set({ type, status }, rows.find((r) => r.type === type && r.status === status)?.n ?? 0);
    },
  });
}
