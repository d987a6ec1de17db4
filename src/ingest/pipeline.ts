import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Database } from '../db/client.js';
import { MinuteAggregator } from './aggregate.js';
import type { Classification, Enricher } from './enrich.js';
import { type IngestMetrics, writeFailureCause } from './metrics.js';
import { decodeNetflow, TemplateRegistry } from './netflow/index.js';
import { contentHash, SequenceTracker } from './sequence.js';
import { decodeSflow } from './sflow.js';
import type { Spool } from './spool.js';
import { TemplateStore } from './template-store.js';
import { type DecodeResult, type FlowRecord, newFlowRecord } from './types.js';
import { BatchWriter, type ExporterDelta, type ExporterMinuteDelta, newExporterDelta } from './writer.js';

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
 * Protocol, domain (sFlow: agent and sub-agent) and sequence from a datagram's fixed header,
 * before decoding; undefined when the header is too short to say.
 */
export function peekSource(
  buf: Uint8Array,
  kind: 'netflow' | 'sflow',
): { key: string; sequence: number } | undefined {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (kind === 'sflow') {
    if (buf.length < 28 || dv.getUint32(0) !== 5) return undefined;
    const type = dv.getUint32(4);
    const at = type === 1 ? 12 : type === 2 ? 24 : -1;
    if (at < 0 || buf.length < at + 8) return undefined;
    const agent = Buffer.from(buf.subarray(8, at)).toString('hex');
    return { key: `sflow|${agent}|${dv.getUint32(at)}`, sequence: dv.getUint32(at + 4) };
  }
  if (buf.length < 20) return undefined;
  switch (dv.getUint16(0)) {
    case 5:
      return buf.length >= 24 ? { key: `v5|${dv.getUint16(20)}`, sequence: dv.getUint32(16) } : undefined;
    case 9:
      return { key: `v9|${dv.getUint32(16)}`, sequence: dv.getUint32(12) };
    case 10:
      return { key: `ipfix|${dv.getUint32(12)}`, sequence: dv.getUint32(8) };
    default:
      return undefined;
  }
}

/**
 * decode → sample → enrich → aggregate → write. One per process; UDP listeners and the HTTP
 * ingest endpoint hand it datagrams and records.
 */
export class Pipeline {
  readonly registry: TemplateRegistry;
  /** Templates and sampler state shared with the other collectors through the database. */
  readonly templates: TemplateStore;
  readonly writer: BatchWriter;
  readonly collectorId: string;
  private readonly aggregator = new MinuteAggregator();
  private readonly sequences = new SequenceTracker();
  private readonly record: FlowRecord = newFlowRecord();
  private readonly cls: Classification = { asn: 0, location: 'XX', product: 'OTHER', direction: 'in' };
  private exporters = new Map<string, ExporterDelta & { rates: Map<number, number> }>();
  private minutes = new Map<string, ExporterMinuteDelta>();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly defaultRate: number;
  private readonly overrides: Map<string, number>;
  /** Per-datagram state the record sink reads (set before each decode). */
  private current:
    | { exporter: ExporterDelta & { rates: Map<number, number> }; override: number; unsampled: number }
    | undefined;
  private readonly sink = (r: FlowRecord) => this.onRecord(r);

