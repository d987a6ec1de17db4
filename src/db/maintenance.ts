import { hostname } from 'node:os';
import { sql } from 'drizzle-orm';
import type { Config } from '../config.js';
import type { Database } from './client.js';

/**
 * What TimescaleDB's background jobs would do, done by the service itself: the embedded database
 * runs no background workers, and doing it ourselves keeps both modes identical.
 */

/**
 * The rollups without some dimensions (migrations 0004, 0005 and 0007), each with a 15-minute, an
 * hourly and a daily table; per continent reads per location, so it comes after it.
 */
export const DIMENSION_ROLLUPS = ['total', 'asn', 'loc', 'cont'] as const;

/** Every rollup in refresh order: each after the one it reads. */
export const ROLLUPS = {
  quarter: DIMENSION_ROLLUPS.map((d) => `traffic_${d}_15m`),
  hourly: ['traffic_1h', ...DIMENSION_ROLLUPS.map((d) => `traffic_${d}_1h`), 'exporter_hours'],
  daily: ['traffic_1d', ...DIMENSION_ROLLUPS.map((d) => `traffic_${d}_1d`)],
} as const;

const seconds = (ms: number) => `${Math.floor(ms / 1000)} seconds`;

/**
 * How long what each rollup reads is kept: the minute tables for the 15-minute rollups, `traffic_1h`
 * and `exporter_hours`; the hourly rollups for the others (the per-dimension hourly ones read
 * `traffic_1h`, the per-continent one reads per location, the daily ones read the hourly ones).
 */
function sourceRetention(view: string): 'raw' | 'hourly' {
  return (ROLLUPS.quarter as readonly string[]).includes(view) ||
    view === 'traffic_1h' ||
    view === 'exporter_hours'
    ? 'raw'
    : 'hourly';
}

/**
 * Materializes whatever changed in the rollups (hourly first: the daily ones read them). The
 * 15-minute ones stop at the start of the current slot: the slot holding now stays live (real-time
 * aggregation over the minutes), so 15-minute buckets show a minute as soon as it is written.
 *
 * With `retention`, each refresh starts where its source's retention ends. Dropping a source's old
 * chunks marks their span changed, and a refresh over that span materializes what is left of it:
 * nothing, so the hourly and daily history kept past the minutes' retention would be emptied at the
 * next round. Without `retention` (a database nothing was dropped from) the whole span is refreshed.
 */
export async function refreshRollups(
  db: Database,
  retention?: Pick<Config['retention'], 'raw' | 'hourly'>,
): Promise<void> {
  const start = (view: string) =>
    retention ? `now() - INTERVAL '${seconds(retention[sourceRetention(view)])}'` : 'NULL';
  for (const view of ROLLUPS.quarter)
    await db.exec(
      `CALL refresh_continuous_aggregate('${view}', ${start(view)}, time_bucket(INTERVAL '15 minutes', now()));`,
    );
  for (const view of [...ROLLUPS.hourly, ...ROLLUPS.daily])
    await db.exec(`CALL refresh_continuous_aggregate('${view}', ${start(view)}, NULL);`);
}

/** Compresses old `traffic` chunks and drops what is past retention, per table. */
export async function compressAndRetain(db: Database, config: Pick<Config, 'compressAfter' | 'retention'>) {
  await db.exec(
    `SELECT compress_chunk(c, if_not_compressed => true)
       FROM show_chunks('traffic', older_than => now() - INTERVAL '${seconds(config.compressAfter)}') c;`,
  );
  await db.exec(
    `SELECT drop_chunks('traffic', older_than => now() - INTERVAL '${seconds(config.retention.raw)}');`,
  );
  for (const view of ROLLUPS.quarter)
    await db.exec(
      `SELECT drop_chunks('${view}', older_than => now() - INTERVAL '${seconds(config.retention.raw)}');`,
    );
  for (const view of ROLLUPS.hourly)
    await db.exec(
      `SELECT drop_chunks('${view}', older_than => now() - INTERVAL '${seconds(config.retention.hourly)}');`,
    );
  for (const view of ROLLUPS.daily)
    await db.exec(
      `SELECT drop_chunks('${view}', older_than => now() - INTERVAL '${seconds(config.retention.daily)}');`,
    );
  await db.exec(
    // Chunks dropped, not rows deleted: a DELETE is a change the next refresh of exporter_hours
    // would materialize, emptying the hourly history kept past the minutes' retention.
    `SELECT drop_chunks('exporter_minutes', older_than => now() - INTERVAL '${seconds(config.retention.raw)}');
     DELETE FROM ingest_batches WHERE created_at < now() - INTERVAL '7 days';
     DELETE FROM maintenance_runs WHERE started_at < now() - INTERVAL '7 days';`,
  );
}

/** The lock every round of maintenance (and the refresh after migrating) runs under. */
export const MAINTENANCE_LOCK = 'flowradar:maintenance';

/** Who runs a round, as maintenance_runs records it. */
export const INSTANCE = `${hostname()}:${process.pid}`;

/**
 * One round of maintenance, by at most one instance at a time and at most once per `intervalMs`
 * across all of them: under {@link MAINTENANCE_LOCK}, and only when the last round recorded in
 * maintenance_runs started at least `intervalMs` ago (less a tenth, for timer jitter), so N
 * instances ticking out of phase do not make N rounds an interval. Returns whether it ran.
 */
export async function maintenanceRound(
  db: Database,
  config: Pick<Config, 'compressAfter' | 'retention' | 'maintenanceInterval'>,
  instance = INSTANCE,
): Promise<boolean> {
  const ran = await db.exclusive(MAINTENANCE_LOCK, async () => {
    const [due] = await db.query<{ due: boolean }>(sql`
      SELECT coalesce(max(started_at) <= now() - ${`${Math.floor(config.maintenanceInterval * 0.9)} milliseconds`}::interval, true) AS due
        FROM maintenance_runs`);
    if (!due?.due) return false;
    const [run] = await db.query<{ id: number }>(
      sql`INSERT INTO maintenance_runs (instance) VALUES (${instance}) RETURNING id`,
    );
    try {
      await refreshRollups(db, config.retention);
      await compressAndRetain(db, config);
      await db.query(sql`UPDATE maintenance_runs SET finished_at = now() WHERE id = ${run!.id}`);
    } catch (err) {
      await db
        .query(
          sql`UPDATE maintenance_runs SET finished_at = now(), error = ${String((err as Error).message ?? err)} WHERE id = ${run!.id}`,
        )
        .catch(() => {});
      throw err;
    }
    return true;
  });
  return ran ?? false;
}

/** Runs {@link maintenanceRound} now and every `maintenanceInterval`. Returns a stop function. */
export function startMaintenance(
  db: Database,
  config: Pick<Config, 'compressAfter' | 'retention' | 'maintenanceInterval'>,
  log: { warn: (o: object, msg: string) => void },
): () => Promise<void> {
  let running: Promise<void> | undefined;
  const tick = () => {
    running ??= maintenanceRound(db, config)
      .then(
        () => {},
        (err: unknown) => log.warn({ err }, 'maintenance failed; will retry'),
      )
      .finally(() => {
        running = undefined;
      });
  };
  // A round at start too, unless another instance made one within the interval.
  tick();
  const timer = setInterval(tick, config.maintenanceInterval);
  timer.unref();
  // Stopping waits for a round under way, so the database is not closed under it.
  return async () => {
    clearInterval(timer);
    await running;
  };
}
