import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import type { Database } from '../db/client.js';
import { BatchBuilder } from './batch-builder.js';
import type { Enricher } from './enrich.js';
import { type FlowRecord, newFlowRecord, resetFlowRecord } from './types.js';
import { writeBatch } from './writer.js';

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

/**
 * Parses every line first: a request is taken whole or not at all.
 * @example
 * const { records, errors } = parseNdjson(await c.req.text());
 * if (errors.length > 0) throw badParam('body', `line ${errors[0]!.line}: ${errors[0]!.message}`);
 */
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
 * Runs goflow2 records through the record steps of the UDP collector (sample → classify →
 * aggregate, in {@link BatchBuilder}), counted per sampler address, and writes them as one batch,
 * exactly once per idempotency key. HTTP carries no sequence numbers: the batch's exporter
 * minutes have collector '', so they never report loss nor make a minute split.
 * @example
 * const { records, errors } = parseNdjson(body);
 * if (errors.length === 0) await ingestGoflowRecords(db, records, { enricher, defaultSamplingRate: 1,
 *   samplingOverrides: {}, clientAddress: '198.51.100.9', nowMs: Date.now(), idempotencyKey: 'batch-0001' });
 */
export async function ingestGoflowRecords(db: Database, records: GoflowRecord[], opts: NdjsonIngestOptions) {
  const builder = new BatchBuilder({
    enricher: opts.enricher,
    defaultSamplingRate: opts.defaultSamplingRate,
    samplingOverrides: opts.samplingOverrides,
    collectorId: '',
  });
  const rec = newFlowRecord();
  for (const g of records)
    builder.addRecord(
      toFlowRecord(g, rec, opts.nowMs),
      builder.exporter(g.sampler_address ?? opts.clientAddress, opts.nowMs),
    );
  // The whole request is one unit per exporter, as a datagram is for the UDP collector.
  let unsampled = 0;
  for (const e of builder.accounts()) {
    const minute = builder.minute(e.address, opts.nowMs);
    minute.records += e.records;
    minute.unsampledRecords += e.unsampledRecords;
    unsampled += e.unsampledRecords;
  }
  const batch = builder.drain();
  const id = opts.idempotencyKey ? `http:${opts.idempotencyKey}` : `http:${crypto.randomUUID()}`;
  const outcome = await writeBatch(db, { id, ...batch });
  return { outcome, records: records.length, unsampled };
}
