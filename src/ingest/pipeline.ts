import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Database } from '../db/client.js';
import type { BatchContent } from './batch-builder.js';
import { DecodeWorkers } from './decode-workers.js';
import type { DatagramKind } from './dedupe.js';
import type { Enricher, EnrichOptions } from './enrich.js';
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
  /**
   * Threads decoding datagrams (see {@link defaultDecodeWorkers}); 1 (default) decodes on this
   * thread. More need `enrichOptions`: each worker builds its own enricher from them.
   */
  decodeWorkers?: number;
  /** What `enricher` was made from (createEnricher). */
  enrichOptions?: EnrichOptions;
}

/**
 * Decode workers for a machine of `cores` cores. The receiving thread takes up to a core at high
 * rates and the main thread another (the writer, and the embedded database, WebAssembly on that
 * thread); below 4 cores a decode worker would take its core from those two, and the merge and a
 * second copy of the enricher's tables would cost without a gain (on 2 cores, 2 workers lost records
 * at a lower rate than 1: BENCHMARKS.md, "Ingest at scale"). From 4 cores, the cores left after
 * those two, up to 8: past that the single writer and the receiving thread are the limit.
 * @example
 * defaultDecodeWorkers(os.availableParallelism()); // 1 on 2 cores, 6 on 8
 */
export function defaultDecodeWorkers(cores: number): number {
  return cores < 4 ? 1 : Math.min(8, cores - 2);
}

const MINUTE = 60_000;

/**
 * The UDP collector: per datagram dedupe → decode → (per record, in BatchBuilder) sample →
 * classify → aggregate, then sequence tracking and exporter accounting ({@link IngestShard});
 * every flush interval the batch goes to the writer. One per process; the receiving thread hands
 * it datagrams. With `decodeWorkers` > 1 the shards run on worker threads, each for its own
 * exporters, and every flush merges their batches into one for the single writer.
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
  /** Decoding on this thread (one decode worker), or on worker threads. */
  private readonly shard: IngestShard | undefined;
  private readonly workers: DecodeWorkers | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  /** The flush running now (decode workers answer asynchronously); the next one waits for it. */
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly opts: PipelineOptions) {
    this.now = opts.now ?? Date.now;
    this.collectorId = opts.collectorId ?? hostname();
    const table = flowTemplateTable(opts.db);
    const shared = {
      defaultSamplingRate: opts.defaultSamplingRate ?? 1,
      ...(opts.samplingOverrides ? { samplingOverrides: opts.samplingOverrides } : {}),
      templateExpiryMs: opts.templateExpiryMs ?? 30 * MINUTE,
      collectorId: this.collectorId,
    };
    if ((opts.decodeWorkers ?? 1) > 1) {
      if (!opts.enrichOptions) throw new Error('decode workers need the enricher options');
      this.workers = new DecodeWorkers({
        count: opts.decodeWorkers!,
        table,
        logger: opts.logger,
        enrich: opts.enrichOptions,
        ...shared,
      });
    } else
      this.shard = new IngestShard({
        table,
        enricher: opts.enricher,
        counts: opts.metrics.pending,
        logger: opts.logger,
        now: this.now,
        ...shared,
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

  /** v9/IPFIX templates and sampler state (decoding on this thread only). */
  get registry(): TemplateRegistry {
    return this.local().registry;
  }

  /** Templates and sampler state shared with the other collectors through the database (this thread only). */
  get templates(): TemplateStore {
    return this.local().templates;
  }

  private local(): IngestShard {
    if (!this.shard) throw new Error('the templates are in the decode workers');
    return this.shard;
  }

  /**
   * Restores templates and sampling state saved by an earlier run or by other collectors, so the
   * next data set decodes at once and with the right rate. Returns templates restored.
   */
  loadTemplates(): Promise<number> {
    return this.workers ? this.workers.load() : this.local().templates.load();
  }

  /**
   * Saves the templates and sampling state learned or refreshed since the last save (every flush
   * interval and at shutdown); never deletes what other collectors saved (see TemplateStore).
   */
  saveTemplates(): Promise<void> {
    return this.workers ? this.workers.save() : this.local().templates.save();
  }

  /** Datagrams decoded so far, on this thread or in the decode workers (tests wait on it). */
  async handled(): Promise<number> {
    return this.workers ? this.workers.handled() : this.local().handled;
  }

  /**
   * The decode workers' datagram ports, for the receiving thread (startUdp): empty when decoding
   * on this thread, which then gets every datagram through {@link handleDatagram}.
   */
  takeDatagramPorts(): MessagePort[] {
    return this.workers?.takeDatagramPorts() ?? [];
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
    this.local().handleDatagram(buf, address, kind);
  }

  /**
   * Moves everything aggregated so far into a batch for the writer: at once on this thread; with
   * decode workers once they all answered (the promise), their templates expired and saved too.
   */
  flush(): Promise<void> {
    if (this.shard) {
      this.enqueue(this.shard.drain());
      return Promise.resolve();
    }
    return this.flushWorkers(false);
  }

  private flushWorkers(awaitSave: boolean): Promise<void> {
    const workers = this.workers!;
    this.flushing = this.flushing
      .then(async () => {
        const drained = await workers.drain(awaitSave);
        for (const c of drained.counts) this.opts.metrics.add(c);
        this.opts.metrics.templates(drained.templates);
        if (drained.adm1Names.length > 0) this.opts.enricher.giveBackAdm1Names(drained.adm1Names);
        this.enqueue(drained.batch);
      })
      .catch((err) => this.opts.logger.error({ err }, 'draining the decode workers failed'));
    return this.flushing;
  }

  private enqueue({ traffic, exporters, minutes }: BatchContent): void {
    if (traffic.length === 0 && exporters.length === 0) return;
    this.writer.enqueue({ id: randomUUID(), traffic, exporters, minutes });
    this.opts.metrics.bufferDepth(this.writer.depth);
    if (this.opts.spool) this.opts.metrics.spool(this.opts.spool.rows, this.opts.spool.bytes);
  }

  start(): void {
    const every = this.opts.flushIntervalMs ?? 5000;
    this.timer = setInterval(() => {
      if (this.workers) {
        // Each worker expires and saves its own templates when drained.
        void this.flush();
        return;
      }
      void this.flush();
      this.opts.metrics.templates(this.local().expire(this.now()));
      void this.saveTemplates().catch((err) =>
        this.opts.logger.warn({ err }, 'saving templates failed; will retry'),
      );
    }, every);
    this.timer.unref();
  }

  /** Flushes and writes what is left (SIGTERM). Returns rows that could not be written. */
  async stop(timeoutMs = 10_000): Promise<number> {
    if (this.timer) clearInterval(this.timer);
    if (this.workers) {
      await this.flushWorkers(true);
      await this.workers.terminate();
    } else {
      void this.flush();
      await this.saveTemplates().catch((err) =>
        this.opts.logger.warn({ err }, 'saving templates at shutdown failed'),
      );
    }
    return this.writer.close(timeoutMs);
  }
}
