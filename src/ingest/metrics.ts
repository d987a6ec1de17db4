import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { dbErrorCode, isConnectionError } from '../db/errors.js';
import type { WriteDropReason } from './writer.js';

/**
 * Collector metrics for /metrics. Labels come from closed sets only (protocol, reason): never an
 * exporter address or a template id, which an unvetted sender could multiply.
 */
export class IngestMetrics {
  readonly registry = new Registry();
  private readonly datagrams = new Counter({
    name: 'flowradar_datagrams_total',
    help: 'Datagrams received, by protocol',
    labelNames: ['protocol'],
    registers: [this.registry],
  });
  private readonly recordsTotal = new Counter({
    name: 'flowradar_records_total',
    help: 'Flow records decoded, by protocol',
    labelNames: ['protocol'],
    registers: [this.registry],
  });
  private readonly bytesTotal = new Counter({
    name: 'flowradar_bytes_total',
    help: 'Bytes accounted (scaled by sampling)',
    registers: [this.registry],
  });
  private readonly errors = new Counter({
    name: 'flowradar_decode_errors_total',
    help: 'Datagrams or parts of datagrams dropped while decoding, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly drops = new Counter({
    name: 'flowradar_drops_total',
    help: 'Data dropped after decoding, by reason (duplicate datagrams; rows: full write buffer, full spool, spool write error)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly lostRecords = new Counter({
    name: 'flowradar_lost_records_total',
    help: 'Records the exporters sent that never arrived, estimated from sequence numbers',
    registers: [this.registry],
  });
  private readonly unsampledRecords = new Counter({
    name: 'flowradar_unsampled_records_total',
    help: 'Records without a known sampling rate, scaled by the configured default',
    registers: [this.registry],
  });
  private readonly templateCount = new Gauge({
    name: 'flowradar_templates',
    help: 'v9 and IPFIX templates known',
    registers: [this.registry],
  });
  private readonly depth = new Gauge({
    name: 'flowradar_write_buffer_rows',
    help: 'Rows waiting to be written to the database',
    registers: [this.registry],
  });
  private readonly spoolRows = new Gauge({
    name: 'flowradar_spool_rows',
    help: 'Rows waiting in the on-disk spool',
    registers: [this.registry],
  });
  private readonly spoolBytes = new Gauge({
    name: 'flowradar_spool_bytes',
    help: 'Bytes of the on-disk spool',
    registers: [this.registry],
  });
  private readonly spoolErrors = new Counter({
    name: 'flowradar_spool_errors_total',
    help: 'Spool appends the file system refused (ENOSPC, EIO, EROFS…)',
    registers: [this.registry],
  });
  private readonly flushSeconds = new Histogram({
    name: 'flowradar_flush_seconds',
    help: 'Time to write one batch',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly rowsWritten = new Counter({
    name: 'flowradar_rows_written_total',
    help: 'Traffic rows written',
    registers: [this.registry],
  });

  private readonly writeFailures = new Counter({
    name: 'flowradar_write_failures_total',
    help: 'Batch writes the database refused and the writer retried, by cause (deadlock, serialization, lock, timeout, connection, other)',
    labelNames: ['cause'],
    registers: [this.registry],
  });

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
