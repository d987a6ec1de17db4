import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Database } from '../db/client.js';
import { BatchBuilder, type ExporterAccount } from './batch-builder.js';
import { decodeDatagram } from './decode.js';
import { type DatagramKind, dedupe } from './dedupe.js';
import type { Enricher } from './enrich.js';
import { type IngestMetrics, writeFailureCause } from './metrics.js';
import { TemplateRegistry } from './netflow/index.js';
import { SequenceTracker } from './sequence.js';
import type { Spool } from './spool.js';
import { TemplateStore } from './template-store.js';
import { type FlowRecord, newFlowRecord } from './types.js';
import { BatchWriter } from './writer.js';

export interface PipelineOptions {
  db: Database;
  enricher: Enricher;
  metrics: IngestMetrics;
  logger: Logger;
  now?: () => number;
  /** How often aggregated minutes are written. */
  flushIntervalMs?: number;
  /** Rows held in memory while the database is away. */
  maxBufferedRows?: number;
  /** On-disk spool for the backlog past `spoolAfterRows` rows (see BatchWriter). */
  spool?: Spool;
  spoolAfterRows?: number;
  /** Rate for records whose sampling rate is unknown (they are counted as such). */
  defaultSamplingRate?: number;
  /** Per-exporter sampling rate that overrides what the exporter says. */
  samplingOverrides?: Record<string, number>;
  templateExpiryMs?: number;
  /**
   * This collector's id (config `collectorId`): the exporter minutes it writes carry it, so a
   * minute two collectors received is recognised as split and its loss left unknown. Default:
   * the host name; the service always passes the configured id.
   */
  collectorId?: string;
  /** Writer retry backoff, first and largest delay. */
  retryMs?: number;
  maxRetryMs?: number;
}

const MINUTE = 60_000;

/**
 * The UDP collector: per datagram dedupe → decode → (per record, in {@link BatchBuilder}) sample →
 * classify → aggregate, then sequence tracking and exporter accounting; every flush interval the
 * batch goes to the writer. One per process; the receiving thread hands it datagrams.
 * `POST /ingest/flows` runs the same record steps (ndjson.ts).
 * @example
 * const pipeline = new Pipeline({ db, enricher, metrics, logger, collectorId: 'c1' });
 * await pipeline.loadTemplates();
 * pipeline.start();
 * const udp = await startUdp(pipeline, { host: '0.0.0.0', netflowPort: 2055, sflowPort: 6343 }, logger);
 */
export class Pipeline {
  readonly registry: TemplateRegistry;
  /** Templates and sampler state shared with the other collectors through the database. */
  readonly templates: TemplateStore;
  readonly writer: BatchWriter;
  readonly collectorId: string;
  private readonly batch: BatchBuilder;
  private readonly sequences = new SequenceTracker();
  private readonly record: FlowRecord = newFlowRecord();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  /** The exporter of the datagram being decoded: the record sink counts on it. */
  private current: ExporterAccount | undefined;
  private readonly sink = (r: FlowRecord) => this.batch.addRecord(r, this.current!);

  constructor(private readonly opts: PipelineOptions) {
    this.now = opts.now ?? Date.now;
    this.collectorId = opts.collectorId ?? hostname();
    this.batch = new BatchBuilder({
      enricher: opts.enricher,
      defaultSamplingRate: opts.defaultSamplingRate ?? 1,
      ...(opts.samplingOverrides ? { samplingOverrides: opts.samplingOverrides } : {}),
      collectorId: this.collectorId,
    });
    this.registry = new TemplateRegistry({
      expiryMs: opts.templateExpiryMs ?? 30 * MINUTE,
      onChange: (change) => this.templates.changed(change),
    });
    this.templates = new TemplateStore({
      db: opts.db,
      registry: this.registry,
      expiryMs: this.registry.expiryMs,
      now: this.now,
      logger: opts.logger,
    });
    this.writer = new BatchWriter(opts.db, {
      maxBufferedRows: opts.maxBufferedRows ?? 2_000_000,
      retryMs: opts.retryMs ?? 1000,
      maxRetryMs: opts.maxRetryMs ?? 30_000,
      onWritten: (b, ms) => opts.metrics.flushed(b.traffic.length, ms / 1000),
      ...(opts.spool ? { spool: opts.spool } : {}),
      ...(opts.spoolAfterRows ? { spoolAfterRows: opts.spoolAfterRows } : {}),
      onDropped: (b, reason) => {
        opts.metrics.dropped(reason, b.traffic.length);
        opts.logger.error({ rows: b.traffic.length, reason }, 'batch dropped');
      },
      onError: (err, attempt) => {
        const cause = writeFailureCause(err);
        opts.metrics.writeFailed(cause);
        opts.logger.warn({ err, attempt, cause }, 'database write failed; will retry');
      },
      onSpoolError: (err) => {
        // A full spool is reported by onDropped; this is the file system refusing a write.
        if ((err as { reason?: string }).reason === 'spool_full') return;
        opts.metrics.spoolError();
        opts.logger.error({ err }, 'spool write failed');
      },
    });
  }

