import { hostname } from 'node:os';
import { sql } from 'drizzle-orm';
import { detectAnomalies } from '../anomalies/run.js';
import { deliverWebhooks } from '../anomalies/webhooks.js';
import type { Config } from '../config.js';
import type { Database } from './client.js';
import { ROLLUPS, sourceRetention } from './rollups.js';

/**
 * What TimescaleDB's background jobs would do, done by the service itself: the embedded database
 * runs no background workers, and doing it ourselves keeps both modes identical.
 */

const seconds = (ms: number) => `${Math.floor(ms / 1000)} seconds`;

/**
 * Materializes whatever changed in the rollups of the catalogue (src/db/rollups.ts), in its order:
 * each after the one it reads. Those with a live bucket stop at its start: the bucket holding now
 * stays live (real-time aggregation over the minutes), so 15-minute buckets show a minute as soon
 * as it is written.
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
  for (const { text } of refreshStatements(retention)) await db.execPlannedForValues(text);
}

/** The statements of {@link refreshRollups}, one per rollup of the catalogue, in its order. */
export function refreshStatements(
  retention?: Pick<Config['retention'], 'raw' | 'hourly'>,
): { rollup: string; text: string }[] {
  return ROLLUPS.map((rollup) => {
    const source = sourceRetention(rollup);
    if (source === 'daily') throw new Error(`${rollup.name}: no rollup reads a daily table`);
    const start = retention ? `now() - INTERVAL '${seconds(retention[source])}'` : 'NULL';
    const end = rollup.liveBucket ? `time_bucket(INTERVAL '${seconds(rollup.widthMs)}', now())` : 'NULL';
    return {
      rollup: rollup.name,
      text: `CALL refresh_continuous_aggregate('${rollup.name}', ${start}, ${end});`,
    };
  });
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
  for (const rollup of ROLLUPS)
    await db.exec(
      `SELECT drop_chunks('${rollup.name}', older_than => now() - INTERVAL '${seconds(config.retention[rollup.retention])}');`,
    );
  await db.exec(
    // Chunks dropped, not rows deleted: a DELETE is a change the next refresh of exporter_hours
    // would materialize, emptying the hourly history kept past the minutes' retention.
    `SELECT drop_chunks('exporter_minutes', older_than => now() - INTERVAL '${seconds(config.retention.raw)}');
     DELETE FROM ingest_batches WHERE created_at < now() - INTERVAL '7 days';
     DELETE FROM maintenance_runs WHERE started_at < now() - INTERVAL '7 days';`,
  );
}

/** What a round of maintenance is configured by; without `anomalies` the detector does not run, without `webhooks` nothing is sent. */
export type MaintenanceConfig = Pick<Config, 'compressAfter' | 'retention' | 'maintenanceInterval'> &
  Partial<Pick<Config, 'anomalies' | 'webhooks'>>;

/** The lock every round of maintenance (and the refresh after migrating) runs under. */
export const MAINTENANCE_LOCK = 'flowradar:maintenance';

/** Who runs a round, as maintenance_runs records it. */
export const INSTANCE = `${hostname()}:${process.pid}`;

/**
 * One round of maintenance (rollup refresh, compression and retention, the anomaly detector, then
 * the anomaly webhooks),
 * by at most one instance at a time and at most once per `intervalMs`
 * across all of them: under {@link MAINTENANCE_LOCK}, and only when the last round recorded in
 * maintenance_runs started at least `intervalMs` ago (less a tenth, for timer jitter), so N
 * instances ticking out of phase do not make N rounds an interval. Returns whether it ran.
 */
export async function maintenanceRound(
  db: Database,
  config: MaintenanceConfig,
  instance = INSTANCE,
  now: () => number = Date.now,
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
      // After the refresh: the detector reads the 15-minute rollups, and the batches written since
      // the last round (late data among them) are now in them.
      if (config.anomalies?.enabled) await detectAnomalies(db, config.anomalies, now());
      if (config.webhooks?.length) await deliverWebhooks(db, config.webhooks, now());
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
  config: MaintenanceConfig,
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
