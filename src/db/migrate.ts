import { fileURLToPath } from 'node:url';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import type { Database } from './client.js';
import { refreshRollups } from './maintenance.js';

/** The committed migrations folder, from src/db or dist/db alike. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

/**
 * Applies pending migrations, then materializes the rollups: the migrator runs in one transaction,
 * where continuous aggregates can only be created empty (WITH NO DATA).
 */
export async function migrate(db: Database): Promise<void> {
  const config = { migrationsFolder: MIGRATIONS_DIR, migrationsSchema: 'flowradar' };
  // Both drizzle drivers share one migrator; only their types differ.
  if (db.kind === 'embedded') await migratePglite(db.orm as never, config);
  else await migratePostgres(db.orm as never, config);
  await refreshRollups(db);
}
