/**
 * Enrichment and classification: turns a decoded {@link FlowRecord} into the dimensions of a
 * traffic row — the remote party's AS and country, the product (HTTP or other) and the direction.
 *
 * Lookup sources, in order: the exporter's BGP AS fields (AS only), ip2asn-style TSV files loaded
 * into sorted numeric range tables (binary search, no allocation), then MaxMind-format databases
 * through the `maxmind` reader (needs the address as text, so only asked what the TSV left open,
 * with a small cache in front).
 */
import { NameTable } from './lookup/as-entries.js';
import { CidrSet, formatIPv6, isV4Mapped, v4At, v6Word } from './lookup/iprange.js';
import {
  type CityFacts,
  type MmdbFacts,
  type MmdbStats,
  openCityLookup,
  openMmdbLookup,
} from './lookup/mmdb.js';
import { loadTsvTables, type TsvStats } from './lookup/tsv.js';
import {
  DEFAULT_PRODUCT_RULES,
  NO_RULE,
  type Product,
  type ProductRule,
  productRuleLookup,
  RULE_HTTP,
} from './product-rules.js';
import type { FlowRecord } from './types.js';

export type { Product, ProductRule };

export interface EnrichOptions {
  /** CIDRs (or single addresses) of our own networks. The non-local side of a flow is the remote party. */
  localNetworks: string[];
  /** Use the exporter's AS fields when non-zero (default true). */
  useExporterAs: boolean;
  /**
   * ip2asn-style TSV files (iptoasn.com layout: range_start, range_end, AS_number, country_code,
   * AS_description). IPv4 and IPv6 lines may share a file. Plain text only (gzip is refused).
   * Lines need not be sorted; where ranges overlap the narrowest wins, then the earliest (file
   * order, line order). Malformed lines are skipped and counted (`stats.tsvMalformed`).
   */
  asnTsv?: string[];
  /**
   * MaxMind-format .mmdb files: ASN databases (GeoLite2-ASN: autonomous_system_number,
   * autonomous_system_organization; IPinfo lite / DB-IP lite: asn as "AS123" or number, as_name /
   * name) and country databases (GeoLite2-Country / DB-IP: country.iso_code; IPinfo: country_code).
   * Fields are detected per record, so one database may answer both.
   */
  mmdb?: string[];
  /**
   * MaxMind-format City databases (GeoLite2-City, DB-IP city; `subdivisions[0].geoname_id` and
   * `.names.en`, or flat `region_geoname_id` / `region`): the remote address's first-level
   * subdivision (ADM1) as a GeoNames id. Looked up for every flow (behind a cache).
   */
  cityMmdb?: string[];
  /**
   * Product rules, first match wins; replaces the default (TCP 80, 443, 8080, 8443 and UDP 443
   * → HTTP). See {@link Enricher.classify} for which ports are matched.
   */
  productRules?: ProductRule[];
}

export interface Classification {
  asn: number;
  location: string;
  /** First-level subdivision (GeoNames id); 0 when unknown. */
  adm1: number;
  product: Product;
  direction: 'in' | 'out';
}

