/**
 * Many writers on one real TimescaleDB server: four `flowradar collect` processes and a `flowradar
 * serve` (which also refreshes the rollups every few seconds) receive IPFIX at the same time for
 * WRITERS_SECONDS (default 60), every flush of every one of them adding to the same
 * (minute, asn, location, product, direction) rows. Totals must be exact, and neither the server
 * log nor any writer may show a deadlock, a lock failure or a retried write.
 */
import { randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.js';
import type { TrafficDelta } from '../../src/db/traffic.js';
import { writeFailureCause } from '../../src/ingest/metrics.js';
import { writeBatches } from '../../src/ingest/writer.js';
import { encodeIpfix, type SimFlow } from '../../src/sim/encode.js';
import { type Cluster, sessionErrors, startMigratedCluster } from '../helpers/pg-server.js';
import { type FlowradarProcess, startFlowradar } from '../helpers/process.js';
import { sleep } from '../helpers/time.js';

const SECONDS = Number(process.env.WRITERS_SECONDS ?? 60);
const COLLECTORS = 4;
/** Remote ASes every exporter sends for: every writer's batches hold all of them. */
const ASNS = Array.from({ length: 1000 }, (_, i) => 64_512 + i);

/** `xs` in a deterministic order of `seed`'s own (Fisher–Yates over a 32-bit LCG). */
function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let x = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    x = (Math.imul(x, 1_664_525) + 1_013_904_223) >>> 0;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe(`${COLLECTORS} collectors and a service writing the same keys for ${SECONDS} s`, () => {
  let pg: Cluster;
  const procs: FlowradarProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'flowradar-writers-'));
  beforeAll(async () => {
    // Lock waits over 20 ms are logged too, so a lock problem cannot hide behind a success.
    pg = await startMigratedCluster({ settings: ["deadlock_timeout = '20ms'", 'log_lock_waits = on'] });
  });
  afterAll(async () => {
    for (const p of procs) await p.stop('SIGKILL');
    await pg?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('batches of the same keys in any order, from four connections at once, never deadlock', async () => {
    // Without one key order for every writer, this deadlocked on most attempts.
    const dbs = await Promise.all([1, 2, 3, 4].map(() => openDatabase({ databaseUrl: pg.url, max: 2 })));
    const minute = Date.parse('2026-12-01T10:00:00Z');
    let written = 0;
    const failures: string[] = [];
    try {
      await Promise.all(
        dbs.map(async (db, w) => {
          for (let n = 0; n < 15; n++) {
            const rows: TrafficDelta[] = [];
            for (let m = 0; m < 3; m++)
              for (const asn of ASNS.slice(0, 300))
                rows.push({
                  minuteMs: minute + m * 60_000,
                  asn,
                  location: 'XX',
                  product: 'HTTP',
                  direction: 'in',
                  bytes: 1,
                  packets: 1,
                  flows: 1,
                });
            const batch = {
              id: randomUUID(),
              traffic: shuffled(rows, w * 100 + n + 1),
              exporters: [],
              minutes: [],
            };
            await writeBatches(db, [batch]).then(
              () => written++,
              (err: unknown) => failures.push(writeFailureCause(err)),
            );
          }
        }),
      );
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
    expect(failures).toEqual([]);
    const db = await openDatabase({ databaseUrl: pg.url, max: 1 });
    const [row] = await db.query<{ bytes: number }>(sql`SELECT sum(bytes)::float8 AS bytes FROM traffic`);
    await db.query(sql`TRUNCATE traffic, ingest_batches`);
    await db.close();
    expect(row!.bytes).toBe(written * 900);
  });

  it(
    'adds up exactly, with no deadlock, lock error or retried write',
    async () => {
      const config = join(dir, 'config.json');
      writeFileSync(config, JSON.stringify({ maintenanceInterval: '3s' }));
      const env = { DATABASE_URL: pg.url, FLOWRADAR_FLUSH_INTERVAL: '1s', FLOWRADAR_CONFIG: config };
      procs.push(await startFlowradar(['serve'], { ...env, FLOWRADAR_DATA_DIR: join(dir, 'serve') }));
      for (let i = 0; i < COLLECTORS; i++)
        procs.push(await startFlowradar(['collect'], { ...env, FLOWRADAR_DATA_DIR: join(dir, `c${i}`) }));

      const client = createSocket('udp4');
      const state = procs.map(() => ({ sequence: 0, datagramIndex: 0 }));
      let sent = 0;
      let flows = 0;
      const until = Date.now() + SECONDS * 1000;
      for (let round = 0; Date.now() < until; round++) {
        const now = Date.now();
        for (const [i, p] of procs.entries()) {
          // Each flow spans the last 90 s: a batch touches two or three minutes of every AS.
          // In an order of its own per exporter and round, as real traffic comes.
          const fs: SimFlow[] = shuffled(ASNS, round * COLLECTORS + i + 1).map((asn, k) => ({
            startMs: now - 90_000,
            endMs: now - 1000,
            src: `198.18.${k >> 8}.${k & 255}`,
            dst: '10.20.0.1',
            srcPort: k % 2 ? 443 : 5000,
            dstPort: 40_000 + k,
            proto: 6,
            bytes: 1000 + ((round * 31 + k * 7 + i) % 977),
            packets: 1 + (k % 5),
            srcAs: asn,
            dstAs: 0,
            inIf: 1,
            outIf: 2,
          }));
          const out = encodeIpfix(fs, { exportMs: now, domain: 1, templateEvery: 1, ...state[i]! });
          state[i] = { sequence: out.nextSequence, datagramIndex: out.nextDatagramIndex };
          for (const d of out.datagrams)
            await new Promise<void>((ok, fail) =>
              client.send(d, p.ports.netflow, '127.0.0.1', (e) => (e ? fail(e) : ok())),
            );
          sent += fs.reduce((s, f) => s + f.bytes, 0);
          flows += fs.length;
        }
        await sleep(250);
      }
      client.close();
      await sleep(1500);
      const received = await Promise.all(
        procs.map(async (p) => {
          const text = await (await fetch(`${p.url}/metrics`)).text();
          return Number(/^flowradar_records_total\{protocol="ipfix"\} (\d+)/m.exec(text)?.[1] ?? 0);
        }),
      );
      const retried = await Promise.all(
        procs.map(async (p) => {
          const text = await (await fetch(`${p.url}/metrics`)).text();
          return [...text.matchAll(/^flowradar_write_failures_total\{cause="(\w+)"\} (\d+)/gm)].map(
            (m) => `${m[1]}=${m[2]}`,
          );
        }),
      );
      for (const p of procs) expect(await p.stop()).toBe(0);

      expect(
        received.reduce((a, b) => a + b, 0),
        'records received (loopback loss?)',
      ).toBe(flows);
      const db = await openDatabase({ databaseUrl: pg.url });
      try {
        const [row] = await db.query<{ bytes: number; keys: number; minutes: number }>(
          sql`SELECT sum(bytes)::float8 AS bytes, count(*)::int AS keys, count(DISTINCT time)::int AS minutes FROM traffic`,
        );
        expect(row!.bytes).toBe(sent);
        expect(row!.keys).toBeGreaterThan(ASNS.length * (SECONDS / 60));
      } finally {
        await db.close();
      }
      expect(retried.flat(), 'writes retried').toEqual([]);
      for (const p of procs)
        expect(
          p.logLines(40).map((l) => l.msg),
          'warnings and errors of a writer',
        ).toEqual([]);
      const log = pg.log();
      expect(log).not.toMatch(/deadlock detected/);
      expect(sessionErrors(log)).toEqual([]);
      // The writers did contend: some waited longer than deadlock_timeout (20 ms) for a row another held.
      expect(log).toMatch(/still waiting for ShareLock on transaction/);
      // Waiting for a row another writer holds is normal; failing to get it is not.
      expect(log).not.toMatch(/could not obtain lock|could not serialize|lock timeout/);
    },
    120_000 + SECONDS * 1000,
  );
});
