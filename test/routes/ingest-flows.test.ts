import { sql } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trafficRows } from '../../src/db/traffic.js';
import { createEnricher, type Enricher } from '../../src/ingest/enrich.js';
import { IngestMetrics } from '../../src/ingest/metrics.js';
import { Pipeline } from '../../src/ingest/pipeline.js';
import type { Batch } from '../../src/ingest/writer.js';
import { encodeIpfix, type SimFlow } from '../../src/sim/encode.js';
import { type TestApp, testApp } from '../helpers/app.js';
import { trafficTotal } from '../helpers/collector.js';

const line = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    type: 'IPFIX',
    time_received_ns: 1763892060000000000,
    time_flow_start_ns: 1763892000000000000,
    time_flow_end_ns: 1763892030000000000,
    sampler_address: '192.0.2.1',
    sampling_rate: 100,
    sequence_num: 1,
    bytes: 1500,
    packets: 2,
    src_addr: '85.240.1.2',
    dst_addr: '10.20.0.5',
    src_port: 443,
    dst_port: 51234,
    proto: 6,
    etype: 2048,
    src_as: 3243,
    dst_as: 0,
    in_if: 1,
    out_if: 2,
    ...over,
  });

describe('POST /ingest/flows (goflow2 NDJSON)', () => {
  let t: TestApp;
  let ingest: string;
  let enricher: Enricher;
  const post = (body: string, headers: Record<string, string> = {}, token = ingest) =>
    t.app.request('/ingest/flows', {
      method: 'POST',
      body,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson', ...headers },
    });
  beforeAll(async () => {
    enricher = await createEnricher({
      localNetworks: ['10.20.0.0/16'],
      useExporterAs: true,
      asnTsv: [],
      mmdb: [],
    });
    t = await testApp({ now: '2025-11-23T10:01:00Z', enricher });
    ingest = await t.token(['ingest']);
  });
  afterAll(() => t.close());

  it('scales by sampling_rate and writes with the remote AS and direction', async () => {
    const res = await post(`${line()}\n${line({ bytes: 500, sampling_rate: 0 })}\n`);
    expect(res.status, await res.clone().text()).toBe(200);
    expect((await res.json()).result).toEqual({ records: 2, duplicate: false, unsampled: 1 });
    expect(await trafficTotal(t.db)).toBe(1500 * 100 + 500);
    const rows = await t.db.query(sql`SELECT DISTINCT asn, direction, product FROM traffic`);
    expect(rows).toEqual([{ asn: 3243, direction: 'in', product: 'HTTP' }]);
  });

  it('counts a retried request once under the same Idempotency-Key', async () => {
    const before = await trafficTotal(t.db);
    const body = line({ bytes: 7, sampling_rate: 1 });
    const first = await post(body, { 'idempotency-key': 'retry-1' });
    const again = await post(body, { 'idempotency-key': 'retry-1' });
    expect((await first.json()).result.duplicate).toBe(false);
    expect((await again.json()).result.duplicate).toBe(true);
    expect(await trafficTotal(t.db)).toBe(before + 7);
  });

  it('takes nothing from a request with a bad line, and names the lines', async () => {
    const before = await trafficTotal(t.db);
    const res = await post([line(), '{not json', line({ src_addr: 'nope' }), line()].join('\n'));
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.errors[0].code).toBe(2001);
    expect(body.errors[0].message).toContain('line 2: not JSON');
    expect(body.errors[0].message).toContain('line 3: src_addr');
    expect(await trafficTotal(t.db)).toBe(before);
  });

  it('counts records without sampler_address for the client, whatever its name', async () => {
    const before = await trafficTotal(t.db);
    // An address is looked up among the sampling overrides: a name of an Object property is none.
    const body = line({ sampler_address: undefined, sampling_rate: 0, bytes: 11 });
    const res = await post(body, { 'x-forwarded-for': 'constructor' });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await trafficTotal(t.db)).toBe(before + 11);
    const [client] = await t.db.query<{ records: number; unsampled_records: number }>(
      sql`SELECT records::float8 AS records, unsampled_records::float8 AS unsampled_records
            FROM exporters WHERE address = 'constructor'`,
    );
    expect(client).toEqual({ records: 1, unsampled_records: 1 });
  });

  it('needs the ingest scope and refuses an oversized Idempotency-Key', async () => {
    expect((await post(line(), {}, await t.token(['read']))).status).toBe(403);
    expect((await post(line(), { 'idempotency-key': 'k'.repeat(201) })).status).toBe(400);
  });

  it('writes for goflow2 records what the UDP collector writes for the same flows', async () => {
    const exportMs = Date.parse('2025-11-23T12:00:30Z');
    const flows: SimFlow[] = [
      ['85.240.1.2', '10.20.0.5', 443, 51234, 6, 3243, 0],
      ['10.20.0.5', '142.250.1.1', 40000, 443, 6, 0, 15169],
      ['2.80.1.1', '10.20.0.9', 53, 5353, 17, 0, 0],
    ].map(([src, dst, srcPort, dstPort, proto, srcAs, dstAs], i) => ({
      startMs: exportMs - 90_000 + i * 1000,
      endMs: exportMs - 10_000,
      src: src as string,
      dst: dst as string,
      srcPort: srcPort as number,
      dstPort: dstPort as number,
      proto: proto as number,
      bytes: 1000 * (i + 1),
      packets: i + 1,
      srcAs: srcAs as number,
      dstAs: dstAs as number,
      inIf: 1,
      outIf: 2,
    }));
    const pipeline = new Pipeline({
      db: t.db,
      enricher,
      metrics: new IngestMetrics(),
      logger: pino({ level: 'silent' }),
      now: () => exportMs,
    });
    const batches: Batch[] = [];
    pipeline.writer.enqueue = (b) => batches.push(b);
    for (const d of encodeIpfix(flows, { exportMs, domain: 1, samplingRate: 100 }).datagrams)
      pipeline.handleDatagram(d, '192.0.2.1', 'netflow');
    pipeline.flush();
    const ns = (ms: number) => BigInt(ms) * 1_000_000n;
    const lines = flows.map((f) =>
      line({
        time_received_ns: ns(exportMs).toString(),
        time_flow_start_ns: ns(f.startMs).toString(),
        time_flow_end_ns: ns(f.endMs).toString(),
        sampling_rate: 100,
        bytes: f.bytes,
        packets: f.packets,
        src_addr: f.src,
        dst_addr: f.dst,
        src_port: f.srcPort,
        dst_port: f.dstPort,
        proto: f.proto,
        src_as: f.srcAs,
        dst_as: f.dstAs,
      }),
    );
    expect((await post(lines.join('\n'))).status).toBe(200);
    const written = await t.db.query<Record<string, unknown>>(
      sql`SELECT (extract(epoch from time) * 1000)::float8 AS "minuteMs", asn, location, product, direction,
                 bytes::float8 AS bytes, packets::float8 AS packets, flows::float8 AS flows
            FROM traffic WHERE time >= '2025-11-23T11:58:00Z' AND time < '2025-11-23T12:01:00Z'`,
    );
    const key = (r: Record<string, unknown>) =>
      `${r.minuteMs}|${r.asn}|${r.location}|${r.product}|${r.direction}`;
    const byKey = (rows: Record<string, unknown>[]) => Object.fromEntries(rows.map((r) => [key(r), r]));
    expect(batches).toHaveLength(1);
    expect(byKey(written)).toEqual(
      byKey(trafficRows(batches[0]!.traffic) as unknown as Record<string, unknown>[]),
    );
    expect(written.length).toBeGreaterThan(3);
    expect(batches[0]!.exporters[0]).toMatchObject({ records: 3, samplingRates: { '100': 3 } });
    const [exporter] = await t.db.query<{ sampling_rates: Record<string, number> }>(
      sql`SELECT sampling_rates FROM exporters WHERE address = '192.0.2.1'`,
    );
    expect(exporter?.sampling_rates['100']).toBeGreaterThanOrEqual(3);
  });
});
