/**
 * Running statements through drizzle alike on both drivers. Its own file so the Worker's bundle
 * (server.ts) and the embedded database (client.ts) share it without either importing the other's
 * driver.
 */
import type { SQL } from 'drizzle-orm';
import type { Database, Orm } from './client.js';

/**
 * The rows of a drizzle `execute` result, whichever driver ran it: postgres.js returns the rows
 * themselves (an array), PGlite an object holding them in `rows`.
 * @example
 * const rows = resultRows<{ n: number }>(await orm.execute(sql`SELECT 1 AS n`)); // [{ n: 1 }]
 */
export function resultRows<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/**
 * {@link Database.query} and {@link Database.transaction} over a drizzle database: plain rows from
 * the database itself and from each transaction it opens.
 * @example
 * return { kind: 'server', orm, ...rowQueries(orm), exec, exclusive, close };
 */
export function rowQueries(orm: Orm): Pick<Database, 'query' | 'transaction'> {
  const queryOn =
    (runner: Pick<Orm, 'execute'>) =>
    async <T>(q: SQL): Promise<T[]> =>
      resultRows<T>(await runner.execute(q));
  return {
    query: queryOn(orm),
    transaction: (f) => orm.transaction((tx) => f({ query: queryOn(tx) })),
  };
}
