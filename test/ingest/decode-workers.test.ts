/**
 * Decode workers (decodeWorkers > 1): datagrams of several exporters, sharded by exporter address
 * to worker threads over real UDP on loopback, written to a real embedded database. What reaches
 * the database must be exactly what one decode thread writes, templates must stay with their
 * exporter (and be saved for the next run), and a malformed datagram must be counted and dropped.
 */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.js';
import { shardOf } from '../../src/ingest/receiver.js';
import { encodeIpfix, encodeV9, type SimFlow } from '../../src/sim/encode.js';
import { testCollector, trafficTotal } from '../helpers/collector.js';
import { testDatabase } from '../helpers/db.js';

const NOW = Date.now();
const flows = (n: number, seed: number): SimFlow[] =>
  Array.from({ length: n }, (_, i) => ({
    startMs: NOW - 120_000 + i * 100,
    endMs: NOW - 90_000 + i * 100,
    src: `85.240.${seed}.${(i % 250) + 1}`,
    dst: `10.20.0.${(i % 250) + 1}`,
    srcPort: i % 3 === 0 ? 53 : 443,
    dstPort: 40000 + i,
    proto: i % 3 === 0 ? 17 : 6,
    bytes: 1000 + i * seed,
    packets: 1 + (i % 4),
    srcAs: 3243 + (i % 5),
    dstAs: 0,
    inIf: 1,
    outIf: 2,
  }));

/** Exporter addresses that land on different workers of two (checked below, not assumed). */
const EXPORTERS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];

interface Outcome {
  traffic: unknown[];
  exporters: unknown[];
  /** exporter_minutes without its minute, which is the receive time's (compared on its own below). */
  minutes: unknown[];
  /** Whether every exporter_minutes row lies in a minute the run was receiving in. */
  minutesInRun: boolean;
  templates: { exporter: string; n: number }[];
  badVersion: number;
}

/** The same datagrams, from the same exporters, through a collector with `decodeWorkers`. */
async function run(db: Database, decodeWorkers: number): Promise<Outcome> {
  const startMinute = Math.floor(Date.now() / 60_000) * 60_000;
  const c = await testCollector(db, { localNetworks: ['10.20.0.0/16'], decodeWorkers, collectorId: 'c1' });
  try {
    for (const [i, from] of EXPORTERS.entries()) {
      // Template ids are the same for every exporter: each must decode with its own.
      const encode = i % 2 === 0 ? encodeIpfix : encodeV9;
      const out = encode(flows(300 + 50 * i, i + 1), {
        exportMs: NOW,
        domain: 1,
        templateEvery: 1000,
        samplingRate: 1 + i,
      });
      await c.send(out.datagrams, 'netflow', from);
    }
    // Version 7 does not exist: bad_version, counted on its exporter and dropped.
    await c.send([new Uint8Array([0, 7, 0, 1, ...new Array(40).fill(0)])], 'netflow', EXPORTERS[1]);
    await c.pipeline.flush();
  } finally {
    await c.stop();
  }
  const text = await c.metrics.registry.metrics();
  const badVersion = Number(
    /flowradar_decode_errors_total\{reason="bad_version"\} (\d+)/.exec(text)?.[1] ?? 0,
  );
  return {
    traffic: await db.query(
      sql`SELECT time::text AS minute, asn, location, product, direction, bytes::float8, packets::float8, flows::float8 FROM traffic ORDER BY 1, 2, 3, 4, 5`,
    ),
    exporters: await db.query(
      sql`SELECT address, datagrams::float8, records::float8, lost_records::float8, errors, sampling_rates FROM exporters ORDER BY address`,
    ),
    // exporter_minutes is keyed by the minute a datagram was received in: two runs one after the
    // other can straddle a minute boundary, so rows are summed per exporter and their minutes
    // checked against the run's own window.
    minutes: await db.query(
      sql`SELECT exporter, sum(records)::float8 AS records, sum(lost_records)::float8 AS lost_records FROM exporter_minutes GROUP BY 1 ORDER BY 1`,
    ),
    minutesInRun:
      (
        await db.query<{ ok: boolean }>(
          sql`SELECT bool_and(time >= to_timestamp(${startMinute / 1000}) AND time <= now()) AS ok FROM exporter_minutes`,
        )
      )[0]?.ok === true,
    templates: await db.query(
      sql`SELECT exporter, count(*)::int AS n FROM flow_templates WHERE template_id >= 256 GROUP BY 1 ORDER BY 1`,
    ),
    badVersion,
  };
}

describe('decode workers', () => {
  it('the test exporters spread over both workers', () => {
    expect(new Set(EXPORTERS.map((a) => shardOf(a, 2))).size).toBe(2);
  });

  it('write the same traffic, exporters and minutes as one decode thread, with templates per exporter', async () => {
    const one = await testDatabase();
    const two = await testDatabase();
    try {
      const a = await run(one, 1);
      const b = await run(two, 2);
      expect(a.traffic.length).toBeGreaterThan(0);
      expect(b.traffic).toEqual(a.traffic);
      expect(b.exporters).toEqual(a.exporters);
      expect(b.minutes).toEqual(a.minutes);
      expect(a.minutes.length).toBe(EXPORTERS.length);
      expect([a.minutesInRun, b.minutesInRun]).toEqual([true, true]);
      expect(await trafficTotal(two, 'flows')).toBe(300 + 350 + 400 + 450);
      // Each exporter's templates were learned and saved by the worker that decoded it.
      expect(b.templates.map((t) => t.exporter)).toEqual(EXPORTERS);
      expect(b.templates).toEqual(a.templates);
      expect(b.badVersion).toBe(1);
      expect(a.badVersion).toBe(1);
      const [ex] = await two.query<{ errors: Record<string, number> }>(
        sql`SELECT errors FROM exporters WHERE address = ${EXPORTERS[1]}`,
      );
      expect(ex?.errors).toEqual({ bad_version: 1 });
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('decode after a restart with the templates the workers saved', async () => {
    const db = await testDatabase();
    try {
      const out = encodeIpfix(flows(100, 7), { exportMs: NOW, domain: 3, templateEvery: 1000 });
      const first = await testCollector(db, { decodeWorkers: 2 });
      await first.send(out.datagrams.slice(0, 1), 'netflow', EXPORTERS[0]);
      await first.stop();
      const before = await trafficTotal(db, 'flows');
      const second = await testCollector(db, { decodeWorkers: 2 });
      await second.send(out.datagrams.slice(1), 'netflow', EXPORTERS[0]);
      await second.stop();
      expect(before).toBeGreaterThan(0);
      expect(await trafficTotal(db, 'flows')).toBe(100);
    } finally {
      await db.close();
    }
  });

  it('hand each batch back to the receiving thread: sending many times maxQueuedBytes loses nothing', async () => {
    const db = await testDatabase();
    try {
      const out = encodeIpfix(flows(4000, 9), { exportMs: NOW, domain: 4 });
      const bytes = out.datagrams.reduce((a, d) => a + d.length, 0);
      const max = 16 * 1024;
      expect(bytes).toBeGreaterThan(8 * max);
      const c = await testCollector(db, { decodeWorkers: 2, maxQueuedBytes: max });
      try {
        // In steps the workers keep up with: were a worker's batches never handed back, the
        // receiving thread would count them against the bound and drop everything after the first.
        for (let i = 0; i < out.datagrams.length; i += 4)
          await c.send(out.datagrams.slice(i, i + 4), 'netflow', EXPORTERS[0]);
      } finally {
        await c.stop();
      }
      expect(await trafficTotal(db, 'flows')).toBe(4000);
    } finally {
      await db.close();
    }
  });
});