  /**
   * Restores templates and sampling state saved by an earlier run or by other collectors, so the
   * next data set decodes at once and with the right rate. Returns templates restored.
   */
  loadTemplates(): Promise<number> {
    return this.templates.load();
  }

  /**
   * Saves the templates and sampling state learned or refreshed since the last save (every flush
   * interval and at shutdown); never deletes what other collectors saved (see TemplateStore).
   */
  saveTemplates(): Promise<void> {
    return this.templates.save();
  }

  /** Datagrams the receiving thread dropped because this thread fell too far behind. */
  receiveDropped(n: number): void {
    this.opts.metrics.dropped('receive_queue', n);
  }

  /**
   * Decodes one datagram from `address` and aggregates its records. `kind` is the listener's
   * protocol family: sFlow has its own port, NetFlow v5/v9 and IPFIX share one.
   */
  handleDatagram(buf: Uint8Array, address: string, kind: DatagramKind): void {
    const nowMs = this.now();
    const exporter = this.batch.exporter(address, nowMs);
    exporter.datagrams++;
    exporter.collectors[this.collectorId] = nowMs;
    const id = dedupe(this.sequences, buf, address, kind);
    if (id === 'duplicate') {
      exporter.countError('duplicate');
      this.opts.metrics.dropped('duplicate', 1);
      return;
    }
    const unsampledBefore = exporter.unsampledRecords;
    this.current = exporter;
    const ctx = { exporter: address, registry: this.registry, nowMs, record: this.record };
    const res = decodeDatagram(buf, kind, ctx, this.sink, (err) =>
      this.opts.logger.error({ err }, 'decoder threw'),
    );
    const bytes = this.batch.takeAddedBytes();
    if (bytes !== 0) this.opts.metrics.bytes(bytes);
    this.opts.metrics.datagram(res.protocol);
    if (!res.ok) {
      const reason = res.reason ?? 'bad_record';
      exporter.countError(reason);
      this.opts.metrics.decodeError(reason);
      return;
    }
    for (const [reason, n] of Object.entries(res.skipped)) {
      exporter.countError(reason, n);
      this.opts.metrics.decodeError(reason, n);
    }
    this.opts.metrics.records(res.protocol, res.records);
    // v5 sequences count flow records, IPFIX every data record (options too), v9 and sFlow datagrams.
    const units =
      res.protocol === 'v5' ? res.records : res.protocol === 'ipfix' ? (res.dataRecords ?? res.records) : 1;
    const source = id.key ?? `${res.protocol}|${address}`;
    const seq = this.sequences.observe(source, res.sequence, units, res.records, res.uptimeMs, id.hash);
    // This collector's sequence tracking measured the minute's loss; another's would not agree.
    const minute = this.batch.minute(address, nowMs);
    minute.records += res.records;
    const unsampled = exporter.unsampledRecords - unsampledBefore;
    minute.unsampledRecords += unsampled;
    if (unsampled) this.opts.metrics.unsampled(unsampled);
    // A template or sampler another collector received may be in the database by now.
    if (
      (res.protocol === 'v9' || res.protocol === 'ipfix') &&
      ((res.skipped.unknown_template ?? 0) > 0 || unsampled > 0)
    )
      this.templates.want(res.protocol, address, res.domain);
    if (seq.restarted) {
      if (res.protocol === 'v9') this.registry.resetSource(address, res.domain);
      this.opts.logger.info({ protocol: res.protocol, domain: res.domain }, 'exporter restart detected');
    }
    if (seq.lost !== 0) {
      minute.lostRecords += seq.lost;
      exporter.lostRecords += seq.lost;
      if (seq.lost > 0) this.opts.metrics.lost(seq.lost);
    }
  }

  /** Moves everything aggregated so far into a batch for the writer. */
  flush(): void {
    const { traffic, exporters, minutes } = this.batch.drain();
    if (traffic.length === 0 && exporters.length === 0) return;
    this.writer.enqueue({ id: randomUUID(), traffic, exporters, minutes });
    this.opts.metrics.bufferDepth(this.writer.depth);
    if (this.opts.spool) this.opts.metrics.spool(this.opts.spool.rows, this.opts.spool.bytes);
  }

  start(): void {
    const every = this.opts.flushIntervalMs ?? 5000;
    this.timer = setInterval(() => {
      this.flush();
      this.registry.expire(this.now());
      this.opts.metrics.templates(this.registry.size);
      void this.saveTemplates().catch((err) =>
        this.opts.logger.warn({ err }, 'saving templates failed; will retry'),
      );
    }, every);
    this.timer.unref();
  }

  /** Flushes and writes what is left (SIGTERM). Returns rows that could not be written. */
  async stop(timeoutMs = 10_000): Promise<number> {
    if (this.timer) clearInterval(this.timer);
    this.flush();
    await this.saveTemplates().catch((err) =>
      this.opts.logger.warn({ err }, 'saving templates at shutdown failed'),
    );
    return this.writer.close(timeoutMs);
  }
}
