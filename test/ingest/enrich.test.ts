import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { Reader } from 'maxmind';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Classification, createEnricher, type EnrichOptions } from '../../src/ingest/enrich.js';
import {
  CidrSet,
  flattenRanges,
  formatIPv6,
  parseIPv4,
  parseIPv6,
  V4_OPS,
  V4RangeTable,
  V6_OPS,
  V6RangeTable,
} from '../../src/ingest/lookup/iprange.js';
import { type FlowRecord, newFlowRecord } from '../../src/ingest/types.js';
import { writeMmdb } from '../helpers/mmdb-writer.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/enrich');
const V4_TSV = join(FIXTURES, 'ip2asn-v4.tsv');
const V6_TSV = join(FIXTURES, 'ip2asn-v6.tsv');
const OVERLAP_TSV = join(FIXTURES, 'overlap-malformed.tsv');

interface FlowOpts {
  srcPort?: number;
  dstPort?: number;
  proto?: number;
  srcAs?: number;
  dstAs?: number;
}

function flow(src: string, dst: string, o: FlowOpts = {}): FlowRecord {
  const r = newFlowRecord();
  const a = ipaddr.parse(src);
  const b = ipaddr.parse(dst);
  if (a.kind() !== b.kind()) throw new Error('mixed families');
  r.ipVersion = a.kind() === 'ipv4' ? 4 : 6;
  r.srcAddr.set(a.toByteArray());
  r.dstAddr.set(b.toByteArray());
  r.srcPort = o.srcPort ?? 40000;
  r.dstPort = o.dstPort ?? 50000;
  r.proto = o.proto ?? 6;
  r.srcAs = o.srcAs ?? 0;
  r.dstAs = o.dstAs ?? 0;
  return r;
}

const base = (o: Partial<EnrichOptions> = {}): EnrichOptions => ({
  localNetworks: [],
  useExporterAs: true,
  ...o,
});

type Enr = Awaited<ReturnType<typeof createEnricher>>;

function classify(e: Enr, rec: FlowRecord): Classification {
  const out: Classification = { asn: -1, location: '??', adm1: -1, product: 'OTHER', direction: 'out' };
  e.classify(rec, out);
  return { ...out };
}

/** asn/location of the remote party when the given address is the source of an unconfigured flow. */
function who(e: Enr, addr: string): [number, string] {
  const other = addr.includes(':') ? '2001:db8:ffff::1' : '192.0.2.1';
  const c = classify(e, flow(addr, other));
  return [c.asn, c.location];
}

