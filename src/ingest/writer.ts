import type { Database } from '../db/client.js';
import {
  claimBatches,
  type ExporterDelta,
  type ExporterMinuteDelta,
  upsertExporterMinutes,
  upsertExporters,
} from '../db/ingest-store.js';
import { addTraffic, concatTraffic, type TrafficColumns, type TrafficRows } from '../db/traffic.js';
import type { Spool, SpoolChunk, SpoolDropReason } from './spool.js';

export type { ExporterDelta, ExporterMinuteDelta };

/**
 * Zeroed counters of an exporter first heard at `nowMs`.
 * @example
 * const exporter = { ...newExporterDelta('192.0.2.1', Date.now()), datagrams: 1, records: 20 };
 */
export function newExporterDelta(address: string, nowMs: number): ExporterDelta {
  return {
    address,
    lastSeenMs: nowMs,
    datagrams: 0,
    records: 0,
    lostRecords: 0,
    unsampledRecords: 0,
    errors: {},
    samplingRates: {},
    collectors: {},
  };
}

export interface Batch {
  /** Unique per batch; recorded in the same transaction, so a retried batch never counts twice. */
  id: string;
  traffic: TrafficRows;
  exporters: ExporterDelta[];
  minutes: ExporterMinuteDelta[];
}

/**
 * Writes a batch exactly once: its id goes into ingest_batches in the same transaction as its
 * rows, and a batch whose id is already there is skipped.
 * @example
 * const outcome = await writeBatch(db, { id: `http:${key}`, traffic, exporters, minutes });
 */
export async function writeBatch(db: Database, batch: Batch): Promise<'written' | 'duplicate'> {
  return (await writeBatches(db, [batch])).has(batch.id) ? 'written' : 'duplicate';
}

const addCounters = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};

/**
 * Sums batches as one: exporters by address (first seen = earliest, last seen = latest), minutes by
 * (minute, exporter, collector); traffic rows are the batches' rows one after another, in columns,
 * which addTraffic sums per (minute, asn, location, adm1, product, direction) as it sorts them (no
 * key string and no object per row). Writing the sum adds exactly what writing each batch would.
 * @example
 * const { traffic, exporters, minutes } = sumBatches([a, b]);
 */
export function sumBatches(batches: readonly Omit<Batch, 'id'>[]): {
  traffic: TrafficColumns;
  exporters: (ExporterDelta & { firstSeenMs: number })[];
  minutes: ExporterMinuteDelta[];
} {
  const exporters = new Map<string, ExporterDelta & { firstSeenMs: number }>();
  const minutes = new Map<string, ExporterMinuteDelta>();
  for (const b of batches) {
    for (const e of b.exporters) {
      const x = exporters.get(e.address);
      if (!x)
        exporters.set(e.address, {
          ...e,
          firstSeenMs: e.lastSeenMs,
          errors: { ...e.errors },
          samplingRates: { ...e.samplingRates },
          collectors: { ...e.collectors },
        });
      else {
        x.firstSeenMs = Math.min(x.firstSeenMs, e.lastSeenMs);
        x.lastSeenMs = Math.max(x.lastSeenMs, e.lastSeenMs);
        x.datagrams += e.datagrams;
        x.records += e.records;
        x.lostRecords += e.lostRecords;
        x.unsampledRecords += e.unsampledRecords;
        addCounters(x.errors, e.errors);
        addCounters(x.samplingRates, e.samplingRates);
        for (const [id, ms] of Object.entries(e.collectors ?? {}))
          x.collectors[id] = Math.max(x.collectors[id] ?? ms, ms);
      }
    }
    for (const m of b.minutes) {
      // Per collector too: a spooled batch of an earlier run may carry another id (or none).
      const key = `${m.minuteMs}|${m.exporter}|${m.collector}`;
      const x = minutes.get(key);
      if (!x) minutes.set(key, { ...m });
      else {
        x.records += m.records;
        x.lostRecords += m.lostRecords;
        x.unsampledRecords += m.unsampledRecords;
      }
    }
  }
  return {
    traffic: concatTraffic(batches.map((b) => b.traffic)),
    exporters: [...exporters.values()],
    minutes: [...minutes.values()],
  };
}

/** The first and last minute of a batch's traffic; nulls when it has none. */
function minuteSpan(rows: TrafficRows): {
  firstMinuteMs: number | null;
  lastMinuteMs: number | null;
} {
  if (rows.length === 0) return { firstMinuteMs: null, lastMinuteMs: null };
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  const minutes = Array.isArray(rows) ? rows.map((r) => r.minuteMs) : rows.minuteMs.subarray(0, rows.length);
  for (const m of minutes) {
    if (m < first) first = m;
    if (m > last) last = m;
  }
  return { firstMinuteMs: first, lastMinuteMs: last };
}

/**
 * Writes several batches in one transaction, each exactly once: all ids are claimed in
 * ingest_batches, those already there are skipped, and the sum of the others is written.
 * Returns the ids written now.
 * @example
 * const written = await writeBatches(db, chunk.batches); // ids written now
 */
