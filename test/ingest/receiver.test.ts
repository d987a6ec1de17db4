/**
 * Datagrams are read by a thread of their own (src/ingest/collector.ts), so a main thread held by
 * the embedded database (a flush can take a second) loses nothing to a full kernel buffer. Here the
 * main thread is held in a busy loop while another thread sends over 10× what the socket buffer holds;
 * and what waits for it is bounded (maxQueuedBytes): past it datagrams are dropped and counted.
 */
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/client.js';
import { encodeIpfix, type SimFlow } from '../../src/sim/encode.js';
import { testCollector, trafficTotal } from '../helpers/collector.js';
import { testDatabase } from '../helpers/db.js';

const SENDER = `
const { workerData } = require('node:worker_threads');
const { createSocket } = require('node:dgram');
const { datagrams, port, done } = workerData;
const flag = new Int32Array(done);
const socket = createSocket('udp4');
let i = 0;
function next() {
  // Two datagrams a millisecond or so: a steady exporter, not a burst no buffer could take.
  for (let k = 0; k < 2 && i < datagrams.length; k++, i++) socket.send(datagrams[i], port, '127.0.0.1');
  if (i < datagrams.length) setTimeout(next, 1);
  else setTimeout(() => { Atomics.store(flag, 0, 1); socket.close(); }, 50);
}
next();
`;

describe.each([
  { reader: 'recvmmsg', native: true },
  { reader: 'dgram', native: false },
] as const)('UDP receiving thread, reading with $reader', ({ reader, native }) => {
  let db: Database;
  beforeAll(async () => {
    db = await testDatabase('embedded');
  });
  afterAll(() => db?.close());

  const now = Date.now();
  const flows: SimFlow[] = Array.from({ length: 40_000 }, (_, i) => ({
    src: `198.51.100.${i % 250}`,
    dst: `10.20.${(i >> 8) % 250}.${i % 250}`,
    srcPort: 443,
    dstPort: 1024 + (i % 50_000),
    proto: 6,
    bytes: 1000 + i,
    packets: 1 + (i % 7),
    startMs: now - 30_000,
    endMs: now - 10_000,
    srcAs: 64500,
    dstAs: 64501,
    inIf: 1,
    outIf: 2,
  }));
  const out = encodeIpfix(flows, { exportMs: now, domain: 1 });
  const bytes = out.datagrams.reduce((a, d) => a + d.length, 0);

  /** A collector with a small kernel buffer (the kernel doubles it), counting what its pipeline is handed. */
  const collector = async (maxQueuedBytes?: number) => {
    const c = await testCollector(db, {
      localNetworks: ['10.20.0.0/16'],
      recvBufferSize: 64 * 1024,
      native,
      ...(maxQueuedBytes ? { maxQueuedBytes } : {}),
    });
    // On Linux the native reader is built at install (scripts/build-native.mjs): a build that
    // failed must fail here, not fall back unseen.
    expect(c.udp.reader).toBe(process.platform === 'linux' || !native ? reader : 'dgram');
    const seen = { datagrams: 0, bytes: 0, dropped: 0 };
    const original = c.pipeline.handleDatagram.bind(c.pipeline);
    c.pipeline.handleDatagram = (buf, address, kind) => {
      original(buf, address, kind);
      seen.datagrams++;
      seen.bytes += buf.length;
    };
    const dropped = c.pipeline.receiveDropped.bind(c.pipeline);
    c.pipeline.receiveDropped = (n) => {
      dropped(n);
      seen.dropped += n;
    };
    return { c, seen };
  };

  /** Sends every datagram from another thread while this one is held, as a long database statement would. */
  const sendWhileBlocked = async (port: number) => {
    const done = new SharedArrayBuffer(4);
    const sender = new Worker(SENDER, { eval: true, workerData: { datagrams: out.datagrams, port, done } });
    const flag = new Int32Array(done);
    const t0 = Date.now();
    while (Atomics.load(flag, 0) === 0 && Date.now() - t0 < 20_000) {}
    expect(Atomics.load(flag, 0)).toBe(1);
    await sender.terminate();
  };
  const until = async (done: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  };

  it('keeps every datagram while the main thread is blocked for their whole arrival', async () => {
    const { c, seen } = await collector();
    try {
      expect(bytes).toBeGreaterThan(10 * 2 * 64 * 1024);
      await sendWhileBlocked(c.udp.netflowPort);
      await until(() => seen.datagrams === out.datagrams.length);
      expect(seen.datagrams).toBe(out.datagrams.length);
      expect(seen.dropped).toBe(0);
    } finally {
      await c.stop();
    }
    expect(await trafficTotal(db)).toBe(flows.reduce((a, f) => a + f.bytes, 0));
  });

  it('holds at most maxQueuedBytes for a blocked main thread, counts the rest, and takes datagrams again after', async () => {
    const max = 256 * 1024;
    const { c, seen } = await collector(max);
    try {
      expect(bytes).toBeGreaterThan(8 * max);
      await sendWhileBlocked(c.udp.netflowPort);
      // Nothing was handled while blocked: what is handled now was all held at once.
      await until(() => seen.datagrams + seen.dropped === out.datagrams.length);
      expect(seen.datagrams + seen.dropped).toBe(out.datagrams.length);
      expect(seen.bytes).toBeLessThanOrEqual(max);
      expect(seen.bytes).toBeGreaterThan(max / 2);
      // Handled, those bytes no longer count: the next datagrams are taken.
      const before = seen.datagrams;
      await c.send(out.datagrams.slice(0, 50));
      expect(seen.datagrams - before).toBe(50);
    } finally {
      await c.stop();
    }
  });
});

describe('the reader setting', () => {
  it('is the native reader by default, dgram with nativeReceiver off', () => {
    expect(loadConfig({}).nativeReceiver).toBe(true);
    expect(loadConfig({ env: { FLOWRADAR_NATIVE_RECEIVER: '0' } }).nativeReceiver).toBe(false);
  });
});
