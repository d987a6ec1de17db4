/**
 * The compiled package: `flowradar collect` from dist/ (what `npm run build` makes and the `bin`
 * runs) receives datagrams through its receiving thread, which dist/ loads as compiled
 * JavaScript while src/ runs it through tsx (test/ingest/receiver.test.ts, test/crash.test.ts).
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeIpfix } from '../../src/sim/encode.js';
import { inboundFlows } from '../helpers/collector.js';
import { buildDist, type FlowradarProcess, startFlowradar } from '../helpers/process.js';
import { sleep } from '../helpers/time.js';

describe('flowradar collect from dist/', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flowradar-dist-'));
  let collector: FlowradarProcess | undefined;
  afterAll(async () => {
    await collector?.stop('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('decodes the datagrams its compiled receiving thread reads', async () => {
    buildDist();
    collector = await startFlowradar(
      ['collect', '--data-dir', dataDir],
      { FLOWRADAR_FLUSH_INTERVAL: '1s', FLOWRADAR_LOG_LEVEL: 'warn' },
      { from: 'dist' },
    );
    const now = Date.now();
    const flows = inboundFlows(30, now);
    const { datagrams } = encodeIpfix(flows, { exportMs: now, domain: 1, templateEvery: 1 });
    const client = createSocket('udp4');
    for (const d of datagrams)
      await new Promise<void>((ok) => client.send(d, collector!.ports.netflow, '127.0.0.1', () => ok()));
    client.close();
    let records = 0;
    for (let i = 0; i < 50 && records < flows.length; i++) {
      await sleep(100);
      const text = await (await fetch(`${collector.url}/metrics`)).text();
      records = Number(/^flowradar_records_total\{protocol="ipfix"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    }
    expect(records).toBe(flows.length);
    expect(await collector.stop('SIGTERM')).toBe(0);
  }, 120_000);
});
