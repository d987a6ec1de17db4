import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Database } from '../db/client.js';
import type { DatagramKind } from './dedupe.js';
import type { Enricher } from './enrich.js';
import { type IngestMetrics, writeFailureCause } from './metrics.js';
import type { TemplateRegistry } from './netflow/index.js';
import { IngestShard } from './shard.js';
import type { Spool } from './spool.js';
import { flowTemplateTable, type TemplateStore } from './template-store.js';
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
  readonly writer: BatchWriter;
  readonly collectorId: string;
  /** Decoding on this thread (one decode worker). */
  private readonly shard: IngestShard;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: PipelineOptions) {
    this.now = opts.now ?? Date.now;
    this.collectorId = opts.collectorId ?? hostname();
    this.shard = new IngestShard({
      table: flowTemplateTable(opts.db),
      enricher: opts.enricher,
      counts: opts.metrics.pending,
      logger: opts.logger,
      now: this.now,
      defaultSamplingRate: opts.defaultSamplingRate ?? 1,
      ...(opts.samplingOverrides ? { samplingOverrides: opts.samplingOverrides } : {}),
      templateExpiryMs: opts.templateExpiryMs ?? 30 * MINUTE,
      collectorId: this.collectorId,
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

  /** v9/IPFIX templates and sampler state of this thread's exporters. */
  get registry(): TemplateRegistry {
    return this.shard.registry;
  }

  /** Templates and sampler state shared with the other collectors through the database. */
  get templates(): TemplateStore {
    return this.shard.templates;
  }

  /**
   * Restores templates and sampling state saved by an earlier run or by other collectors, so the
   * next data set decodes at once and with the right rate. Returns templates restored.
   */
  loadTemplates(): Promise<number> {
    return this.shard.templates.load();
  }

  /**
   * Saves the templates and sampling state learned or refreshed since the last save (every flush
   * interval and at shutdown); never deletes what other collectors saved (see TemplateStore).
   */
  saveTemplates(): Promise<void> {
    return this.shard.templates.save();
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
    this.shard.handleDatagram(buf, address, kind);
  }

  /** Moves everything aggregated so far into a batch for the writer. */
  flush(): void {
    const { traffic, exporters, minutes } = this.shard.drain();
    if (traffic.length === 0 && exporters.length === 0) return;
    this.writer.enqueue({ id: randomUUID(), traffic, exporters, minutes });
    this.opts.metrics.bufferDepth(this.writer.depth);
    if (this.opts.spool) this.opts.metrics.spool(this.opts.spool.rows, this.opts.spool.bytes);
  }

  start(): void {
    const every = this.opts.flushIntervalMs ?? 5000;
    this.timer = setInterval(() => {
      this.flush();
      this.opts.metrics.templates(this.shard.expire(this.now()));
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
