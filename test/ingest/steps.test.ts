/**
 * The ingest steps one by one, on real datagrams (the committed captures, or our encoder's
 * output decoded back): dedupe → decode → sample → classify → aggregate, then the accounting
 * both ingest paths share (BatchBuilder), and the Pipeline's count of a datagram no decoder
 * knows. Each step is a function with its own table.
 */
import pino from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.js';
import { trafficRows } from '../../src/db/traffic.js';
import { BatchBuilder } from '../../src/ingest/batch-builder.js';
import { decodeDatagram } from '../../src/ingest/decode.js';
import { type DatagramKind, dedupe } from '../../src/ingest/dedupe.js';
import { type Classification, createEnricher, type Enricher } from '../../src/ingest/enrich.js';
import { IngestMetrics } from '../../src/ingest/metrics.js';
import { TemplateRegistry } from '../../src/ingest/netflow/index.js';
import { Pipeline } from '../../src/ingest/pipeline.js';
import { sample } from '../../src/ingest/sample.js';
import { SequenceTracker } from '../../src/ingest/sequence.js';
import { type DecodeResult, type FlowRecord, newFlowRecord } from '../../src/ingest/types.js';
import type { Batch } from '../../src/ingest/writer.js';
import { encodeIpfix, type SimFlow } from '../../src/sim/encode.js';
import { readPcapFile } from '../helpers/pcap.js';

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
const DEMO_TSV = new URL('../../demo/ip2asn-demo.tsv', import.meta.url).pathname;

/** The datagrams of a committed capture, with the listener each was sent to. */
function capture(name: string): { kind: DatagramKind; address: string; tsMs: number; payload: Uint8Array }[] {
  return readPcapFile(`${FIXTURES}${name}.pcap`)
    .filter((p) => p.dstPort === 2055 || p.dstPort === 6343)
    .map((p) => ({
      kind: p.dstPort === 6343 ? 'sflow' : 'netflow',
      address: p.srcAddr,
      tsMs: p.tsMs,
      payload: p.payload,
    }));
}

/** Decodes a whole capture in order (templates first), handing a copy of each record to `each`. */
function decodeCapture(name: string, each: (r: FlowRecord) => void = () => {}): DecodeResult[] {
  const registry = new TemplateRegistry();
  const record = newFlowRecord();
  return capture(name).map((d) =>
    decodeDatagram(d.payload, d.kind, { exporter: d.address, registry, nowMs: d.tsMs, record }, each),
  );
}

const withBytes = (buf: Uint8Array, at: number, bytes: number[]) => {
  const copy = Uint8Array.from(buf);
  copy.set(bytes, at);
  return copy;
};

describe('dedupe: a datagram seen before is dropped', () => {
  it.each([
    { capture: 'fprobe-v5', key: 'v5|0|127.0.0.1' },
    { capture: 'nfreplay-v9', key: 'v9|1|127.0.0.1' },
    { capture: 'python-ipfix', key: 'ipfix|42|127.0.0.1' },
    { capture: 'pmacct-sflow-sampled', key: 'sflow|7f000001|0|127.0.0.1' },
  ])(
    '$capture: keyed $key; the same again is a duplicate, new content or another sender is not',
    ({ capture: name, key }) => {
      const d = capture(name)[0]!;
      const sequences = new SequenceTracker();
      const first = dedupe(sequences, d.payload, d.address, d.kind);
      expect(first).toMatchObject({ key });
      if (first === 'duplicate') return;
      sequences.observe(first.key!, first.sequence, 1, 1, -1, first.hash);
      expect(dedupe(sequences, d.payload, d.address, d.kind)).toBe('duplicate');
      // A reused sequence number on new content (some exporters do it) is new data.
      const changed = withBytes(d.payload, d.payload.length - 1, [d.payload.at(-1)! ^ 0xff]);
      expect(dedupe(sequences, changed, d.address, d.kind)).toMatchObject({ key });
      expect(dedupe(sequences, d.payload, '192.0.2.99', d.kind)).toMatchObject({
        key: key.replace('127.0.0.1', '192.0.2.99'),
      });
    },
  );

  it.each([
    { name: 'a NetFlow header cut short', kind: 'netflow' as const, payload: Uint8Array.of(0, 9, 0, 1) },
    { name: 'an unknown NetFlow version', kind: 'netflow' as const, payload: new Uint8Array(40).fill(7) },
    { name: 'an sFlow header cut short', kind: 'sflow' as const, payload: Uint8Array.of(0, 0, 0, 5) },
  ])('$name has no sequence source: never a duplicate', ({ kind, payload }) => {
    const sequences = new SequenceTracker();
    expect(dedupe(sequences, payload, '192.0.2.1', kind)).toEqual({ key: undefined, sequence: 0, hash: 0 });
    expect(dedupe(sequences, payload, '192.0.2.1', kind)).not.toBe('duplicate');
  });
});