describe('TSV ranges', () => {
  let e: Enr;
  beforeAll(async () => {
    e = await createEnricher(base({ asnTsv: [V4_TSV, V6_TSV] }));
  });

  it('loads the iptoasn layout', () => {
    expect(e.stats).toMatchObject({
      tsvFiles: 2,
      tsvLines: 17,
      tsvRanges: 17,
      tsvMalformed: 0,
      tsvOverlapping: 0,
    });
    // Not-routed ranges (AS 0, None) are dropped after loading; 8.8.4.0/24 and 8.8.8.0/24 stay apart.
    expect(e.stats.v4Ranges).toBe(7);
    expect(e.stats.v6Ranges).toBe(4);
  });

  it('answers IPv4 addresses', () => {
    expect(who(e, '1.0.0.1')).toEqual([13335, 'US']);
    expect(who(e, '1.0.0.255')).toEqual([13335, 'US']);
    expect(who(e, '1.0.4.0')).toEqual([38803, 'AU']);
    expect(who(e, '8.8.8.8')).toEqual([15169, 'US']);
    expect(who(e, '193.0.7.255')).toEqual([3333, 'NL']);
  });

  it('yields 0 / XX for not-routed ranges, gaps, ZZ and empty countries', () => {
    expect(who(e, '0.1.2.3')).toEqual([0, 'XX']);
    expect(who(e, '1.0.2.0')).toEqual([0, 'XX']);
    expect(who(e, '10.1.2.3')).toEqual([0, 'XX']);
    expect(who(e, '255.255.255.255')).toEqual([0, 'XX']);
    expect(who(e, '8.8.5.1')).toEqual([0, 'XX']); // gap between two ranges
    expect(who(e, '100.100.100.100')).toEqual([0, 'XX']); // not in any range
    expect(who(e, '9.9.9.9')).toEqual([19281, 'XX']); // ZZ
    expect(who(e, '185.1.0.7')).toEqual([64500, 'XX']); // empty country column
  });

  it('answers IPv6 addresses, and IPv4-mapped IPv6 from the IPv4 table', () => {
    expect(who(e, '2606:4700::1111')).toEqual([13335, 'US']);
    expect(who(e, '2001:4860:4860::8888')).toEqual([15169, 'US']);
    expect(who(e, '2001:67c:2e8:ffff:ffff:ffff:ffff:ffff')).toEqual([3333, 'NL']);
    expect(who(e, '2620:fe::fe')).toEqual([19281, 'US']);
    expect(who(e, '2001:db8::1')).toEqual([0, 'XX']);
    expect(who(e, '::1')).toEqual([0, 'XX']);
    expect(who(e, 'ffff::1')).toEqual([0, 'XX']);
    expect(who(e, '::ffff:1.0.0.1')).toEqual([13335, 'US']);
  });

  it('lists AS names with the first country seen, never AS 0', () => {
    const names = [...e.asNames()];
    expect(names).toContainEqual([13335, 'CLOUDFLARENET', 'US']);
    expect(names).toContainEqual([19281, 'QUAD9-AS-1', 'US']); // ZZ in the v4 file, US in the v6 file
    expect(names).toContainEqual([64500, 'EXAMPLE-IXP', null]);
    expect(names.find(([asn]) => asn === 0)).toBeUndefined();
    expect(new Set(names.map(([asn]) => asn)).size).toBe(names.length);
  });

  it('refuses gzip input', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'enrich-'));
    try {
      const gz = join(dir, 'ip2asn-v4.tsv.gz');
      writeFileSync(gz, gzipSync('1.0.0.0\t1.0.0.255\t13335\tUS\tX\n'));
      await expect(createEnricher(base({ asnTsv: [gz] }))).rejects.toThrow(/gzip/);
      await expect(createEnricher(base({ asnTsv: [join(dir, 'missing.tsv')] }))).rejects.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('overlapping, unsorted and malformed TSV lines', () => {
  let e: Enr;
  beforeAll(async () => {
    e = await createEnricher(base({ asnTsv: [OVERLAP_TSV] }));
  });

  it('counts what it skipped', () => {
    expect(e.stats).toMatchObject({ tsvLines: 19, tsvRanges: 12, tsvMalformed: 7, tsvOverlapping: 5 });
  });

  it('lets the narrowest range win, the first of equal width on ties', () => {
    expect(who(e, '20.0.0.5')).toEqual([100, 'DE']);
    expect(who(e, '20.1.0.5')).toEqual([200, 'FR']); // nested /24 in a /8; 201 is a later duplicate
    expect(who(e, '20.1.1.0')).toEqual([100, 'DE']); // the /8 resumes after the /24
    expect(who(e, '20.255.255.255')).toEqual([100, 'DE']);
    expect(who(e, '21.0.0.127')).toEqual([300, 'GB']);
    expect(who(e, '21.0.0.200')).toEqual([300, 'GB']); // partial overlap, equal widths: first line wins
    expect(who(e, '21.0.1.5')).toEqual([400, 'SE']);
    expect(who(e, '2a00::1')).toEqual([700, 'PL']);
    expect(who(e, '2a00:1::5')).toEqual([0, 'XX']); // a not-routed carve-out inside the wide range
    expect(who(e, '2a00:2::5')).toEqual([800, 'CZ']);
    expect(who(e, '2a00:2::100')).toEqual([700, 'PL']);
  });

  it('reads unsorted, lower-case, CRLF, AS-prefixed and 32-bit AS lines', () => {
    expect(who(e, '19.0.0.1')).toEqual([500, 'NO']);
    expect(who(e, '23.0.0.1')).toEqual([600, 'ES']);
    expect(who(e, '24.0.0.1')).toEqual([701, 'US']);
    expect(who(e, '25.0.0.1')).toEqual([4200000001, 'XX']); // EU is not a country code
    expect(who(e, '22.0.0.5')).toEqual([0, 'XX']); // only malformed lines mention 22/8
  });
});

describe('remote side and direction', () => {
  let e: Enr;
  beforeAll(async () => {
    e = await createEnricher(
      base({
        asnTsv: [V4_TSV, V6_TSV],
        localNetworks: ['192.0.2.0/24', '198.51.100.7', '2001:db8:100::/48'],
      }),
    );
  });

  it('IPv4: the non-local side is remote', () => {
    expect(classify(e, flow('1.0.0.1', '192.0.2.10'))).toMatchObject({
      asn: 13335,
      location: 'US',
      direction: 'in',
    });
    expect(classify(e, flow('192.0.2.10', '8.8.8.8'))).toMatchObject({
      asn: 15169,
      location: 'US',
      direction: 'out',
    });
    expect(classify(e, flow('198.51.100.7', '1.0.4.1'))).toMatchObject({ asn: 38803, direction: 'out' });
    expect(classify(e, flow('1.0.4.1', '198.51.100.8'))).toMatchObject({ asn: 38803, direction: 'in' }); // .8 not local
  });

  it('IPv4: both or neither local → the source is remote, direction in', () => {
    expect(classify(e, flow('192.0.2.1', '192.0.2.2'))).toMatchObject({
      asn: 0,
      location: 'XX',
      direction: 'in',
    });
    expect(classify(e, flow('8.8.8.8', '1.0.0.1'))).toMatchObject({ asn: 15169, direction: 'in' });
  });

  it('IPv6, including IPv4-mapped addresses against IPv4 local networks', () => {
    expect(classify(e, flow('2606:4700::1', '2001:db8:100::5'))).toMatchObject({
      asn: 13335,
      direction: 'in',
    });
    expect(classify(e, flow('2001:db8:100:ffff::1', '2001:4860::1'))).toMatchObject({
      asn: 15169,
      location: 'US',
      direction: 'out',
    });
    expect(classify(e, flow('2001:db8:101::1', '2001:4860::1'))).toMatchObject({ asn: 0, direction: 'in' });
    expect(classify(e, flow('::ffff:192.0.2.9', '::ffff:1.0.0.1'))).toMatchObject({
      asn: 13335,
      direction: 'out',
    });
  });

  it('without local networks the source is remote', async () => {
    const plain = await createEnricher(base({ asnTsv: [V4_TSV] }));
    expect(classify(plain, flow('192.0.2.10', '8.8.8.8'))).toMatchObject({ asn: 0, direction: 'in' });
    expect(classify(plain, flow('8.8.8.8', '192.0.2.10'))).toMatchObject({ asn: 15169, direction: 'in' });
  });

  it('a record without addresses: source side, exporter AS, XX', () => {
    const r = newFlowRecord();
    r.srcAs = 174;
    r.dstAs = 3356;
    expect(classify(e, r)).toMatchObject({ asn: 174, location: 'XX', direction: 'in' });
  });

  it('rejects a bad local network', async () => {
    await expect(createEnricher(base({ localNetworks: ['10.0.0.0/33'] }))).rejects.toThrow(/local network/);
    await expect(createEnricher(base({ localNetworks: ['not-a-net'] }))).rejects.toThrow(/local network/);
  });
});

describe('exporter AS', () => {
  const opts = base({ asnTsv: [V4_TSV], localNetworks: ['192.0.2.0/24'] });

  it('prefers the remote side of the exporter fields, location still from the lookup', async () => {
    const e = await createEnricher(opts);
    expect(classify(e, flow('1.0.0.1', '192.0.2.1', { srcAs: 174, dstAs: 64512 }))).toMatchObject({
      asn: 174,
      location: 'US',
      direction: 'in',
    });
    expect(classify(e, flow('192.0.2.1', '1.0.0.1', { srcAs: 64512, dstAs: 3356 }))).toMatchObject({
      asn: 3356,
      location: 'US',
      direction: 'out',
    });
    // Zero for the remote side: fall back to the lookup even if the local side has one.
    expect(classify(e, flow('1.0.0.1', '192.0.2.1', { srcAs: 0, dstAs: 64512 }))).toMatchObject({
      asn: 13335,
    });
    expect(classify(e, flow('100.1.1.1', '192.0.2.1', { srcAs: 4200000000 }))).toMatchObject({
      asn: 4200000000,
      location: 'XX',
    });
  });

  it('useExporterAs=false ignores the exporter fields', async () => {
    const e = await createEnricher({ ...opts, useExporterAs: false });
    expect(classify(e, flow('1.0.0.1', '192.0.2.1', { srcAs: 174 }))).toMatchObject({ asn: 13335 });
    expect(classify(e, flow('100.1.1.1', '192.0.2.1', { srcAs: 174 }))).toMatchObject({ asn: 0 });
  });
});

describe('product rules', () => {
  let e: Enr;
  beforeAll(async () => {
    e = await createEnricher(base({ localNetworks: ['192.0.2.0/24'] }));
  });
  const product = (en: Enr, src: string, dst: string, o: FlowOpts) => classify(en, flow(src, dst, o)).product;

  it('defaults: TCP 80/443/8080/8443 and UDP 443 on either side are HTTP', () => {
    // our server on 443 (local port)
    expect(product(e, '1.0.0.1', '192.0.2.1', { srcPort: 51000, dstPort: 443 })).toBe('HTTP');
    expect(product(e, '192.0.2.1', '1.0.0.1', { srcPort: 443, dstPort: 51000 })).toBe('HTTP');
    // our client talking to a remote web server (remote port)
    expect(product(e, '192.0.2.1', '1.0.0.1', { srcPort: 51000, dstPort: 443 })).toBe('HTTP');
    for (const port of [80, 8080, 8443])
      expect(product(e, '1.0.0.1', '192.0.2.1', { dstPort: port })).toBe('HTTP');
    expect(product(e, '1.0.0.1', '192.0.2.1', { proto: 17, dstPort: 443 })).toBe('HTTP'); // QUIC
    expect(product(e, '1.0.0.1', '192.0.2.1', { proto: 17, srcPort: 443 })).toBe('HTTP');
  });

  it('defaults: anything else is OTHER', () => {
    expect(product(e, '1.0.0.1', '192.0.2.1', { dstPort: 22 })).toBe('OTHER');
    expect(product(e, '1.0.0.1', '192.0.2.1', { proto: 17, dstPort: 80 })).toBe('OTHER');
    expect(product(e, '1.0.0.1', '192.0.2.1', { proto: 1, srcPort: 0, dstPort: 0 })).toBe('OTHER');
    expect(product(e, '1.0.0.1', '192.0.2.1', { proto: 132, dstPort: 443 })).toBe('OTHER'); // SCTP
  });

  it('custom rules replace the defaults; first match wins; the local port is tried first', async () => {
    const c = await createEnricher(
      base({
        localNetworks: ['192.0.2.0/24'],
        productRules: [
          { proto: 6, port: 8000, product: 'HTTP' },
          { proto: 6, port: 22, product: 'OTHER' },
          { proto: 6, port: 22, product: 'HTTP' },
          { proto: 6, port: 443, product: 'OTHER' },
          { proto: 6, port: 3000, product: 'HTTP' },
        ],
      }),
    );
    expect(product(c, '1.0.0.1', '192.0.2.1', { dstPort: 8000 })).toBe('HTTP');
    expect(product(c, '1.0.0.1', '192.0.2.1', { dstPort: 22 })).toBe('OTHER');
    expect(product(c, '1.0.0.1', '192.0.2.1', { dstPort: 80 })).toBe('OTHER');
    expect(product(c, '1.0.0.1', '192.0.2.1', { proto: 17, dstPort: 443 })).toBe('OTHER');
    // local 443 says OTHER before the remote 3000 is asked; the other way round it is HTTP
    expect(product(c, '1.0.0.1', '192.0.2.1', { srcPort: 3000, dstPort: 443 })).toBe('OTHER');
    expect(product(c, '1.0.0.1', '192.0.2.1', { srcPort: 3000, dstPort: 51000 })).toBe('HTTP');
  });

  it('rejects bad rules', async () => {
    await expect(
      createEnricher(base({ productRules: [{ proto: 6, port: 70000, product: 'HTTP' }] })),
    ).rejects.toThrow(/port/);
    await expect(
      createEnricher(base({ productRules: [{ proto: 300, port: 80, product: 'HTTP' }] })),
    ).rejects.toThrow(/protocol/);
  });
});

describe('mmdb', () => {
  let dir: string;
  let asnDb: string;
  let countryDb: string;
  let ipinfoDb: string;
  let dbipDb: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'enrich-mmdb-'));
    asnDb = join(dir, 'GeoLite2-ASN-test.mmdb');
    writeFileSync(
      asnDb,
      writeMmdb({ ipVersion: 6, recordSize: 24, databaseType: 'GeoLite2-ASN' }, [
        [
          '1.0.1.0/24',
          { autonomous_system_number: 2519, autonomous_system_organization: 'ARTERIA Networks' },
        ],
        [
          '9.9.9.0/24',
          { autonomous_system_number: 19281, autonomous_system_organization: 'Quad9 (from mmdb)' },
        ],
        ['203.0.113.0/24', { autonomous_system_number: 64496, autonomous_system_organization: 'DOC-NET-A' }],
        ['2001:db8:1::/48', { autonomous_system_number: 64497, autonomous_system_organization: 'DOC-NET-B' }],
      ]),
    );
    countryDb = join(dir, 'GeoLite2-Country-test.mmdb');
    writeFileSync(
      countryDb,
      writeMmdb({ ipVersion: 4, recordSize: 28, databaseType: 'GeoLite2-Country' }, [
        ['1.0.1.0/24', { continent: { code: 'AS' }, country: { iso_code: 'JP', names: { en: 'Japan' } } }],
        ['9.9.9.0/24', { country: { iso_code: 'CH' } }],
        ['203.0.113.0/25', { registered_country: { iso_code: 'AU' } }],
        ['203.0.113.128/25', { country: { iso_code: 'nz' } }],
      ]),
    );
    ipinfoDb = join(dir, 'ipinfo-lite-test.mmdb');
    writeFileSync(
      ipinfoDb,
      writeMmdb({ ipVersion: 6, recordSize: 32, databaseType: 'ipinfo lite.mmdb' }, [
        [
          '198.51.100.0/24',
          {
            asn: 'AS64498',
            as_name: 'DOC-NET-C',
            as_domain: 'example.net',
            country_code: 'SE',
            country: 'Sweden',
            continent_code: 'EU',
          },
        ],
        ['2001:db8:2::/48', { asn: 'AS64499', as_name: 'DOC-NET-D', country_code: 'FI', country: 'Finland' }],
        ['192.0.2.0/24', { country_code: 'DK', country: 'Denmark' }],
      ]),
    );
    dbipDb = join(dir, 'dbip-asn-lite-test.mmdb');
    writeFileSync(
      dbipDb,
      writeMmdb({ ipVersion: 6, databaseType: 'DBIP-ASN-Lite (compat=GeoLite2-ASN)' }, [
        ['100.64.0.0/24', { asn: 64510, name: 'OLD-IPINFO-STYLE' }],
        ['100.64.1.0/24', { autonomous_system_number: 64511, autonomous_system_organization: 'DBIP-STYLE' }],
      ]),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the writer produces files the maxmind reader reads', async () => {
    const { readFileSync } = await import('node:fs');
    const asn = new Reader(readFileSync(asnDb));
    expect(asn.metadata).toMatchObject({ ipVersion: 6, recordSize: 24, databaseType: 'GeoLite2-ASN' });
    expect(asn.metadata.binaryFormatMajorVersion).toBe(2);
    expect(asn.get('1.0.1.77')).toEqual({
      autonomous_system_number: 2519,
      autonomous_system_organization: 'ARTERIA Networks',
    });
    expect(asn.get('2001:db8:1:ffff::1')).toMatchObject({ autonomous_system_number: 64497 });
    expect(asn.get('1.0.2.1')).toBeNull();
    const country = new Reader(readFileSync(countryDb));
    expect(country.metadata).toMatchObject({ ipVersion: 4, recordSize: 28 });
    expect(country.getWithPrefixLength('203.0.113.200')).toEqual([{ country: { iso_code: 'nz' } }, 25]);
    const ipinfo = new Reader(readFileSync(ipinfoDb));
    expect(ipinfo.metadata.recordSize).toBe(32);
    expect(ipinfo.get('198.51.100.1')).toMatchObject({ asn: 'AS64498', country_code: 'SE' });
  });

  it('GeoLite2-style ASN and country databases answer what the TSV does not', async () => {
    const e = await createEnricher(base({ asnTsv: [V4_TSV], mmdb: [asnDb, countryDb] }));
    expect(who(e, '1.0.1.1')).toEqual([2519, 'JP']); // TSV: not routed
    expect(who(e, '9.9.9.9')).toEqual([19281, 'CH']); // TSV: AS, country ZZ
    expect(who(e, '203.0.113.5')).toEqual([64496, 'AU']); // registered_country as the fallback
    expect(who(e, '203.0.113.130')).toEqual([64496, 'NZ']);
    expect(who(e, '2001:db8:1::1')).toEqual([64497, 'XX']); // the country db is IPv4-only
    expect(who(e, '100.100.100.100')).toEqual([0, 'XX']);
  });

  it('IPinfo lite and DB-IP style records', async () => {
    const e = await createEnricher(base({ mmdb: [ipinfoDb, dbipDb] }));
    expect(who(e, '198.51.100.200')).toEqual([64498, 'SE']);
    expect(who(e, '2001:db8:2::1')).toEqual([64499, 'FI']);
    expect(who(e, '192.0.2.77')).toEqual([0, 'DK']);
    expect(who(e, '100.64.0.1')).toEqual([64510, 'XX']);
    expect(who(e, '100.64.1.1')).toEqual([64511, 'XX']);
  });

  it('the TSV answer wins and then no mmdb lookup happens; the cache answers repeats', async () => {
    const e = await createEnricher(base({ asnTsv: [V4_TSV], mmdb: [asnDb, countryDb] }));
    expect(who(e, '1.0.0.1')).toEqual([13335, 'US']);
    expect(e.stats.mmdbLookups).toBe(0);
    who(e, '1.0.1.1');
    who(e, '1.0.1.1');
    who(e, '2001:db8:1::1');
    who(e, '2001:db8:1::1');
    expect(e.stats).toMatchObject({ mmdbLookups: 4, mmdbCacheHits: 2 });
  });

  it('collects AS names from the ASN databases only; TSV names come first', async () => {
    const e = await createEnricher(base({ asnTsv: [V4_TSV], mmdb: [asnDb, countryDb, ipinfoDb, dbipDb] }));
    const names = [...e.asNames()];
    expect(names).toContainEqual([2519, 'ARTERIA Networks', null]);
    expect(names).toContainEqual([64497, 'DOC-NET-B', null]);
    expect(names).toContainEqual([19281, 'QUAD9-AS-1', null]); // TSV name kept
    expect(names).toContainEqual([64498, 'DOC-NET-C', 'SE']);
    expect(names).toContainEqual([64499, 'DOC-NET-D', 'FI']);
    expect(names).toContainEqual([64510, 'OLD-IPINFO-STYLE', null]);
    expect(names).toContainEqual([64511, 'DBIP-STYLE', null]);
    expect(e.stats.mmdbAsNames).toBe(7); // 2519, 64496, 64497, 64498, 64499, 64510, 64511
  });

  it('refuses a file that is not an mmdb', async () => {
    await expect(createEnricher(base({ mmdb: [V4_TSV] }))).rejects.toThrow(/cannot be read/);
  });
});

