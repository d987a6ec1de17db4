/**
 * The roles of docs/deploy.md, made by deploy/roles.sql and deploy/collector-grants.sql as they
 * stand: `serve` as the owner migrates and maintains; `collect` as flowradar_collector writes and
 * answers the API, rollups and materialized hypertables included, and can do nothing else.
 */
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/tokens.js';
import { openDatabase } from '../../src/db/client.js';
import { encodeIpfix, type SimFlow } from '../../src/sim/encode.js';
import { type Cluster, sessionErrors, startCluster } from '../helpers/pg-server.js';
import { type FlowradarProcess, startFlowradar } from '../helpers/process.js';
import { sleep } from '../helpers/time.js';
import { ROOT } from '../helpers/worker.js';

const HOUR = 3_600_000;

describe('the owner and collector roles of deploy/roles.sql', () => {
  let pg: Cluster;
  const dir = mkdtempSync(join(tmpdir(), 'flowradar-roles-'));
  const procs: FlowradarProcess[] = [];
  const as = (role: string) =>
    pg.url.replace(
      'postgres@',
      `${role}:${role === 'flowradar' ? 'change-me-owner' : 'change-me-collector'}@`,
    );
  const psqlFile = (url: string, file: string) =>
    execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', url, '-f', join(ROOT, file)], {
      stdio: 'pipe',
    });
  beforeAll(async () => {
    pg = await startCluster();
    psqlFile(pg.url, 'deploy/roles.sql');
  });
  afterAll(async () => {
    for (const p of procs) await p.stop('SIGKILL');
    await pg?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a collector cannot migrate, and says who must', async () => {
    await expect(
      startFlowradar(['collect'], {
        DATABASE_URL: as('flowradar_collector'),
        FLOWRADAR_DATA_DIR: join(dir, 'c0'),
      }),
    ).rejects.toThrow(/flowradar migrate.*owner/);
  });

  it('serve as the owner and collect as the collector: flows in, answers out, old windows from the rollups', async () => {
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ maintenanceInterval: '2s' }));
    const serve = await startFlowradar(['serve'], {
      DATABASE_URL: as('flowradar'),
      FLOWRADAR_CONFIG: config,
      FLOWRADAR_DATA_DIR: join(dir, 'serve'),
    });
    procs.push(serve);
    psqlFile(as('flowradar'), 'deploy/collector-grants.sql');
    const collect = await startFlowradar(['collect'], {
      DATABASE_URL: as('flowradar_collector'),
      FLOWRADAR_FLUSH_INTERVAL: '1s',
      FLOWRADAR_DATA_DIR: join(dir, 'collect'),
    });
    procs.push(collect);

    // Flows of three hours ago: their hour is materialized by the owner's next round.
    const then = Math.floor((Date.now() - 3 * HOUR) / HOUR) * HOUR + 10 * 60_000;
    const fs: SimFlow[] = Array.from({ length: 40 }, (_, k) => ({
      startMs: then,
      endMs: then + 1000,
      src: `203.0.113.${k + 1}`,
      dst: '10.20.0.1',
      srcPort: 443,
      dstPort: 40_000 + k,
      proto: 6,
      bytes: 2000 + k,
      packets: 2,
      srcAs: 64_496 + (k % 4),
      dstAs: 0,
      inIf: 1,
      outIf: 2,
    }));
    const sent = fs.reduce((s, f) => s + f.bytes, 0);
    const client = createSocket('udp4');
    for (const d of encodeIpfix(fs, { exportMs: Date.now(), domain: 7, templateEvery: 1 }).datagrams)
      await new Promise<void>((ok, fail) =>
        client.send(d, collect.ports.netflow, '127.0.0.1', (e) => (e ? fail(e) : ok())),
      );
    client.close();
    await sleep(4500);

    const owner = await openDatabase({ databaseUrl: as('flowradar'), max: 2 });
    try {
      const { token } = await createToken(owner, { name: 'roles', scopes: ['read', 'read:raw'] });
      const hourStart = new Date(Math.floor(then / HOUR) * HOUR).toISOString();
      const hourEnd = new Date(Math.floor(then / HOUR) * HOUR + HOUR - 60_000).toISOString();
      const q = `/radar/netflows/timeseries?dateStart=${hourStart}&dateEnd=${hourEnd}&aggInterval=1h&normalization=RAW_VALUES`;
      // The window ends below the hourly rollup's watermark: read from its materialized hypertable.
      const [wm] = await owner.query<{ ms: number }>(
        sql`SELECT (extract(epoch FROM _timescaledb_functions.to_timestamp(_timescaledb_functions.cagg_watermark(h.id))) * 1000)::float8 AS ms
              FROM timescaledb_information.continuous_aggregates c
              JOIN _timescaledb_catalog.hypertable h ON h.table_name = c.materialization_hypertable_name
             WHERE c.view_name = 'traffic_total_1h'`,
      );
      expect(wm!.ms).toBeGreaterThanOrEqual(Date.parse(hourEnd) + 60_000);
      for (const p of [collect, serve]) {
        const res = await fetch(`${p.url}${q}`, { headers: { authorization: `Bearer ${token}` } });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { result: { serie_0: { values: string[] } } };
        expect(body.result.serie_0.values).toEqual([String(sent)]);
      }
      const top = await fetch(
        `${collect.url}/radar/netflows/top/ases?dateStart=${hourStart}&dateEnd=${hourEnd}`,
        {
          headers: { authorization: `Bearer ${token}` },
        },
      );
      expect(top.status).toBe(200);
    } finally {
      await owner.close();
    }

    const collector = await openDatabase({ databaseUrl: as('flowradar_collector'), max: 1 });
    try {
      for (const statement of [
        sql`DROP TABLE traffic`,
        sql`DELETE FROM api_tokens`,
        sql`INSERT INTO api_tokens (id, name, hash, scopes) VALUES ('x', 'x', 'x', '{admin}')`,
        sql.raw(`CALL refresh_continuous_aggregate('traffic_1h', NULL, NULL)`),
        sql`SELECT drop_chunks('traffic', older_than => now())`,
      ])
        await expect(collector.query(statement), String(statement)).rejects.toThrow();
    } finally {
      await collector.close();
    }
    for (const p of procs) expect(await p.stop()).toBe(0);
    for (const p of procs) expect(p.logLines(40).map((l) => l.msg)).toEqual([]);
    // The refusals above are the only errors on the server.
    expect(sessionErrors(pg.log()).filter((l) => !/permission denied|must be owner/.test(l))).toEqual([]);
  }, 120_000);
});
