/**
 * MaxMind-format .mmdb files (GeoLite2, DB-IP, IPinfo lite) through the `maxmind` reader: AS and
 * country per address (the reader needs the address as text, so answers are cached), and the AS
 * names of ASN databases, collected once by walking the search tree. City databases answer the
 * first-level subdivision (ADM1) of an address, by its GeoNames id ({@link openCityLookup}).
 */
import { readFile } from 'node:fs/promises';
import { Reader } from 'maxmind';
import { type NameTable, normalizeCountry, parseAsn } from './as-entries.js';
import { formatIPv4, formatIPv6 } from './iprange.js';
import { GZIP_MAGIC } from './tsv.js';

/** Load and lookup counters of the mmdb files; lookup counters keep counting while the enricher runs. */
export interface MmdbStats {
  mmdbFiles: number;
  /** AS names collected by walking the mmdb search trees. */
  mmdbAsNames: number;
  /** Lookups that went to the mmdb databases, and how many of those the cache answered. */
  mmdbLookups: number;
  mmdbCacheHits: number;
  /** Reader exceptions during lookups (damaged database); the lookup then counts as unanswered. */
  mmdbErrors: number;
  /** City databases opened, and lookups that went to them (the cache answered `cityCacheHits`). */
  cityFiles: number;
  cityLookups: number;
  cityCacheHits: number;
}

/** Entries per cache generation of mmdb answers (two generations are kept). */
const MMDB_CACHE_SIZE = 8192;
/** A database whose first this-many distinct records carry no AS number is not walked for names. */
const ASN_PROBE_RECORDS = 64;

/** What one mmdb record says, fields detected per record. */
export interface MmdbFacts {
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

/**
 * A bounded cache of two generations: when the young one is full it becomes the old one and a
 * new young one starts; a hit in the old generation moves to the young one. Recently used entries
 * survive, and the size stays below twice `max` without any per-entry bookkeeping.
 */
class GenerationalCache<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();

  constructor(private readonly max: number) {}

  get(key: K): V | undefined {
    const hit = this.young.get(key);
    if (hit !== undefined) return hit;
    const aged = this.old.get(key);
    if (aged !== undefined) this.set(key, aged);
    return aged;
  }

  set(key: K, value: V): void {
    if (this.young.size >= this.max) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, value);
  }
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
    reader = new Reader<Record<string, unknown>>(buf, {
      cache: new GenerationalCache<number, unknown>(4096),
    });
  } catch (err) {
    throw new Error(`mmdb ${path} cannot be read: ${(err as Error).message}`);
  }
  return { db: { path, reader, ipVersion: reader.metadata.ipVersion }, buf };
}

/** What a City database says of an address: its first-level subdivision and its country. */
export interface CityFacts {
  /** GeoNames id of the subdivision; 0 when the record has none. */
  adm1: number;
  /** Its English name; null when the record gives none. */
  name: string | null;
  /** The country the record places the address in (the subdivision's). */
  country: string | null;
}

const NO_SUBDIVISION: CityFacts = { adm1: 0, name: null, country: null };

const geonameId = (v: unknown): number =>
  typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= 0x7fffffff ? v : 0;

/**
 * The first-level subdivision of a City record. GeoLite2-City and DB-IP city:
 * `subdivisions[0].geoname_id` with `subdivisions[0].names.en` (else another language's name; the
 * first subdivision is the largest, ADM1); flat layouts: `region_geoname_id` with `region`. Country as in {@link mmdbFacts}.
 */
export function cityFacts(rec: unknown): CityFacts {
  const subs = field(rec, 'subdivisions');
  const first = Array.isArray(subs) ? subs[0] : undefined;
  let adm1 = geonameId(field(first, 'geoname_id'));
  // English, else any language the record has (a name in the table beats a bare id in the groups).
  const names = field(first, 'names');
  let name =
    field(names, 'en') ?? (typeof names === 'object' && names !== null ? Object.values(names)[0] : undefined);
  if (adm1 === 0) {
    adm1 = geonameId(field(rec, 'region_geoname_id'));
    name = field(rec, 'region');
  }
  const country =
    normalizeCountry(field(field(rec, 'country'), 'iso_code')) ??
    normalizeCountry(field(rec, 'country_code')) ??
    normalizeCountry(field(rec, 'country'));
  if (adm1 === 0) return country === null ? NO_SUBDIVISION : { adm1: 0, name: null, country };
  return { adm1, name: typeof name === 'string' && name.trim() !== '' ? name.trim() : null, country };
}

