import { lstatSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../src/db/client.js';
import { Spool } from '../../src/ingest/spool.js';
import type { Batch } from '../../src/ingest/writer.js';
import { encodeIpfix } from '../../src/sim/encode.js';
import { inboundFlows, testCollector, trafficTotal } from '../helpers/collector.js';
import { type Cluster, holdLock, startMigratedCluster } from '../helpers/pg-server.js';
import { sleep } from '../helpers/time.js';

/**
 * Server mode, on a real TimescaleDB server of this file's own with the production pool: the
 * database away for OUTAGE_SECONDS (default 60; `npm run soak -- --full` runs 900) under a steady
 * stream of IPFIX: memory, then the spool on disk; when the database returns the backlog drains
 * at least 5× faster than it built up and `traffic` holds exactly what was sent.
 */
const OUTAGE_MS = Number(process.env.OUTAGE_SECONDS ?? 60) * 1000;
/** Flows per second; each carries its own remote AS so a batch has hundreds of rows. */
const RATE = Number(process.env.OUTAGE_RATE ?? 500);
const FLUSH_MS = 1000;
const SPOOL_AFTER_ROWS = 2000;

describe('collector in server mode: an outage longer than memory goes to the spool', () => {
  let pg: Cluster;
  /** What the test reads the database with, apart from the collector's pool. */
  let check: Database;
  const spoolDir = mkdtempSync(join(tmpdir(), 'flowradar-outage-spool-'));
  beforeAll(async () => {
    pg = await startMigratedCluster();
    check = await openDatabase({ databaseUrl: pg.url, max: 1 });
  });
  beforeEach(async () => {
    await check.exec('TRUNCATE traffic, ingest_batches, exporters, exporter_minutes');
  });
  afterAll(async () => {
    await check?.close();
    await pg?.destroy();
    rmSync(spoolDir, { recursive: true, force: true });
  });

  it(
    `loses nothing through a ${OUTAGE_MS / 1000} s outage and drains in ≤ 1/5 of it`,
    async () => {
      // The production pool: ten connections, prepared statements.
      const db = await openDatabase({ databaseUrl: pg.url });
      const spool = await Spool.open({ dir: spoolDir });
      // The collector as the service builds it: memory first, the spool past SPOOL_AFTER_ROWS.
      const c = await testCollector(db, {
        flushIntervalMs: FLUSH_MS,
        spool,
        spoolAfterRows: SPOOL_AFTER_ROWS,
        retryMs: 500,
        maxRetryMs: 2000,
      });
      const writer = c.pipeline.writer;
      const debug = process.env.OUTAGE_DEBUG
        ? setInterval(
            () =>
              console.log(
                `depth=${writer.depth} spooled=${writer.spooledRows} batches=${spool.batches} appended=${spool.stats.appended} replayed=${spool.stats.replayed}`,
              ),
            1000,
          )
        : undefined;
      c.pipeline.start();

      let sent = 0;
      let flowsSent = 0;
      let sequence = 0;
      let datagramIndex = 0;
      let round = 0;
      let sending = true;
      const sendRound = async () => {
        const now = Date.now();
        const fs = inboundFlows(RATE, now, (k) => ({
          startMs: now - 60_000 + k * 10,
          endMs: now - 30_000 + k * 10,
          src: `85.${(round >> 8) & 255}.${round & 255}.${(k % 250) + 1}`,
          dst: `10.20.0.${(k % 250) + 1}`,
          proto: k % 3 ? 6 : 17,
          bytes: 1000 + k + round,
          packets: 2,
          srcAs: 64512 + (k % 400),
        }));
        const out = encodeIpfix(fs, { exportMs: now, domain: 1, sequence, datagramIndex });
        sequence = out.nextSequence;
        datagramIndex = out.nextDatagramIndex;
        await c.send(out.datagrams);
        sent += fs.reduce((s, f) => s + f.bytes, 0);
        flowsSent += fs.length;
        round++;
      };
      // A steady exporter: one round per second, before, during and after the outage.
      const exporter = (async () => {
        while (sending) {
          const t = Date.now();
          await sendRound();
          await sleep(Math.max(0, 1000 - (Date.now() - t)));
        }
      })();
      let maxDepth = 0;
      let maxSpooled = 0;
      const sampler = setInterval(() => {
        maxDepth = Math.max(maxDepth, writer.depth);
        maxSpooled = Math.max(maxSpooled, writer.spooledRows);
      }, 100);
      try {
        await sleep(3000);
        // The worst moment: a write has claimed its batch ids and waits to add its traffic.
        await (await holdLock(pg, 'LOCK TABLE traffic IN EXCLUSIVE MODE')).stopWhenWaiting(
          'INSERT INTO traffic',
        );
        const outageStart = Date.now();
        await sleep(OUTAGE_MS);
        const spooledAtEnd = writer.spooledRows;
        const depthAtEnd = writer.depth;
        await pg.start();
        const back = Date.now();
        const outageMs = back - outageStart;
        // Drained: memory and spool empty while the exporter keeps sending.
        while (!(spool.isEmpty && writer.depth <= SPOOL_AFTER_ROWS && writer.spooledRows === 0)) {
          if (Date.now() - back > outageMs) throw new Error('not drained within the outage length');
          await sleep(20);
        }
        const drainMs = Date.now() - back;
        sending = false;
        await exporter;
        clearInterval(sampler);
        expect(await c.stop()).toBe(0);
        const speedup = outageMs / drainMs;
        console.log(
          `outage ${(outageMs / 1000).toFixed(1)} s at ${RATE} flows/s: ${spooledAtEnd} rows spooled ` +
            `(${spool.stats.appended} batches), ${depthAtEnd} in memory; drained in ${(drainMs / 1000).toFixed(2)} s ` +
            `(${speedup.toFixed(1)}× real time); max memory ${maxDepth} rows`,
        );
        expect(spooledAtEnd).toBeGreaterThan(0);
        expect(maxDepth).toBeLessThanOrEqual(SPOOL_AFTER_ROWS + RATE * 2);
        expect(maxSpooled).toBeGreaterThan(SPOOL_AFTER_ROWS);
        expect(drainMs).toBeLessThanOrEqual(outageMs / 5);
        expect(writer.droppedRows).toBe(0);
        // Exactly what an undisturbed run gives: every byte sent, once.
        expect(await trafficTotal(check)).toBe(sent);
        const [ex] = await check.query<{ records: number }>(
          sql`SELECT records::float8 AS records FROM exporters WHERE address = '127.0.0.1'`,
        );
        expect(ex?.records).toBe(flowsSent);
        const [m] = await check.query<{ records: number }>(
          sql`SELECT sum(records)::float8 AS records FROM exporter_minutes`,
        );
        expect(m?.records).toBe(flowsSent);
        expect(spool.stats.replayed).toBe(spool.stats.appended);
      } finally {
        sending = false;
        clearInterval(sampler);
        await exporter.catch(() => {});
        clearInterval(debug);
        await spool.close();
        await db.close();
      }
    },
    OUTAGE_MS * 2 + 120_000,
  );

  it('disk full for the spool during an outage: ingest goes on, drops counted by reason in /metrics, the rest exact', async () => {
    const db = await openDatabase({ databaseUrl: pg.url });
    const dir = mkdtempSync(join(tmpdir(), 'flowradar-full-spool-'));
    // A small spool (48 KiB, 8 KiB segments) whose second segment is /dev/full: the file system
    // answers ENOSPC there, and past 48 KiB the spool's own cap says no.
    const spool = await Spool.open({ dir, maxBytes: 48 * 1024, segmentBytes: 8 * 1024 });
    symlinkSync('/dev/full', join(dir, 'seg-000000000002.log'));
    const c = await testCollector(db, {
      flushIntervalMs: 300,
      spool,
      spoolAfterRows: 1000,
      retryMs: 200,
      maxRetryMs: 500,
    });
    // Count every row handed to the writer (the real writer, observed, not replaced).
    let enqueuedRows = 0;
    const enqueue = c.pipeline.writer.enqueue.bind(c.pipeline.writer);
    c.pipeline.writer.enqueue = (b: Batch) => {
      enqueuedRows += b.traffic.length;
      enqueue(b);
    };
    c.pipeline.start();
    const metric = async (name: string, labels?: string) => {
      const text = await c.metrics.registry.metrics();
      const line = text.split('\n').find((l) => l.startsWith(labels ? `${name}{${labels}} ` : `${name} `));
      return line ? Number(line.split(' ').at(-1)) : 0;
    };
    let sequence = 0;
    let datagramIndex = 0;
    const sendRound = async (round: number) => {
      const now = Date.now();
      const fs = inboundFlows(200, now, (k) => ({
        startMs: now - 50_000,
        endMs: now - 45_000,
        src: `85.1.${round & 255}.${(k % 250) + 1}`,
        packets: 2,
        srcAs: 64512 + (k % 150),
      }));
      const out = encodeIpfix(fs, { exportMs: now, domain: 2, sequence, datagramIndex });
      sequence = out.nextSequence;
      datagramIndex = out.nextDatagramIndex;
      await c.send(out.datagrams);
    };
    try {
      await pg.stop();
      let round = 0;
      // Until both kinds of drop happened, and a little longer: ingest must keep going.
      const deadline = Date.now() + 60_000;
      while (
        (await metric('flowradar_drops_total', 'reason="spool_full"')) === 0 ||
        (await metric('flowradar_drops_total', 'reason="spool_error"')) === 0
      ) {
        if (Date.now() > deadline) throw new Error('the spool never filled up');
        await sendRound(round++);
        await sleep(150);
      }
      const datagramsAtFull = await metric('flowradar_datagrams_total', 'protocol="ipfix"');
      for (let i = 0; i < 5; i++, round++) {
        await sendRound(round);
        await sleep(150);
      }
      // Still receiving and decoding while every new batch is dropped.
      expect(await metric('flowradar_datagrams_total', 'protocol="ipfix"')).toBeGreaterThan(datagramsAtFull);
      expect(await metric('flowradar_spool_errors_total')).toBeGreaterThan(0);
      expect(spool.bytes).toBeLessThanOrEqual(48 * 1024);
      await pg.start();
      await sleep(500);
      expect(await c.stop()).toBe(0);
      const w = c.pipeline.writer;
      const full = await metric('flowradar_drops_total', 'reason="spool_full"');
      const error = await metric('flowradar_drops_total', 'reason="spool_error"');
      console.log(
        `disk full: ${round} rounds, ${enqueuedRows} rows; dropped ${full} spool_full + ${error} spool_error; ` +
          `${spool.stats.appended} batches spooled and replayed`,
      );
      expect(full).toBe(w.droppedByReason.spool_full);
      expect(error).toBe(w.droppedByReason.spool_error);
      expect(w.droppedByReason.buffer_full).toBe(0);
      // Everything not counted as dropped is in the database, once.
      const [n] = await check.query<{ n: number }>(sql`SELECT sum(rows)::float8 AS n FROM ingest_batches`);
      expect((n?.n ?? 0) + full + error).toBe(enqueuedRows);
      expect(spool.isEmpty).toBe(true);
      expect(lstatSync('/dev/full').isCharacterDevice()).toBe(true);
    } finally {
      await spool.close();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
