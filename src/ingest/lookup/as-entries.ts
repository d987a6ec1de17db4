/**
 * What the lookup sources answer, shared by the TSV tables and the mmdb reader: AS numbers and
 * country codes as the API knows them, the distinct (AS, country) entries a range points to, and
 * the AS names collected for the asn_names table.
 */
import { isCountryCode } from '../../query/geo.js';

/**
 * Normalized country: upper-case alpha-2 the API accepts, or null (unknown, 'None', 'ZZ', 'EU'...).
 * @example
 * normalizeCountry('pt'); // 'PT'
 * normalizeCountry('EU'); // null
 */
export function normalizeCountry(raw: unknown): string | null {
  if (typeof raw !== 'string' || raw.length !== 2) return null;
  const cc = raw.toUpperCase();
  return cc !== 'XX' && isCountryCode(cc) ? cc : null;
}

/**
 * An AS number from text ("64500" or "AS64500"), -1 when it is not one.
 * @example
 * parseAsn('AS3243'); // 3243
 */
export function parseAsn(s: string): number {
  const t = s.startsWith('AS') || s.startsWith('as') ? s.slice(2) : s;
  if (!/^\d{1,10}$/.test(t)) return -1;
  const n = Number(t);
  return n <= 0xffffffff ? n : -1;
}

/**
 * Distinct (AS, country) pairs; flattening merges neighbours only when their entries are equal.
 * @example
 * const entries = new EntryTable();
 * const e = entries.intern(3243, 'PT'); // the same index for every (3243, 'PT')
 */
export class EntryTable {
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

/**
 * AS names in first-seen order; the first non-empty name and the first known country win.
 * @example
 * const names = new NameTable();
 * names.add(3243, 'MEO-RESIDENCIAL', 'PT');
 */
export class NameTable {
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
