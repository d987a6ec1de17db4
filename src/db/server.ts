/**
 * Server mode: PostgreSQL + TimescaleDB through postgres.js. Shared by Node (`openDatabase` with
 * a databaseUrl) and the Worker (one client per request through Hyperdrive), so it imports
 * nothing Node-only and nothing of the embedded database.
 */
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { Database, Orm } from './client.js';
import { rowQueries } from './execute.js';
import * as schema from './schema.js';

export interface ServerClientOptions {
  /** Pool size (pglite-socket needs 1 per connection it admits; a Worker keeps it small). */
  max?: number | undefined;
  /** Named prepared statements (pglite-socket needs false). */
  prepare?: boolean | undefined;
  /** Statement timeout, ms, sent as a startup parameter. */
  statementTimeoutMs?: number | undefined;
  /**
   * `transaction`: the URL is a transaction-mode pooler (pgbouncer `pool_mode = transaction`),
   * which hands each transaction to any server connection: no named prepared statements (a
   * statement prepared on one server connection is unknown on the next; pgbouncer before 1.21
   * cannot track them) and no startup parameters but the ones pgbouncer accepts (it refuses
   * `client_min_messages` and `statement_timeout`: set the timeout on the role instead).
   */
  pooler?: 'none' | 'transaction' | undefined;
  /**
   * Parallel workers for this client's statements: false (the default) sends
   * max_parallel_workers_per_gather = 0, true leaves the server's setting. A transaction pooler
   * takes no such startup parameter: set it on the role there.
   */
  parallelQueries?: boolean | undefined;
  /**
   * Prepared statements keep one plan, made for any parameters (plan_cache_mode =
   * force_generic_plan; default true). PostgreSQL's own choice (`auto`) plans a statement anew
   * for each execution's parameters as long as that looks cheaper to run, and over hypertables it
   * always does: a generic plan lists every chunk and is costed as reading them all, though
   * TimescaleDB excludes them when it starts to run (ChunkAppend). Planning over the chunks of the
   * minute table and a few rollups then costs more than the statement: a distinct 2-series week
   * spent 3.1–4.4 ms of PostgreSQL CPU planned anew, 2.2–2.4 ms with generic plans
   * (bench/statements.ts). A plan is made again when a chunk is added, compressed or dropped
   * (test/db/server-plans.test.ts). Sent only with named prepared statements: an unnamed one is
   * planned at every execution anyway, and a generic plan there only loses the parameters' help.
   */
  genericPlans?: boolean | undefined;
}

const dialect = new PgDialect();

/**
 * Whether a client of these options prepares named statements (a transaction-mode pooler hands
 * each statement to any server connection, where a statement prepared elsewhere is unknown), and
 * whether its connections start with plan_cache_mode = force_generic_plan.
 */
const preparesOf = (opts: ServerClientOptions) => opts.pooler !== 'transaction' && (opts.prepare ?? true);
const genericPlansOf = (opts: ServerClientOptions) => preparesOf(opts) && opts.genericPlans !== false;

/** A postgres.js client with the settings both hosts use. */
export function serverClient(url: string, opts: ServerClientOptions = {}): postgres.Sql {
  const pooled = opts.pooler === 'transaction';
  const prepared = preparesOf(opts);
  return postgres(url, {
    max: opts.max ?? 10,
    prepare: prepared,
    onnotice: () => {},
    // Reconnect within a second of the database returning: postgres.js's own backoff grows to
    // 20 s, and its callers (the ingest writer, readiness) already back off themselves.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    connection: {
      application_name: 'flowradar',
      ...(pooled
        ? {}
        : {
            client_min_messages: 'warning',
            ...(opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs } : {}),
            ...(opts.parallelQueries ? {} : { max_parallel_workers_per_gather: '0' }),
            ...(genericPlansOf(opts) ? { plan_cache_mode: 'force_generic_plan' } : {}),
          }),
    },
  });
}

/**
 * The server-mode {@link Database} over a postgres.js client; `close` ends the client.
 * `lockClient` makes the one-connection client that holds {@link Database.exclusive} locks (a
 * connection apart from the pool, which `f` needs whole); without it `exclusive` refuses.
 */
export function serverDatabase(
  client: postgres.Sql,
  lockClient?: () => postgres.Sql,
  opts: { prepare?: boolean; genericPlans?: boolean } = {},
): Database {
  const orm = drizzle(client, { schema }) as unknown as Orm;
  let locks: postgres.Sql | undefined;
  const rows = rowQueries(orm);
  return {
    kind: 'server',
    orm,
    ...rows,
    // drizzle runs `execute` unnamed (Parse, Bind, Execute every time) whatever the client says:
    // with `prepare`, each distinct statement text is parsed once per connection and then only
    // bound, which the API's few statement shapes with new parameters every request profit from.
    ...(opts.prepare
      ? {
          query: async <T>(q: SQL) => {
            const { sql: text, params } = dialect.sqlToQuery(q);
            return (await client.unsafe(text, params as postgres.ParameterOrJSON<never>[], {
              prepare: true,
            })) as unknown as T[];
          },
        }
      : {}),
    exec: async (text) => {
      await client.unsafe(text).simple();
    },
    execPlannedForValues: async (text) => {
      if (!opts.genericPlans) {
        await client.unsafe(text).simple();
        return;
      }
      // The pool's connections start with plan_cache_mode = force_generic_plan: one of them, held
      // for the statement, plans for values meanwhile; RESET gives back its startup value.
      const conn = await client.reserve();
      try {
        await conn.unsafe('SET plan_cache_mode = auto').simple();
        await conn.unsafe(text).simple();
      } finally {
        await conn
          .unsafe('RESET plan_cache_mode')
          .simple()
          .catch(() => {});
        conn.release();
      }
    },
    exclusive: async <T>(name: string, f: () => Promise<T>) => {
      if (!lockClient) throw new Error('this database has no lock connection');
      locks ??= lockClient();
      let out: T | undefined;
      await locks.begin(async (tx) => {
        const [row] = await tx`SELECT pg_try_advisory_xact_lock(hashtext(${name})) AS locked`;
        if (row?.locked) out = await f();
      });
      return out;
    },
    close: async () => {
      await Promise.all([client.end({ timeout: 5 }), locks?.end({ timeout: 5 })]);
    },
  };
}

/** A pool and its lock connection on `url`: what `openDatabase` does with a databaseUrl. */
export function openServer(url: string, opts: ServerClientOptions = {}): Database {
  return serverDatabase(serverClient(url, opts), () => serverClient(url, { ...opts, max: 1 }), {
    prepare: preparesOf(opts),
    genericPlans: genericPlansOf(opts),
  });
}

/**
 * A connection error made actionable: a pooler that refuses our startup parameters says only
 * "unsupported startup parameter".
 */
export function explainConnectError(err: unknown): unknown {
  for (
    let e = err as { message?: unknown; cause?: unknown } | undefined, depth = 0;
    e && depth < 5;
    depth++
  ) {
    const message = String(e.message ?? '');
    if (/unsupported startup parameter/i.test(message))
      return new Error(
        `${message}: DATABASE_URL looks like a transaction-mode pooler (pgbouncer); set databasePooler to "transaction" (FLOWRADAR_DATABASE_POOLER=transaction) and the statement timeout on the role (ALTER ROLE … SET statement_timeout = '15s')`,
        { cause: err },
      );
    e = e.cause as typeof e;
  }
  return err;
}
