/**
 * The embedded database prepares each statement with parameters once and EXECUTEs it with its
 * parameters as literals (src/db/embedded.ts, preparedQueries): rows must come back as the unnamed
 * path returns them, whatever the parameters hold, statements PostgreSQL will not prepare must
 * still run, and a plan made once must see the chunks added, compressed and dropped after it.
 */
import { type SQL, sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.js';
import { preparedQueries } from '../../src/db/embedded.js';
import { rowQueries } from '../../src/db/execute.js';
import { testDatabase } from '../helpers/db.js';
import { chunksComeAndGo, iso, T0, windowBytes } from '../helpers/plans.js';

describe('embedded: statements prepared once', () => {
  let db: Database;
  let unnamed: <T>(q: SQL) => Promise<T[]>;
  beforeAll(async () => {
    db = await testDatabase('embedded');
    unnamed = rowQueries(db.orm).query;
  });
  afterAll(async () => {
    await db?.close();
  });

  const prepared = async () =>
    (await db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM pg_prepared_statements`))[0]!.n;

  it('returns the rows the unnamed path returns, whatever the parameters hold', async () => {
    const before = await prepared();
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 40 }),
        fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })),
        fc.option(fc.string({ maxLength: 5 })),
        async (text, n, maybe) => {
          const q = sql`SELECT ${text}::text AS t, length(${text}::text) AS len, ${n}::float8 AS n,
                               ${maybe}::text AS m, ${iso(T0)}::timestamptz AS at, INTERVAL '1 hour' * ${2} AS i`;
          expect(await db.query(q)).toEqual(await unnamed(q));
        },
      ),
      { numRuns: 300 },
    );
    // One statement, prepared once (strings with a backslash or NUL went the unnamed way).
    expect(await prepared()).toBe(before + 1);
  });

  it('runs what PostgreSQL will not prepare, and long parameters, the unnamed way', async () => {
    const long = 'x'.repeat(5_000);
    expect(await db.query<{ n: number }>(sql`SELECT length(${long}::text) AS n`)).toEqual([{ n: 5_000 }]);
    // A parameter whose type nothing says: PREPARE refuses it, the unnamed path sends it as text.
    expect(await db.query<{ v: string }>(sql`SELECT ${'a'} AS v`)).toEqual([{ v: 'a' }]);
    expect(await db.query<{ v: string }>(sql`SELECT ${'b'} AS v`)).toEqual([{ v: 'b' }]);
    await expect(db.query(sql`SELECT 1 / ${0}::int`)).rejects.toThrow(/division by zero/);
  });

  it('keeps at most `max` statements prepared, dropping the least recently used', async () => {
    const own = await testDatabase('embedded');
    try {
      const q = preparedQueries(own.pglite!, { max: 3 });
      const count = async () =>
        (await own.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM pg_prepared_statements`))[0]!.n;
      const base = await count();
      for (let i = 0; i < 10; i++)
        expect(await q<{ v: number }>(sql`SELECT ${i}::int * ${sql.raw(String(i))} AS v`)).toEqual([
          { v: i * i },
        ]);
      expect((await count()) - base).toBe(3);
      // Requests meeting a new statement together prepare it once.
      const many = await Promise.all(
        Array.from({ length: 20 }, (_, i) => q<{ v: number }>(sql`SELECT ${i}::int - 1 AS v`)),
      );
      expect(many.map((r) => r[0]!.v)).toEqual(Array.from({ length: 20 }, (_, i) => i - 1));
      expect((await count()) - base).toBe(3);
      // The three kept are the last three; an evicted one is prepared again when it comes back.
      expect(await q<{ v: number }>(sql`SELECT ${2}::int * ${sql.raw('2')} AS v`)).toEqual([{ v: 4 }]);
      expect((await count()) - base).toBe(3);
    } finally {
      await own.close();
    }
  });

  it('a statement planned once sees chunks added, compressed and dropped after it', async () => {
    await chunksComeAndGo(db, () => windowBytes(db));
    const [plans] = await db.query<{ generic: number; custom: number }>(
      sql`SELECT generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements
           WHERE statement LIKE '%sum(bytes)%FROM traffic WHERE time >=%'`,
    );
    expect(plans).toEqual({ generic: 5, custom: 0 });
  });
});
