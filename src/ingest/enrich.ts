/**
 * Enrichment and classification: turns a decoded {@link FlowRecord} into the dimensions of a
 * traffic row — the remote party's AS and country, the product (HTTP or other) and the direction.
 *
 * Lookup sources, in order: the exporter's BGP AS fields (AS only), ip2asn-style TSV files loaded
 * into sorted numeric range tables (binary search, no allocation), then MaxMind-format databases
 * through the `maxmind` reader (needs the address as text, so only asked what the TSV left open,
 * with a small cache in front).
 */
import { readFile } from 'node:fs/promises';
import { Reader } from 'maxmind';
import { isCountryCode } from '../query/geo.js';
import {
  CidrSet,
  flattenRanges,
  formatIPv4,
  formatIPv6,
  isV4Mapped,
  parseIPv4,
  parseIPv6,
  type RawRanges,
  V4_OPS,
  V4RangeTable,
  V6_OPS,
  V6RangeTable,
  v4At,
  v6Word,
} from './iprange.js';
import type { FlowRecord } from './types.js';

export type Product = 'HTTP' | 'OTHER';

export interface ProductRule {
  /** IP protocol number (6 TCP, 17 UDP). */
  proto: number;
  port: number;
  product: Product;
}

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
   * Product rules, first match wins; replaces the default (TCP 80, 443, 8080, 8443 and UDP 443
   * → HTTP). See {@link Enricher.classify} for which ports are matched.
   */
  productRules?: ProductRule[];
}

export interface Classification {
  asn: number;
  location: string;
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
   * - location: TSV country of the remote address, else the mmdb country, else `XX`; upper-case
   *   ISO 3166-1 alpha-2 as the API knows it (`None`, `ZZ`, empty, `EU`, `AP`... become `XX`).
   * - product: the rules are looked up with the protocol and the LOCAL side's port (the side that
   *   is not remote: our server's port); when no rule matches it, with the remote side's port (our
   *   client talking to a remote web server). The first rule matching that port decides; no match
   *   at all is `OTHER`. So with the default rules a flow is HTTP when either port is a web port.
   */
  classify(rec: FlowRecord, out: Classification): void;
  /** AS names learned from the TSV / mmdb files, for the asn_names table: [asn, name, country|null]. */
  asNames(): Iterable<[number, string, string | null]>;
}

/** Load and lookup counters; lookup counters keep counting while the enricher runs. */
export interface EnrichStats {
  tsvFiles: number;
  /** Non-empty, non-comment TSV lines read. */
  tsvLines: number;
  /** Lines that became a range. */
  tsvRanges: number;
  /** Lines skipped: too few columns, bad address, mixed families, start > end, bad AS number. */
  tsvMalformed: number;
  /** Ranges that overlapped another (the narrowest wins, see flattenRanges). */
  tsvOverlapping: number;
  /** Disjoint ranges kept after flattening (ranges with neither AS nor country are dropped). */
  v4Ranges: number;
  v6Ranges: number;
  mmdbFiles: number;
  /** AS names collected by walking the mmdb search trees. */
  mmdbAsNames: number;
  /** Lookups that went to the mmdb databases, and how many of those the cache answered. */
  mmdbLookups: number;
  mmdbCacheHits: number;
  /** Reader exceptions during lookups (damaged database); the lookup then counts as unanswered. */
  mmdbErrors: number;
}

/** The enricher as built, with its counters. */
export interface LoadedEnricher extends Enricher {
  readonly stats: EnrichStats;
}

export const DEFAULT_PRODUCT_RULES: readonly ProductRule[] = [
  { proto: 6, port: 80, product: 'HTTP' },
  { proto: 6, port: 443, product: 'HTTP' },
  { proto: 6, port: 8080, product: 'HTTP' },
  { proto: 6, port: 8443, product: 'HTTP' },
  { proto: 17, port: 443, product: 'HTTP' },
];

/** Entries per cache generation of mmdb answers (two generations are kept). */
const MMDB_CACHE_SIZE = 8192;
/** A database whose first this-many distinct records carry no AS number is not walked for names. */
const ASN_PROBE_RECORDS = 64;

const NO_RULE = 0;
const RULE_HTTP = 1;
const RULE_OTHER = 2;

/** Normalized country: upper-case alpha-2 the API accepts, or null (unknown, 'None', 'ZZ', 'EU'...). */
export function normalizeCountry(raw: unknown): string | null {
  if (typeof raw !== 'string' || raw.length !== 2) return null;
  const cc = raw.toUpperCase();
  return cc !== 'XX' && isCountryCode(cc) ? cc : null;
}