describe('decode: a datagram to records, or a counted drop reason', () => {
  it.each([
    // capture, protocol, datagrams, records, records per sampling rate (0: none in the datagram)
    ['fprobe-v5', 'v5', 1, 20, { 1: 20 }],
    ['softflowd-v5-sampled', 'v5', 1, 13, { 10: 13 }],
    ['nfreplay-v9', 'v9', 4, 80, { 0: 80 }],
    ['softflowd-v9-sampled', 'v9', 2, 23, { 10: 23 }],
    ['python-ipfix', 'ipfix', 3, 30, { 0: 30 }],
    ['pmacct-ipfix-sampled', 'ipfix', 5, 25, { 10: 25 }],
    ['pmacct-sflow-sampled', 'sflow', 8, 56, { 10: 56 }],
  ] as const)('%s: %s, %i datagrams, %i records, rates %o', (name, protocol, datagrams, records, rates) => {
    const seen: Record<number, number> = {};
    const results = decodeCapture(name, (r) => {
      seen[r.samplingRate] = (seen[r.samplingRate] ?? 0) + 1;
    });
    expect(results).toHaveLength(datagrams);
    for (const res of results) expect(res).toMatchObject({ protocol, ok: true, skipped: {} });
    expect(results.reduce((n, r) => n + r.records, 0)).toBe(records);
    expect(seen).toEqual(rates);
  });

  const v5 = () => capture('fprobe-v5')[0]!.payload;
  const v9 = () => capture('nfreplay-v9')[0]!.payload;
  const ipfix = () => capture('python-ipfix')[0]!.payload;
  const sflow = () => capture('pmacct-sflow-sampled')[0]!.payload;
  it.each([
    // what, listener, protocol, reason, datagram
    ['NetFlow of version 7', 'netflow', 'unknown', 'bad_version', () => withBytes(v5(), 0, [0, 7])],
    ['one byte', 'netflow', 'unknown', 'truncated', () => v5().subarray(0, 1)],
    ['a v5 header cut', 'netflow', 'v5', 'truncated', () => v5().subarray(0, 20)],
    ['a v9 header cut', 'netflow', 'v9', 'truncated', () => v9().subarray(0, 12)],
    [
      'an IPFIX length that lies',
      'netflow',
      'ipfix',
      'bad_length',
      () => withBytes(ipfix(), 2, [0xff, 0xff]),
    ],
    ['sFlow of version 4', 'sflow', 'unknown', 'bad_version', () => withBytes(sflow(), 0, [0, 0, 0, 4])],
    ['an sFlow header cut', 'sflow', 'sflow', 'truncated', () => sflow().subarray(0, 6)],
  ] as const)('%s (%s): rejected as %s, %s, nothing emitted', (_, kind, protocol, reason, buf) => {
    let emitted = 0;
    const ctx = {
      exporter: '192.0.2.1',
      registry: new TemplateRegistry(),
      nowMs: Date.now(),
      record: newFlowRecord(),
    };
    const res = decodeDatagram(buf(), kind, ctx, () => emitted++);
    expect(res).toMatchObject({ protocol, ok: false, reason });
    expect(emitted).toBe(0);
  });

  it('a decoder that throws (here through its sink) drops the datagram as bad_record and says why', () => {
    const d = capture('fprobe-v5')[0]!;
    const thrown: unknown[] = [];
    const ctx = {
      exporter: d.address,
      registry: new TemplateRegistry(),
      nowMs: d.tsMs,
      record: newFlowRecord(),
    };
    const res = decodeDatagram(
      d.payload,
      d.kind,
      ctx,
      () => {
        throw new Error('sink failed');
      },
      (err) => thrown.push(err),
    );
    expect(res).toMatchObject({ protocol: 'unknown', ok: false, reason: 'bad_record' });
    expect(thrown).toEqual([new Error('sink failed')]);
  });
});

