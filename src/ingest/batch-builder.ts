/**
 * The per-record steps both ingest paths share (the UDP collector's Pipeline and `POST
 * /ingest/flows`): sample → classify → aggregate, with each exporter's counters beside them, and
 * the batch the writer takes when it is drained.
 */
import type { ExporterDelta, ExporterMinuteDelta } from '../db/ingest-store.js';
import { MAX_STORED_ASN, type TrafficRows } from '../db/traffic.js';
import { MinuteAggregator } from './aggregate.js';
import type { Classification, Enricher } from './enrich.js';
import { type SamplingAccount, sample } from './sample.js';
import type { FlowRecord } from './types.js';

const MINUTE = 60_000;

/**
 * Counters of one exporter since the last drain; what {@link BatchBuilder.addRecord} counts on.
 * @example
 * const exporter = builder.exporter('192.0.2.1', Date.now());
 * exporter.countError('duplicate');
 */
export class ExporterAccount implements SamplingAccount {
  datagrams = 0;
  records = 0;
  lostRecords = 0;
  unsampledRecords = 0;
  /** Dropped datagrams or parts of them, by reason (decode errors, duplicates, an AS not stored). */
  readonly errors: Record<string, number> = {};
  readonly rates = new Map<number, number>();
  /** Collector id → last datagram received (Unix ms); stays empty for HTTP ingest. */
  readonly collectors: Record<string, number> = {};

  constructor(
    readonly address: string,
    public lastSeenMs: number,
    readonly samplingOverride: number,
  ) {}

  /** Counts `n` drops of `reason`. */
  countError(reason: string, n = 1): void {
    this.errors[reason] = (this.errors[reason] ?? 0) + n;
  }

  /** The counters as the exporters table takes them. */
  toDelta(): ExporterDelta {
    return {
      address: this.address,
      lastSeenMs: this.lastSeenMs,
      datagrams: this.datagrams,
      records: this.records,
      lostRecords: this.lostRecords,
      unsampledRecords: this.unsampledRecords,
      errors: this.errors,
      samplingRates: Object.fromEntries([...this.rates].map(([rate, n]) => [String(rate), n])),
      collectors: this.collectors,
    };
  }
}

export interface BatchBuilderOptions {
  /** Classifies each record: remote AS and country, product, direction. */
  enricher: Pick<Enricher, 'classify'>;
  /** Rate for records whose sampling rate is unknown (they are counted as such). */
  defaultSamplingRate: number;
  /** Per-exporter sampling rate that overrides what the exporter says. */
  samplingOverrides?: Record<string, number>;
  /**
   * The collector whose sequence tracking measures the minutes this builder counts; '' for HTTP
   * ingest, whose minutes never report loss and never make a minute split.
   */
  collectorId: string;
}

/** What a drained builder holds: a batch without its id. */
export interface BatchContent {
  traffic: TrafficRows;
  exporters: ExporterDelta[];
  minutes: ExporterMinuteDelta[];
}

/**
 * Sums decoded records into the rows of one batch: per record sample → classify → aggregate
 * (allocating nothing once its cells exist), per exporter the counters of the exporters table,
 * per (minute, exporter) the data quality of exporter_minutes.
 * @example
 * const builder = new BatchBuilder({ enricher, defaultSamplingRate: 1, collectorId: '' });
 * builder.addRecord(record, builder.exporter('192.0.2.1', Date.now()));
 * await writeBatch(db, { id: `http:${key}`, ...builder.drain() });
 */
export class BatchBuilder {
  private readonly aggregator = new MinuteAggregator();
  private readonly cls: Classification = {
    asn: 0,
    location: 'XX',
    adm1: 0,
    product: 'OTHER',
    direction: 'in',
  };
  private readonly overrides: Map<string, number>;
  private exporters = new Map<string, ExporterAccount>();
  private minutes = new Map<string, ExporterMinuteDelta>();

  constructor(private readonly opts: BatchBuilderOptions) {
    this.overrides = new Map(Object.entries(opts.samplingOverrides ?? {}));
  }

  /** The account of `address`, created at its first datagram or record; last seen is `nowMs`. */
  exporter(address: string, nowMs: number): ExporterAccount {
    let e = this.exporters.get(address);
    if (e === undefined) {
      e = new ExporterAccount(address, nowMs, this.overrides.get(address) ?? 0);
      this.exporters.set(address, e);
    }
    e.lastSeenMs = nowMs;
    return e;
  }

  /** The exporters counted since the last drain, in first-seen order. */
  accounts(): IterableIterator<ExporterAccount> {
    return this.exporters.values();
  }

  /** The data quality row of (the minute of `nowMs`, `exporter`), created empty when missing. */
  minute(exporter: string, nowMs: number): ExporterMinuteDelta {
    const minuteMs = Math.floor(nowMs / MINUTE) * MINUTE;
    const key = `${minuteMs}|${exporter}`;
    let m = this.minutes.get(key);
    if (m === undefined) {
      m = {
        minuteMs,
        exporter,
        collector: this.opts.collectorId,
        records: 0,
        lostRecords: 0,
        unsampledRecords: 0,
      };
      this.minutes.set(key, m);
    }
    return m;
  }

  /**
   * One decoded record of `exporter`: sample (its rate, counted on the account), classify, and
   * add to its minutes scaled by the rate. An AS number above {@link MAX_STORED_ASN} is counted on
   * the account (`asn_not_stored`) and the record kept as AS 0. Copies what it keeps; `r` may be reused after.
   */
  addRecord(r: FlowRecord, exporter: ExporterAccount): void {
    const rate = sample(r, exporter, this.opts.defaultSamplingRate);
    exporter.records++;
    this.opts.enricher.classify(r, this.cls);
    if (this.cls.asn > MAX_STORED_ASN) {
      // A row the database would refuse would fail its whole flush, and every retry after it.
      this.cls.asn = 0;
      exporter.countError('asn_not_stored');
    }
    this.aggregator.addRecord(r, this.cls, rate);
  }

  /** Scaled bytes added since the last call (the bytes counter, once per datagram); resets it. */
  takeAddedBytes(): number {
    return this.aggregator.takeAddedBytes();
  }

  /** Takes everything counted so far and starts empty. */
  drain(): BatchContent {
    const traffic = this.aggregator.drain();
    const exporters = [...this.exporters.values()].map((e) => e.toDelta());
    const minutes = [...this.minutes.values()];
    this.exporters = new Map();
    this.minutes = new Map();
    return { traffic, exporters, minutes };
  }
}