// ---------------------------------------------------------------------------------------------
// AS / country entries shared by the range tables

/** Distinct (AS, country) pairs; flattening merges neighbours only when their entries are equal. */
class EntryTable {
  readonly asn: number[] = [];
  /** Country index per entry into {@link countryList} (0 = unknown). */
  readonly countryIdx: number[] = [];
  /** Distinct countries, index 0 is null: small, so it stays in cache during lookups. */
  readonly countryList: (string | null)[] = [null];
  private readonly index = new Map<number, number>();
  private readonly countries = new Map<string | null, number>([[null, 0]]);

  intern(asn: number, country: string | null): number {
    let c = this.countries.get(country);
    if (c === undefined) {
      c = this.countryList.push(country) - 1;
      this.countries.set(country, c);
    }
    const key = asn * 1024 + c; // < 2^42: exact as a number
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.asn.push(asn) - 1;
      this.countryIdx.push(c);
      this.index.set(key, i);
    }
    return i;
  }

  /** The range payload: AS number and country index, stored beside the range. */
  readonly payload = (i: number): [number, number] => [this.asn[i]!, this.countryIdx[i]!];

  /** True when the entry tells nothing (AS 0 and no country). */
  isEmpty(i: number): boolean {
    return this.asn[i] === 0 && this.countryIdx[i] === 0;
  }
}

/** AS names in first-seen order; the first non-empty name and the first known country win. */
class NameTable {
  readonly map = new Map<number, { name: string; country: string | null }>();

  add(asn: number, name: string | null, country: string | null): void {
    if (asn <= 0) return;
    const cur = this.map.get(asn);
    if (cur === undefined) {
      if (name) this.map.set(asn, { name, country });
      return;
    }
    if (cur.country === null && country !== null) cur.country = country;
  }
}

// ---------------------------------------------------------------------------------------------
// TSV loading

const GZIP_MAGIC = [0x1f, 0x8b];

function parseAsn(s: string): number {
  const t = s.startsWith('AS') || s.startsWith('as') ? s.slice(2) : s;
  if (!/^\d{1,10}$/.test(t)) return -1;
  const n = Number(t);
  return n <= 0xffffffff ? n : -1;
}

/** Column i (trimmed) of the line text[start..end) whose first tabs are at tabs[0..ncols-2]. */
function column(text: string, start: number, end: number, tabs: number[], ncols: number, i: number): string {
  if (i >= ncols) return '';
  return text.substring(i === 0 ? start : tabs[i - 1]! + 1, i === ncols - 1 ? end : tabs[i]!).trim();
}

function loadTsvText(
  text: string,
  v4: RawRanges<number>,
  v6: RawRanges<bigint>,
  entries: EntryTable,
  names: NameTable,
  stats: EnrichStats,
): void {
  // Columns are located with indexOf on the whole text: String.split per line costs ~1 µs a line.
  const tabs = [0, 0, 0, 0];
  let pos = 0;
  while (pos < text.length) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = text.length;
    const start = pos;
    const end = text.charCodeAt(eol - 1) === 13 ? eol - 1 : eol;
    pos = eol + 1;
    if (end === start || text.charCodeAt(start) === 35 /* # */) continue;
    let ncols = 1;
    for (let t = text.indexOf('\t', start); t >= 0 && t < end && ncols <= 4; t = text.indexOf('\t', t + 1)) {
      tabs[ncols - 1] = t;
      ncols++;
    }
    if (ncols === 1 && text.substring(start, end).trim() === '') continue;
    stats.tsvLines++;
    const asn = ncols >= 3 ? parseAsn(column(text, start, end, tabs, ncols, 2)) : -1;
    if (asn < 0) {
      stats.tsvMalformed++;
      continue;
    }
    const country = normalizeCountry(column(text, start, end, tabs, ncols, 3));
    let s4 = parseIPv4(text, start, tabs[0]!);
    let e4 = s4 >= 0 ? parseIPv4(text, tabs[0]! + 1, tabs[1]!) : -1;
    if (s4 < 0 || e4 < 0) {
      // Not a bare dotted quad: maybe padded with spaces, or IPv6.
      s4 = parseIPv4(column(text, start, end, tabs, ncols, 0));
      e4 = s4 >= 0 ? parseIPv4(column(text, start, end, tabs, ncols, 1)) : -1;
    }
    if (s4 >= 0 && e4 >= s4) {
      v4.starts.push(s4);
      v4.ends.push(e4);
      v4.entries.push(entries.intern(asn, country));
    } else {
      const a = column(text, start, end, tabs, ncols, 0);
      const b = column(text, start, end, tabs, ncols, 1);
      const s6 = s4 < 0 && a.includes(':') ? parseIPv6(a) : null;
      const e6 = s6 !== null && b.includes(':') ? parseIPv6(b) : null;
      if (s6 === null || e6 === null || e6 < s6) {
        stats.tsvMalformed++;
        continue;
      }
      v6.starts.push(s6);
      v6.ends.push(e6);
      v6.entries.push(entries.intern(asn, country));
    }
    stats.tsvRanges++;
    if (asn > 0 && !names.map.has(asn)) {
      // A copy, so the kept name does not pin the whole file text in memory (V8 slices share it).
      const name = column(text, start, end, tabs, ncols, 4);
      names.add(asn, name ? Buffer.from(name, 'utf8').toString('utf8') : null, country);
    } else names.add(asn, null, country);
  }
}

