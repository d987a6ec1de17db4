/**
 * Server mode: PostgreSQL + TimescaleDB through postgres.js. Shared by Node (`openDatabase` with
 * a databaseUrl) and the Worker (one client per request through Hyperdrive), so it imports
 * nothing Node-only and nothing of the embedded database.
 */
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { Database, Orm, Queryable } from './client.js';
import * as schema from './schema.js';

export interface ServerClientOptions {
  /** Pool size (pglite-socket needs 1 per connection it admits; a Worker keeps it small). */
  max?: number | undefined;
  /** Named prepared statements (pglite-socket needs false). */
  prepare?: boolean | undefined;
  /** Statement timeout, ms, sent as a startup parameter. */
  statementTimeoutMs?: number | undefined;
}

function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/** A postgres.js client with the settings both hosts use. */
export function serverClient(url: string, opts: ServerClientOptions = {}): postgres.Sql {
  return postgres(url, {
    max: opts.max ?? 10,
    prepare: opts.prepare ?? true,
    onnotice: () => {},
    // Reconnect within a second of the database returning: postgres.js's own backoff grows to
    // 20 s, and its callers (the ingest writer, readiness) already back off themselves.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    connection: {
      client_min_messages: 'warning',
      ...(opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs } : {}),
    },
  });
}

/** The server-mode {@link Database} over a postgres.js client; `close` ends the client. */
export function serverDatabase(client: postgres.Sql): Database {
  const orm = drizzle(client, { schema }) as unknown as Orm;
  return {
    kind: 'server',
    orm,
    query: async (q) => rowsOf(await orm.execute(q)),
    transaction: (f) => orm.transaction(async (tx) => f({ query: async (q) => rowsOf(await tx.execute(q)) })),
    exec: async (text) => {
      await client.unsafe(text).simple();
    },
    close: async () => {
      await client.end({ timeout: 5 });
    },
  };
}

/** `serverDatabase(serverClient(url, opts))`: what `openDatabase` does with a databaseUrl. */
export function openServer(url: string, opts: ServerClientOptions = {}): Database {
  return serverDatabase(serverClient(url, opts));
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
