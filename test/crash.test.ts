import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/client.js';
import { encodeIpfix } from '../src/sim/encode.js';
import { inboundFlows, trafficTotal } from './helpers/collector.js';
import { MODES, serverDatabaseUrl } from './helpers/db.js';
import { type FlowradarProcess, startFlowradar } from './helpers/process.js';
import { sleep } from './helpers/time.js';

describe.each(MODES)('a collector (%s database) killed mid-stream and restarted', (mode) => {
  // Both modes keep their lock and spool here; the embedded one its database too.
  const dataDir = mkdtempSync(join(tmpdir(), 'flowradar-crash-'));
  const procs: FlowradarProcess[] = [];
  afterAll(async () => {
    for (const p of procs) await p.stop('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('double-counts nothing and loses at most what was not yet flushed', async () => {
    const databaseUrl = mode === 'server' ? await serverDatabaseUrl() : undefined;
    const start = async () => {
      const p = await startFlowradar(
        ['collect', '--data-dir', dataDir, ...(databaseUrl ? ['--database-url', databaseUrl] : [])],
        { FLOWRADAR_FLUSH_INTERVAL: '1s', FLOWRADAR_LOG_LEVEL: 'warn' },
      );
      procs.push(p);
      return p;
    };
    const client = createSocket('udp4');
    let sequence = 0;
    let datagramIndex = 0;
    const round = async (collector: FlowradarProcess, i: number) => {
      const now = Date.now();
      const fs = inboundFlows(40, now, (k) => ({ src: `85.240.${i % 250}.${k + 1}` }));
      // Templates in every datagram: the restarted collector must not depend on what it had.
      const out = encodeIpfix(fs, { exportMs: now, domain: 1, sequence, datagramIndex, templateEvery: 1 });
      sequence = out.nextSequence;
      datagramIndex = out.nextDatagramIndex;
      for (const d of out.datagrams)
        await new Promise<void>((ok) => client.send(d, collector.ports.netflow, '127.0.0.1', () => ok()));
      return fs.reduce((s, f) => s + f.bytes, 0);
    };

    let collector = await start();
    let sentBeforeKill = 0;
    let sentLastSecond = 0;
    for (let i = 0; i < 25; i++) {
      const bytes = await round(collector, i);
      sentBeforeKill += bytes;
      sentLastSecond = i >= 25 - 8 ? sentLastSecond + bytes : 0;
      await sleep(200);
    }
    await collector.stop('SIGKILL');

    collector = await start();
    let sentAfter = 0;
    for (let i = 25; i < 35; i++) {
      sentAfter += await round(collector, i);
      await sleep(100);
    }
    await sleep(500);
    expect(await collector.stop('SIGTERM')).toBe(0);
    client.close();

    const db = await openDatabase(databaseUrl ? { databaseUrl } : { dataDir });
    try {
      const total = await trafficTotal(db);
      // Nothing counted twice…
      expect(total).toBeLessThanOrEqual(sentBeforeKill + sentAfter);
      // …everything after the restart is there (SIGTERM flushes), and before the kill at most
      // the last flush interval (1 s, plus the 200 ms pacing) is missing.
      expect(total).toBeGreaterThanOrEqual(sentAfter + sentBeforeKill - sentLastSecond);
    } finally {
      await db.close();
    }
  }, 180_000);
});
