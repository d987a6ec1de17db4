import { sql } from 'drizzle-orm';
import type { Database, Queryable } from '../db/client.js';
import { addTraffic, type TrafficDelta } from '../db/traffic.js';

/** Counters of one exporter accumulated since the last flush. */
export interface ExporterDelta {
  address: string;
  lastSeenMs: number;
  datagrams: number;
  records: number;
  lostRecords: number;
  unsampledRecords: number;
  errors: Record<string, number>;
  samplingRates: Record<string, number>;
}

/** Zeroed counters of an exporter first heard at `nowMs`. */
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
  };
}

/** Data quality of one exporter in one minute, read by the API for confidenceInfo. */
export interface ExporterMinuteDelta {
  minuteMs: number;
  exporter: string;
  records: number;
  lostRecords: number;
  unsampledRecords: number;
}

export interface Batch {
  /** Unique per batch; recorded in the same transaction, so a retried batch never counts twice. */
  id: string;
  traffic: TrafficDelta[];
  exporters: ExporterDelta[];
  minutes: ExporterMinuteDelta[];
}

/** Adds two jsonb objects of counters key by key. */
const mergeCounters = (a: string, b: string) =>
  sql.raw(`(SELECT coalesce(jsonb_object_agg(key, total), '{}'::jsonb) FROM (
     SELECT key, sum(value::bigint) AS total
       FROM (SELECT * FROM jsonb_each_text(${a}) UNION ALL SELECT * FROM jsonb_each_text(${b})) u
      GROUP BY key) s)`);

async function writeExporters(tx: Queryable, rows: ExporterDelta[]): Promise<void> {
  for (const e of rows) {
    await tx.query(sql`INSERT INTO exporters AS x (address, first_seen, last_seen, datagrams, records, lost_records,
        unsampled_records, errors, sampling_rates)
      VALUES (${e.address}, ${new Date(e.lastSeenMs).toISOString()}::timestamptz, ${new Date(e.lastSeenMs).toISOString()}::timestamptz,
        ${e.datagrams}, ${e.records}, ${e.lostRecords}, ${e.unsampledRecords},
        ${JSON.stringify(e.errors)}::jsonb, ${JSON.stringify(e.samplingRates)}::jsonb)
      ON CONFLICT (address) DO UPDATE SET
        last_seen = greatest(x.last_seen, excluded.last_seen),
        datagrams = x.datagrams + excluded.datagrams,
        records = x.records + excluded.records,
        lost_records = x.lost_records + excluded.lost_records,
        unsampled_records = x.unsampled_records + excluded.unsampled_records,
        errors = ${mergeCounters('x.errors', 'excluded.errors')},
        sampling_rates = ${mergeCounters('x.sampling_rates', 'excluded.sampling_rates')}`);
  }
}

async function writeMinutes(tx: Queryable, rows: ExporterMinuteDelta[]): Promise<void> {
  for (const m of rows) {
    await tx.query(sql`INSERT INTO exporter_minutes AS x (time, exporter, records, lost_records, unsampled_records)
      VALUES (${new Date(m.minuteMs).toISOString()}::timestamptz, ${m.exporter}, ${m.records}, ${m.lostRecords}, ${m.unsampledRecords})
      ON CONFLICT (time, exporter) DO UPDATE SET
        records = x.records + excluded.records,
        lost_records = x.lost_records + excluded.lost_records,
        unsampled_records = x.unsampled_records + excluded.unsampled_records`);
  }
}

/**
 * Writes a batch exactly once: its id goes into ingest_batches in the same transaction as its
 * rows, and a batch whose id is already there is skipped.
 */
export async function writeBatch(db: Database, batch: Batch): Promise<'written' | 'duplicate'> {
  return db.transaction(async (tx) => {
    const claimed = await tx.query(
      sql`INSERT INTO ingest_batches (id, rows) VALUES (${batch.id}, ${batch.traffic.length})
          ON CONFLICT (id) DO NOTHING RETURNING id`,
    );
    if (claimed.length === 0) return 'duplicate';
    await addTraffic(tx, batch.traffic);
    await writeExporters(tx, batch.exporters);
    await writeMinutes(tx, batch.minutes);
    return 'written';
  });
}

export interface WriterOptions {
  /** Rows held while the database is away; past it new batches are dropped and counted. */
  maxBufferedRows: number;
  /** First retry delay; doubles up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
  onWritten?: (batch: Batch, ms: number) => void;
  onDropped?: (batch: Batch) => void;
  onError?: (err: unknown, attempt: number) => void;
}

/**
 * Writes batches in order. When the database is unavailable, batches wait in a bounded memory
 * buffer and are retried with backoff; what does not fit is dropped and reported, never silent.
 */
export class BatchWriter {
  private queue: Batch[] = [];
  private queuedRows = 0;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private delay: number;
  droppedBatches = 0;
  droppedRows = 0;

  constructor(
    private readonly db: Database,
    private readonly opts: WriterOptions,
  ) {
    this.delay = opts.retryMs ?? 1000;
  }

  /** Rows waiting to be written. */
  get depth(): number {
    return this.queuedRows;
  }

  enqueue(batch: Batch): void {
    const rows = Math.max(1, batch.traffic.length);
    if (this.queuedRows + rows > this.opts.maxBufferedRows) {
      this.droppedBatches++;
      this.droppedRows += batch.traffic.length;
      this.opts.onDropped?.(batch);
      return;
    }
    this.queue.push(batch);
    this.queuedRows += rows;
    void this.drain();
  }

  /** Writes what is queued; resolves when the queue is empty or a write failed (a retry is scheduled). */
  drain(): Promise<void> {
    this.running ??= this.writeAll().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async writeAll(): Promise<void> {
    let attempt = 0;
    while (this.queue.length > 0) {
      const batch = this.queue[0]!;
      const t0 = performance.now();
      try {
        await writeBatch(this.db, batch);
      } catch (err) {
        attempt++;
        this.opts.onError?.(err, attempt);
        this.scheduleRetry();
        return;
      }
      this.queue.shift();
      this.queuedRows -= Math.max(1, batch.traffic.length);
      this.delay = this.opts.retryMs ?? 1000;
      this.opts.onWritten?.(batch, performance.now() - t0);
    }
  }

  private scheduleRetry(): void {
    if (this.timer) return;
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, this.opts.maxRetryMs ?? 30_000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.drain();
    }, wait);
    this.timer.unref();
  }

  /** Last attempt to write everything (SIGTERM), bounded in time. Returns rows left unwritten. */
  async close(timeoutMs = 10_000): Promise<number> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length > 0 && Date.now() < deadline) {
      await this.drain();
      if (this.queue.length > 0)
        await new Promise((r) => setTimeout(r, Math.min(500, deadline - Date.now())));
    }
    return this.queuedRows;
  }
}
