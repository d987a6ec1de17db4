/**
 * Subdivisions (ADM1) from MaxMind-format City databases: a small City .mmdb built here with the
 * test writer (no vendor database shipped), looked up by the enricher, aggregated and stored as
 * `traffic.adm1`, the names written to adm1_names.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import ipaddr from 'ipaddr.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAdm1Names, upsertAdm1Names } from '../../src/db/adm1-names.js';
import type { Database } from '../../src/db/client.js';
import { DEMO_NETWORKS, DEMO_SUBDIVISIONS, writeDemoNames, writeDemoTraffic } from '../../src/demo.js';
import { BatchBuilder } from '../../src/ingest/batch-builder.js';
import { type Classification, createEnricher, type EnrichOptions } from '../../src/ingest/enrich.js';
import { type FlowRecord, newFlowRecord } from '../../src/ingest/types.js';
import { writeBatch } from '../../src/ingest/writer.js';
import { DEMO_CITY_MMDB } from '../../src/service.js';
import { DEMO_PREFIXES } from '../../src/sim/simulate.js';
import { testApp } from '../helpers/app.js';
import { testDatabase } from '../helpers/db.js';
import { writeMmdb } from '../helpers/mmdb-writer.js';

const V4_TSV = join(import.meta.dirname, '../fixtures/enrich/ip2asn-v4.tsv');
const DEMO_TSV = join(import.meta.dirname, '../../demo/ip2asn-demo.tsv');

/** A GeoLite2-City-shaped record: country, and subdivisions largest first. */
const cityRecord = (country: string, subs: [id: number, en: string][]) => ({
  continent: { code: 'EU', geoname_id: 6255148 },
  country: { iso_code: country, geoname_id: 1, names: { en: country, de: country } },
  subdivisions: subs.map(([id, en]) => ({ geoname_id: id, iso_code: 'X', names: { en, pt: `${en} (pt)` } })),
  city: { geoname_id: 99, names: { en: 'Some city' } },
});

function flow(src: string, dst: string, bytes = 1000): FlowRecord {
  const r = newFlowRecord();
  const a = ipaddr.parse(src);
  const b = ipaddr.parse(dst);
  r.ipVersion = a.kind() === 'ipv4' ? 4 : 6;
  r.srcAddr.set(a.toByteArray());
  r.dstAddr.set(b.toByteArray());
  r.srcPort = 443;
  r.dstPort = 50000;
  r.proto = 6;
  r.bytes = bytes;
  r.packets = 1;
  r.samplingRate = 1;
  r.startMs = Date.parse('2026-11-23T10:14:10Z');
  r.endMs = r.startMs;
  return r;
}