async function readTsv(path: string): Promise<string> {
  const buf = await readFile(path);
  if (buf[0] === GZIP_MAGIC[0] && buf[1] === GZIP_MAGIC[1]) {
    throw new Error(`ASN TSV ${path} is gzip-compressed; decompress it first (gunzip)`);
  }
  return buf.toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// mmdb

/** What one mmdb record says, fields detected per record. */
interface MmdbFacts {
  asn: number;
  name: string | null;
  country: string | null;
}

function field(o: unknown, key: string): unknown {
  return typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[key] : undefined;
}

/** AS number of an mmdb record (GeoLite2 / DB-IP `autonomous_system_number`, IPinfo `asn`), 0 if none. */
function mmdbAsn(rec: unknown): number {
  const v = field(rec, 'autonomous_system_number') ?? field(rec, 'asn');
  if (typeof v === 'number') return Number.isInteger(v) && v > 0 && v <= 0xffffffff ? v : 0;
  if (typeof v === 'string') {
    const n = parseAsn(v.trim());
    return Math.max(n, 0);
  }
  return 0;
}

function mmdbFacts(rec: unknown): MmdbFacts {
  const asn = mmdbAsn(rec);
  let name: string | null = null;
  if (asn > 0) {
    const n = field(rec, 'autonomous_system_organization') ?? field(rec, 'as_name') ?? field(rec, 'name');
    if (typeof n === 'string' && n.trim() !== '') name = n.trim();
  }
  // GeoLite2 / DB-IP: country.iso_code (registered_country when the network has no country);
  // IPinfo lite: country_code; IPinfo country_asn: country is the code itself.
  const country =
    normalizeCountry(field(field(rec, 'country'), 'iso_code')) ??
    normalizeCountry(field(rec, 'country_code')) ??
    normalizeCountry(field(rec, 'country')) ??
    normalizeCountry(field(field(rec, 'registered_country'), 'iso_code'));
  return { asn, name, country };
}

/** Bounded cache for the reader's decoded-record cache (keys are data-section offsets). */
function boundedCache(max: number) {
  let young = new Map<string | number, unknown>();
  let old = new Map<string | number, unknown>();
  return {
    get(key: string | number) {
      return young.get(key) ?? old.get(key);
    },
    set(key: string | number, value: unknown) {
      if (young.size >= max) {
        old = young;
        young = new Map();
      }
      young.set(key, value);
    },
  };
}

interface Mmdb {
  path: string;
  reader: Reader<Record<string, unknown>>;
  ipVersion: number;
}

/** Reads one record of the search tree: returns a function (node, bit) → record value. */
function recordReader(buf: Buffer, recordSize: number): (node: number, bit: number) => number {
  switch (recordSize) {
    case 24:
      return (node, bit) => {
        const o = node * 6 + bit * 3;
        return (buf[o]! << 16) | (buf[o + 1]! << 8) | buf[o + 2]!;
      };
    case 28:
      return (node, bit) => {
        const o = node * 7;
        if (bit === 0)
          return (((buf[o + 3]! & 0xf0) << 20) | (buf[o]! << 16) | (buf[o + 1]! << 8) | buf[o + 2]!) >>> 0;
        return (((buf[o + 3]! & 0x0f) << 24) | (buf[o + 4]! << 16) | (buf[o + 5]! << 8) | buf[o + 6]!) >>> 0;
      };
    case 32:
      return (node, bit) => buf.readUInt32BE(node * 8 + bit * 4);
    default:
      throw new Error(`unsupported mmdb record size ${recordSize}`);
  }
}

/**
 * Walks the search tree once and reads each distinct data record through the reader (at one
 * address of its network), collecting AS names. Stops early when the first records carry no AS
 * number (a country or city database), so only ASN databases pay for the walk.
 */
function collectMmdbNames(db: Mmdb, buf: Buffer, names: NameTable): number {
  const { nodeCount, recordSize, ipVersion } = db.reader.metadata;
  const read = recordReader(buf, recordSize);
  const bitLength = ipVersion === 4 ? 32 : 128;
  const visited = new Uint8Array(nodeCount);
  const seen = new Set<number>();
  // DFS stack: node, depth, and the four prefix words of the path to it.
  const stack: number[] = [0, 0, 0, 0, 0, 0];
  visited[0] = 1;
  let probed = 0;
  let withAsn = 0;
  let found = 0;
  while (stack.length > 0) {
    const w3 = stack.pop()!;
    const w2 = stack.pop()!;
    const w1 = stack.pop()!;
    const w0 = stack.pop()!;
    const depth = stack.pop()!;
    const node = stack.pop()!;
    if (depth >= bitLength) continue;
    for (let bit = 0; bit < 2; bit++) {
      const words = [w0, w1, w2, w3];
      if (bit === 1) words[depth >>> 5] = (words[depth >>> 5]! | (1 << (31 - (depth & 31)))) >>> 0;
      const rec = read(node, bit);
      if (rec < nodeCount) {
        if (visited[rec] === 0) {
          visited[rec] = 1;
          stack.push(rec, depth + 1, words[0]!, words[1]!, words[2]!, words[3]!);
        }
      } else if (rec > nodeCount && !seen.has(rec)) {
        seen.add(rec);
        const text =
          ipVersion === 4 ? formatIPv4(words[0]!) : formatIPv6(words[0]!, words[1]!, words[2]!, words[3]!);
        const facts = mmdbFacts(db.reader.get(text));
        probed++;
        if (facts.asn > 0) {
          withAsn++;
          if (!names.map.has(facts.asn) && facts.name) found++;
          names.add(facts.asn, facts.name, facts.country);
        }
        if (withAsn === 0 && probed >= ASN_PROBE_RECORDS) return found;
      }
    }
  }
  return found;
}

async function loadMmdb(path: string): Promise<{ db: Mmdb; buf: Buffer }> {
  const buf = await readFile(path);
  if (buf[0] === GZIP_MAGIC[0] && buf[1] === GZIP_MAGIC[1]) {
    throw new Error(`mmdb ${path} is gzip-compressed; decompress it first`);
  }
  let reader: Reader<Record<string, unknown>>;
  try {
    reader = new Reader<Record<string, unknown>>(buf, { cache: boundedCache(4096) });
  } catch (err) {
    throw new Error(`mmdb ${path} cannot be read: ${(err as Error).message}`);
  }
  return { db: { path, reader, ipVersion: reader.metadata.ipVersion }, buf };
}

// ---------------------------------------------------------------------------------------------
// product rules

function buildRuleTables(rules: readonly ProductRule[]): (Uint8Array | undefined)[] {
  const tables: (Uint8Array | undefined)[] = new Array(256).fill(undefined);
  for (const r of rules) {
    if (!Number.isInteger(r.proto) || r.proto < 0 || r.proto > 255)
      throw new RangeError(`product rule: bad protocol ${r.proto}`);
    if (!Number.isInteger(r.port) || r.port < 0 || r.port > 65535)
      throw new RangeError(`product rule: bad port ${r.port}`);
    if (r.product !== 'HTTP' && r.product !== 'OTHER')
      throw new RangeError(`product rule: bad product ${String(r.product)}`);
    let t = tables[r.proto];
    if (t === undefined) tables[r.proto] = t = new Uint8Array(65536);
    if (t[r.port] === NO_RULE) t[r.port] = r.product === 'HTTP' ? RULE_HTTP : RULE_OTHER; // first wins
  }
  return tables;
}

// ---------------------------------------------------------------------------------------------

/**
 * Loads the TSV and mmdb files and builds the lookup tables. Throws on unreadable files, gzip
 * input, bad local networks or bad product rules; malformed TSV lines are skipped and counted in
 * `stats.tsvMalformed`.
 *
 * @example
 * const enricher = await createEnricher({ localNetworks: ['192.0.2.0/24'], useExporterAs: true,
 *   asnTsv: ['ip2asn-v4.tsv', 'ip2asn-v6.tsv'] });
 * const cls = { asn: 0, location: 'XX', product: 'OTHER', direction: 'in' } as Classification;
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
  };
  const local = new CidrSet(opts.localNetworks ?? []);
  const hasLocal = !local.empty;
  const useExporterAs = opts.useExporterAs ?? true;
  const rules = buildRuleTables(opts.productRules ?? DEFAULT_PRODUCT_RULES);

  const entries = new EntryTable();
  const names = new NameTable();
  const raw4: RawRanges<number> = { starts: [], ends: [], entries: [] };
  const raw6: RawRanges<bigint> = { starts: [], ends: [], entries: [] };
  for (const path of opts.asnTsv ?? []) {
    loadTsvText(await readTsv(path), raw4, raw6, entries, names, stats);
    stats.tsvFiles++;
  }
  const flat4 = flattenRanges(raw4, V4_OPS);
  const flat6 = flattenRanges(raw6, V6_OPS);
  stats.tsvOverlapping = flat4.overlapping + flat6.overlapping;
  const keep = <K extends number | bigint>(f: RawRanges<K>): RawRanges<K> => {
    const out: RawRanges<K> = { starts: [], ends: [], entries: [] };
    f.entries.forEach((e, i) => {
      if (entries.isEmpty(e)) return;
      out.starts.push(f.starts[i]!);
      out.ends.push(f.ends[i]!);
      out.entries.push(e);
    });
    return out;
  };
  const t4 = new V4RangeTable(keep(flat4), entries.payload);
  const t6 = new V6RangeTable(keep(flat6), entries.payload);
  stats.v4Ranges = t4.size;
  stats.v6Ranges = t6.size;
  const countryList = entries.countryList;
  const rows4 = t4.rows;
  const rows6 = t6.rows;

  const dbs: Mmdb[] = [];
  for (const path of opts.mmdb ?? []) {
    const { db, buf } = await loadMmdb(path);
    try {
      stats.mmdbAsNames += collectMmdbNames(db, buf, names);
    } catch (err) {
      throw new Error(`mmdb ${path}: search tree walk failed: ${(err as Error).message}`);
    }
    dbs.push(db);
    stats.mmdbFiles++;
  }

  // mmdb answers by address: IPv4 keyed by its number (no string), IPv6 by its text.
  let cacheYoung = new Map<number | string, MmdbFacts>();
  let cacheOld = new Map<number | string, MmdbFacts>();
  const mmdbLookup = (key: number | string, text: string | null, v6: boolean): MmdbFacts => {
    stats.mmdbLookups++;
    let hit = cacheYoung.get(key);
    if (hit === undefined) {
      hit = cacheOld.get(key);
      if (hit !== undefined) {
        cacheYoung.set(key, hit);
        stats.mmdbCacheHits++;
      }
    } else stats.mmdbCacheHits++;
    if (hit !== undefined) return hit;
    const addr = text ?? formatIPv4(key as number);
    const facts: MmdbFacts = { asn: 0, name: null, country: null };
    for (const db of dbs) {
      if (v6 && db.ipVersion === 4) continue;
      let f: MmdbFacts;
      try {
        f = mmdbFacts(db.reader.get(addr));
      } catch {
        stats.mmdbErrors++; // a damaged database must not stop the collector
        continue;
      }
      if (facts.asn === 0 && f.asn > 0) facts.asn = f.asn;
      if (facts.country === null) facts.country = f.country;
      if (facts.asn !== 0 && facts.country !== null) break;
    }
    if (cacheYoung.size >= MMDB_CACHE_SIZE) {
      cacheOld = cacheYoung;
      cacheYoung = new Map();
    }
    cacheYoung.set(key, facts);
    return facts;
  };

  const ruleAt = (proto: number, port: number): number => {
    const t = rules[proto & 0xff];
    return t === undefined ? NO_RULE : t[port & 0xffff]!;
  };

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
      if ((asn === 0 || country === null) && dbs.length > 0) {
        let facts: MmdbFacts;
        if (fam === 6) {
          const text = formatIPv6(v6Word(addr, 0), v6Word(addr, 1), v6Word(addr, 2), v6Word(addr, 3));
          facts = mmdbLookup(text, text, true);
        } else facts = mmdbLookup(v4At(addr, fam === 4 ? 0 : 12), null, false);
        if (asn === 0) asn = facts.asn;
        if (country === null) country = facts.country;
      }
    }
    out.asn = asn;
    out.location = country ?? 'XX';
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
  };
}
