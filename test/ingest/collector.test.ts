import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.js';
import { writeFailureCause } from '../../src/ingest/metrics.js';
import { type Batch, writeBatches } from '../../src/ingest/writer.js';
import { encodeIpfix, encodeV9, type SimFlow } from '../../src/sim/encode.js';
import { testCollector, trafficTotal } from '../helpers/collector.js';
import { testDatabase } from '../helpers/db.js';
import { type Cluster, holdLock, startMigratedCluster } from '../helpers/pg-server.js';

const NOW = Date.now();
const flows = (n: number, seed: number, startMs = NOW - 120_000): SimFlow[] =>
  Array.from({ length: n }, (_, i) => ({
    startMs: startMs + i * 100,
    endMs: startMs + i * 100 + 30_000,
    src: `85.240.${seed % 256}.${(i % 250) + 1}`,
    dst: `10.20.0.${(i % 250) + 1}`,
    srcPort: 443,
    dstPort: 40000 + i,
    proto: 6,
    bytes: 1000 + i,
    packets: 2,
    srcAs: 3243,
    dstAs: 0,
    inIf: 1,
    outIf: 2,
  }));
const sum = (fs: SimFlow[]) => fs.reduce((s, f) => s + f.bytes, 0);

describe('collector: UDP → pipeline → traffic', () => {
  it('writes what v9 and IPFIX exporters send, scaled by their sampling, with remote AS and direction', async () => {
    const db = await testDatabase();
    const c = await testCollector(db, { localNetworks: ['10.20.0.0/16'] });
    try {
      const a = flows(200, 1);
      const b = flows(150, 2);
      await c.send(encodeV9(a, { exportMs: NOW, domain: 7 }).datagrams);
      await c.send(encodeIpfix(b, { exportMs: NOW, domain: 9, samplingRate: 10 }).datagrams);
      await c.stop();
      expect(await trafficTotal(db)).toBe(sum(a) + 10 * sum(b));
      const rows = await db.query<{ asn: number; direction: string; product: string }>(
        sql`SELECT DISTINCT asn, direction, product FROM traffic`,
      );
      expect(rows).toEqual([{ asn: 3243, direction: 'in', product: 'HTTP' }]);
      const [ex] = await db.query<{ records: number; sampling_rates: Record<string, number> }>(
        sql`SELECT records::float8 AS records, sampling_rates FROM exporters WHERE address = '127.0.0.1'`,
      );
      expect(ex?.records).toBe(350);
      expect(ex?.sampling_rates).toEqual({ '1': 200, '10': 150 });
    } finally {
      await db.close();
    }
  });

  it('decodes data after a restart with the templates it saved, before any template refresh', async () => {
    const db = await testDatabase();
    try {
      const first = await testCollector(db);
      const out = encodeV9(flows(40, 3), { exportMs: NOW, domain: 5, templateEvery: 1000 });
      // The first datagram carries the template; keep the rest for after the restart.
      await first.send(out.datagrams.slice(0, 1));
      await first.stop();
      const before = await trafficTotal(db);
      const second = await testCollector(db);
      expect(second.pipeline.registry.size).toBeGreaterThan(0);
      await second.send(out.datagrams.slice(1));
      await second.stop();
      expect(await trafficTotal(db)).toBe(sum(flows(40, 3)));
      expect(before).toBeGreaterThan(0);
    } finally {
      await db.close();
    }
  });

  it('drops a duplicated datagram and counts loss from sequence gaps', async () => {
    const db = await testDatabase();
    const c = await testCollector(db);
    try {
      const out = encodeIpfix(flows(120, 4), { exportMs: NOW, domain: 3, templateEvery: 1 });
      expect(out.datagrams.length).toBeGreaterThanOrEqual(4);
      const [d0, d1, d2, ...rest] = out.datagrams;
      await c.send([d0!, d0!, d2!, ...rest]);
      await c.stop();
      const [ex] = await db.query<{ lost: number; errors: Record<string, number> }>(
        sql`SELECT lost_records::float8 AS lost, errors FROM exporters`,
      );
      expect(ex?.errors.duplicate).toBe(1);
      expect(ex?.lost).toBeGreaterThan(0);
      const [q] = await db.query<{ lost: number }>(
        sql`SELECT sum(lost_records)::float8 AS lost FROM exporter_minutes`,
      );
      expect(q?.lost).toBe(ex?.lost);
      void d1;
    } finally {
      await db.close();
    }
  });
});

