import { mkdirSync } from 'node:fs';
import {
  type FileHandle,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import lockfile from 'proper-lockfile';
import { trafficRows } from '../db/traffic.js';
import type { Batch } from './writer.js';

/**
 * On-disk spool of batches the database could not take yet.
 *
 * Layout: `<dir>/seg-<12 digits>.log` segment files, appended to only, in order; `<dir>/cursor.json`
 * says how far replay got. A record is a 16-byte header and a JSON payload:
 *
 *   magic "FRS1" | payload length u32 BE | traffic rows u32 BE | CRC-32 of (length, rows, payload) u32 BE
 *
 * A record that fails its checks (a write torn by a crash, a bad sector) is skipped and counted,
 * never fatal: at open a torn tail is cut off, elsewhere the reader resynchronises on the next
 * valid record. Batch ids travel with the batches, so a batch replayed twice (a crash between the
 * database commit and the cursor update) is skipped by writeBatch's ingest_batches check.
 */

const MAGIC = Buffer.from('FRS1');
const HEADER = 16;
/** No batch is this large; a length above it is corruption. */
const MAX_RECORD = 256 * 1024 * 1024;
const READ_CHUNK = 1024 * 1024;
const SEGMENT_RE = /^seg-(\d{12})\.log$/;

export type SpoolDropReason = 'spool_full' | 'spool_error';

/**
 * The spool is at maxBytes: the batch was not stored.
 * @example
 * spool.append(batch).catch((err) => err instanceof SpoolFullError && drop(batch, 'spool_full'));
 */
export class SpoolFullError extends Error {
  readonly reason = 'spool_full' as const;
  constructor(need: number, used: number, max: number) {
    super(`spool full: ${used} + ${need} bytes > ${max}`);
  }
}

/**
 * The file system refused the write (ENOSPC, EIO, EROFS…): the batch was not stored.
 * @example
 * spool.append(batch).catch((err) => err instanceof SpoolWriteError && log.error(err.code));
 */
export class SpoolWriteError extends Error {
  readonly reason = 'spool_error' as const;
  readonly code: string | undefined;
  constructor(cause: unknown) {
    const code = (cause as { code?: string }).code;
    super(`spool write failed: ${code ?? (cause as Error).message}`, { cause });
    this.code = code;
  }
}

export interface SpoolOptions {
  dir: string;
  /** Bytes on disk at most (segment files), default 1 GiB. */
  maxBytes?: number;
  /** A segment is closed and a new one started past this size; default maxBytes/16, 64 KiB–64 MiB. */
  segmentBytes?: number;
  /** fdatasync after every append (survives power loss, not only a process crash); default true. */
  fsync?: boolean;
  /** Hold a lock file so two processes never share a spool; default true. */
  lock?: boolean;
  /**
   * How long to wait for the lock (default 0: fail at once). A lock whose holder died (SIGKILL)
   * goes stale after 10 s, so a restart right after a crash waits for it instead of failing.
   */
  lockWaitMs?: number;
}

export interface SpoolStats {
  /** Batches stored and not yet replayed. */
  batches: number;
  /** Traffic rows in them (and in appends under way). */
  rows: number;
  /** Bytes of the segment files. */
  bytes: number;
  /** Batches appended and replayed since open. */
  appended: number;
  replayed: number;
  /** Records cut off a segment's tail at open (a write torn by a crash). */
  tornRecords: number;
  tornBytes: number;
  /** Unreadable records skipped elsewhere (checksum or framing). */
  corruptRecords: number;
  corruptBytes: number;
}

/** Batches read from the spool; pass it to ack() once they are in the database. */
export interface SpoolChunk {
  batches: Batch[];
  rows: number;
  /** Where replay continues after these. */
  end: { segment: number; offset: number };
}

interface Segment {
  n: number;
  path: string;
  /** End of the last valid record: what readers may read and what counts against maxBytes. */
  size: number;
  sealed: boolean;
}

type Item =
  | { kind: 'record'; offset: number; end: number; rows: number; payload: Buffer }
  | { kind: 'bad'; offset: number; end: number };

const segmentName = (n: number) => `seg-${String(n).padStart(12, '0')}.log`;

function encode(batch: Batch): Buffer {
  const payload = Buffer.from(
    JSON.stringify({
      v: 1,
      id: batch.id,
      t: trafficRows(batch.traffic).map((r) => [
        r.minuteMs,
        r.asn,
        r.location,
        r.product,
        r.direction,
        r.bytes,
        r.packets,
        r.flows,
        r.adm1 ?? 0,
      ]),
      e: batch.exporters,
      m: batch.minutes.map((m) => [
        m.minuteMs,
        m.exporter,
        m.records,
        m.lostRecords,
        m.unsampledRecords,
        m.collector,
      ]),
    }),
  );
  const record = Buffer.allocUnsafe(HEADER + payload.length);
  MAGIC.copy(record, 0);
  record.writeUInt32BE(payload.length, 4);
  record.writeUInt32BE(batch.traffic.length, 8);
  payload.copy(record, HEADER);
  record.writeUInt32BE(crc32(payload, crc32(record.subarray(4, 12))), 12);
  return record;
}

function decode(payload: Buffer): Batch {
  const o = JSON.parse(payload.toString('utf8')) as {
    id: string;
    /** adm1 (the last) is missing in records spooled before subdivisions were stored. */
    t: [number, number, string, 'HTTP' | 'OTHER', 'in' | 'out', number, number, number, number?][];
    e: Batch['exporters'];
    /** The collector is missing in records spooled before collectors had ids. */
    m: [number, string, number, number, number, string?][];
  };
  return {
    id: o.id,
    traffic: o.t.map(([minuteMs, asn, location, product, direction, bytes, packets, flows, adm1]) => ({
      minuteMs,
      asn,
      location,
      ...(adm1 ? { adm1 } : {}),
      product,
      direction,
      bytes,
      packets,
      flows,
    })),
    exporters: o.e.map((e) => ({ ...e, collectors: e.collectors ?? {} })),
    // A minute without a collector id cannot tell whose sequence it measured: its loss is dropped
    // by the writer (unknown) rather than risk summing two collectors' gaps.
    minutes: o.m.map(([minuteMs, exporter, records, lostRecords, unsampledRecords, collector]) => ({
      minuteMs,
      exporter,
      collector: collector ?? '',
      records,
      lostRecords,
      unsampledRecords,
    })),
  };
}

/** Reads [from, to) of a segment through a buffer, record by record. */
async function* iterate(fh: FileHandle, from: number, to: number): AsyncGenerator<Item> {
  let buf = Buffer.alloc(0);
  let bufStart = from;
  /** Makes buf cover [start, start + len); false when that is past `to` or the file. */
  const ensure = async (start: number, len: number): Promise<boolean> => {
    if (start + len > to) return false;
    if (start >= bufStart && start + len <= bufStart + buf.length) return true;
    const size = Math.min(to - start, Math.max(len, READ_CHUNK));
    const next = Buffer.allocUnsafe(size);
    const { bytesRead } = await fh.read(next, 0, size, start);
    buf = next.subarray(0, bytesRead);
    bufStart = start;
    return bytesRead >= len;
  };
  const recordAt = async (pos: number) => {
    if (!(await ensure(pos, HEADER))) return undefined;
    const h = pos - bufStart;
    if (buf.compare(MAGIC, 0, 4, h, h + 4) !== 0) return undefined;
    const len = buf.readUInt32BE(h + 4);
    const rows = buf.readUInt32BE(h + 8);
    const crc = buf.readUInt32BE(h + 12);
    if (len > MAX_RECORD || !(await ensure(pos, HEADER + len))) return undefined;
    const at = pos - bufStart;
    const payload = buf.subarray(at + HEADER, at + HEADER + len);
    if (crc32(payload, crc32(buf.subarray(at + 4, at + 12))) !== crc) return undefined;
    return { kind: 'record' as const, offset: pos, end: pos + HEADER + len, rows, payload };
  };
  let pos = from;
  while (pos < to) {
    const rec = await recordAt(pos);
    if (rec) {
      yield rec;
      pos = rec.end;
      continue;
    }
    // Resynchronise: the next magic that starts a valid record, else the end.
    let next = pos + 1;
    for (;;) {
      if (next >= to || !(await ensure(next, Math.min(to - next, READ_CHUNK)))) {
        next = to;
        break;
      }
      const found = buf.indexOf(MAGIC, next - bufStart);
      if (found < 0) {
        // Keep the last 3 bytes: a magic may straddle the chunk boundary.
        const scanned = bufStart + buf.length;
        if (scanned >= to) {
          next = to;
          break;
        }
        next = Math.max(next + 1, scanned - 3);
        continue;
      }
      const candidate = bufStart + found;
      if (await recordAt(candidate)) {
        next = candidate;
        break;
      }
      next = candidate + 1;
    }
    yield { kind: 'bad', offset: pos, end: next };
    pos = next;
  }
}

/**
 * Append-only, bounded, checksummed batch spool. Operations run one at a time in call order, so
 * append() returns at once in the caller's order and reads see every earlier append.
 * @example
 * const spool = await Spool.open({ dir: 'data/spool', maxBytes: 1 << 30 });
 * await spool.append(batch);
 * const chunk = await spool.read({ maxBatches: 100 });
 * await writeBatches(db, chunk.batches);
 * await spool.ack(chunk);
 */
export class Spool {
  private segments: Segment[] = [];
  private active: { seg: Segment; fh: FileHandle } | undefined;
  private reader: { n: number; fh: FileHandle } | undefined;
  private cursor = { segment: 0, offset: 0 };
  private nextSegment = 1;
  private chain: Promise<unknown> = Promise.resolve();
  private storedBatches = 0;
  private storedRows = 0;
  private pendingRows = 0;
  private pendingAppends = 0;
  private unlock: (() => Promise<void>) | undefined;
  private closed = false;
  readonly dir: string;
  readonly maxBytes: number;
  readonly segmentBytes: number;
  private readonly fsync: boolean;
  readonly stats = {
    appended: 0,
    replayed: 0,
    tornRecords: 0,
    tornBytes: 0,
    corruptRecords: 0,
    corruptBytes: 0,
  };

  private constructor(opts: SpoolOptions) {
    this.dir = resolve(opts.dir);
    this.maxBytes = opts.maxBytes ?? 1024 ** 3;
    this.segmentBytes =
      opts.segmentBytes ?? Math.min(64 * 1024 ** 2, Math.max(64 * 1024, Math.floor(this.maxBytes / 16)));
    this.fsync = opts.fsync ?? true;
  }

  /** Opens (creating) a spool directory, cuts torn tails and counts what is left to replay. */
  static async open(opts: SpoolOptions): Promise<Spool> {
    const spool = new Spool(opts);
    mkdirSync(spool.dir, { recursive: true });
    if (opts.lock ?? true) {
      spool.unlock = await lockfile.lock(spool.dir, {
        lockfilePath: join(spool.dir, '.spool.lock'),
        stale: 10_000,
        update: 2_000,
        retries:
          (opts.lockWaitMs ?? 0) > 0
            ? { retries: Math.ceil(opts.lockWaitMs! / 1000), minTimeout: 1000, maxTimeout: 1000 }
            : 0,
        onCompromised: (err) => {
          console.error(`flowradar: lost the lock on spool ${spool.dir}: ${err.message}; exiting`);
          process.exit(70);
        },
      });
    }
    try {
      await spool.load();
    } catch (err) {
      await spool.unlock?.();
      throw err;
    }
    return spool;
  }

  private async load(): Promise<void> {
    const names = (await readdir(this.dir)).filter((f) => SEGMENT_RE.test(f)).sort();
    const saved = await readFile(join(this.dir, 'cursor.json'), 'utf8')
      .then((s) => JSON.parse(s) as { segment: number; offset: number; next?: number })
      .catch(() => undefined);
    const numbers = names.map((f) => Number(SEGMENT_RE.exec(f)![1]));
    this.nextSegment = Math.max(saved?.next ?? 1, (numbers.at(-1) ?? 0) + 1);
    let start = saved && numbers.includes(saved.segment) ? saved : undefined;
    for (const n of numbers) {
      const path = join(this.dir, segmentName(n));
      if (start && n < start.segment) {
        // Replayed before a crash stopped us deleting it.
        await rm(path, { force: true });
        continue;
      }
      const size = (await stat(path)).size;
      const seg: Segment = { n, path, size, sealed: true };
      const from = start && n === start.segment ? Math.min(start.offset, size) : 0;
      let validEnd = from;
      let tail: Item | undefined;
      const fh = await open(path, 'r');
      try {
        for await (const item of iterate(fh, from, size)) {
          if (item.kind === 'record') {
            this.storedBatches++;
            this.storedRows += item.rows;
            validEnd = item.end;
            tail = undefined;
          } else {
            tail = item;
          }
        }
      } finally {
        await fh.close();
      }
      if (tail) {
        // A torn write at the end: cut it off so the file ends with a whole record.
        this.stats.tornRecords++;
        this.stats.tornBytes += size - validEnd;
        await truncate(path, validEnd).catch(() => {});
        seg.size = validEnd;
      }
      this.segments.push(seg);
      if (!start) start = { segment: n, offset: from };
    }
    this.cursor = start ?? { segment: this.nextSegment, offset: 0 };
  }

  /** Traffic rows stored and being appended: what replay still has to write. */
  get rows(): number {
    return this.storedRows + this.pendingRows;
  }
  /** Batches stored and not yet replayed (appends under way not included). */
  get batches(): number {
    return this.storedBatches;
  }
  /** Appends accepted and not yet on disk (or failed). */
  get pending(): number {
    return this.pendingAppends;
  }
  get bytes(): number {
    return this.segments.reduce((s, g) => s + g.size, 0);
  }
  get isEmpty(): boolean {
    return this.storedBatches === 0 && this.pendingAppends === 0;
  }
  snapshot(): SpoolStats {
    return { batches: this.batches, rows: this.rows, bytes: this.bytes, ...this.stats };
  }

  private run<T>(op: () => Promise<T>): Promise<T> {
    const p = this.chain.then(op, op);
    this.chain = p.catch(() => {});
    return p;
  }

  /** Resolves when every operation called so far has finished. */
  idle(): Promise<void> {
    return this.run(async () => {});
  }

  /**
   * Appends a batch after everything appended before. Rejects with SpoolFullError or
   * SpoolWriteError; the spool stays usable either way.
   */
  append(batch: Batch): Promise<void> {
    const rows = batch.traffic.length;
    this.pendingRows += rows;
    this.pendingAppends++;
    return this.run(async () => {
      try {
        await this.write(encode(batch), rows);
      } finally {
        this.pendingRows -= rows;
        this.pendingAppends--;
      }
    });
  }

  private async write(record: Buffer, rows: number): Promise<void> {
    if (this.closed) throw new SpoolWriteError(new Error('spool closed'));
    const used = this.bytes;
    if (used + record.length > this.maxBytes) throw new SpoolFullError(record.length, used, this.maxBytes);
    if (this.active && this.active.seg.size > 0 && this.active.seg.size + record.length > this.segmentBytes)
      await this.seal();
    let active = this.active;
    try {
      if (!active) {
        const n = this.nextSegment++;
        const seg: Segment = { n, path: join(this.dir, segmentName(n)), size: 0, sealed: false };
        const fh = await open(seg.path, 'w');
        this.segments.push(seg);
        active = this.active = { seg, fh };
        if (this.segments.length === 1) this.cursor = { segment: n, offset: 0 };
      }
      let done = 0;
      while (done < record.length) {
        const { bytesWritten } = await active.fh.write(
          record,
          done,
          record.length - done,
          active.seg.size + done,
        );
        done += bytesWritten;
      }
      if (this.fsync) await active.fh.datasync();
    } catch (err) {
      if (active) {
        // Cut a partial record off; if even that fails, the next append starts a new segment and
        // the reader never looks past the size we know to be valid.
        const cut = await active.fh.truncate(active.seg.size).then(
          () => true,
          () => false,
        );
        if (!cut) await this.seal();
      }
      throw new SpoolWriteError(err);
    }
    active.seg.size += record.length;
    this.storedBatches++;
    this.storedRows += rows;
    this.stats.appended++;
  }

  private async seal(): Promise<void> {
    if (!this.active) return;
    this.active.seg.sealed = true;
    await this.active.fh.close().catch(() => {});
    this.active = undefined;
  }

  /**
   * Reads the oldest batches not yet acknowledged, at most maxBatches and about maxRows traffic
   * rows (always at least one batch). Does not consume them: call ack() after writing.
   */
  read(limits: { maxBatches?: number; maxRows?: number } = {}): Promise<SpoolChunk> {
    const maxBatches = limits.maxBatches ?? 500;
    const maxRows = limits.maxRows ?? 50_000;
    return this.run(async () => {
      const chunk: SpoolChunk = { batches: [], rows: 0, end: { ...this.cursor } };
      let { segment, offset } = this.cursor;
      for (const seg of this.segments) {
        if (seg.n < segment) continue;
        if (seg.n > segment) {
          segment = seg.n;
          offset = 0;
        }
        const fh = await this.readHandle(seg);
        for await (const item of iterate(fh, offset, seg.size)) {
          if (item.kind === 'bad') {
            this.stats.corruptRecords++;
            this.stats.corruptBytes += item.end - item.offset;
          } else {
            if (chunk.batches.length >= maxBatches || (chunk.rows > 0 && chunk.rows + item.rows > maxRows))
              return chunk;
            chunk.batches.push(decode(item.payload));
            chunk.rows += item.rows;
          }
          chunk.end = { segment: seg.n, offset: item.end };
        }
        chunk.end = { segment: seg.n, offset: seg.size };
        offset = seg.size;
      }
      return chunk;
    });
  }

  private async readHandle(seg: Segment): Promise<FileHandle> {
    if (this.reader?.n === seg.n) return this.reader.fh;
    await this.reader?.fh.close().catch(() => {});
    this.reader = undefined;
    const fh = await open(seg.path, 'r');
    this.reader = { n: seg.n, fh };
    return fh;
  }

  /** Marks a chunk from read() as written: replay continues after it, finished segments are deleted. */
  ack(chunk: SpoolChunk): Promise<void> {
    return this.run(async () => {
      this.cursor = { ...chunk.end };
      this.storedBatches = Math.max(0, this.storedBatches - chunk.batches.length);
      this.storedRows = Math.max(0, this.storedRows - chunk.rows);
      this.stats.replayed += chunk.batches.length;
      // Delete segments replay is done with; the one being appended to only when nothing is left.
      while (this.segments.length > 0) {
        const seg = this.segments[0]!;
        const done =
          seg.n < this.cursor.segment || (seg.n === this.cursor.segment && this.cursor.offset >= seg.size);
        if (!done) break;
        const last = this.segments.length === 1;
        if (!seg.sealed && !(last && this.pendingAppends === 0)) break;
        if (this.active?.seg === seg) await this.seal();
        if (this.reader?.n === seg.n) {
          await this.reader.fh.close().catch(() => {});
          this.reader = undefined;
        }
        await rm(seg.path, { force: true }).catch(() => {});
        this.segments.shift();
        if (seg.n === this.cursor.segment) {
          const next = this.segments[0];
          this.cursor = next ? { segment: next.n, offset: 0 } : { segment: this.nextSegment, offset: 0 };
        }
      }
      const last = this.segments.at(-1);
      if (!last || (this.cursor.segment === last.n && this.cursor.offset >= last.size)) {
        // Replayed to the end: whatever the counts said, nothing is left.
        this.storedBatches = 0;
        this.storedRows = 0;
      }
      await this.saveCursor();
    });
  }

  private async saveCursor(): Promise<void> {
    // Best effort: a stale cursor only makes replay meet batches the database already has.
    const path = join(this.dir, 'cursor.json');
    const tmp = `${path}.tmp`;
    await writeFile(tmp, JSON.stringify({ ...this.cursor, next: this.nextSegment }))
      .then(() => rename(tmp, path))
      .catch(() => rm(tmp, { force: true }).catch(() => {}));
  }

  /** Finishes pending appends and closes the files; what is stored stays for the next open. */
  close(): Promise<void> {
    return this.run(async () => {
      this.closed = true;
      await this.seal();
      await this.reader?.fh.close().catch(() => {});
      this.reader = undefined;
      await this.unlock?.().catch(() => {});
      this.unlock = undefined;
    });
  }
}