describe('range tables (properties)', () => {
  const u32 = fc.nat({ max: 0xffffffff });

  it('IPv4 binary search equals a linear scan over sorted disjoint ranges', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(u32, { maxLength: 60 }),
        fc.array(u32, { maxLength: 40 }),
        (bounds, probes) => {
          bounds.sort((a, b) => a - b);
          const starts: number[] = [];
          const ends: number[] = [];
          for (let i = 0; i + 1 < bounds.length; i += 2) {
            starts.push(bounds[i]!);
            ends.push(bounds[i + 1]!);
          }
          const flat = flattenRanges({ starts, ends, entries: starts.map((_, i) => i) }, V4_OPS);
          expect(flat.overlapping).toBe(0);
          const t = new V4RangeTable(flat);
          const all = [...probes, ...starts, ...ends, ...starts.map((s) => s - 1), ...ends.map((x) => x + 1)];
          const inRange = all.filter((ip) => ip >= 0 && ip <= 0xffffffff);
          const linear = inRange.map((ip) => starts.findIndex((s, i) => s <= ip && ip <= ends[i]!));
          expect(inRange.map((ip) => t.lookup(ip))).toEqual(linear);
        },
      ),
      { numRuns: 300 },
    );
  });

  const width = (starts: (number | bigint)[], ends: (number | bigint)[], i: number): number | bigint =>
    typeof starts[i] === 'bigint'
      ? (ends[i] as bigint) - (starts[i] as bigint)
      : (ends[i] as number) - (starts[i] as number);

  /** Narrowest range containing x, earliest on equal width: the documented overlap rule. */
  function linearNarrowest<K extends number | bigint>(starts: K[], ends: K[], x: K): number {
    let best = -1;
    for (let i = 0; i < starts.length; i++) {
      if (starts[i]! > x || ends[i]! < x) continue;
      if (best < 0 || width(starts, ends, i) < width(starts, ends, best)) best = i;
    }
    return best;
  }

  it('IPv4 overlaps: flatten + binary search equals the narrowest-first linear scan', () => {
    const small = fc.nat({ max: 300 });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(small, small), { maxLength: 25 }),
        fc.boolean(),
        // 1: all in one /16; larger steps spread the ranges over many /16 directory buckets.
        fc.constantFrom(1, 0x3fff, 0x10001),
        (pairs, high, step) => {
          const off = high ? 0xffffffff - 301 * step : 0; // also exercise the top of the address space
          const starts = pairs.map(([a, b]) => Math.min(a, b) * step + off);
          const ends = pairs.map(([a, b]) => Math.max(a, b) * step + off);
          const flat = flattenRanges({ starts, ends, entries: starts.map((_, i) => i) }, V4_OPS);
          const intersect = starts.some((s, i) =>
            starts.some((t, j) => j !== i && s <= ends[j]! && t <= ends[i]!),
          );
          expect(flat.overlapping > 0).toBe(intersect);
          const t = new V4RangeTable(flat);
          const probes: number[] = [];
          for (let k = 0; k <= 301; k++) probes.push(off + k * step, off + k * step + (step >>> 1));
          const inRange = probes.filter((x) => x <= 0xffffffff);
          expect(inRange.map((x) => t.lookup(x))).toEqual(
            inRange.map((x) => linearNarrowest(starts, ends, x)),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('IPv6 overlaps across word boundaries equal the linear scan', () => {
    const small = fc.nat({ max: 40 });
    // Keys straddle the boundary between 32-bit words and sit near 2^128 - 1.
    const bases = [0n, (1n << 64n) - 20n, (1n << 96n) - 20n, (1n << 128n) - 41n, 0x20010db8n << 96n];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(small, small), { maxLength: 20 }),
        fc.constantFrom(...bases),
        (pairs, b) => {
          const starts = pairs.map(([x, y]) => b + BigInt(Math.min(x, y)));
          const ends = pairs.map(([x, y]) => b + BigInt(Math.max(x, y)));
          const t = new V6RangeTable(
            flattenRanges({ starts, ends, entries: starts.map((_, i) => i) }, V6_OPS),
          );
          const got: number[] = [];
          const want: number[] = [];
          for (let i = 0n; i <= 40n; i++) {
            const x = b + i;
            const w = [96n, 64n, 32n, 0n].map((sh) => Number((x >> sh) & 0xffffffffn));
            got.push(t.lookup(w[0]!, w[1]!, w[2]!, w[3]!));
            want.push(linearNarrowest(starts, ends, x));
          }
          expect(got).toEqual(want);
        },
      ),
      { numRuns: 200 },
    );
  });

  /**
   * ipaddr.js reads `::a.b.c.d` as `::ffff:a.b.c.d`; RFC 4291 (and the mmdb reader) mean
   * `::a.b:c.d`. The reference spells a dotted-quad tail as two hex groups first.
   */
  const hexTail = (a: string) =>
    a.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, w, x, y, z) => {
      const h = (p: string, q: string) => ((Number(p) << 8) | Number(q)).toString(16);
      return `${h(w, x)}:${h(y, z)}`;
    });

  it('CIDR sets agree with ipaddr.js', () => {
    fc.assert(
      fc.property(
        fc.ipV4(),
        fc.nat({ max: 32 }),
        fc.ipV4(),
        fc.ipV6(),
        fc.nat({ max: 128 }),
        fc.ipV6(),
        (n4, l4, a4, n6, l6, a6) => {
          const set = new CidrSet([`${n4}/${l4}`, `${n6}/${l6}`]);
          const p4 = ipaddr.IPv4.parse(a4);
          const p6 = ipaddr.IPv6.parse(hexTail(a6));
          expect(set.containsV4(parseIPv4(a4))).toBe(p4.match(ipaddr.IPv4.parse(n4), l4));
          expect(set.containsV4(parseIPv4(n4))).toBe(true);
          const v = parseIPv6(a6)!;
          const words = [96n, 64n, 32n, 0n].map((s) => Number((v >> s) & 0xffffffffn));
          expect(set.containsV6(words[0]!, words[1]!, words[2]!, words[3]!)).toBe(
            p6.match(ipaddr.IPv6.parse(hexTail(n6)), l6),
          );
          expect(formatIPv6(words[0]!, words[1]!, words[2]!, words[3]!)).toBe(p6.toNormalizedString());
        },
      ),
      { numRuns: 300 },
    );
  });

  it('counts touching ranges as overlapping, adjacent ones not', () => {
    const flat = (starts: number[], ends: number[]) =>
      flattenRanges({ starts, ends, entries: starts.map((_, i) => i) }, V4_OPS);
    expect(flat([0, 5], [5, 9])).toMatchObject({
      overlapping: 1,
      starts: [0, 5],
      ends: [4, 9],
      entries: [0, 1],
    });
    expect(flat([6, 0], [9, 5])).toMatchObject({
      overlapping: 0,
      starts: [0, 6],
      ends: [5, 9],
      entries: [1, 0],
    });
    expect(flat([5, 0, 5], [9, 4, 9])).toMatchObject({
      overlapping: 1,
      starts: [0, 5],
      ends: [4, 9],
      entries: [1, 0],
    });
  });

  it('parseIPv6 agrees with ipaddr.js', () => {
    const viaIpaddr = (a: string) =>
      ipaddr.IPv6.parse(hexTail(a)).parts.reduce((v, p) => (v << 16n) | BigInt(p), 0n);
    fc.assert(
      fc.property(fc.ipV6(), (a) => {
        expect(parseIPv6(a)).toBe(viaIpaddr(a));
        expect(parseIPv6(a.toUpperCase())).toBe(viaIpaddr(a));
      }),
      { numRuns: 1000 },
    );
    // Random text over the address alphabet: valid exactly when ipaddr.js says so (zone ids aside).
    const text = fc.string({ unit: fc.constantFrom(...'0123456789abcdef:.'), maxLength: 24 });
    fc.assert(
      fc.property(text, (a) => {
        const ok = ipaddr.IPv6.isValid(a) && ipaddr.IPv6.isValid(hexTail(a));
        expect(parseIPv6(a)).toBe(ok ? viaIpaddr(a) : null);
      }),
      { numRuns: 3000 },
    );
    for (const bad of [
      '',
      ':',
      ':::',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '12345::',
      '1:',
      'fe80::1%eth0',
    ])
      expect(parseIPv6(bad)).toBeNull();
    expect(parseIPv6('::')).toBe(0n);
    expect(parseIPv6('1:2:3:4:5:6:7::')).toBe(viaIpaddr('1:2:3:4:5:6:7:0'));
    expect(parseIPv6('::ffff:192.0.2.1')).toBe(0xffffc0000201n);
  });

  it('parseIPv4 accepts dotted quads only', () => {
    expect(parseIPv4('0.0.0.0')).toBe(0);
    expect(parseIPv4('255.255.255.255')).toBe(0xffffffff);
    expect(parseIPv4('1.2.3.4')).toBe(0x01020304);
    for (const bad of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '1..2.3',
      '1.2.3.',
      'a.b.c.d',
      '1.2.3.4 ',
      '1234.1.1.1',
    ])
      expect(parseIPv4(bad)).toBe(-1);
  });
});
