/**
 * The simulated exporter over a real UDP socket, decoded by the collector's own decoder: with a
 * sampling rate it announces that rate as a real exporter does, and what the collector scales
 * back adds up to the demo's traffic.
 */
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeNetflow, TemplateRegistry } from '../../src/ingest/netflow/index.js';
import { newFlowRecord } from '../../src/ingest/types.js';
import { demoFlows, startSimulator } from '../../src/sim/simulate.js';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const HOURS = 6;
const RATE = 10;

describe('the simulated IPFIX exporter, sampling 1 in 10', () => {
  const datagrams: Buffer[] = [];
  const socket = createSocket({ type: 'udp4', recvBufferSize: 8 << 20 });

  beforeAll(async () => {
    socket.on('message', (m) => datagrams.push(m));
    await new Promise<void>((ok) => socket.bind(0, '127.0.0.1', ok));
    const sim = await startSimulator({
      host: '127.0.0.1',
      port: (socket.address() as AddressInfo).port,
      protocol: 'ipfix',
      samplingRate: RATE,
      backfillDays: HOURS / 24,
      startMs: NOW,
      intervalMs: 3_600_000,
      now: () => NOW,
    });
    sim.stop();
    const sent = sim.sent();
    const deadline = Date.now() + 5000;
    while (datagrams.length < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(datagrams.length).toBe(sent);
  });
  afterAll(() => socket.close());

  it('announces its rate, and the scaled records add up to the demo traffic', () => {
    const registry = new TemplateRegistry();
    const rates = new Map<number, number>();
    const got = new Map<string, { bytes: number; packets: number }>();
    for (const d of datagrams) {
      const res = decodeNetflow(
        d,
        { exporter: '127.0.0.1', registry, nowMs: NOW, record: newFlowRecord() },
        (r) => {
          rates.set(r.samplingRate, (rates.get(r.samplingRate) ?? 0) + 1);
          const key = `${r.srcAs}:${r.dstAs}:${r.proto}`;
          const sum = got.get(key) ?? { bytes: 0, packets: 0 };
          sum.bytes += r.bytes * r.samplingRate;
          sum.packets += r.packets * r.samplingRate;
          got.set(key, sum);
        },
      );
      expect(res.ok).toBe(true);
    }
    // Every record carries the announced rate: none is left for the configured default.
    expect([...rates.keys()]).toEqual([RATE]);

    const want = new Map<string, { bytes: number; packets: number }>();
    for (let t = NOW - HOURS * 3_600_000; t < NOW; t += 300_000)
      for (const f of demoFlows(t, t + 300_000)) {
        const key = `${f.srcAs}:${f.dstAs}:${f.proto}`;
        const sum = want.get(key) ?? { bytes: 0, packets: 0 };
        sum.bytes += f.bytes;
        sum.packets += f.packets;
        want.set(key, sum);
      }
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [key, w] of want) {
      const g = got.get(key)!;
      // What is not exported yet is less than one sampled packet of the flow and its bytes.
      expect(w.packets - g.packets).toBeGreaterThanOrEqual(0);
      expect(w.packets - g.packets).toBeLessThan(RATE);
      expect(Math.abs(w.bytes - g.bytes) / w.bytes).toBeLessThan(0.01);
    }
  });
});
