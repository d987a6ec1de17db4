/**
 * Through a transaction-mode pooler (Debian's pgbouncer, `pool_mode = transaction`, as Hyperdrive
 * pools): `flowradar serve` and `flowradar collect` migrate, write, maintain and answer with their
 * pools multiplexed onto a few server connections, transaction by transaction.
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/tokens.js';
import { openDatabase } from '../../src/db/client.js';
import { encodeIpfix, type SimFlow } from '../../src/sim/encode.js';
import {
  type Cluster,
  type Pooler,
  sessionErrors,
  startCluster,
  startPgbouncer,
} from '../helpers/pg-server.js';
import { type FlowradarProcess, startFlowradar } from '../helpers/process.js';
import { sleep } from '../helpers/time.js';

describe('through pgbouncer in transaction mode', () => {
  let pg: Cluster;
  let bouncer: Pooler;
  const dir = mkdtempSync(join(tmpdir(), 'flowradar-pgbouncer-test-'));
  const procs: FlowradarProcess[] = [];
  beforeAll(async () => {
    pg = await startCluster();
    // Through the pooler flowradar cannot send the timeout itself: the role carries it.
    await pg.psql(`ALTER ROLE postgres SET statement_timeout = '15s'`, 'postgres');
    bouncer = await startPgbouncer(pg, { poolSize: 3 });
  });
  afterAll(async () => {
    for (const p of procs) await p.stop('SIGKILL');
    await bouncer?.stop();
    await pg?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('without databasePooler=transaction, the start fails saying what to set', async () => {
    await expect(
      startFlowradar(['serve'], {
        DATABASE_URL: bouncer.urlOf('flowradar'),
        FLOWRADAR_DATA_DIR: join(dir, 'x'),
      }),
    ).rejects.toThrow(/unsupported startup parameter.*FLOWRADAR_DATABASE_POOLER=transaction/s);
  });

  it('a service and a collector migrate, write, maintain and answer exactly', async () => {
    const logFrom = bouncer.log().length;
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ maintenanceInterval: '2s' }));
    const env = {
      DATABASE_URL: bouncer.urlOf('flowradar'),
      FLOWRADAR_DATABASE_POOLER: 'transaction',
      FLOWRADAR_FLUSH_INTERVAL: '1s',
      FLOWRADAR_CONFIG: config,
    };
    const [serve, collect] = await Promise.all([
      startFlowradar(['serve'], { ...env, FLOWRADAR_DATA_DIR: join(dir, 'serve') }),
      startFlowradar(['collect'], { ...env, FLOWRADAR_DATA_DIR: join(dir, 'collect') }),
    ]);
    procs.push(serve!, collect!);

    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    const client = createSocket('udp4');
    let sequence = 0;
    let datagramIndex = 0;
    let sent = 0;
    for (let round = 0; round < 20; round++) {
      const now = Date.now();
      const fs: SimFlow[] = Array.from({ length: 50 }, (_, k) => ({
        startMs: now - 2000,
        endMs: now - 1000,
        src: `198.51.100.${k + 1}`,
        dst: '10.20.0.1',
        srcPort: 443,
        dstPort: 40_000 + k,
        proto: 6,
        bytes: 1000 + round * 50 + k,
        packets: 1,
        srcAs: 64_500 + (k % 10),
        dstAs: 0,
        inIf: 1,
        outIf: 2,
      }));
      const out = encodeIpfix(fs, { exportMs: now, domain: 1, sequence, datagramIndex, templateEvery: 1 });
      ({ nextSequence: sequence, nextDatagramIndex: datagramIndex } = out);
      // Half to each: both processes write through the pooler.
      const port = round % 2 ? serve!.ports.netflow : collect!.ports.netflow;
      for (const d of out.datagrams)
        await new Promise<void>((ok, fail) => client.send(d, port, '127.0.0.1', (e) => (e ? fail(e) : ok())));
      sent += fs.reduce((s, f) => s + f.bytes, 0);
      await sleep(100);
    }
    client.close();
    await sleep(2500);

    const db = await openDatabase({ databaseUrl: bouncer.urlOf('flowradar'), pooler: 'transaction', max: 4 });
    try {
      const [timeout] = await db.query<{ t: string }>(sql`SELECT current_setting('statement_timeout') AS t`);
      expect(timeout!.t).toBe('15s');
      const { token } = await createToken(db, { name: 'pgbouncer', scopes: ['read', 'read:raw'] });
      const from = new Date(minute - 15 * 60_000).toISOString();
      const to = new Date(minute + 15 * 60_000).toISOString();
      const res = await fetch(
        `${serve!.url}/radar/netflows/timeseries?dateStart=${from}&dateEnd=${to}&aggInterval=15m&normalization=RAW_VALUES`,
        { headers: { authorization: `Bearer ${token}` } },
      );
      expect(res.status).toBe(200);
      const body = (await res.json()) as { result: { serie_0: { values: string[] } } };
      expect(body.result.serie_0.values.reduce((s, v) => s + Number(v), 0)).toBe(sent);
      const [runs] = await db.query<{ n: number; failed: number }>(
        sql`SELECT count(*)::int AS n, count(error)::int AS failed FROM maintenance_runs`,
      );
      expect(runs!.n).toBeGreaterThanOrEqual(2);
      expect(runs!.failed).toBe(0);
    } finally {
      await db.close();
    }
    for (const p of procs) expect(await p.stop()).toBe(0);
    for (const p of procs) expect(p.logLines(40).map((l) => l.msg)).toEqual([]);
    expect(sessionErrors(pg.log())).toEqual([]);
    // Transaction pooling held: pgbouncer never saw a statement it could not route.
    expect(bouncer.log().slice(logFrom)).not.toMatch(/prepared statement|unsupported/i);
  }, 120_000);
});
