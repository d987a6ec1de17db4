import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import type { Config } from '../config.js';
import type { Database, Queryable } from './client.js';
import { dbErrorCode } from './errors.js';
import { MAINTENANCE_LOCK, refreshRollups } from './maintenance.js';
import { explainConnectError } from './server.js';

/** The committed migrations folder, from src/db or dist/db alike. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

/** Where applied migrations are recorded: drizzle's table layout, in our schema. */
const JOURNAL = sql.raw('flowradar.__drizzle_migrations');

/**
 * Applies pending migrations, then materializes the rollups (the migrations run in one
 * transaction, where continuous aggregates can only be created empty, WITH NO DATA), within
 * `retention` (see refreshRollups; the service passes its configuration's).
 *
 * Instances that start at once against one server each apply every migration once: the
 * transaction first takes an advisory lock, so a second instance waits for the first to commit
 * and then finds nothing pending. drizzle's own migrator reads what is pending before it opens
 * its transaction and takes no lock, so two instances both applied the same migrations and the
 * second failed. This is the same journal (drizzle-kit's files, drizzle's table), applied the way
 * drizzle applies it, with that lock.
 */
export async function migrate(
  db: Database,
  retention?: Pick<Config['retention'], 'raw' | 'hourly'>,
): Promise<void> {
  const migrations = readMigrationFiles({ migrationsFolder: MIGRATIONS_DIR });
  const newest = Math.max(...migrations.map((m) => m.folderMillis));
  // Nothing pending: no lock and no DDL, so a role without DDL rights (a collector's) starts too.
  if ((await appliedUntil(db).catch(explainAndRethrow)) >= newest) return;
  await db
    .transaction(async (tx) => {
      await tx.query(sql`SELECT pg_advisory_xact_lock(hashtext('flowradar:migrate'))`);
      // Every object in public, whatever the role: a role named flowradar would otherwise find its
      // own schema ("$user", the journal's) first in search_path and create them there, out of
      // sight of every other role.
      await tx.query(sql`SET LOCAL search_path TO public`);
      await tx.query(sql`CREATE SCHEMA IF NOT EXISTS flowradar`);
      await tx.query(
        sql`CREATE TABLE IF NOT EXISTS ${JOURNAL} (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`,
      );
      // Read under the lock: an instance that waited finds what the first one applied.
      const until = await appliedUntil(tx);
      for (const m of migrations) {
        if (m.folderMillis <= until) continue;
        for (const statement of m.sql) await tx.query(sql.raw(statement));
        await tx.query(sql`INSERT INTO ${JOURNAL} (hash, created_at) VALUES (${m.hash}, ${m.folderMillis})`);
      }
    })
    .catch(explainAndRethrow);
  // Views created empty now are materialized (another instance's maintenance round does it too).
  await db.exclusive(MAINTENANCE_LOCK, () => refreshRollups(db, retention));
}

/** The creation time of the newest migration applied; -Infinity on a database never migrated. */
async function appliedUntil(db: Queryable): Promise<number> {
  const [journal] = await db.query<{ exists: boolean }>(
    sql`SELECT to_regclass('flowradar.__drizzle_migrations') IS NOT NULL AS exists`,
  );
  if (!journal?.exists) return Number.NEGATIVE_INFINITY;
  const [row] = await db.query<{ at: string | null }>(
    sql`SELECT max(created_at)::text AS at FROM ${JOURNAL}`,
  );
  return row?.at ? Number(row.at) : Number.NEGATIVE_INFINITY;
}

/**
 * The first statements of every start are where a misconfigured connection shows first, and where
 * a role without DDL rights meets pending migrations.
 */
function explainAndRethrow(err: unknown): never {
  if (dbErrorCode(err) === '42501')
    throw new Error(
      'the database has migrations pending that this role may not apply: run `flowradar migrate` as the owner role (docs/deploy.md)',
      { cause: err },
    );
  throw explainConnectError(err);
}
