import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { dbErrorCode, isConnectionError } from '../db/errors.js';
import type { WriteDropReason } from './writer.js';

/**
 * The per-datagram counters of the collector as plain numbers: counting a datagram in prom-client
 * (a label lookup and a hash per call, several per datagram) cost more than its dedupe and
 * sequence steps together. They are added to {@link IngestMetrics} when /metrics is read
 * ({@link IngestMetrics.pending}) or, from a decode worker, sent as deltas with every batch.
 * Plain data, so it crosses threads by structured clone.
 * @example
 * const counts = newIngestCounts();
 * countIn(counts.datagrams, 'ipfix');
 * metrics.add(counts); // then reset: resetIngestCounts(counts)
 */
export interface IngestCounts {
  /** By protocol. */
  datagrams: Record<string, number>;
  /** Records decoded, by protocol. */
  records: Record<string, number>;
  /** Decode errors, by reason. */
  errors: Record<string, number>;
  bytes: number;
  duplicates: number;
  lost: number;
  unsampled: number;
}

export const newIngestCounts = (): IngestCounts => ({
  datagrams: {},
  records: {},
  errors: {},
  bytes: 0,
  duplicates: 0,
  lost: 0,
  unsampled: 0,
});

/** Adds `n` to `counts[key]`. */
export function countIn(counts: Record<string, number>, key: string, n = 1): void {
  counts[key] = (counts[key] ?? 0) + n;
}

/** Zeroes `c` in place (its label keys stay, so the next counts reuse them). */
export function resetIngestCounts(c: IngestCounts): void {
  for (const m of [c.datagrams, c.records, c.errors]) for (const k in m) m[k] = 0;
  c.bytes = 0;
  c.duplicates = 0;
  c.lost = 0;
  c.unsampled = 0;
}

/**
 * Collector metrics for /metrics. Labels come from closed sets only (protocol, reason): never an
 * exporter address or a template id, which an unvetted sender could multiply.
 * @example
 * const metrics = new IngestMetrics();
 * metrics.datagram('ipfix');
 * const text = await metrics.registry.metrics(); // Prometheus text for /metrics
 */
export class IngestMetrics {
  readonly registry = new Registry();
  private readonly datagrams = this.counter('flowradar_datagrams_total', 'Datagrams received, by protocol', [
    'protocol',
  ]);
  private readonly recordsTotal = this.counter(
    'flowradar_records_total',
    'Flow records decoded, by protocol',
    ['protocol'],
  );
  private readonly bytesTotal = this.counter('flowradar_bytes_total', 'Bytes accounted (scaled by sampling)');
  private readonly errors = this.counter(
    'flowradar_decode_errors_total',
    'Datagrams or parts of datagrams dropped while decoding, by reason',
    ['reason'],
  );
  private readonly drops = this.counter(
    'flowradar_drops_total',
    'Data dropped after decoding, by reason (duplicate datagrams; rows: full write buffer, full spool, spool write error)',
    ['reason'],
  );
  private readonly lostRecords = this.counter(
    'flowradar_lost_records_total',
    'Records the exporters sent that never arrived, estimated from sequence numbers',
  );
  private readonly unsampledRecords = this.counter(
    'flowradar_unsampled_records_total',
    'Records without a known sampling rate, scaled by the configured default',
  );
  private readonly templateCount = this.gauge('flowradar_templates', 'v9 and IPFIX templates known');
  private readonly depth = this.gauge(
    'flowradar_write_buffer_rows',
    'Rows waiting to be written to the database',
  );
  private readonly spoolRows = this.gauge('flowradar_spool_rows', 'Rows waiting in the on-disk spool');
  private readonly spoolBytes = this.gauge('flowradar_spool_bytes', 'Bytes of the on-disk spool');
  private readonly spoolErrors = this.counter(
    'flowradar_spool_errors_total',
    'Spool appends the file system refused (ENOSPC, EIO, EROFS…)',
  );
  private readonly flushSeconds = new Histogram({
    name: 'flowradar_flush_seconds',
    help: 'Time to write one batch',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly rowsWritten = this.counter('flowradar_rows_written_total', 'Traffic rows written');
  private readonly writeFailures = this.counter(
    'flowradar_write_failures_total',
    'Batch writes the database refused and the writer retried, by cause (deadlock, serialization, lock, timeout, connection, other)',
    ['cause'],
  );

  /**
   * Counts the collector's thread adds without touching prom-client; taken into the counters
   * whenever /metrics is read, and by {@link add}.
   */
  readonly pending: IngestCounts = newIngestCounts();

  private counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) {
    return new Counter<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect: () => this.takePending(),
    });
  }

  /** Adds counts kept as plain numbers (a decode worker's deltas, or {@link pending}). */
  add(c: IngestCounts): void {
    for (const [protocol, n] of Object.entries(c.datagrams)) if (n > 0) this.datagrams.inc({ protocol }, n);
    for (const [protocol, n] of Object.entries(c.records)) this.records(protocol, n);
    for (const [reason, n] of Object.entries(c.errors)) if (n > 0) this.errors.inc({ reason }, n);
    if (c.bytes > 0) this.bytesTotal.inc(c.bytes);
    if (c.duplicates > 0) this.drops.inc({ reason: 'duplicate' }, c.duplicates);
    if (c.lost > 0) this.lostRecords.inc(c.lost);
    if (c.unsampled > 0) this.unsampledRecords.inc(c.unsampled);
  }

  private takePending(): void {
    this.add(this.pending);
    resetIngestCounts(this.pending);
  }

  private gauge(name: string, help: string) {
    return new Gauge({ name, help, registers: [this.registry] });
  }

  datagram(protocol: string): void {
    this.datagrams.inc({ protocol });
  }
  records(protocol: string, n: number): void {
    if (n > 0) this.recordsTotal.inc({ protocol }, n);
  }
  bytes(n: number): void {
    this.bytesTotal.inc(n);
  }
  decodeError(reason: string, n = 1): void {
    this.errors.inc({ reason }, n);
  }
  dropped(reason: 'duplicate' | 'receive_queue' | WriteDropReason, n: number): void {
    this.drops.inc({ reason }, n);
  }
  lost(n: number): void {
    this.lostRecords.inc(n);
  }
  unsampled(n: number): void {
    this.unsampledRecords.inc(n);
  }
  templates(n: number): void {
    this.templateCount.set(n);
  }
  bufferDepth(rows: number): void {
    this.depth.set(rows);
  }
  spool(rows: number, bytes: number): void {
    this.spoolRows.set(rows);
    this.spoolBytes.set(bytes);
  }
  spoolError(): void {
    this.spoolErrors.inc();
  }
  writeFailed(cause: WriteFailureCause): void {
    this.writeFailures.inc({ cause });
  }
  flushed(rows: number, seconds: number): void {
    this.rowsWritten.inc(rows);
    this.flushSeconds.observe(seconds);
  }
}

export type WriteFailureCause = 'deadlock' | 'serialization' | 'lock' | 'timeout' | 'connection' | 'other';

/**
 * Why a write failed, from the PostgreSQL SQLSTATE the driver reports (on the error or its
 * cause): a closed set, so it can label a metric.
 * @example
 * metrics.writeFailed(writeFailureCause(err)); // 'deadlock', 'timeout', 'connection', ...
 */
export function writeFailureCause(err: unknown): WriteFailureCause {
  const code = dbErrorCode(err);
  if (code === '40P01') return 'deadlock';
  if (code === '40001') return 'serialization';
  if (code === '55P03') return 'lock';
  if (code === '57014') return 'timeout';
  if (isConnectionError(code)) return 'connection';
  return 'other';
}