describe('City databases: the first-level subdivision of the remote address', () => {
  let dir: string;
  let cityV6: string;
  let flatV4: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'enrich-city-'));
    cityV6 = join(dir, 'GeoLite2-City-test.mmdb');
    writeFileSync(
      cityV6,
      writeMmdb({ ipVersion: 6, recordSize: 28, databaseType: 'GeoLite2-City' }, [
        ['85.240.0.0/16', cityRecord('PT', [[2267056, 'Lisbon']])],
        ['2.80.0.0/16', cityRecord('PT', [[2735941, 'Porto']])],
        // Two levels: only the first (the largest, ADM1) counts.
        [
          '79.192.0.0/16',
          cityRecord('DE', [
            [2951839, 'Bavaria'],
            [2861322, 'Upper Bavaria'],
          ]),
        ],
        // 1.0.0.0/24 is US in the TSV: a City answer in another country is not kept.
        ['1.0.0.0/24', cityRecord('AU', [[2155400, 'New South Wales']])],
        // 8.8.8.0/24: US in the TSV and here, with a subdivision.
        ['8.8.8.0/24', cityRecord('US', [[5332921, 'California']])],
        // A country-only record (no subdivision).
        ['90.0.0.0/16', { country: { iso_code: 'FR' } }],
        ['2001:db8:7::/48', cityRecord('PT', [[2267056, 'Lisbon']])],
        // No English name: another language's.
        [
          '94.60.0.0/16',
          { country: { iso_code: 'PT' }, subdivisions: [{ geoname_id: 2740636, names: { pt: 'Coimbra' } }] },
        ],
      ]),
    );
    flatV4 = join(dir, 'flat-city-test.mmdb');
    writeFileSync(
      flatV4,
      writeMmdb({ ipVersion: 4, databaseType: 'flat-city' }, [
        ['175.192.0.0/16', { country_code: 'KR', region: 'Seoul', region_geoname_id: 1835848 }],
      ]),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const base = (o: Partial<EnrichOptions> = {}): EnrichOptions => ({
    localNetworks: ['10.20.0.0/16'],
    useExporterAs: true,
    ...o,
  });

  function where(e: Awaited<ReturnType<typeof createEnricher>>, remote: string) {
    const local = remote.includes(':') ? '2001:db8:ffff::1' : '10.20.0.1';
    const out: Classification = { asn: -1, location: '??', adm1: -1, product: 'OTHER', direction: 'out' };
    e.classify(flow(remote, local), out);
    return [out.location, out.adm1];
  }

  it('reads subdivisions[0] (GeoLite2-City, DB-IP city) and the flat region layout', async () => {
    const e = await createEnricher(base({ cityMmdb: [cityV6, flatV4] }));
    expect(e.locatesSubdivisions).toBe(true);
    expect(where(e, '85.240.1.2')).toEqual(['PT', 2267056]);
    expect(where(e, '2.80.9.9')).toEqual(['PT', 2735941]);
    expect(where(e, '79.192.0.1')).toEqual(['DE', 2951839]);
    expect(where(e, '2001:db8:7::5')).toEqual(['PT', 2267056]);
    expect(where(e, '175.192.3.4')).toEqual(['KR', 1835848]);
    expect(where(e, '94.60.1.1')).toEqual(['PT', 2740636]);
    // No subdivision in the record, or no record: the country alone (or nothing).
    expect(where(e, '90.0.0.1')).toEqual(['FR', 0]);
    expect(where(e, '203.0.113.9')).toEqual(['XX', 0]);
    // Each name is handed out once, then given back when writing failed.
    const names = e.takeAdm1Names();
    expect(names).toEqual([
      [2267056, 'Lisbon', 'PT'],
      [2735941, 'Porto', 'PT'],
      [2951839, 'Bavaria', 'DE'],
      [1835848, 'Seoul', 'KR'],
      [2740636, 'Coimbra', 'PT'],
    ]);
    where(e, '85.240.7.7');
    expect(e.takeAdm1Names()).toEqual([]);
    e.giveBackAdm1Names(names.slice(0, 1));
    expect(e.takeAdm1Names()).toEqual([[2267056, 'Lisbon', 'PT']]);
    expect(e.stats).toMatchObject({ cityFiles: 2, cityLookups: 9 });
  });

  it('keeps a subdivision only inside the location chosen for the row', async () => {
    const e = await createEnricher(base({ asnTsv: [V4_TSV], cityMmdb: [cityV6] }));
    expect(where(e, '1.0.0.1')).toEqual(['US', 0]); // TSV says US, the City database AU
    expect(where(e, '8.8.8.8')).toEqual(['US', 5332921]);
  });

  it('without a City database every subdivision is 0', async () => {
    const e = await createEnricher(base({ asnTsv: [V4_TSV] }));
    expect(e.locatesSubdivisions).toBe(false);
    expect(where(e, '8.8.8.8')).toEqual(['US', 0]);
    expect(e.takeAdm1Names()).toEqual([]);
  });

  describe('stored', () => {
    let db: Database;
    beforeAll(async () => {
      db = await testDatabase();
    });
    afterAll(async () => {
      await db.close();
    });

    it('flows → traffic rows keyed by subdivision, names in adm1_names', async () => {
      const enricher = await createEnricher(base({ cityMmdb: [cityV6] }));
      const builder = new BatchBuilder({ enricher, defaultSamplingRate: 1, collectorId: 'c1' });
      const exporter = builder.exporter('127.0.0.1', Date.parse('2026-11-23T10:14:30Z'));
      builder.addRecord(flow('85.240.1.1', '10.20.0.1', 100), exporter);
      builder.addRecord(flow('85.240.2.2', '10.20.0.2', 20), exporter);
      builder.addRecord(flow('2.80.0.1', '10.20.0.1', 300), exporter);
      builder.addRecord(flow('90.0.0.1', '10.20.0.1', 4000), exporter);
      await writeBatch(db, { id: 'city-1', ...builder.drain() });
      await upsertAdm1Names(db, enricher.takeAdm1Names());

      const rows = await db.query<{ location: string; adm1: number; bytes: number }>(
        sql`SELECT location::text AS location, adm1, bytes::float8 AS bytes FROM traffic ORDER BY adm1`,
      );
      expect(rows).toEqual([
        { location: 'FR', adm1: 0, bytes: 4000 },
        { location: 'PT', adm1: 2267056, bytes: 120 },
        { location: 'PT', adm1: 2735941, bytes: 300 },
      ]);
      expect(await getAdm1Names(db, [2267056, 2735941, 5332921])).toEqual(
        new Map([
          [2267056, { name: 'Lisbon', country: 'PT' }],
          [2735941, { name: 'Porto', country: 'PT' }],
        ]),
      );
      // The same minute again adds to the same rows (adm1 is part of the key).
      builder.addRecord(flow('85.240.1.1', '10.20.0.1', 5), builder.exporter('127.0.0.1', Date.now()));
      await writeBatch(db, { id: 'city-2', ...builder.drain() });
      const [lisbon] = await db.query<{ bytes: number }>(
        sql`SELECT bytes::float8 AS bytes FROM traffic WHERE adm1 = 2267056`,
      );
      expect(lisbon?.bytes).toBe(125);
    });
  });
});