/**
 * A lookup with its cache: `look` runs on a miss only; `counted` is bumped per lookup and `hits`
 * per cache hit (the two counters of `stats` each lookup reports).
 */
function cachedLookup<F>(
  stats: MmdbStats,
  counters: { lookups: 'mmdbLookups' | 'cityLookups'; hits: 'mmdbCacheHits' | 'cityCacheHits' },
  look: (addr: string, v6: boolean) => F,
): (key: number | string, text: string | null, v6: boolean) => F {
  const cache = new GenerationalCache<number | string, F>(MMDB_CACHE_SIZE);
  return (key, text, v6) => {
    stats[counters.lookups]++;
    const hit = cache.get(key);
    if (hit !== undefined) {
      stats[counters.hits]++;
      return hit;
    }
    const facts = look(text ?? formatIPv4(key as number), v6);
    cache.set(key, facts);
    return facts;
  };
}

/** The subdivision of an address: its key (IPv4 as a number, IPv6 as text), its text (null for IPv4), whether IPv6. */
export type CityLookup = (key: number | string, text: string | null, v6: boolean) => CityFacts;

/**
 * Opens City databases in order and returns a cached lookup of the first subdivision any of them
 * gives an address; undefined without files. Each new subdivision met (with a name) is passed to
 * `onName` once, for the names table. Throws on unreadable or gzip-compressed files.
 * @example
 * const lookup = await openCityLookup(['GeoLite2-City.mmdb'], stats, (id, name, cc) => names.set(id, [name, cc]));
 * lookup?.(ipv4Number, null, false) // { adm1: 2267056, name: 'Lisbon', country: 'PT' }
 */
export async function openCityLookup(
  paths: readonly string[],
  stats: MmdbStats,
  onName: (adm1: number, name: string, country: string | null) => void,
): Promise<CityLookup | undefined> {
  const dbs: Mmdb[] = [];
  for (const path of paths) {
    dbs.push((await loadMmdb(path)).db);
    stats.cityFiles++;
  }
  if (dbs.length === 0) return undefined;
  const named = new Set<number>();
  return cachedLookup(stats, { lookups: 'cityLookups', hits: 'cityCacheHits' }, (addr, v6) => {
    // The first subdivision any database gives; else the first country, as a fallback.
    let facts = NO_SUBDIVISION;
    for (const db of dbs) {
      if (v6 && db.ipVersion === 4) continue;
      let f: CityFacts;
      try {
        f = cityFacts(db.reader.get(addr));
      } catch {
        stats.mmdbErrors++; // a damaged database must not stop the collector
        continue;
      }
      if (f.adm1 !== 0) {
        facts = f;
        break;
      }
      if (facts.country === null) facts = f;
    }
    if (facts.adm1 !== 0 && facts.name !== null && !named.has(facts.adm1)) {
      named.add(facts.adm1);
      onName(facts.adm1, facts.name, facts.country);
    }
    return facts;
  });
}

/** AS and country of an address: its key (IPv4 as a number, IPv6 as text), its text (null for IPv4), whether IPv6. */
export type MmdbLookup = (key: number | string, text: string | null, v6: boolean) => MmdbFacts;

/**
 * Opens the mmdb files in order, collects the AS names of ASN databases into `names`, and returns
 * a cached lookup over all of them (the first AS and the first country found win); undefined
 * without files. Throws on unreadable or gzip-compressed files.
 * @example
 * const lookup = await openMmdbLookup(['GeoLite2-ASN.mmdb'], names, stats);
 * const facts = lookup?.(ipv4Number, null, false); // { asn, name, country }
 */
export async function openMmdbLookup(
  paths: readonly string[],
  names: NameTable,
  stats: MmdbStats,
): Promise<MmdbLookup | undefined> {
  const dbs: Mmdb[] = [];
  for (const path of paths) {
    const { db, buf } = await loadMmdb(path);
    try {
      stats.mmdbAsNames += collectMmdbNames(db, buf, names);
    } catch (err) {
      throw new Error(`mmdb ${path}: search tree walk failed: ${(err as Error).message}`);
    }
    dbs.push(db);
    stats.mmdbFiles++;
  }
  if (dbs.length === 0) return undefined;
  return cachedLookup(stats, { lookups: 'mmdbLookups', hits: 'mmdbCacheHits' }, (addr, v6) => {
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
    return facts;
  });
}