describe('sample: the rate that scales a record', () => {
  it.each([
    // what, capture, override, default, records per rate used, unsampled records
    ["the v5 header's interval", 'softflowd-v5-sampled', 0, 1, { 10: 13 }, 0],
    ["a v9 sampler's options data", 'softflowd-v9-sampled', 0, 1, { 10: 23 }, 0],
    ["an sFlow sample's rate", 'pmacct-sflow-sampled', 0, 1, { 10: 56 }, 0],
    ['none known: the default, counted', 'nfreplay-v9', 0, 1, { 1: 80 }, 80],
    ['none known: a default of 100', 'python-ipfix', 0, 100, { 100: 30 }, 30],
    ["an override over the exporter's", 'softflowd-v5-sampled', 50, 1, { 50: 13 }, 0],
    ['an override where none is known', 'nfreplay-v9', 50, 1, { 50: 80 }, 0],
  ])('%s (%s, override %i, default %i)', (_, name, override, fallback, rates, unsampled) => {
    const account = { samplingOverride: override, unsampledRecords: 0, rates: new Map<number, number>() };
    let scaledBytes = 0;
    let bytes = 0;
    decodeCapture(name, (r) => {
      const rate = sample(r, account, fallback);
      scaledBytes += r.bytes * rate;
      bytes += r.bytes;
    });
    expect(Object.fromEntries(account.rates)).toEqual(rates);
    expect(account.unsampledRecords).toBe(unsampled);
    expect(scaledBytes).toBe(bytes * Number(Object.keys(rates)[0]));
  });
});

/** A flow as an exporter sends it: encoded as IPFIX and decoded back, so classify sees a real record. */
function decoded(flow: Partial<SimFlow>): FlowRecord {
  const now = Date.now();
  const f: SimFlow = {
    startMs: now - 10_000,
    endMs: now - 1000,
    src: '85.240.1.2',
    dst: '10.20.0.5',
    srcPort: 443,
    dstPort: 51234,
    proto: 6,
    bytes: 1500,
    packets: 2,
    srcAs: 0,
    dstAs: 0,
    inIf: 1,
    outIf: 2,
    ...flow,
  };
  const [datagram] = encodeIpfix([f], { exportMs: now, domain: 1 }).datagrams;
  const record = newFlowRecord();
  let out: FlowRecord | undefined;
  decodeDatagram(
    datagram!,
    'netflow',
    { exporter: '192.0.2.1', registry: new TemplateRegistry(), nowMs: now, record },
    (r) => {
      out = { ...r, srcAddr: Uint8Array.from(r.srcAddr), dstAddr: Uint8Array.from(r.dstAddr) };
    },
  );
  return out!;
}

describe('classify: remote AS and country, product, direction (demo ip2asn table, local 10.20.0.0/16)', () => {
  let enricher: Enricher;
  beforeAll(async () => {
    enricher = await createEnricher({
      localNetworks: ['10.20.0.0/16'],
      useExporterAs: true,
      asnTsv: [DEMO_TSV],
    });
  });

  const v6 = { src: '2001:db8::1', dst: 'fd00::5', srcAs: 64501 };
  it.each([
    // what, the flow (HTTPS from 85.240.1.2 to 10.20.0.5 unless said), AS, location, product, direction
    ['HTTPS from a remote server', {}, 3243, 'PT', 'HTTP', 'in'],
    [
      'HTTPS to a remote server',
      { src: '10.20.0.5', dst: '142.250.1.1', srcPort: 40000, dstPort: 443 },
      15169,
      'US',
      'HTTP',
      'out',
    ],
    ["the exporter's AS first", { srcAs: 64500 }, 64500, 'PT', 'HTTP', 'in'],
    ['QUIC (UDP 443)', { proto: 17 }, 3243, 'PT', 'HTTP', 'in'],
    ['DNS', { proto: 17, srcPort: 53 }, 3243, 'PT', 'OTHER', 'in'],
    [
      'neither side local: the source is remote',
      { src: '2.80.1.1', dst: '79.192.1.1' },
      2860,
      'PT',
      'HTTP',
      'in',
    ],
    ['IPv6 outside the table', v6, 64501, 'XX', 'HTTP', 'in'],
  ] as const)('%s', (_, flow, asn, location, product, direction) => {
    const cls = { asn: 0, location: '', adm1: -1, product: 'OTHER', direction: 'in' } as Classification;
    enricher.classify(decoded(flow), cls);
    // No City database: the subdivision is unknown (0).
    expect(cls).toEqual({ asn, location, adm1: 0, product, direction });
  });
});

