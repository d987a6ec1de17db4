import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { dbErrorCode, isConnectionError } from '../db/errors.js';
import type { WriteDropReason } from './writer.js';

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

  private counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) {
    return new Counter<L>({ name, help, labelNames, registers: [this.registry] });
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