  constructor(private readonly opts: PipelineOptions) {
    this.now = opts.now ?? Date.now;
    this.defaultRate = opts.defaultSamplingRate ?? 1;
    this.overrides = new Map(Object.entries(opts.samplingOverrides ?? {}));
    this.collectorId = opts.collectorId ?? hostname();
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

  private exporterOf(address: string, nowMs: number) {
    let e = this.exporters.get(address);
    if (!e) {
      e = { ...newExporterDelta(address, nowMs), rates: new Map() };
      this.exporters.set(address, e);
    }
    e.lastSeenMs = nowMs;
    return e;
  }

  private minuteOf(exporter: string, nowMs: number): ExporterMinuteDelta {
    const minuteMs = Math.floor(nowMs / MINUTE) * MINUTE;
    const key = `${minuteMs}|${exporter}`;
    let m = this.minutes.get(key);
    if (!m) {
      m = { minuteMs, exporter, collector: '', records: 0, lostRecords: 0, unsampledRecords: 0 };
      this.minutes.set(key, m);
    }
    return m;
  }

  private onRecord(r: FlowRecord): void {
    const cur = this.current!;
    let rate = cur.override || r.samplingRate;
    if (rate <= 0) {
      rate = this.defaultRate;
      cur.unsampled++;
    }
    cur.exporter.rates.set(rate, (cur.exporter.rates.get(rate) ?? 0) + 1);
    this.opts.enricher.classify(r, this.cls);
    // Bytes reach the metrics once per datagram (takeAddedBytes): the counter allocates per call.
    this.aggregator.addRecord(r, this.cls, rate);
  }

  /** Datagrams the receiving thread dropped because this thread fell too far behind. */
  receiveDropped(n: number): void {
    this.opts.metrics.dropped('receive_queue', n);
  }

  /**
   * Decodes one datagram from `address` and aggregates its records. `kind` is the listener's
   * protocol family: sFlow has its own port, NetFlow v5/v9 and IPFIX share one.
   */
  handleDatagram(buf: Uint8Array, address: string, kind: 'netflow' | 'sflow'): void {
    const nowMs = this.now();
    const exporter = this.exporterOf(address, nowMs);
    exporter.datagrams++;
    exporter.collectors[this.collectorId] = nowMs;
    this.current = { exporter, override: this.overrides.get(address) ?? 0, unsampled: 0 };
    // Records reach the aggregator while they are decoded, so a duplicated datagram must be
    // recognised from its header first.
    const peek = peekSource(buf, kind);
    const hash = peek ? contentHash(buf) : 0;
    if (peek && this.sequences.isDuplicate(`${peek.key}|${address}`, peek.sequence, hash)) {
      exporter.errors.duplicate = (exporter.errors.duplicate ?? 0) + 1;
      this.opts.metrics.dropped('duplicate', 1);
      return;
    }
    let res: DecodeResult & { agent?: string };
    try {
      res =
        kind === 'sflow'
          ? decodeSflow(buf, { nowMs, record: this.record, agentFallback: address }, this.sink)
          : decodeNetflow(
              buf,
              { exporter: address, registry: this.registry, nowMs, record: this.record },
              this.sink,
            );
    } catch (err) {
      // Decoders never throw by contract; if one does, the datagram is still only dropped.
      this.opts.logger.error({ err }, 'decoder threw');
      res = { ok: false, reason: 'bad_record' } as DecodeResult;
    }
    const bytes = this.aggregator.takeAddedBytes();
    if (bytes !== 0) this.opts.metrics.bytes(bytes);
    this.opts.metrics.datagram(res.protocol ?? 'unknown');
    if (!res.ok) {
      const reason = res.reason ?? 'bad_record';
      exporter.errors[reason] = (exporter.errors[reason] ?? 0) + 1;
      this.opts.metrics.decodeError(reason);
      return;
    }
    for (const [reason, n] of Object.entries(res.skipped)) {
      exporter.errors[reason] = (exporter.errors[reason] ?? 0) + n;
      this.opts.metrics.decodeError(reason, n);
    }
    exporter.records += res.records;
    this.opts.metrics.records(res.protocol, res.records);
    // v5 sequences count flow records, IPFIX every data record (options too), v9 and sFlow datagrams.
    const units =
      res.protocol === 'v5' ? res.records : res.protocol === 'ipfix' ? (res.dataRecords ?? res.records) : 1;
    const source = `${peek?.key ?? res.protocol}|${address}`;
    const seq = this.sequences.observe(source, res.sequence, units, res.records, res.uptimeMs, hash);
    const minute = this.minuteOf(address, nowMs);
    // This collector's sequence tracking measured the minute's loss; another's would not agree.
    minute.collector = this.collectorId;
    minute.records += res.records;
    minute.unsampledRecords += this.current.unsampled;
    exporter.unsampledRecords += this.current.unsampled;
    if (this.current.unsampled) this.opts.metrics.unsampled(this.current.unsampled);
    // A template or sampler another collector received may be in the database by now.
    if (
      (res.protocol === 'v9' || res.protocol === 'ipfix') &&
      ((res.skipped.unknown_template ?? 0) > 0 || this.current.unsampled > 0)
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

  /** Adds records that arrive already decoded (HTTP ingest), through the same sampling and enrichment. */
  handleRecords(address: string, records: Iterable<FlowRecord>): void {
    const nowMs = this.now();
    const exporter = this.exporterOf(address, nowMs);
    this.current = { exporter, override: this.overrides.get(address) ?? 0, unsampled: 0 };
    let n = 0;
    for (const r of records) {
      this.onRecord(r);
      n++;
    }
    const bytes = this.aggregator.takeAddedBytes();
    if (bytes !== 0) this.opts.metrics.bytes(bytes);
    exporter.records += n;
    const minute = this.minuteOf(address, nowMs);
    minute.records += n;
    minute.unsampledRecords += this.current.unsampled;
    exporter.unsampledRecords += this.current.unsampled;
    this.opts.metrics.records('http', n);
  }

  /** Moves everything aggregated so far into a batch for the writer. */
  flush(): void {
    const traffic = this.aggregator.drain();
    const exporters = [...this.exporters.values()].map(({ rates, ...e }) => ({
      ...e,
      samplingRates: Object.fromEntries([...rates].map(([k, v]) => [String(k), v])),
    }));
    const minutes = [...this.minutes.values()];
    this.exporters = new Map();
    this.minutes = new Map();
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
