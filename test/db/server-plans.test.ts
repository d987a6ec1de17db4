/**
 * Server mode plans each prepared statement once (plan_cache_mode = force_generic_plan, see
 * ServerClientOptions.genericPlans): on by default, off with databaseGenericPlans. A generic plan
 * over a hypertable lists the chunks that existed when it was made, so it must be made again when
 * another connection adds a chunk, compresses one, refreshes a rollup or drops one; otherwise an
 * answer would silently miss the newest data.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { type Database, openDatabase } from '../../src/db/client.js';
import { refreshRollups } from '../../src/db/maintenance.js';
import { type Cluster, startMigratedCluster } from '../helpers/pg-server.js';
import { chunksComeAndGo, DAY, iso, T0, windowBytes } from '../helpers/plans.js';

/** How often each statement on this connection was run on a generic and on a custom plan. */
async function plans(db: Database, like: string): Promise<{ generic: number; custom: number }> {
  const [r] = await db.query<{ generic: number; custom: number }>(
    sql`SELECT coalesce(sum(generic_plans), 0)::int AS generic, coalesce(sum(custom_plans), 0)::int AS custom
          FROM pg_prepared_statements WHERE statement LIKE ${like} AND statement NOT LIKE '%pg_prepared_statements%'`,
  );
  return r!;
}

describe('server mode: one generic plan per prepared statement', () => {
  let pg: Cluster;
  beforeAll(async () => {
    pg = await startMigratedCluster();
  });
  afterAll(async () => {
    await pg?.destroy();
  });

  it('is on by default and off with databaseGenericPlans false', async () => {
    expect(loadConfig({}).databaseGenericPlans).toBe(true);
    expect(loadConfig({ env: { FLOWRADAR_DATABASE_GENERIC_PLANS: 'off' } }).databaseGenericPlans).toBe(false);
    const run = async (genericPlans?: boolean) => {
      // One connection, so pg_prepared_statements is the one the statements were prepared on.
      const db = await openDatabase({
        databaseUrl: pg.url,
        max: 1,
        ...(genericPlans === undefined ? {} : { genericPlans }),
      });
      try {
        for (let d = 0; d < 4; d++)
          await db.query(
            sql`SELECT count(*) FROM traffic WHERE time >= ${iso(T0 + d * DAY)}::timestamptz AND time < ${iso(T0 + (d + 1) * DAY)}::timestamptz`,
          );
        return await plans(db, '%FROM traffic WHERE time >=%');
      } finally {
        await db.close();
      }
    };
    expect(await run()).toEqual({ generic: 4, custom: 0 });
    expect(await run(false)).toEqual({ generic: 0, custom: 4 });
  });

  it('a statement planned once sees chunks another connection adds, compresses, refreshes and drops', async () => {
    const writer = await openDatabase({ databaseUrl: pg.url, max: 1 });
    const reader = await openDatabase({ databaseUrl: pg.url, max: 1 });
    const minutes = () => windowBytes(reader);
    const hours = () => windowBytes(reader, sql`traffic_1h`);
    try {
      await chunksComeAndGo(writer, minutes, {
        first: async () => {
          await refreshRollups(writer);
          expect(await hours()).toBe(10);
        },
        afterNewChunk: async () => {
          await refreshRollups(writer);
          expect(await hours()).toBe(110);
        },
      });
      // Every read above ran on the one generic plan of its statement.
      expect(await plans(reader, '%FROM traffic WHERE time >=%')).toEqual({ generic: 5, custom: 0 });
      expect(await plans(reader, '%FROM traffic_1h WHERE time >=%')).toEqual({ generic: 2, custom: 0 });
    } finally {
      await Promise.all([writer.close(), reader.close()]);
    }
  });
});
