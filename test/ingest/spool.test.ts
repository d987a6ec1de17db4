import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.js';
import { trafficRows } from '../../src/db/traffic.js';
import { Spool, SpoolFullError, SpoolWriteError } from '../../src/ingest/spool.js';
import { type Batch, BatchWriter, newExporterDelta, writeBatches } from '../../src/ingest/writer.js';
import { trafficTotal } from '../helpers/collector.js';
import { MODES, testDatabase } from '../helpers/db.js';

const MIN = 60_000;
const T0 = Math.floor(Date.now() / MIN) * MIN - 3 * 3600_000;
const root = mkdtempSync(join(tmpdir(), 'flowradar-spool-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `s${dirs++}`);

function batch(i: number, rows = 20): Batch {
  return {
    id: `b${i}-${randomUUID()}`,
    traffic: Array.from({ length: rows }, (_, k) => ({
      minuteMs: T0 + (i % 30) * MIN,
      asn: 64500 + k,
      location: 'PT',
      product: k % 2 ? ('HTTP' as const) : ('OTHER' as const),
      direction: 'in' as const,
      bytes: 1000 * i + k,
      packets: 2,
      flows: 1,
    })),
    exporters: [{ ...newExporterDelta('192.0.2.1', T0 + i * 1000), datagrams: 1, records: rows }],
    minutes: [
      {
        minuteMs: T0 + (i % 30) * MIN,
        exporter: '192.0.2.1',
        collector: 'c1',
        records: rows,
        lostRecords: 0,
        unsampledRecords: 0,
      },
    ],
  };
}
const bytesOf = (bs: Batch[]) =>
  bs.reduce((s, b) => s + trafficRows(b.traffic).reduce((t, r) => t + r.bytes, 0), 0);
const segments = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('seg-'));

/** Reads and acknowledges everything, in chunks; returns the batches in replay order. */
async function replayAll(spool: Spool, maxBatches = 3): Promise<Batch[]> {
  const out: Batch[] = [];
  while (spool.batches > 0) {
    const chunk = await spool.read({ maxBatches });
    out.push(...chunk.batches);
    await spool.ack(chunk);
  }
  return out;
}

/** A database that is down until `up` is set. */
function switchable(db: Database) {
  const state = { up: false };
  const proxy: Database = {
    ...db,
    transaction: (f) =>
      state.up
        ? db.transaction(f)
        : Promise.reject(Object.assign(new Error('down'), { code: 'ECONNREFUSED' })),
  };
  return { db: proxy, state };
}

const waitFor = async (cond: () => boolean, ms = 20_000) => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('spool: append and replay', () => {
  it('replays batches in append order across segments, whole, and deletes what it replayed', async () => {
    const dir = freshDir();
    const spool = await Spool.open({ dir, segmentBytes: 8 * 1024 });
    const sent = Array.from({ length: 40 }, (_, i) => batch(i));
    await Promise.all(sent.map((b) => spool.append(b)));
    expect(spool.batches).toBe(40);
    expect(spool.rows).toBe(40 * 20);
    expect(segments(dir).length).toBeGreaterThan(3);
    const got = await replayAll(spool);
    expect(got.map((b) => b.id)).toEqual(sent.map((b) => b.id));
    expect(got[7]).toEqual(sent[7]);
    expect(spool.rows).toBe(0);
    expect(segments(dir)).toEqual([]);
    // Appends after a full replay start a new segment and replay normally.
    await spool.append(batch(99));
    expect((await replayAll(spool)).length).toBe(1);
    await spool.close();
  });

  it('survives a restart: what was not acknowledged is replayed, in order, after reopening', async () => {
    const dir = freshDir();
    const sent = Array.from({ length: 12 }, (_, i) => batch(i));
    let spool = await Spool.open({ dir, segmentBytes: 4 * 1024 });
    for (const b of sent) void spool.append(b);
    const first = await spool.read({ maxBatches: 5 });
    await spool.ack(first);
    await spool.close();
    spool = await Spool.open({ dir });
    expect(spool.batches).toBe(7);
    expect((await replayAll(spool)).map((b) => b.id)).toEqual(sent.slice(5).map((b) => b.id));
    await spool.close();
  });

  it('cuts a torn tail at open, counts it and keeps appending after the last whole record', async () => {
    const dir = freshDir();
    let spool = await Spool.open({ dir });
    const sent = Array.from({ length: 5 }, (_, i) => batch(i));
    for (const b of sent) await spool.append(b);
    await spool.close();
    const [seg] = segments(dir);
    const path = join(dir, seg!);
    // The last record half written, as a crash mid-write leaves it.
    truncateSync(path, statSync(path).size - 37);
    spool = await Spool.open({ dir });
    expect(spool.batches).toBe(4);
    expect(spool.stats.tornRecords).toBe(1);
    expect(spool.stats.tornBytes).toBeGreaterThan(0);
    await spool.append(batch(50));
    const got = await replayAll(spool);
    expect(got.map((b) => b.id)).toEqual([...sent.slice(0, 4).map((b) => b.id), got[4]!.id]);
    expect(got[4]!.id.startsWith('b50-')).toBe(true);
    await spool.close();

    // Garbage appended after whole records (a torn header) is cut too.
    const dir2 = freshDir();
    spool = await Spool.open({ dir: dir2 });
    await spool.append(batch(1));
    await spool.close();
    appendFileSync(join(dir2, segments(dir2)[0]!), Buffer.from('FRS1\u0000\u0000'));
    spool = await Spool.open({ dir: dir2 });
    expect(spool.batches).toBe(1);
    expect(spool.stats.tornRecords).toBe(1);
    await spool.close();
  });

  it('skips a corrupt record inside a segment (checksum) and replays the ones after it', async () => {
    const dir = freshDir();
    let spool = await Spool.open({ dir });
    const sent = Array.from({ length: 5 }, (_, i) => batch(i));
    for (const b of sent) await spool.append(b);
    await spool.close();
    const path = join(dir, segments(dir)[0]!);
    const buf = readFileSync(path);
    // Flip one payload byte of the second record.
    const second = buf.indexOf('FRS1', 4);
    buf[second + 40] = buf[second + 40]! ^ 0xff;
    writeFileSync(path, buf);
    spool = await Spool.open({ dir });
    expect(spool.batches).toBe(4);
    const got = await replayAll(spool, 10);
    expect(got.map((b) => b.id)).toEqual([sent[0]!.id, ...sent.slice(2).map((b) => b.id)]);
    expect(spool.stats.corruptRecords).toBe(1);
    await spool.close();
  });

  it('refuses appends past maxBytes with SpoolFullError and accepts them again once replayed', async () => {
    const dir = freshDir();
    const spool = await Spool.open({ dir, maxBytes: 8 * 1024, segmentBytes: 2 * 1024 });
    let stored = 0;
    let full = 0;
    for (let i = 0; i < 20; i++) {
      try {
        await spool.append(batch(i));
        stored++;
      } catch (err) {
        expect(err).toBeInstanceOf(SpoolFullError);
        full++;
      }
    }
    expect(stored).toBeGreaterThan(0);
    expect(full).toBeGreaterThan(0);
    expect(spool.bytes).toBeLessThanOrEqual(8 * 1024);
    expect(await replayAll(spool)).toHaveLength(stored);
    await spool.append(batch(100));
    expect(spool.batches).toBe(1);
    await spool.close();
  });

  it('a second process cannot open the same spool', async () => {
    const dir = freshDir();
    const spool = await Spool.open({ dir });
    await expect(Spool.open({ dir })).rejects.toThrow();
    await spool.close();
    await (await Spool.open({ dir })).close();
  });
});

/** A 64 KiB tmpfs for a real ENOSPC (needs root and mount; the test is skipped without). */
const tmpfs = join(root, 'tmpfs');
const canMount = (() => {
  if (process.platform !== 'linux') return false;
  try {
    mkdirSync(tmpfs, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', tmpfs], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

afterAll(() => {
  if (canMount) execFileSync('umount', [tmpfs], { stdio: 'ignore' });
});

describe.each(MODES)('spool under the BatchWriter (%s database)', (mode) => {
  let real: Awaited<ReturnType<typeof testDatabase>>;
  beforeAll(async () => {
    real = await testDatabase(mode);
  });
  afterAll(async () => {
    await real.close();
  });
  beforeEach(async () => {
    await real.exec('TRUNCATE traffic, ingest_batches, exporters, exporter_minutes');
  });

  it('memory first, then the spool past spoolAfterRows; replayed in order, each batch once', async () => {
    const { db, state } = switchable(real);
    const spool = await Spool.open({ dir: freshDir(), segmentBytes: 16 * 1024 });
    const order: string[] = [];
    const w = new BatchWriter(db, {
      maxBufferedRows: 100_000,
      spool,
      spoolAfterRows: 100,
      retryMs: 50,
      maxRetryMs: 100,
      groupBatches: 7,
      onWritten: (b) => order.push(b.id),
    });
    const sent = Array.from({ length: 60 }, (_, i) => batch(i));
    for (const b of sent.slice(0, 4)) w.enqueue(b);
    expect(w.depth).toBe(80);
    expect(w.spooledRows).toBe(0);
    for (const b of sent.slice(4)) w.enqueue(b);
    await spool.idle();
    // The memory backlog moved to disk with everything after it.
    expect(w.depth).toBe(0);
    expect(w.spooledRows).toBe(60 * 20);
    state.up = true;
    await waitFor(() => spool.isEmpty && w.depth === 0);
    await w.close();
    expect(await trafficTotal(real)).toBe(bytesOf(sent));
    expect(order).toEqual(sent.map((b) => b.id));
    expect(w.droppedRows).toBe(0);
    await spool.close();
  });

  it('a crash between the database commit and the spool acknowledgement counts nothing twice', async () => {
    const dir = freshDir();
    const sent = Array.from({ length: 10 }, (_, i) => batch(i));
    const first = await Spool.open({ dir, lock: false });
    for (const b of sent) await first.append(b);
    const chunk = await first.read({ maxBatches: 6 });
    await writeBatches(real, chunk.batches);
    // "Crash": no ack, no close. A new process opens the same spool and replays all of it.
    const second = await Spool.open({ dir, lock: false });
    expect(second.batches).toBe(10);
    const w = new BatchWriter(real, { maxBufferedRows: 100_000, spool: second });
    await waitFor(() => second.isEmpty);
    await w.close();
    expect(await trafficTotal(real)).toBe(bytesOf(sent));
    const [n] = await real.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ingest_batches`);
    expect(n?.n).toBe(10);
    await second.close();
    // The "crashed" process's files, closed only now so nothing is left to the garbage collector.
    await first.close();
  });

  it('SIGTERM while the database is down: the memory backlog goes to the spool and the next start writes it', async () => {
    const dir = freshDir();
    const { db } = switchable(real);
    let spool = await Spool.open({ dir });
    const w1 = new BatchWriter(db, {
      maxBufferedRows: 100_000,
      spool,
      spoolAfterRows: 10_000,
      retryMs: 50,
    });
    const sent = Array.from({ length: 8 }, (_, i) => batch(i));
    for (const b of sent) w1.enqueue(b);
    expect(w1.depth).toBe(160);
    expect(await w1.close(200)).toBe(0);
    await spool.close();
    spool = await Spool.open({ dir });
    expect(spool.batches).toBe(8);
    const w2 = new BatchWriter(real, { maxBufferedRows: 100_000, spool });
    await waitFor(() => spool.isEmpty);
    expect(await w2.close()).toBe(0);
    expect(await trafficTotal(real)).toBe(bytesOf(sent));
    await spool.close();
  });

  it('spool full: ingest goes on, drops are counted as spool_full, nothing throws', async () => {
    const { db, state } = switchable(real);
    const spool = await Spool.open({ dir: freshDir(), maxBytes: 16 * 1024, segmentBytes: 4 * 1024 });
    const w = new BatchWriter(db, { maxBufferedRows: 100_000, spool, spoolAfterRows: 20, retryMs: 50 });
    const sent = Array.from({ length: 50 }, (_, i) => batch(i));
    for (const b of sent) w.enqueue(b);
    await spool.idle();
    expect(w.droppedByReason.spool_full).toBeGreaterThan(0);
    expect(w.droppedRows).toBe(w.droppedByReason.spool_full);
    expect(spool.bytes).toBeLessThanOrEqual(16 * 1024);
    const kept = w.spooledRows;
    expect(kept + w.droppedRows).toBe(50 * 20);
    state.up = true;
    await waitFor(() => spool.isEmpty);
    await w.close();
    // Exactly what was kept: the spooled batches (in order) minus the dropped ones.
    const [row] = await real.query<{ n: number }>(sql`SELECT sum(rows)::int AS n FROM ingest_batches`);
    expect(row?.n).toBe(kept);
    await spool.close();
  });

  it('ENOSPC from /dev/full: no batch lost, the failed one stays in memory, the spool carries on', async () => {
    const { db, state } = switchable(real);
    const dir = freshDir();
    const spool = await Spool.open({ dir });
    // The next segment the spool creates is /dev/full: writes to it fail with ENOSPC.
    symlinkSync('/dev/full', join(dir, 'seg-000000000001.log'));
    const errors: unknown[] = [];
    const w = new BatchWriter(db, {
      maxBufferedRows: 100_000,
      spool,
      spoolAfterRows: 20,
      retryMs: 50,
      onSpoolError: (e) => errors.push(e),
    });
    const sent = Array.from({ length: 6 }, (_, i) => batch(i));
    for (const b of sent) w.enqueue(b);
    await spool.idle();
    await new Promise((r) => setImmediate(r));
    expect(errors[0]).toBeInstanceOf(SpoolWriteError);
    expect((errors[0] as SpoolWriteError).code).toBe('ENOSPC');
    // Nothing older was on disk, so the batch that failed went back to memory (written first);
    // the spool moved on to a new segment for the rest.
    expect(w.droppedRows).toBe(0);
    expect(w.depth).toBeGreaterThan(0);
    expect(w.depth + spool.rows).toBe(6 * 20);
    state.up = true;
    await waitFor(() => spool.isEmpty && w.depth === 0);
    await w.close();
    expect(await trafficTotal(real)).toBe(bytesOf(sent));
    // The /dev/full link went with its segment; the device itself is untouched.
    expect(segments(dir)).toEqual([]);
    expect(lstatSync('/dev/full').isCharacterDevice()).toBe(true);
    await spool.close();
  });

  it.skipIf(!canMount)(
    'a real full disk (64 KiB tmpfs): drops counted as spool_error, ingest goes on, replay frees space',
    async () => {
      const { db, state } = switchable(real);
      const dir = join(tmpfs, `spool-${mode}`);
      // maxBytes far above the file system: the file system says no first.
      const spool = await Spool.open({ dir, maxBytes: 1024 ** 3, segmentBytes: 16 * 1024 });
      const errors: SpoolWriteError[] = [];
      const w = new BatchWriter(db, {
        maxBufferedRows: 100_000,
        spool,
        spoolAfterRows: 20,
        retryMs: 50,
        maxRetryMs: 100,
        onSpoolError: (e) => errors.push(e as SpoolWriteError),
      });
      const sent = Array.from({ length: 60 }, (_, i) => batch(i, 40));
      for (const b of sent) {
        w.enqueue(b);
        await spool.idle();
      }
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.every((e) => e.code === 'ENOSPC')).toBe(true);
      expect(w.droppedByReason.spool_error).toBeGreaterThan(0);
      expect(w.droppedByReason.spool_full).toBe(0);
      const kept = spool.rows;
      expect(kept).toBeGreaterThan(0);
      expect(kept + w.droppedRows + w.depth).toBe(60 * 40);
      state.up = true;
      await waitFor(() => spool.isEmpty && w.depth === 0);
      // Space is back: the spool takes batches again.
      await spool.append(batch(1000, 40));
      expect(spool.batches).toBe(1);
      await w.drain();
      expect(spool.isEmpty).toBe(true);
      await w.close();
      const [row] = await real.query<{ n: number }>(sql`SELECT sum(rows)::int AS n FROM ingest_batches`);
      expect(row?.n).toBe(kept + 40);
      await spool.close();
      expect(existsSync(dir)).toBe(true);
    },
  );
});
