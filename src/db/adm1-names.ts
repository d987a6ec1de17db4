/**
 * Names of first-level subdivisions (GeoNames ids), learned from the City databases as flows meet
 * them: the group keys of the ADM1 dimension.
 */
import { sql } from 'drizzle-orm';
import type { Queryable } from './client.js';

/** Rows per INSERT: one statement stays well under the protocol's 65,535 parameters. */
const CHUNK = 1000;

/**
 * Writes subdivision names, replacing the name and country of subdivisions already known.
 * @example
 * await upsertAdm1Names(db, [[2267056, 'Lisbon', 'PT']]);
 */
export async function upsertAdm1Names(
  db: Queryable,
  names: Iterable<[geonameId: number, name: string, country: string | null]>,
): Promise<void> {
  // One row per id (the last given wins): ON CONFLICT cannot update a row twice in one statement.
  const rows = [...new Map([...names].map((n) => [n[0], n])).values()];
  for (let i = 0; i < rows.length; i += CHUNK) {
    const chunk = rows.slice(i, i + CHUNK);
    await db.query(
      sql`INSERT INTO adm1_names (geoname_id, name, country) VALUES ${sql.join(
        chunk.map(([id, name, country]) => sql`(${id}, ${name}, ${country})`),
        sql`, `,
      )} ON CONFLICT (geoname_id) DO UPDATE SET name = excluded.name, country = excluded.country`,
    );
  }
}

/**
 * The names and countries of the subdivisions of `ids` that have one.
 * @example
 * await getAdm1Names(db, [2267056, 42]) // Map { 2267056 => { name: 'Lisbon', country: 'PT' } }
 */
export async function getAdm1Names(
  db: Queryable,
  ids: readonly number[],
): Promise<Map<number, { name: string; country: string | null }>> {
  if (ids.length === 0) return new Map();
  const rows = await db.query<{ id: number; name: string; country: string | null }>(
    sql`SELECT geoname_id AS id, name, country::text AS country FROM adm1_names WHERE geoname_id IN (${sql.join(
      ids.map((id) => sql`${id}`),
      sql`, `,
    )})`,
  );
  return new Map(rows.map((r) => [r.id, { name: r.name, country: r.country }]));
}
