/**
 * Migration 0010 (subdivisions) on a database that already holds traffic, some of it in
 * compressed chunks, as an upgrade meets it: the rows keep their sums with adm1 = 0, the writers'
 * upsert on the new key adds to them (compressed chunks included), and the per-subdivision rollups
 * are materialized from the minutes.
 */
import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../src/db/client.js';
import { MIGRATIONS_DIR, migrate } from '../../src/db/migrate.js';
import { addTraffic } from '../../src/db/traffic.js';
import { MODES, serverDatabaseUrl } from '../helpers/db.js';

const DAY = '2026-10-01';
const at = (hhmm: string) => Date.parse(`${DAY}T${hhmm}:00Z`);

/** Applies the migrations before 0010 the way migrate() records them, so migrate() then applies 0010 alone. */
async function migrateUpTo0009(db: Database): Promise<void> {
  const all = readMigrationFiles({ migrationsFolder: MIGRATIONS_DIR });
  const before = all.slice(0, 10);
  expect(all[10]!.sql.join('')).toContain('adm1'); // 0010 is the subdivisions migration
  await db.transaction(async (tx) => {
    await tx.query(sql`CREATE SCHEMA IF NOT EXISTS flowradar`);
    await tx.query(
      sql`CREATE TABLE flowradar.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`,
    );
    for (const m of before) {
      for (const statement of m.sql) await tx.query(sql.raw(statement));
      await tx.query(
        sql`INSERT INTO flowradar.__drizzle_migrations (hash, created_at) VALUES (${m.hash}, ${m.folderMillis})`,
      );
    }
  });
}

describe.each(MODES)('migration 0010 over existing traffic (%s)', (mode) => {
  let db: Database;
  beforeAll(async () => {
    db =
      mode === 'embedded'
        ? await openDatabase({})
        : await openDatabase({ databaseUrl: await serverDatabaseUrl({ empty: true }), max: 2 });
    await migrateUpTo0009(db);
    // Written by a 0009 writer (its key has no adm1), then compressed.
    await db.query(sql`INSERT INTO traffic (time, asn, location, product, direction, bytes, packets, flows) VALUES
      (${new Date(at('10:00')).toISOString()}::timestamptz, 3243, 'PT', 'HTTP', 'in', 100, 1, 1),
      (${new Date(at('10:01')).toISOString()}::timestamptz, 3320, 'DE', 'OTHER', 'out', 200, 2, 1)`);
    await db.exec(`SELECT compress_chunk(c) FROM show_chunks('traffic') c;`);
    await migrate(db);
  }, 120_000);
  afterAll(async () => {
    await db?.close();
  });

  it('keeps every row, now with subdivision 0, and adds to it through the new key', async () => {
    const [compressed] = await db.query<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'traffic' AND is_compressed`,
    );
    expect(compressed?.n).toBe(1);
    await addTraffic(db, [
      // The same key as a compressed row (adm1 0): added to it.
      {
        minuteMs: at('10:00'),
        asn: 3243,
        location: 'PT',
        product: 'HTTP',
        direction: 'in',
        bytes: 5,
        packets: 1,
        flows: 1,
      },
      // The same minute, AS and location in a subdivision: a row of its own.
      {
        minuteMs: at('10:00'),
        asn: 3243,
        location: 'PT',
        adm1: 2267056,
        product: 'HTTP',
        direction: 'in',
        bytes: 7,
        packets: 1,
        flows: 1,
      },
    ]);
    const rows = await db.query<{ asn: number; adm1: number; bytes: number }>(
      sql`SELECT asn, adm1, bytes::float8 AS bytes FROM traffic ORDER BY asn, adm1`,
    );
    expect(rows).toEqual([
      { asn: 3243, adm1: 0, bytes: 105 },
      { asn: 3243, adm1: 2267056, bytes: 7 },
      { asn: 3320, adm1: 0, bytes: 200 },
    ]);
  });

  it('materializes the per-subdivision rollups from the minutes', async () => {
    await db.exec(`CALL refresh_continuous_aggregate('traffic_adm1_1h', NULL, NULL);`);
    await db.exec(`CALL refresh_continuous_aggregate('traffic_adm1_1d', NULL, NULL);`);
    const hourly = await db.query<{ adm1: number; bytes: number }>(
      sql`SELECT adm1, sum(bytes)::float8 AS bytes FROM traffic_adm1_1h GROUP BY 1 ORDER BY 1`,
    );
    expect(hourly).toEqual([
      { adm1: 0, bytes: 305 },
      { adm1: 2267056, bytes: 7 },
    ]);
    const daily = await db.query<{ bytes: number }>(
      sql`SELECT sum(bytes)::float8 AS bytes FROM traffic_adm1_1d WHERE adm1 = 2267056`,
    );
    expect(daily[0]?.bytes).toBe(7);
  });
});
