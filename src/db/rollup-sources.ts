/**
 * Where a rollup's rows are read from. A continuous aggregate with real-time aggregation is a view:
 * its materialized hypertable below the watermark, UNION ALL the aggregate computed live from its
 * source above it; a hierarchical one (`traffic_cont_1d` → `traffic_cont_1h` → `traffic_loc_1h` →
 * `traffic_1h` → `traffic`) nests that at every level, and on the embedded database planning the
 * nest cost more than running the query (BENCHMARKS.md, "Materialized reads"). A window that ends
 * at or before a view's watermark is answered by the materialized hypertable alone, row for row
 * what the view gives, so it is read there; any other window reads the view.
 *
 * Watermarks only move forward (a refresh raises them, retention does not lower them), so one read
 * a little old is safe: it can only send a window to the view, never to a hypertable that lacks
 * its rows. They are read at most once a second per database, from the database the rows are read
 * from: a replica's watermarks trail the primary's, and the primary's would send a window to a
 * hypertable the replica has not yet filled. When the catalog cannot be read (another TimescaleDB
 * layout, no rights), every window reads the views.
 * @example
 * const src = await sourcesOf(db)();
 * src.table('traffic_asn_1h', Date.parse('2026-12-01T15:00:00Z')) // '_timescaledb_internal._materialized_hypertable_6'
 */
import { sql } from 'drizzle-orm';
import { refreshedEvery } from '../refreshed.js';
import type { Queryable } from './client.js';

export interface Sources {
  /** The relation to read `view`'s rows before `endMs` from. */
  table(view: string, endMs: number): string;
}

/** Always the views: exact whatever the watermarks, and what tests of the SQL shape use. */
export const VIEWS: Sources = { table: (view) => view };

interface Materialized {
  hypertable: string;
  watermarkMs: number;
}

/** Sources from a snapshot of the catalog: view → materialized hypertable and watermark. */
export function sourcesFrom(rows: Map<string, Materialized>): Sources {
  return {
    table(view, endMs) {
      const m = rows.get(view);
      return m !== undefined && endMs <= m.watermarkMs ? m.hypertable : view;
    },
  };
}

/** Reads the catalog now: the views' hypertables and watermarks, or the views when it cannot. */
export async function readSources(db: Queryable): Promise<Sources> {
  const rows = await db
    .query<{ view: string; hypertable: string; wm: number | null }>(sql`
    SELECT c.view_name::text AS view,
           format('%I.%I', c.materialization_hypertable_schema, c.materialization_hypertable_name) AS hypertable,
           (extract(epoch FROM _timescaledb_functions.to_timestamp(_timescaledb_functions.cagg_watermark(h.id))) * 1000)::float8 AS wm
      FROM timescaledb_information.continuous_aggregates c
      JOIN _timescaledb_catalog.hypertable h
        ON h.schema_name = c.materialization_hypertable_schema AND h.table_name = c.materialization_hypertable_name
     WHERE c.view_schema = 'public'`)
    .catch(() => undefined);
  if (rows === undefined) return VIEWS;
  return sourcesFrom(
    new Map(
      rows.map((r) => [r.view, { hypertable: r.hypertable, watermarkMs: r.wm ?? Number.NEGATIVE_INFINITY }]),
    ),
  );
}

const perDatabase = new WeakMap<object, () => Promise<Sources>>();

/** The database's sources, read at most once a second (concurrent callers share one read). */
export function sourcesOf(db: Queryable): () => Promise<Sources> {
  let get = perDatabase.get(db);
  if (!get) {
    get = refreshedEvery(1000, () => readSources(db));
    perDatabase.set(db, get);
  }
  return get;
}
