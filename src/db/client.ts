import { join } from 'node:path';
import type { SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { lockDataDir, openPglite, type Pglite, PLAN_CACHE_MODE, preparedQueries } from './embedded.js';
import { rowQueries } from './execute.js';
import * as schema from './schema.js';
import { openServer } from './server.js';

export type Orm = PgDatabase<PgQueryResultHKT, typeof schema>;

/**
 * The database as the rest of the code sees it, the same in both modes.
 * `query` returns plain rows; numbers should be cast in SQL (`::float8`, `::text`) because the
 * two drivers parse bigint differently.
 */
export interface Database {
  kind: 'embedded' | 'server';
  orm: Orm;
  query<T = Record<string, unknown>>(q: SQL): Promise<T[]>;
  /** Runs `f` in one transaction: all its queries commit together or not at all. */
  transaction<T>(f: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs SQL text with several statements and no parameters (DDL, maintenance). */
  exec(text: string): Promise<void>;
  /**
   * Runs one statement (a rollup's refresh) with PostgreSQL planning the statements it runs inside
   * for their own values (plan_cache_mode = auto), on a connection whose prepared statements are
   * otherwise planned once for any values (see ServerClientOptions.genericPlans). A refresh
   * materializes a changed span with `… WHERE time >= $1 AND time < $2` on the source: planned
   * generic, the span is unknown, and when the planner picks a sorted aggregation (MergeAppend)
   * TimescaleDB cannot exclude chunks at run time, so the refresh of a day read and decompressed
   * every chunk of the minute table and waited on locks of chunks it did not need (dataset XL: a
   * 15-minute rollup's day 1.3 s alone, 32 s so). Planned for its span, only its chunks are read.
   */
  execPlannedForValues(text: string): Promise<void>;
  /**
   * Runs `f` unless another process holds the lock `name` on this database, and holds it while
   * `f` runs; resolves to undefined when it was held elsewhere. `f` uses the database as usual.
   * Server mode takes a transaction-scoped advisory lock in a transaction of its own, kept open
   * while `f` runs on the pool: it holds through transaction-mode poolers (pgbouncer, Hyperdrive),
   * where a session lock would not, and a process that dies releases it. The embedded database
   * admits one process (the data directory's lock), so there `f` just runs.
   */
  exclusive<T>(name: string, f: () => Promise<T>): Promise<T | undefined>;
  close(): Promise<void>;
  /** The embedded instance, when there is one (tests serve it over a socket). */
  pglite?: Pglite;
}

/** What code that only runs statements needs: a database, or a transaction of one. */
export type Queryable = Pick<Database, 'query'>;

export interface OpenOptions {
  /** postgres://… ; unset = embedded. */
  databaseUrl?: string | undefined;
  /** Embedded data directory; undefined = in memory (tests). */
  dataDir?: string | undefined;
  /** Embedded: a dumped data directory to start from (tests start from a migrated template). */
  loadDataDir?: Blob;
  /** Embedded: how long to wait for another process to release the data directory. */
  lockWaitMs?: number;
  /** Server: pool size and prepared statements (pglite-socket needs max 1, prepare false). */
  max?: number;
  prepare?: boolean;
  /** Server: statement timeout, ms. */
  statementTimeoutMs?: number;
  /** Server: `transaction` when the URL is a transaction-mode pooler (see ServerClientOptions). */
  pooler?: 'none' | 'transaction';
  /** Server: parallel workers for its statements (see ServerClientOptions); default off. */
  parallelQueries?: boolean;
  /** Server: one plan per prepared statement (see ServerClientOptions); default on. */
  genericPlans?: boolean;
}

/** Opens the database of the configuration: a server when databaseUrl is set, else embedded. */
export async function openDatabase(opts: OpenOptions): Promise<Database> {
  if (opts.databaseUrl) return openServer(opts.databaseUrl, opts);
  const unlock = opts.dataDir ? await lockDataDir(opts.dataDir, { waitMs: opts.lockWaitMs ?? 0 }) : undefined;
  try {
    // The database files live in a subdirectory: initdb wants an empty directory, and the data
    // directory also holds the lock and the admin token.
    const pgDir = opts.dataDir ? join(opts.dataDir, 'pg') : undefined;
    const pg = await openPglite(pgDir, opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {});
    const orm = drizzlePglite(pg, { schema }) as unknown as Orm;
    return {
      kind: 'embedded',
      orm,
      pglite: pg,
      ...rowQueries(orm),
      query: preparedQueries(pg),
      exec: async (text) => {
        await pg.exec(text);
      },
      execPlannedForValues: async (text) => {
        // One session: the setting is put back whatever the statement does. A query that slips in
        // between is only planned for its values too.
        await pg.exec('SET plan_cache_mode = auto');
        try {
          await pg.exec(text);
        } finally {
          await pg.exec(`SET plan_cache_mode = ${PLAN_CACHE_MODE}`);
        }
      },
      exclusive: (_name, f) => f(),
      close: async () => {
        await pg.close();
        await unlock?.();
      },
    };
  } catch (err) {
    await unlock?.();
    throw err;
  }
}
