/**
 * AS numbers above 2,147,483,647 (the 32-bit private range 4,200,000,000–4,294,967,294 among them):
 * `traffic` keeps AS numbers in a PostgreSQL integer. A record with one is written as AS 0 and
 * counted on its exporter (`asn_not_stored`), so its flush, and every one after it, is written
 * rather than refused by the database at each retry; an API filter on one matches no row instead
 * of failing the request; an enrichment database naming one (a TSV of a fabric's own ranges) does
 * not stop the service from storing the other names.
 */
import { sql } from 'drizzle-orm';
import ipaddr from 'ipaddr.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAsnNames, upsertAsnNames } from '../../src/db/asn-names.js';
import { BatchBuilder } from '../../src/ingest/batch-builder.js';
import { createEnricher } from '../../src/ingest/enrich.js';
import { type FlowRecord, newFlowRecord } from '../../src/ingest/types.js';
import { writeBatch } from '../../src/ingest/writer.js';
import { type TestApp, testApp } from '../helpers/app.js';
import { MODES } from '../helpers/db.js';

const NOW = '2026-11-20T12:00:00Z';
const START = Date.parse('2026-11-20T11:30:10Z');

function flow(srcAs: number, bytes: number): FlowRecord {
  const r = newFlowRecord();
  r.ipVersion = 4;
  r.srcAddr.set(ipaddr.parse('198.51.100.7').toByteArray());
  r.dstAddr.set(ipaddr.parse('192.0.2.1').toByteArray());
  r.srcPort = 443;
  r.dstPort = 50000;
  r.proto = 6;
  r.srcAs = srcAs;
  r.startMs = START;
  r.endMs = START + 1000;
  r.bytes = bytes;
  r.packets = 1;
  return r;
}

describe.each(MODES)('AS numbers beyond the stored range (%s)', (mode) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp({ mode, now: NOW });
    const builder = new BatchBuilder({
      enricher: await createEnricher({ localNetworks: ['192.0.2.0/24'], useExporterAs: true }),
      defaultSamplingRate: 1,
      collectorId: '',
    });
    const exporter = builder.exporter('127.0.0.1', Date.parse(NOW));
    builder.addRecord(flow(4_200_000_000, 1000), exporter);
    builder.addRecord(flow(4_294_967_295, 10), exporter);
    builder.addRecord(flow(174, 100), exporter);
    expect(await writeBatch(t.db, { id: `asn-range-${mode}`, ...builder.drain() })).toBe('written');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('writes the flush, the record as AS 0, and counts it on the exporter', async () => {
    const rows = await t.db.query<{ asn: number; bytes: string }>(
      sql`SELECT asn, sum(bytes)::text AS bytes FROM traffic GROUP BY asn ORDER BY asn`,
    );
    expect(rows).toEqual([
      { asn: 0, bytes: '1010' },
      { asn: 174, bytes: '100' },
    ]);
    const [exporter] = await t.db.query<{ errors: Record<string, number> }>(
      sql`SELECT errors FROM exporters WHERE address = '127.0.0.1'`,
    );
    expect(exporter?.errors).toEqual({ asn_not_stored: 2 });
  });

  it('answers a filter on one with no traffic, and excluding one changes nothing', async () => {
    const q =
      '/radar/netflows/timeseries?dateStart=2026-11-20T11:00:00Z&dateEnd=2026-11-20T12:00:00Z&aggInterval=1h&normalization=MIN0_MAX&format=json';
    const plain = await t.get(`${q}&name=all`);
    expect(plain.status).toBe(200);
    const only = await t.get(`${q}&asn=4200000000`);
    expect(only.status).toBe(200);
    expect(new Set(only.body.result.serie_0.values)).toEqual(new Set(['0']));
    const without = await t.get(`${q}&asn=-4294967295&name=all`);
    expect(without.status).toBe(200);
    expect(without.body.result.all).toEqual(plain.body.result.all);
    expect(plain.body.result.all.values).toContain('1');
    const anomalies = await t.get('/radar/traffic_anomalies?asn=4200000000');
    expect(anomalies.status).toBe(200);
    expect(anomalies.body.result.trafficAnomalies).toEqual([]);
  });

  it('stores the other AS names of an enrichment database that names one', async () => {
    await upsertAsnNames(t.db, [
      [4_200_000_001, 'FABRIC-LEAF-1', 'US'],
      [174, 'COGENT-174', 'US'],
    ]);
    expect(await getAsnNames(t.db, [174])).toEqual(new Map([[174, 'COGENT-174']]));
  });
});
