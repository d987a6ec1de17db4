import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import type { Database } from '../db/client.js';
import { MinuteAggregator } from './aggregate.js';
import type { Classification, Enricher } from './enrich.js';
import { type FlowRecord, newFlowRecord, resetFlowRecord } from './types.js';
import { type ExporterDelta, newExporterDelta, writeBatch } from './writer.js';

/** Lines one request may carry. */
export const MAX_LINES = 100_000;

const uint = z
  .union([z.number(), z.string().regex(/^\d+$/)])
  .transform(Number)
  .pipe(z.number().int().min(0));
const ns = z.union([z.number(), z.string().regex(/^\d+$/)]).transform((v) => Number(BigInt(v) / 1_000_000n));
const addr = z.string().refine((s) => ipaddr.isValid(s), 'not an IP address');

/** goflow2's JSON record, the fields flowradar uses; unknown fields are ignored. */
const GoflowRecord = z.object({
  type: z.string().optional(),
  time_received_ns: ns.optional(),
  time_flow_start_ns: ns.optional(),
  time_flow_end_ns: ns.optional(),
  sampler_address: addr.optional(),
  sampling_rate: uint.optional(),
  sequence_num: uint.optional(),
  bytes: uint,
  packets: uint.optional(),
  src_addr: addr,
  dst_addr: addr,
  src_port: uint.optional(),
  dst_port: uint.optional(),
  proto: uint.optional(),
  etype: uint.optional(),
  src_as: uint.optional(),
  dst_as: uint.optional(),
  in_if: uint.optional(),
  out_if: uint.optional(),
});
type GoflowRecord = z.infer<typeof GoflowRecord>;

export interface LineError {
  line: number;
  message: string;
}

/** Parses every line first: a request is taken whole or not at all. */
export function parseNdjson(text: string): { records: GoflowRecord[]; errors: LineError[] } {
  const records: GoflowRecord[] = [];
  const errors: LineError[] = [];
  const lines = text.split('\n');
  if (lines.length > MAX_LINES + 1)
    return { records, errors: [{ line: MAX_LINES + 1, message: `at most ${MAX_LINES} lines` }] };
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      errors.push({ line: i + 1, message: 'not JSON' });
      return;
    }
    const parsed = GoflowRecord.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      errors.push({ line: i + 1, message: `${issue.path.join('.') || 'record'}: ${issue.message}` });
      return;
    }
    records.push(parsed.data);
  });
  return { records, errors };
}

function setAddress(target: Uint8Array, text: string): number {
  const bytes = ipaddr.parse(text).toByteArray();
  target.fill(0);
  target.set(bytes);
  return bytes.length === 4 ? 4 : 6;
}

function toFlowRecord(g: GoflowRecord, out: FlowRecord, nowMs: number): FlowRecord {
  resetFlowRecord(out);
  const received = g.time_received_ns ?? nowMs;
  out.startMs = g.time_flow_start_ns || received;
  out.endMs = g.time_flow_end_ns || out.startMs;
  out.bytes = g.bytes;
  out.packets = g.packets ?? 0;
  out.samplingRate = g.sampling_rate ?? 0;
  out.ipVersion = setAddress(out.srcAddr, g.src_addr);
  setAddress(out.dstAddr, g.dst_addr);
  out.srcPort = g.src_port ?? 0;
  out.dstPort = g.dst_port ?? 0;
  out.proto = g.proto ?? 0;
  out.srcAs = g.src_as ?? 0;
  out.dstAs = g.dst_as ?? 0;
  out.inIf = g.in_if ?? 0;
  out.outIf = g.out_if ?? 0;
  return out;
}

export interface NdjsonIngestOptions {
  enricher: Enricher;
  defaultSamplingRate: number;
  samplingOverrides: Record<string, number>;
  /** Address standing for records without sampler_address (the HTTP client). */
  clientAddress: string;
  nowMs: number;
  /** The request's Idempotency-Key: a retried request with the same key counts once. */
  idempotencyKey: string | undefined;
}

/**
 * Aggregates goflow2 records like the UDP collector does (sampling, enrichment, per-minute
 * spreading) and writes them as one batch, exactly once per idempotency key.
 */
export async function ingestGoflowRecords(db: Database, records: GoflowRecord[], opts: NdjsonIngestOptions) {
  const aggregator = new MinuteAggregator();
  const cls: Classification = { asn: 0, location: 'XX', product: 'OTHER', direction: 'in' };
  const rec = newFlowRecord();
  const exporters = new Map<string, ExporterDelta>();
  let unsampled = 0;
  for (const g of records) {
    toFlowRecord(g, rec, opts.nowMs);
    const exporter = g.sampler_address ?? opts.clientAddress;
    let e = exporters.get(exporter);
    if (!e) {
      e = newExporterDelta(exporter, opts.nowMs);
      exporters.set(exporter, e);
    }
    let rate = opts.samplingOverrides[exporter] ?? rec.samplingRate;
    if (rate <= 0) {
      rate = opts.defaultSamplingRate;
      e.unsampledRecords++;
      unsampled++;
    }
    e.records++;
    e.samplingRates[rate] = (e.samplingRates[rate] ?? 0) + 1;
    opts.enricher.classify(rec, cls);
    aggregator.add(
      rec.startMs,
      rec.endMs,
      cls.asn,
      cls.location,
      cls.product,
      cls.direction,
      rec.bytes * rate,
      rec.packets * rate,
    );
  }
  const minuteMs = Math.floor(opts.nowMs / 60_000) * 60_000;
  const outcome = await writeBatch(db, {
    id: opts.idempotencyKey ? `http:${opts.idempotencyKey}` : `http:${crypto.randomUUID()}`,
    traffic: aggregator.drain(),
    exporters: [...exporters.values()],
    minutes: [...exporters.values()].map((e) => ({
      minuteMs,
      exporter: e.address,
      // No sequence numbers over HTTP: nothing measured, so this never reports loss or splits a minute.
      collector: '',
      records: e.records,
      lostRecords: 0,
      unsampledRecords: e.unsampledRecords,
    })),
  });
  return { outcome, records: records.length, unsampled };
}
