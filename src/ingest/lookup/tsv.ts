/**
 * ip2asn-style TSV files (iptoasn.com layout: range_start, range_end, AS_number, country_code,
 * AS_description) loaded into sorted numeric range tables: binary search, no allocation per lookup.
 */
import { readFile } from 'node:fs/promises';
import { EntryTable, type NameTable, normalizeCountry, parseAsn } from './as-entries.js';
import {
  flattenRanges,
  parseIPv4,
  parseIPv6,
  type RawRanges,
  V4_OPS,
  V4RangeTable,
  V6_OPS,
  V6RangeTable,
} from './iprange.js';

/** Load counters of the TSV files. */
export interface TsvStats {
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
}

export const GZIP_MAGIC = [0x1f, 0x8b];

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
  stats: TsvStats,
): void {
  // Columns are located with indexOf on the whole text: String.split per line would allocate an
  // array and strings for every line of a file of millions.
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

/** The range tables of the TSV files; rows4 / rows6 and countryList are read directly by classify. */
export interface TsvTables {
  v4: V4RangeTable;
  v6: V6RangeTable;
  /** Distinct countries, index 0 is null; a row's country is an index into it. */
  countryList: readonly (string | null)[];
}

/**
 * Reads the TSV files in order and builds one IPv4 and one IPv6 range table: overlaps flattened
 * (the narrowest range wins, then the earliest), ranges with neither AS nor country dropped, AS
 * names collected into `names`. Throws on unreadable or gzip-compressed files.
 * @example
 * const { v4, countryList } = await loadTsvTables(['ip2asn-v4.tsv'], new NameTable(), stats);
 * const row = v4.findAt(record.srcAddr, 0); // -1, or the row whose AS is v4.rows[row + 2]
 */
export async function loadTsvTables(
  paths: readonly string[],
  names: NameTable,
  stats: TsvStats,
): Promise<TsvTables> {
  const entries = new EntryTable();
  const raw4: RawRanges<number> = { starts: [], ends: [], entries: [] };
  const raw6: RawRanges<bigint> = { starts: [], ends: [], entries: [] };
  for (const path of paths) {
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
  const v4 = new V4RangeTable(keep(flat4), entries.payload);
  const v6 = new V6RangeTable(keep(flat6), entries.payload);
  stats.v4Ranges = v4.size;
  stats.v6Ranges = v6.size;
  return { v4, v6, countryList: entries.countryList };
}
