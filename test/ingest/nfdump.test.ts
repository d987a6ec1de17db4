import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { testCollector } from '../helpers/collector.js';
import { freePort, testDatabase } from '../helpers/db.js';
import { readPcap } from '../helpers/pcap.js';

/**
 * Cross-check against nfdump, the reference collector network teams use: the same captured
 * exports replayed at nfcapd and at flowradar give the same per-AS bytes, packets and flows.
 */
const hasNfdump = !spawnSync('nfcapd', ['-V']).error && !spawnSync('nfdump', ['-V']).error;

const FIXTURES = [
  'fprobe-v5.pcap',
  'nfreplay-v5.pcap',
  'softflowd-v5.pcap',
  'nfreplay-v9.pcap',
  'softflowd-v9.pcap',
  'softflowd-v10.pcap',
  'pmacct.pcap',
  'python-ipfix.pcap',
  'softflowd-v5-sampled.pcap',
];

const payloads = (file: string) =>
  [...readPcap(readFileSync(join('test/fixtures', file)))]
    .filter((p) => p.dstPort === 2055)
    .map((p) => p.payload);

async function nfdumpTotals(datagrams: Uint8Array[]): Promise<Map<number, [number, number, number]>> {
  const dir = mkdtempSync(join(tmpdir(), 'flowradar-nfcapd-'));
  const port = await freePort();
  const nfcapd = spawn('nfcapd', ['-p', String(port), '-b', '127.0.0.1', '-w', dir, '-t', '3600'], {
    stdio: 'ignore',
  });
  try {
    await new Promise((r) => setTimeout(r, 700));
    const { createSocket } = await import('node:dgram');
    const s = createSocket('udp4');
    for (const d of datagrams) await new Promise<void>((ok) => s.send(d, port, '127.0.0.1', () => ok()));
    s.close();
    await new Promise((r) => setTimeout(r, 500));
    nfcapd.kill('SIGTERM');
    await new Promise((r) => nfcapd.once('exit', r));
    const out = execFileSync(
      'nfdump',
      ['-R', dir, '-q', '-N', '-A', 'srcas', '-o', 'fmt:%sas %byt %pkt %fl'],
      { encoding: 'utf8' },
    );
    const totals = new Map<number, [number, number, number]>();
    for (const line of out.trim().split('\n').filter(Boolean)) {
      const [as, bytes, packets, flows] = line.trim().split(/\s+/).map(Number) as [
        number,
        number,
        number,
        number,
      ];
      totals.set(as, [bytes, packets, flows]);
    }
    return totals;
  } finally {
    nfcapd.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!hasNfdump)(
  'per-AS totals equal nfdump’s for the same replay (needs nfdump; CI installs it)',
  () => {
    it.each(FIXTURES)('%s', async (file) => {
      const datagrams = payloads(file);
      expect(datagrams.length).toBeGreaterThan(0);
      const reference = await nfdumpTotals(datagrams);
      const db = await testDatabase();
      try {
        const c = await testCollector(db);
        await c.send(datagrams);
        await c.stop();
        const rows = await db.query<{ asn: number; bytes: number; packets: number; flows: number }>(
          sql`SELECT asn, sum(bytes)::float8 AS bytes, sum(packets)::float8 AS packets, sum(flows)::float8 AS flows
              FROM traffic GROUP BY asn ORDER BY asn`,
        );
        const ours = new Map(
          rows.map((r) => [r.asn, [r.bytes, r.packets, r.flows] as [number, number, number]]),
        );
        expect(ours).toEqual(reference);
      } finally {
        await db.close();
      }
    });
  },
);