export interface Enricher {
  /**
   * Fills `out` (reused by the caller) for a decoded record. Allocates nothing when the TSV tables
   * (or the exporter) answer; an mmdb lookup builds the address text, behind a cache.
   *
   * - Remote side and direction: with local networks, when only the destination is local the
   *   source is remote and direction is `in`; when only the source is local the destination is
   *   remote and direction is `out`; when both or neither are local (and without local networks)
   *   the source is remote and direction is `in`. IPv4-mapped IPv6 addresses count as IPv4.
   * - asn: the exporter's AS of the remote side (srcAs / dstAs) when non-zero and enabled, else the
   *   TSV range of the remote address, else the mmdb ASN databases in order, else 0. A TSV range
   *   with AS 0 ("Not routed") does not answer, so a database given later still may.
   * - location: TSV country of the remote address, else the mmdb country, else the City database's,
   *   else `XX`; upper-case ISO 3166-1 alpha-2 as the API knows it (`None`, `ZZ`, empty, `EU`,
   *   `AP`... become `XX`).
   * - adm1: the City databases' first subdivision of the remote address (GeoNames id), kept only
   *   when the City database places the address in the country chosen above, so a subdivision
   *   always lies in its row's location; else 0 (and always 0 without City databases).
   * - product: the rules are looked up with the protocol and the LOCAL side's port (the side that
   *   is not remote: our server's port); when no rule matches it, with the remote side's port (our
   *   client talking to a remote web server). The first rule matching that port decides; no match
   *   at all is `OTHER`. So with the default rules a flow is HTTP when either port is a web port.
   */
  classify(rec: FlowRecord, out: Classification): void;
  /** AS names learned from the TSV / mmdb files, for the asn_names table: [asn, name, country|null]. */
  asNames(): Iterable<[number, string, string | null]>;
  /**
   * Subdivision names met by lookups since the last call, for the adm1_names table: [GeoNames id,
   * name, country|null]. Each is handed out once; {@link giveBackAdm1Names} when writing failed.
   */
  takeAdm1Names(): [number, string, string | null][];
  giveBackAdm1Names(names: [number, string, string | null][]): void;
  /** Whether City databases are configured (subdivisions can be known at all). */
  readonly locatesSubdivisions: boolean;
}

/** Load and lookup counters; lookup counters keep counting while the enricher runs. */
export type EnrichStats = TsvStats & MmdbStats;

/** The enricher as built, with its counters. */
export interface LoadedEnricher extends Enricher {
  readonly stats: EnrichStats;
}

/**
 * Loads the TSV and mmdb files and builds the lookup tables. Throws on unreadable files, gzip
 * input, bad local networks or bad product rules; malformed TSV lines are skipped and counted in
 * `stats.tsvMalformed`.
 *
 * @example
 * const enricher = await createEnricher({ localNetworks: ['192.0.2.0/24'], useExporterAs: true,
 *   asnTsv: ['ip2asn-v4.tsv', 'ip2asn-v6.tsv'] });
 * const cls = { asn: 0, location: 'XX', adm1: 0, product: 'OTHER', direction: 'in' } as Classification;
 * enricher.classify(record, cls);
 */