describe('collector in server mode: a database outage loses nothing', () => {
  const outageMs = Number(process.env.OUTAGE_SECONDS ?? 60) * 1000;
  // A server of its own: these tests stop it. Each counts only its own AS.
  let pg: Cluster;
  beforeAll(async () => {
    pg = await startMigratedCluster();
  });
  afterAll(() => pg?.destroy());

  it(`keeps batches through a ${outageMs / 1000} s outage and writes each once when the database returns`, async () => {
    // The production pool: ten connections, prepared statements.
    const db = await openDatabase({ databaseUrl: pg.url });
    const c = await testCollector(db, { flushIntervalMs: 1000, retryMs: 500, maxRetryMs: 2000 });
    c.pipeline.start();
    let sent = 0;
    let sequence = 0;
    let datagramIndex = 0;
    const sendRound = async (i: number) => {
      const fs = flows(50, i, Date.now() - 60_000);
      const out = encodeIpfix(fs, { exportMs: Date.now(), domain: 1, sequence, datagramIndex });
      sequence = out.nextSequence;
      datagramIndex = out.nextDatagramIndex;
      await c.send(out.datagrams);
      sent += sum(fs);
    };
    try {
      await sendRound(0);
      // The worst moment: a write has claimed its batch ids and waits to add its traffic.
      await (await holdLock(pg, 'LOCK TABLE traffic IN EXCLUSIVE MODE')).stopWhenWaiting(
        'INSERT INTO traffic',
      );
      const until = Date.now() + outageMs;
      for (let i = 1; Date.now() < until; i++) {
        await sendRound(i);
        await new Promise((r) => setTimeout(r, 1000));
      }
      expect(c.pipeline.writer.depth).toBeGreaterThan(0);
      await pg.start();
      expect(await c.stop()).toBe(0);
      const [own] = await db.query<{ bytes: number }>(
        sql`SELECT sum(bytes)::float8 AS bytes FROM traffic WHERE asn = 3243`,
      );
      expect(own?.bytes).toBe(sent);
      expect(c.pipeline.writer.droppedRows).toBe(0);
      // The failed writes were seen as the connection failures they were, nothing else.
      const failures = (await c.metrics.registry.getSingleMetricAsString('flowradar_write_failures_total'))
        .split('\n')
        .filter((l) => !l.startsWith('#'));
      expect(failures).toEqual([
        expect.stringMatching(/^flowradar_write_failures_total\{cause="connection"\} [1-9]/),
      ]);
    } finally {
      await db.close();
    }
  }, 180_000);

  it('a write cut halfway by the stop fails as a connection failure, and counts once when retried', async () => {
    const db = await openDatabase({ databaseUrl: pg.url });
    const minuteMs = Date.parse('2026-12-01T10:00:00Z');
    const asns = Array.from({ length: 1500 }, (_, i) => 70_000 + i);
    // 1500 rows: two statements of the same text (addTraffic writes 1000 rows a statement), so the
    // cut one is a prepared statement of its connection, the case scripts/patch-postgres.mjs guards.
    const batch: Batch = {
      id: randomUUID(),
      traffic: asns.map((asn) => ({
        minuteMs,
        asn,
        location: 'ZZ',
        product: 'HTTP',
        direction: 'in',
        bytes: 10,
        packets: 1,
        flows: 1,
      })),
      exporters: [],
      minutes: [],
    };
    const ownBytes = async () =>
      (
        await db.query<{ bytes: number }>(
          sql`SELECT coalesce(sum(bytes), 0)::float8 AS bytes FROM traffic WHERE asn BETWEEN 70000 AND 71499`,
        )
      )[0]?.bytes;
    try {
      // A row of the second statement, locked, holds the write there.
      await db.query(sql`INSERT INTO traffic (time, asn, location, product, direction, bytes, packets, flows)
        VALUES (${new Date(minuteMs).toISOString()}::timestamptz, 71200, 'ZZ', 'HTTP', 'in', 1, 1, 1)`);
      const lock = await holdLock(pg, 'SELECT 1 FROM traffic WHERE asn = 71200 FOR UPDATE');
      const cut = writeBatches(db, [batch]).then(
        () => new Error('the write was not cut'),
        (err: unknown) => err,
      );
      await lock.stopWhenWaiting('INSERT INTO traffic');
      const err = await cut;
      expect(writeFailureCause(err)).toBe('connection');
      await pg.start();
      // The first statement's rows went with the transaction.
      expect(await ownBytes()).toBe(1);
      expect([...(await writeBatches(db, [batch]))]).toEqual([batch.id]);
      expect([...(await writeBatches(db, [batch]))]).toEqual([]);
      expect(await ownBytes()).toBe(1 + 1500 * 10);
    } finally {
      await db.close();
    }
  });
});

describe('IPFIX sequence accounting', () => {
  it('counts options records as IPFIX sequence numbers do: a sampled exporter shows no false loss', async () => {
    const db = await testDatabase();
    const c = await testCollector(db);
    try {
      // Sampling makes the encoder send an options template and options data with the templates.
      const out = encodeIpfix(flows(300, 6), { exportMs: NOW, domain: 4, samplingRate: 4, templateEvery: 2 });
      await c.send(out.datagrams);
      await c.stop();
      const [ex] = await db.query<{ lost: number }>(sql`SELECT lost_records::float8 AS lost FROM exporters`);
      expect(ex?.lost).toBe(0);
      expect(await trafficTotal(db)).toBe(4 * sum(flows(300, 6)));
    } finally {
      await db.close();
    }
  });
});

describe('sampling state across a restart', () => {
  it('scales data after a restart by the rate announced before it, without new options data', async () => {
    const db = await testDatabase();
    try {
      const out = encodeIpfix(flows(60, 7), {
        exportMs: NOW,
        domain: 8,
        samplingRate: 16,
        templateEvery: 1000,
      });
      const first = await testCollector(db);
      await first.send(out.datagrams.slice(0, 1));
      await first.stop();
      const before = await trafficTotal(db);
      const second = await testCollector(db);
      await second.send(out.datagrams.slice(1));
      await second.stop();
      expect(await trafficTotal(db)).toBe(16 * sum(flows(60, 7)));
      const [ex] = await db.query<{ unsampled: number }>(
        sql`SELECT unsampled_records::float8 AS unsampled FROM exporters`,
      );
      expect(ex?.unsampled).toBe(0);
      expect(before).toBeGreaterThan(0);
    } finally {
      await db.close();
    }
  });
});
