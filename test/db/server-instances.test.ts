/**
 * Several instances on one real TimescaleDB server: migrations applied once however many start
 * together, and maintenance (rollup refresh, compression, retention) by one instance at a time,
 * once per interval across all of them.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.js';
import { MIGRATIONS_DIR, migrate } from '../../src/db/migrate.js';
import { type Cluster, sessionErrors, startCluster } from '../helpers/pg-server.js';
import { type FlowradarProcess, startFlowradar } from '../helpers/process.js';
import { sleep } from '../helpers/time.js';

const MIGRATIONS = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).length;
describe('instances sharing one server', () => {
  let pg: Cluster;
  const dir = mkdtempSync(join(tmpdir(), 'flowradar-instances-'));
  beforeAll(async () => {
    pg = await startCluster();
  });
  afterAll(async () => {
    await pg?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A new empty database on the cluster. */
  const freshDatabase = async (name: string) => {
    await pg.psql(`CREATE DATABASE ${name}`, 'postgres');
    return pg.urlOf(name);
  };

  const journal = async (url: string) => {
    const db = await openDatabase({ databaseUrl: url, max: 1 });
    try {
      return await db.query<{ hash: string }>(
        sql`SELECT hash FROM flowradar.__drizzle_migrations ORDER BY id`,
      );
    } finally {
      await db.close();
    }
  };

  it('three migrators started at once apply each migration once, and all succeed', async () => {
    const url = await freshDatabase('race');
    const dbs = await Promise.all([1, 2, 3].map(() => openDatabase({ databaseUrl: url })));
    try {
      const outcomes = await Promise.allSettled(dbs.map((db) => migrate(db)));
      expect(outcomes.map((o) => (o.status === 'rejected' ? String(o.reason) : 'ok'))).toEqual([
        'ok',
        'ok',
        'ok',
      ]);
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
    const rows = await journal(url);
    expect(rows).toHaveLength(MIGRATIONS);
    expect(new Set(rows.map((r) => r.hash)).size).toBe(MIGRATIONS);
  });

  it('three services started at once: one maintenance round at a time, once per interval', async () => {
    const url = await freshDatabase('three');
    const config = join(dir, 'config.json');
    const INTERVAL_S = 2;
    writeFileSync(config, JSON.stringify({ maintenanceInterval: `${INTERVAL_S}s` }));
    const procs: FlowradarProcess[] = [];
    try {
      procs.push(
        ...(await Promise.all(
          [0, 1, 2].map((i) =>
            startFlowradar(['serve'], {
              DATABASE_URL: url,
              FLOWRADAR_CONFIG: config,
              FLOWRADAR_DATA_DIR: join(dir, `s${i}`),
            }),
          ),
        )),
      );
      const t0 = Date.now();
      await sleep(16_000);
      const seconds = (Date.now() - t0) / 1000;
      for (const p of procs) expect(await p.stop()).toBe(0);

      expect(await journal(url)).toHaveLength(MIGRATIONS);
      const db = await openDatabase({ databaseUrl: url, max: 1 });
      try {
        const runs = await db.query<{
          instance: string;
          start: number;
          end: number | null;
          error: string | null;
        }>(
          sql`SELECT instance, extract(epoch FROM started_at)::float8 AS start,
                     extract(epoch FROM finished_at)::float8 AS "end", error
                FROM maintenance_runs ORDER BY started_at`,
        );
        expect(runs.filter((r) => r.error !== null || r.end === null)).toEqual([]);
        // One round per interval for the fleet, not one per instance…
        expect(runs.length).toBeGreaterThanOrEqual(Math.floor(seconds / INTERVAL_S) - 2);
        expect(runs.length).toBeLessThanOrEqual(Math.ceil(seconds / INTERVAL_S) + 1);
        for (let i = 1; i < runs.length; i++) {
          // …never two at once, and never two within one interval.
          expect(runs[i]!.start).toBeGreaterThanOrEqual(runs[i - 1]!.end!);
          expect(runs[i]!.start - runs[i - 1]!.start).toBeGreaterThanOrEqual(INTERVAL_S * 0.9 - 0.01);
        }
        // Every instance was willing; which one runs a round is up to the timers.
        expect(new Set(runs.map((r) => r.instance)).size).toBeGreaterThanOrEqual(1);
      } finally {
        await db.close();
      }
      for (const p of procs) expect(p.logLines(40).map((l) => l.msg)).toEqual([]);
      expect(sessionErrors(pg.log())).toEqual([]);
    } finally {
      for (const p of procs) await p.stop('SIGKILL');
    }
  }, 120_000);
});
