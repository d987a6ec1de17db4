/**
 * The collector's work on datagrams, for one set of exporters: dedupe → decode → (per record, in
 * {@link BatchBuilder}) sample → classify → aggregate, then sequence tracking and exporter
 * accounting, with the templates and sampler state those exporters sent. With one decode thread
 * the Pipeline holds one shard on the main thread; with several, each decode worker
 * (decode-worker.ts) holds one for the exporters sharded to it. Everything a shard keeps is per
 * exporter address, so exporters never need each other's shard.
 */
import { BatchBuilder, type BatchContent, type ExporterAccount } from './batch-builder.js';
import { decodeDatagram } from './decode.js';
import { type DatagramKind, dedupe } from './dedupe.js';
import type { Enricher } from './enrich.js';
import { countIn, type IngestCounts } from './metrics.js';
import { TemplateRegistry } from './netflow/index.js';
import { SequenceTracker } from './sequence.js';
import { type FlowTemplateTable, TemplateStore } from './template-store.js';
import { type FlowRecord, newFlowRecord } from './types.js';

/** What a shard logs (pino's Logger has it; a decode worker forwards it to the main thread). */
export interface ShardLogger {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface ShardOptions {
  /** `flow_templates`, directly or through the main thread. */
  table: FlowTemplateTable;
  enricher: Pick<Enricher, 'classify'>;
  /** Where per-datagram counters go as plain numbers (see IngestCounts). */
  counts: IngestCounts;
  logger: ShardLogger;
  now: () => number;
  defaultSamplingRate: number;
  samplingOverrides?: Record<string, number>;
  templateExpiryMs: number;
  collectorId: string;
}

/**
 * One shard of the collector (see the module comment).
 * @example
 * const shard = new IngestShard({ table, enricher, counts, logger, now: Date.now, defaultSamplingRate: 1, templateExpiryMs: 1_800_000, collectorId: 'c1' });
 * shard.handleDatagram(buf, '192.0.2.1', 'netflow');
 * writer.enqueue({ id: randomUUID(), ...shard.drain() });
 */
export class IngestShard {
  readonly registry: TemplateRegistry;
  /** Templates and sampler state shared with the other collectors through the database. */
  readonly templates: TemplateStore;
  /** Datagrams handled so far (tests wait on it). */
  handled = 0;
  private readonly batch: BatchBuilder;
  private readonly sequences = new SequenceTracker();
  private readonly record: FlowRecord = newFlowRecord();
  private readonly counts: IngestCounts;
  /** The exporter of the datagram being decoded: the record sink counts on it. */
  private current: ExporterAccount | undefined;
  private readonly sink = (r: FlowRecord) => this.batch.addRecord(r, this.current!);
  private readonly onThrow = (err: unknown) => this.opts.logger.error({ err }, 'decoder threw');

  constructor(private readonly opts: ShardOptions) {
    this.counts = opts.counts;
    this.batch = new BatchBuilder({
      enricher: opts.enricher,
      defaultSamplingRate: opts.defaultSamplingRate,
      ...(opts.samplingOverrides ? { samplingOverrides: opts.samplingOverrides } : {}),
      collectorId: opts.collectorId,
    });
    this.registry = new TemplateRegistry({
      expiryMs: opts.templateExpiryMs,
      onChange: (change) => this.templates.changed(change),
    });
    this.templates = new TemplateStore({
      table: opts.table,
      registry: this.registry,
      expiryMs: this.registry.expiryMs,
      now: opts.now,
      logger: opts.logger,
    });
  }

  /**
   * Decodes one datagram from `address` and aggregates its records. `kind` is the listener's
   * protocol family: sFlow has its own port, NetFlow v5/v9 and IPFIX share one.
   */
  handleDatagram(buf: Uint8Array, address: string, kind: DatagramKind): void {
    this.handled++;
    const nowMs = this.opts.now();
    const counts = this.counts;
    const exporter = this.batch.exporter(address, nowMs);
    exporter.datagrams++;
    exporter.collectors[this.opts.collectorId] = nowMs;
    const id = dedupe(this.sequences, buf, address, kind);
    if (id === 'duplicate') {
      exporter.countError('duplicate');
      counts.duplicates++;
      return;
    }
    const unsampledBefore = exporter.unsampledRecords;
    this.current = exporter;
    const ctx = { exporter: address, registry: this.registry, nowMs, record: this.record };
    const res = decodeDatagram(buf, kind, ctx, this.sink, this.onThrow);
    counts.bytes += this.batch.takeAddedBytes();
    countIn(counts.datagrams, res.protocol);
    if (!res.ok) {
      const reason = res.reason ?? 'bad_record';
      exporter.countError(reason);
      countIn(counts.errors, reason);
      return;
    }
    for (const reason in res.skipped) {
      const n = res.skipped[reason as keyof typeof res.skipped]!;
      exporter.countError(reason, n);
      countIn(counts.errors, reason, n);
    }
    if (res.records > 0) countIn(counts.records, res.protocol, res.records);
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
    counts.unsampled += unsampled;
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
      if (seq.lost > 0) counts.lost += seq.lost;
    }
  }

  /** Takes everything aggregated so far. */
  drain(): BatchContent {
    return this.batch.drain();
  }

  /** Forgets templates and samplers past their expiry; returns templates held. */
  expire(nowMs: number): number {
    this.registry.expire(nowMs);
    return this.registry.size;
  }
}