describe('BatchBuilder: sample → classify → aggregate, counted per exporter (both ingest paths)', () => {
  let enricher: Enricher;
  beforeAll(async () => {
    enricher = await createEnricher({
      localNetworks: ['10.20.0.0/16'],
      useExporterAs: true,
      asnTsv: [DEMO_TSV],
    });
  });

  type Row = [string, string, Record<string, number>, number, string, number, number, number];
  it.each<Row>([
    // what, collector id, overrides, default, capture, records, rate used, unsampled records
    ['the UDP collector', 'c1', {}, 1, 'softflowd-v9-sampled', 23, 10, 0],
    ['HTTP ingest', '', {}, 1, 'softflowd-v9-sampled', 23, 10, 0],
    ['an override', 'c1', { '127.0.0.1': 4 }, 1, 'softflowd-v9-sampled', 23, 4, 0],
    ['no rate known', 'c1', {}, 3, 'nfreplay-v9', 80, 3, 80],
  ])(
    '%s (collector %j): traffic scaled, the exporter and its minute counted',
    (_, collectorId, overrides, fallback, name, records, rate, unsampled) => {
      const builder = new BatchBuilder({
        enricher,
        defaultSamplingRate: fallback,
        samplingOverrides: overrides,
        collectorId,
      });
      const nowMs = Date.parse('2026-11-23T10:14:30Z');
      let bytes = 0;
      let packets = 0;
      const exporter = builder.exporter('127.0.0.1', nowMs);
      decodeCapture(name, (r) => {
        bytes += r.bytes;
        packets += r.packets;
        builder.addRecord(r, exporter);
      });
      // What the caller adds per datagram (UDP) or per request (HTTP).
      Object.assign(builder.minute('127.0.0.1', nowMs), {
        records: exporter.records,
        unsampledRecords: unsampled,
      });
      expect(builder.takeAddedBytes()).toBe(bytes * rate);
      const batch = builder.drain();
      expect(trafficRows(batch.traffic).reduce((s, t) => s + t.bytes, 0)).toBe(bytes * rate);
      expect(trafficRows(batch.traffic).reduce((s, t) => s + t.packets, 0)).toBe(packets * rate);
      expect(trafficRows(batch.traffic).reduce((s, t) => s + t.flows, 0)).toBe(records);
      expect(batch.exporters).toEqual([
        {
          address: '127.0.0.1',
          lastSeenMs: nowMs,
          datagrams: 0,
          records,
          lostRecords: 0,
          unsampledRecords: unsampled,
          errors: {},
          samplingRates: { [rate]: records },
          collectors: {},
        },
      ]);
      expect(batch.minutes).toEqual([
        {
          minuteMs: Date.parse('2026-11-23T10:14:00Z'),
          exporter: '127.0.0.1',
          collector: collectorId,
          records,
          lostRecords: 0,
          unsampledRecords: unsampled,
        },
      ]);
      const empty = builder.drain();
      expect({ ...empty, traffic: trafficRows(empty.traffic) }).toEqual({
        traffic: [],
        exporters: [],
        minutes: [],
      });
    },
  );
});

describe('Pipeline: datagrams no decoder knows', () => {
  it.each([
    // what, listener, capture whose first datagram gets another version, version bytes
    ['NetFlow of version 7', 'netflow', 'fprobe-v5', [0, 7]],
    ['sFlow of version 4', 'sflow', 'pmacct-sflow-sampled', [0, 0, 0, 4]],
  ] as const)(
    '%s counts as protocol "unknown", decode error bad_version, on the exporter too',
    async (_, kind, name, version) => {
      const enricher = await createEnricher({ localNetworks: [], useExporterAs: true });
      const metrics = new IngestMetrics();
      const pipeline = new Pipeline({
        db: {} as Database,
        enricher,
        metrics,
        logger: pino({ level: 'silent' }),
      });
      const batches: Batch[] = [];
      pipeline.writer.enqueue = (b) => batches.push(b);
      pipeline.handleDatagram(withBytes(capture(name)[0]!.payload, 0, [...version]), '192.0.2.1', kind);
      pipeline.flush();
      const text = await metrics.registry.metrics();
      expect(text).toContain('flowradar_datagrams_total{protocol="unknown"} 1');
      expect(text).toContain('flowradar_decode_errors_total{reason="bad_version"} 1');
      expect(text).not.toMatch(/flowradar_datagrams_total\{protocol="(ipfix|sflow)"\}/);
      expect(batches[0]?.exporters).toMatchObject([
        { address: '192.0.2.1', datagrams: 1, records: 0, errors: { bad_version: 1 } },
      ]);
      expect(batches[0]?.minutes).toEqual([]);
    },
  );
});