export async function writeBatches(db: Database, batches: Batch[]): Promise<Set<string>> {
  const unique = [...new Map(batches.map((b) => [b.id, b])).values()];
  if (unique.length === 0) return new Set();
  return db.transaction(async (tx) => {
    const ids = await claimBatches(
      tx,
      unique.map((b) => ({ id: b.id, rows: b.traffic.length, ...minuteSpan(b.traffic) })),
    );
    const fresh = unique.filter((b) => ids.has(b.id));
    if (fresh.length === 0) return ids;
    const sum = sumBatches(fresh);
    await addTraffic(tx, sum.traffic);
    await upsertExporters(tx, sum.exporters);
    await upsertExporterMinutes(tx, sum.minutes);
    return ids;
  });
}

export type WriteDropReason = 'buffer_full' | SpoolDropReason;

export interface WriterOptions {
  /** Rows held while the database is away; past it new batches are dropped and counted. */
  maxBufferedRows: number;
  /** First retry delay; doubles up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
  /**
   * On-disk spool: once `spoolAfterRows` rows wait in memory, they and every later batch go to
   * the spool, in order, until it has been replayed. A spool that is not empty at start is
   * replayed first.
   */
  spool?: Spool;
  /** Rows waiting in memory before batches go to the spool (default 200,000). */
  spoolAfterRows?: number;
  /** After a spool write error, batches stay in memory this long before the spool is tried again. */
  spoolRetryMs?: number;
  /** Largest write: batches and traffic rows (before summing) per transaction (defaults 1000 and 200,000). */
  groupBatches?: number;
  groupRows?: number;
  onWritten?: (batch: Batch, ms: number) => void;
  onDropped?: (batch: Batch, reason: WriteDropReason) => void;
  onError?: (err: unknown, attempt: number) => void;
  /** A spool append failed (the batch is dropped, or kept in memory when the spool was empty). */
  onSpoolError?: (err: unknown) => void;
}

/**
 * What a batch counts for in the memory buffer (against maxBufferedRows): its traffic rows, and
 * at least 1, so batches of exporter counters alone cannot pile up without bound.
 */
const bufferedRowsOf = (b: Batch) => Math.max(1, b.traffic.length);

/**
 * Writes batches in order, several per transaction when several wait. When the database is
 * unavailable, batches wait in a bounded memory buffer and are retried with backoff; with a spool,
 * the backlog past `spoolAfterRows` moves to disk and is replayed in order (memory first, then the
 * spool). What fits nowhere is dropped and counted by reason, never silently.
 * @example
 * const writer = new BatchWriter(db, { maxBufferedRows: 2_000_000, spool });
 * writer.enqueue({ id: randomUUID(), ...builder.drain() });
 * const left = await writer.close(10_000); // rows neither written nor spooled
 */
export class BatchWriter {
  private queue: Batch[] = [];
  private queuedRows = 0;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private delay: number;
  private attempt = 0;
  private closing = false;
  private deadline = Number.POSITIVE_INFINITY;
  /** A chunk read from the spool whose write failed: retried as is. */
  private spoolChunk: SpoolChunk | undefined;
  private spoolFailedAt = Number.NEGATIVE_INFINITY;
  droppedBatches = 0;
  droppedRows = 0;
  /** Rows dropped, by reason. */
  readonly droppedByReason: Record<WriteDropReason, number> = {
    buffer_full: 0,
    spool_full: 0,
    spool_error: 0,
  };
  /** Batches handed to the spool (including those that failed there). */
  spooledBatches = 0;

  constructor(
    private readonly db: Database,
    private readonly opts: WriterOptions,
  ) {
    this.delay = opts.retryMs ?? 1000;
    // Replay what an earlier run left in the spool before anything else.
    if (opts.spool && opts.spool.batches > 0) void this.drain();
  }

  /** Rows waiting in memory to be written. */
  get depth(): number {
    return this.queuedRows;
  }

  /** Rows waiting in the spool (stored or being appended). */
  get spooledRows(): number {
    return this.opts.spool?.rows ?? 0;
  }

  enqueue(batch: Batch): void {
    const rows = bufferedRowsOf(batch);
    const spool = this.opts.spool;
    if (spool) {
      // While the spool holds anything, newer batches go behind it, so replay keeps the order.
      const backlog = !spool.isEmpty;
      const pastThreshold =
        this.queuedRows > 0 &&
        this.queuedRows + rows > (this.opts.spoolAfterRows ?? 200_000) &&
        performance.now() - this.spoolFailedAt >= (this.opts.spoolRetryMs ?? 30_000);
      if (backlog || pastThreshold) {
        for (const b of this.queue.splice(0)) this.toSpool(b);
        this.queuedRows = 0;
        this.toSpool(batch);
        return;
      }
    }
    if (this.queuedRows + rows > this.opts.maxBufferedRows) {
      this.drop(batch, 'buffer_full');
      return;
    }
    this.queue.push(batch);
    this.queuedRows += rows;
    this.kick();
  }

