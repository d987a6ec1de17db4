import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import type { Database } from './client.js';
import { MAINTENANCE_LOCK, refreshRollups } from './maintenance.js';
import { explainConnectError } from './server.js';

/** The committed migrations folder, from src/db or dist/db alike. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

/** Where applied migrations are recorded: drizzle's table layout, in our schema. */
const JOURNAL = sql.raw('flowradar.__drizzle_migrations');

/**
 * Applies pending migrations, then materializes the rollups (the migrations run in one
 * transaction, where continuous aggregates can only be created empty, WITH NO DATA).
 *
 * Instances that start at once against one server each apply every migration once: the
 * transaction first takes an advisory lock, so a second instance waits for the first to commit
 * and then finds nothing pending. drizzle's own migrator reads what is pending before it opens
 * its transaction and takes no lock, so two instances both applied the same migrations and the
 * second failed. This is the same journal (drizzle-kit's files, drizzle's table), applied the way
 * drizzle applies it, with that lock.
 */
export async function migrate(db: Database): Promise<void> {
  const migrations = readMigrationFiles({ migrationsFolder: MIGRATIONS_DIR });
  // The first statement of every start: where a misconfigured connection shows first.
  await db
    .transaction(async (tx) => {
      await tx.query(sql`SELECT pg_advisory_xact_lock(hashtext('flowradar:migrate'))`);
      await tx.query(sql`CREATE SCHEMA IF NOT EXISTS flowradar`);
      await tx.query(
        sql`CREATE TABLE IF NOT EXISTS ${JOURNAL} (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`,
      );
      const [last] = await tx.query<{ at: string | null }>(
        sql`SELECT max(created_at)::text AS at FROM ${JOURNAL}`,
      );
      const appliedUntil = Number(last?.at ?? Number.NEGATIVE_INFINITY);
      for (const m of migrations) {
        if (m.folderMillis <= appliedUntil) continue;
        for (const statement of m.sql) await tx.query(sql.raw(statement));
        await tx.query(sql`INSERT INTO ${JOURNAL} (hash, created_at) VALUES (${m.hash}, ${m.folderMillis})`);
      }
    })
    .catch((err: unknown) => {
      throw explainConnectError(err);
    });
  // Another instance doing maintenance right now refreshes them anyway.
  await db.exclusive(MAINTENANCE_LOCK, () => refreshRollups(db));
}