describe('the demo locates its networks to subdivisions', () => {
  it("demo/city-demo.mmdb answers each demo network's block with its subdivision", async () => {
    const e = await createEnricher({
      localNetworks: ['10.20.0.0/16'],
      useExporterAs: true,
      asnTsv: [DEMO_TSV],
      cityMmdb: [DEMO_CITY_MMDB],
    });
    for (const n of DEMO_NETWORKS) {
      const out: Classification = { asn: -1, location: '??', adm1: -1, product: 'OTHER', direction: 'out' };
      e.classify(flow(`${DEMO_PREFIXES[n.asn]}.3.4`, '10.20.0.9'), out);
      expect([n.asn, out.asn, out.location, out.adm1]).toEqual([n.asn, n.asn, n.location, n.adm1]);
    }
    expect(new Map(e.takeAdm1Names().map(([id, name]) => [id, name]))).toEqual(
      new Map(Object.entries(DEMO_SUBDIVISIONS).map(([id, s]) => [Number(id), s.name])),
    );
  });

  it('the demo history answers summary/ADM1 by name', async () => {
    const t = await testApp({ mode: 'embedded', now: '2026-11-20T12:07:00Z' });
    try {
      await writeDemoNames(t.db);
      await writeDemoTraffic(t.db, Date.parse('2026-11-20T00:00:00Z'), Date.parse('2026-11-20T12:00:00Z'));
      const r = await t.get('/radar/netflows/summary/ADM1?dateRange=1d&limitPerGroup=20');
      expect(r.status).toBe(200);
      const groups = Object.keys(r.body.result.summary_0);
      expect(groups.sort()).toEqual(
        Object.values(DEMO_SUBDIVISIONS)
          .map((s) => s.name)
          .sort(),
      );
      expect(r.body.result.meta.confidenceInfo.annotations).toEqual([]);
      const lisbon = await t.get('/radar/netflows/summary/PRODUCT?dateRange=1d&geoId=2267056');
      expect(lisbon.status).toBe(200);
      expect(Number(lisbon.body.result.summary_0.HTTP)).toBeCloseTo(78, 0);
    } finally {
      await t.close();
    }
  });
});
