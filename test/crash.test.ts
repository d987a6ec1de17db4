import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/client.js';
import { encodeIpfix, type SimFlow } from '../src/ingest/encode.js';
import { trafficTotal } from './helpers/collector.js';
import { freePort } from './helpers/db.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a collector killed mid-stream and restarted', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flowradar-crash-'));
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = async (ports: { http: number; netflow: number; sflow: number }) => {
    rmSync(join(dataDir, 'service.json'), { force: true });
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli.ts',
        'collect',
        '--data-dir',
        dataDir,
        '--host',
        '127.0.0.1',
        '--port',
        String(ports.http),
        '--netflow-port',
        String(ports.netflow),
        '--sflow-port',
        String(ports.sflow),
      ],
      {
        env: { ...process.env, FLOWRADAR_FLUSH_INTERVAL: '1s', FLOWRADAR_LOG_LEVEL: 'warn' },
        stdio: 'ignore',
      },
    );
    children.push(child);
    const deadline = Date.now() + 60_000;
    while (!existsSync(join(dataDir, 'service.json'))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error('collector did not start');
      await sleep(200);
    }
    return child;
  };

  it('double-counts nothing and loses at most what was not yet flushed', async () => {
    const ports = { http: await freePort(), netflow: await freePort(), sflow: await freePort() };
    const client = createSocket('udp4');
    let sequence = 0;
    let datagramIndex = 0;
    const round = async (i: number) => {
      const now = Date.now();
      const fs: SimFlow[] = Array.from({ length: 40 }, (_, k) => ({
        startMs: now - 5000,
        endMs: now - 1000,
        src: `85.240.${i % 250}.${k + 1}`,
        dst: '10.20.0.1',
        srcPort: 443,
        dstPort: 40000 + k,
        proto: 6,
        bytes: 1000 + k,
        packets: 1,
        srcAs: 3243,
        dstAs: 0,
        inIf: 1,
        outIf: 2,
      }));
      // Templates in every datagram: the restarted collector must not depend on what it had.
      const out = encodeIpfix(fs, { exportMs: now, domain: 1, sequence, datagramIndex, templateEvery: 1 });
      sequence = out.nextSequence;
      datagramIndex = out.nextDatagramIndex;
      for (const d of out.datagrams)
        await new Promise<void>((ok) => client.send(d, ports.netflow, '127.0.0.1', () => ok()));
      return fs.reduce((s, f) => s + f.bytes, 0);
    };

    let first = await start(ports);
    let sentBeforeKill = 0;
    let sentLastSecond = 0;
    for (let i = 0; i < 25; i++) {
      const bytes = await round(i);
      sentBeforeKill += bytes;
      sentLastSecond = i >= 25 - 8 ? sentLastSecond + bytes : 0;
      await sleep(200);
    }
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));

    first = await start(ports);
    let sentAfter = 0;
    for (let i = 25; i < 35; i++) {
      sentAfter += await round(i);
      await sleep(100);
    }
    await sleep(500);
    first.kill('SIGTERM');
    await new Promise((r) => first.once('exit', r));
    client.close();

    const db = await openDatabase({ dataDir });
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