export async function createEnricher(opts: EnrichOptions): Promise<LoadedEnricher> {
  const stats: EnrichStats = {
    tsvFiles: 0,
    tsvLines: 0,
    tsvRanges: 0,
    tsvMalformed: 0,
    tsvOverlapping: 0,
    v4Ranges: 0,
    v6Ranges: 0,
    mmdbFiles: 0,
    mmdbAsNames: 0,
    mmdbLookups: 0,
    mmdbCacheHits: 0,
    mmdbErrors: 0,
    cityFiles: 0,
    cityLookups: 0,
    cityCacheHits: 0,
  };
  const local = new CidrSet(opts.localNetworks ?? []);
  const hasLocal = !local.empty;
  const useExporterAs = opts.useExporterAs ?? true;
  const ruleAt = productRuleLookup(opts.productRules ?? DEFAULT_PRODUCT_RULES);
  const names = new NameTable();
  const { v4: t4, v6: t6, countryList } = await loadTsvTables(opts.asnTsv ?? [], names, stats);
  const rows4 = t4.rows;
  const rows6 = t6.rows;
  // mmdb answers by address: IPv4 keyed by its number (no string), IPv6 by its text.
  const mmdbLookup = await openMmdbLookup(opts.mmdb ?? [], names, stats);
  let newAdm1Names: [number, string, string | null][] = [];
  const cityLookup = await openCityLookup(opts.cityMmdb ?? [], stats, (id, name, country) =>
    newAdm1Names.push([id, name, country]),
  );

  const classify = (rec: FlowRecord, out: Classification): void => {
    const ver = rec.ipVersion;
    const src = rec.srcAddr;
    const dst = rec.dstAddr;
    // Family of each address as looked up: 4 (bytes 0..3), 6, or 46 (IPv4-mapped, bytes 12..15).
    const srcFam = ver === 4 ? 4 : ver === 6 ? (isV4Mapped(src) ? 46 : 6) : 0;
    const dstFam = ver === 4 ? 4 : ver === 6 ? (isV4Mapped(dst) ? 46 : 6) : 0;

    let remoteIsSrc = true;
    if (hasLocal && ver !== 0) {
      const srcLocal = isLocal(src, srcFam);
      const dstLocal = isLocal(dst, dstFam);
      if (srcLocal && !dstLocal) remoteIsSrc = false;
    }
    out.direction = remoteIsSrc ? 'in' : 'out';

    const proto = rec.proto;
    let rule = ruleAt(proto, remoteIsSrc ? rec.dstPort : rec.srcPort);
    if (rule === NO_RULE) rule = ruleAt(proto, remoteIsSrc ? rec.srcPort : rec.dstPort);
    out.product = rule === RULE_HTTP ? 'HTTP' : 'OTHER';

    const exporterAs = remoteIsSrc ? rec.srcAs : rec.dstAs;
    let asn = useExporterAs && exporterAs > 0 ? exporterAs : 0;
    let country: string | null = null;
    let adm1 = 0;
    const addr = remoteIsSrc ? src : dst;
    const fam = remoteIsSrc ? srcFam : dstFam;
    if (fam !== 0) {
      if (fam === 6) {
        const row = t6.findAt(addr, 0);
        if (row >= 0) {
          if (asn === 0) asn = rows6[row + 8]!;
          country = countryList[rows6[row + 9]!] ?? null;
        }
      } else {
        const row = t4.findAt(addr, fam === 4 ? 0 : 12);
        if (row >= 0) {
          if (asn === 0) asn = rows4[row + 2]!;
          country = countryList[rows4[row + 3]!] ?? null;
        }
      }
      const askMmdb = (asn === 0 || country === null) && mmdbLookup !== undefined;
      if (askMmdb || cityLookup !== undefined) {
        // mmdb readers take IPv4 keyed by its number (no string), IPv6 by its text.
        const text =
          fam === 6 ? formatIPv6(v6Word(addr, 0), v6Word(addr, 1), v6Word(addr, 2), v6Word(addr, 3)) : null;
        const key = text ?? v4At(addr, fam === 46 ? 12 : 0);
        if (askMmdb) {
          const facts: MmdbFacts = mmdbLookup!(key, text, fam === 6);
          if (asn === 0) asn = facts.asn;
          if (country === null) country = facts.country;
        }
        if (cityLookup !== undefined) {
          const city: CityFacts = cityLookup(key, text, fam === 6);
          if (country === null) country = city.country;
          if (city.adm1 !== 0 && city.country === country) adm1 = city.adm1;
        }
      }
    }
    out.asn = asn;
    out.location = country ?? 'XX';
    out.adm1 = adm1;
  };

  function isLocal(addr: Uint8Array, fam: number): boolean {
    if (fam === 4) return local.containsV4At(addr, 0);
    if (fam === 46) return local.containsV4At(addr, 12);
    if (fam === 6) return local.containsV6At(addr, 0);
    return false;
  }

  return {
    stats,
    classify,
    *asNames(): Iterable<[number, string, string | null]> {
      for (const [asn, v] of names.map) yield [asn, v.name, v.country];
    },
    takeAdm1Names() {
      const taken = newAdm1Names;
      newAdm1Names = [];
      return taken;
    },
    giveBackAdm1Names(back) {
      newAdm1Names.push(...back);
    },
    locatesSubdivisions: cityLookup !== undefined,
  };
}
