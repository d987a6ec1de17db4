/** AS names from the enrichment databases, which `top/ases` shows beside each AS number. */
import { sql } from 'drizzle-orm';
import type { Queryable } from './client.js';
import { MAX_STORED_ASN } from './traffic.js';

/** Rows per INSERT: one statement stays well under the protocol's 65,535 parameters. */
const CHUNK = 1000;

/**
 * Writes AS names, replacing the name and country of ASes already known. Names of AS numbers above
 * {@link MAX_STORED_ASN} are left out: the column would refuse them (and the service its start),
 * and their traffic is written as AS 0.
 * @example
 * await upsertAsnNames(db, [[3243, 'MEO-RESIDENCIAL', 'PT']]);
 */
export async function upsertAsnNames(
  db: Queryable,
  names: Iterable<[asn: number, name: string, country: string | null]>,
): Promise<void> {
  const rows = [...names].filter(([asn]) => asn <= MAX_STORED_ASN);
  for (let i = 0; i < rows.length; i += CHUNK) {
    const chunk = rows.slice(i, i + CHUNK);
    await db.query(
      sql`INSERT INTO asn_names (asn, name, country) VALUES ${sql.join(
        chunk.map(([asn, name, country]) => sql`(${asn}, ${name}, ${country})`),
        sql`, `,
      )} ON CONFLICT (asn) DO UPDATE SET name = excluded.name, country = excluded.country`,
    );
  }
}

/**
 * The names of the ASes of `asns` that have one.
 * @example
 * await getAsnNames(db, [3243, 64512]) // Map { 3243 => 'MEO-RESIDENCIAL' }
 */
export async function getAsnNames(db: Queryable, asns: readonly number[]): Promise<Map<number, string>> {
  if (asns.length === 0) return new Map();
  const rows = await db.query<{ asn: number; name: string }>(
    sql`SELECT asn, name FROM asn_names WHERE asn IN (${sql.join(
      asns.map((asn) => sql`${asn}`),
      sql`, `,
    )})`,
  );
  return new Map(rows.map((r) => [r.asn, r.name]));
}
