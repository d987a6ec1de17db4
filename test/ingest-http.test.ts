import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnricher } from '../src/ingest/enrich.js';
import { type TestApp, testApp } from './helpers/app.js';
import { trafficTotal } from './helpers/collector.js';

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
  const post = (body: string, headers: Record<string, string> = {}, token = ingest) =>
    t.app.request('/ingest/flows', {
      method: 'POST',
      body,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson', ...headers },
    });
  beforeAll(async () => {
    const enricher = await createEnricher({
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

  it('needs the ingest scope and refuses an oversized Idempotency-Key', async () => {
    expect((await post(line(), {}, await t.token(['read']))).status).toBe(403);
    expect((await post(line(), { 'idempotency-key': 'k'.repeat(201) })).status).toBe(400);
  });
});
