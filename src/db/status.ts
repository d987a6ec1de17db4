/** Questions about the database itself: does it answer, how is it set, how far is a replica behind. */
import { sql } from 'drizzle-orm';
import type { Queryable } from './client.js';

/**
 * Resolves when the database answers a trivial statement; rejects with the driver's error when not.
 * @example await ping(deps.db) // what /readyz asks
 */
export async function ping(db: Queryable): Promise<void> {
  await db.query(sql`SELECT 1`);
}

/**
 * The statement timeout this connection runs under, as PostgreSQL shows it ('0' for none).
 * @example await getStatementTimeout(db) // '15s'
 */
export async function getStatementTimeout(db: Queryable): Promise<string | undefined> {
  const [row] = await db.query<{ timeout: string }>(
    sql`SELECT current_setting('statement_timeout') AS timeout`,
  );
  return row?.timeout;
}

/**
 * How far `replica` is behind `primary`: bytes of the primary's WAL, as of now, not yet replayed
 * there (0 once it has caught up). Null when `replica` is not a streaming standby (the primary
 * itself, or a logical copy), whose position cannot be compared.
 * @example
 * await replayLagBytes(deps.db, deps.readDb) // 0, or e.g. 16384 while replay is behind
 */
export async function replayLagBytes(primary: Queryable, replica: Queryable): Promise<number | null> {
  const [p] = await primary.query<{ lsn: string }>(sql`SELECT pg_current_wal_lsn()::text AS lsn`);
  // The replica may replay past the position just read: that is no lag, hence greatest (which
  // would also turn a NULL into 0, hence the CASE).
  const [r] = await replica.query<{ lag: number | null }>(
    sql`SELECT CASE WHEN pg_is_in_recovery() AND pg_last_wal_replay_lsn() IS NOT NULL
                    THEN greatest(0, pg_wal_lsn_diff(${p!.lsn}::pg_lsn, pg_last_wal_replay_lsn()))::float8 END AS lag`,
  );
  return r?.lag ?? null;
}
