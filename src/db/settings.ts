/** The `settings` table: values every instance shares, written once. */
import { sql } from 'drizzle-orm';
import type { Queryable } from './client.js';

/**
 * The value of setting `name`, storing `candidate` first if it has none. The first writer wins, so
 * every instance (and the CLI) starting at once ends up with the same value.
 * @example
 * await getOrCreateSetting(db, 'embed_key', randomBytes(32).toString('base64url'))
 */
export async function getOrCreateSetting(db: Queryable, name: string, candidate: string): Promise<string> {
  await db.query(
    sql`INSERT INTO settings (name, value) VALUES (${name}, ${candidate}) ON CONFLICT (name) DO NOTHING`,
  );
  const [row] = await db.query<{ value: string }>(sql`SELECT value FROM settings WHERE name = ${name}`);
  if (!row) throw new Error(`the setting ${name} could not be stored`);
  return row.value;
}