  private drop(batch: Batch, reason: WriteDropReason): void {
    this.droppedBatches++;
    this.droppedRows += batch.traffic.length;
    this.droppedByReason[reason] += batch.traffic.length;
    this.opts.onDropped?.(batch, reason);
  }

  private toSpool(batch: Batch): void {
    const spool = this.opts.spool!;
    this.spooledBatches++;
    spool.append(batch).then(
      () => this.kick(),
      (err: unknown) => {
        this.opts.onSpoolError?.(err);
        const reason: WriteDropReason =
          (err as { reason?: string }).reason === 'spool_full' ? 'spool_full' : 'spool_error';
        if (reason === 'spool_error') this.spoolFailedAt = performance.now();
        // Nothing older on disk: memory still keeps the order, so keep the batch there if it fits.
        if (
          reason === 'spool_error' &&
          spool.batches === 0 &&
          this.queuedRows + bufferedRowsOf(batch) <= this.opts.maxBufferedRows
        ) {
          this.queue.push(batch);
          this.queuedRows += bufferedRowsOf(batch);
          this.kick();
          return;
        }
        this.drop(batch, reason);
      },
    );
  }

  /** Starts writing unless a retry is already scheduled (the backoff decides when). */
  private kick(): void {
    if (!this.timer) void this.drain();
  }

  /** Writes what is queued; resolves when the queue is empty or a write failed (a retry is scheduled). */
  drain(): Promise<void> {
    this.running ??= this.writeAll().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** The oldest batches in memory, as many as one transaction takes. */
  private group(): Batch[] {
    const max = this.opts.groupBatches ?? 1000;
    const maxRows = this.opts.groupRows ?? 200_000;
    const out: Batch[] = [];
    let rows = 0;
    for (const b of this.queue) {
      if (out.length >= max || (out.length > 0 && rows + b.traffic.length > maxRows)) break;
      out.push(b);
      rows += b.traffic.length;
    }
    return out;
  }

  private async writeAll(): Promise<void> {
    const spool = this.opts.spool;
    while (Date.now() < this.deadline) {
      let group: Batch[];
      let chunk: SpoolChunk | undefined;
      try {
        if (this.queue.length > 0) group = this.group();
        else if (spool && spool.batches > 0) {
          chunk = this.spoolChunk ??= await spool.read({
            maxBatches: this.opts.groupBatches ?? 1000,
            maxRows: this.opts.groupRows ?? 200_000,
          });
          group = chunk.batches;
        } else return;
      } catch (err) {
        this.failed(err);
        return;
      }
      const t0 = performance.now();
      let written: Set<string>;
      try {
        written = await writeBatches(this.db, group);
      } catch (err) {
        this.failed(err);
        return;
      }
      const ms = (performance.now() - t0) / Math.max(1, group.length);
      this.attempt = 0;
      this.delay = this.opts.retryMs ?? 1000;
      if (chunk) {
        this.spoolChunk = undefined;
        await spool!.ack(chunk).catch((err: unknown) => this.opts.onSpoolError?.(err));
      } else {
        // Batches moved to the spool meanwhile are not in the queue any more; their spooled
        // copies will be skipped as already written.
        for (const b of group) {
          if (this.queue[0] !== b) continue;
          this.queue.shift();
          this.queuedRows -= bufferedRowsOf(b);
        }
      }
      for (const b of group) if (written.has(b.id)) this.opts.onWritten?.(b, ms);
    }
  }

  private failed(err: unknown): void {
    this.attempt++;
    this.opts.onError?.(err, this.attempt);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.timer || this.closing) return;
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, this.opts.maxRetryMs ?? 30_000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.drain();
    }, wait);
    this.timer.unref();
  }

  private get pending(): boolean {
    return this.queue.length > 0 || (this.opts.spool?.batches ?? 0) > 0;
  }

  /**
   * Last attempt to write everything (SIGTERM), bounded in time. With a spool, what the database
   * does not take goes to disk for the next start. Returns rows neither written nor spooled.
   */
  async close(timeoutMs = 10_000): Promise<number> {
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const spool = this.opts.spool;
    this.deadline = Date.now() + timeoutMs;
    while (this.pending && Date.now() < this.deadline) {
      await this.drain();
      // A failed write: with a spool the backlog is safe on disk, no need to wait for the database.
      if (!this.pending || spool) break;
      await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, this.deadline - Date.now()))));
    }
    await this.running;
    if (spool && this.queue.length > 0) {
      for (const b of this.queue.splice(0)) this.toSpool(b);
      this.queuedRows = 0;
    }
    if (spool) {
      await spool.idle();
      // Let the append handlers (which may put a batch back in memory) run.
      await new Promise((r) => setImmediate(r));
    }
    return this.queuedRows;
  }
}
