import { ApiError, badParam } from '../errors.js';
import { countriesOf, isCountryCode } from './geo.js';
import { bucketsBetween, floorTo, INTERVALS, type Interval, MINUTE, WEEK } from './time.js';

/** Parameters whose position i belongs to series i. */
export const SERIES_PARAMS = [
  'name',
  'dateRange',
  'dateStart',
  'dateEnd',
  'asn',
  'location',
  'continent',
  'geoId',
  'product',
  'geoId',
] as const;
export type SeriesParam = (typeof SERIES_PARAMS)[number];

/**
 * A NetFlows query as the route validated it (src/routes/schemas.ts): series parameters as arrays
 * by position, the others as enums and integers. Every endpoint's query schema is assignable to it.
 */
export type QueryInput = { [P in Exclude<SeriesParam, 'product'>]?: readonly string[] } & {
  product?: readonly SeriesSpec['product'][];
  aggInterval?: '15m' | '1h' | '1d' | '1w';
  normalization?: string;
  format?: 'JSON' | 'CSV';
  limit?: number;
  limitPerGroup?: number;
  metric?: Metric;
  direction?: 'in' | 'out';
};

export const MAX_SERIES = 20;
export const MAX_LIST_ITEMS = 100;
export const MAX_BUCKETS = 4000;
/** Points (series × buckets) one response may hold; more is refused as too expensive. */
export const MAX_POINTS = 10_000;
/** Entries (series × limit) one /top request may list: as many as the points of a series request. */
export const MAX_TOP_ENTRIES = MAX_POINTS;

export interface Filter<T> {
  include: T[];
  exclude: T[];
}

export interface SeriesSpec {
  name: string;
  /** Window start, Unix ms, inclusive. */
  start: number;
  /** Window end, Unix ms, exclusive. */
  end: number;
  asn: Filter<number>;
  /** Locations and continents, continents expanded to their countries. */
  location: Filter<string>;
  /** First-level subdivisions (GeoNames ids); 0 is the subdivision of traffic none is known for. */
  geoId: Filter<number>;
  /** Only HTTP, or every product. */
  product: 'ALL' | 'HTTP';
}

export type Metric = 'bytes' | 'packets' | 'flows';
export type Direction = 'in' | 'out' | undefined;

export interface ParsedQuery {
  series: SeriesSpec[];
  interval: Interval;
  /** The first bucket of every series, aligned, and how many buckets each series has. */
  bucketStarts: number[];
  bucketCount: number;
  normalization: string | undefined;
  format: 'JSON' | 'CSV';
  limit: number | undefined;
  limitPerGroup: number | undefined;
  metric: Metric;
  direction: Direction;
}

export type Kind = 'timeseries' | 'groups' | 'summary' | 'top';

const DEFAULT_NAME: Record<Kind, string> = {
  timeseries: 'serie',
  groups: 'serie',
  summary: 'summary',
  top: 'top',
};

function enumValue<T extends string>(param: string, raw: string, allowed: readonly T[]): T {
  const found = allowed.find((a) => a.toLowerCase() === raw.trim().toLowerCase());
  if (!found) throw badParam(param, `expected one of ${allowed.join(', ')}, got "${raw}"`);
  return found;
}

function splitList(param: string, raw: string, position: number): { item: string; negated: boolean }[] {
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length > MAX_LIST_ITEMS) throw badParam(param, `at most ${MAX_LIST_ITEMS} items`, position);
  return items.map((s) =>
    s.startsWith('-') ? { item: s.slice(1).trim(), negated: true } : { item: s, negated: false },
  );
}

function parseAsnList(raw: string | undefined, position: number): Filter<number> {
  const f: Filter<number> = { include: [], exclude: [] };
  for (const { item, negated } of splitList('asn', raw ?? '', position)) {
    if (!/^\d{1,10}$/.test(item) || Number(item) > 4294967295)
      throw badParam('asn', `"${item}" is not an AS number (digits only, e.g. 13335)`, position);
    (negated ? f.exclude : f.include).push(Number(item));
  }
  return f;
}

/** A GeoNames id: a positive integer (they fit in 31 bits, the column's range). */
function parseGeoIds(raw: string | undefined, position: number): Filter<number> {
  const f: Filter<number> = { include: [], exclude: [] };
  for (const { item, negated } of splitList('geoId', raw ?? '', position)) {
    if (!/^\d{1,10}$/.test(item) || Number(item) < 1 || Number(item) > 2147483647)
      throw badParam('geoId', `"${item}" is not a GeoNames id (digits only, e.g. 2267056)`, position);
    (negated ? f.exclude : f.include).push(Number(item));
  }
  return f;
}

function parseLocations(
  locationRaw: string | undefined,
  continentRaw: string | undefined,
  position: number,
): Filter<string> {
  const f: Filter<string> = { include: [], exclude: [] };
  for (const { item, negated } of splitList('location', locationRaw ?? '', position)) {
    const code = item.toUpperCase();
    if (!/^[A-Z]{2}$/.test(code) || !isCountryCode(code))
      throw badParam('location', `"${item}" is not an ISO 3166-1 alpha-2 code`, position);
    (negated ? f.exclude : f.include).push(code);
  }
  const continentInclude: string[] = [];
  for (const { item, negated } of splitList('continent', continentRaw ?? '', position)) {
    const countries = countriesOf(item.toUpperCase());
    if (!countries)
      throw badParam('continent', `"${item}" is not one of AF, AN, AS, EU, NA, OC, SA`, position);
    if (negated) f.exclude.push(...countries);
    else continentInclude.push(...countries);
  }
  // location and continent are two filters, both must hold: intersect their include lists.
  if (continentInclude.length > 0) {
    if (f.include.length === 0) f.include = continentInclude;
    else {
      const allowed = new Set(continentInclude);
      f.include = f.include.filter((c) => allowed.has(c));
      // Nothing left: the series matches nothing, which an impossible code expresses.
      if (f.include.length === 0) f.include = ['--'];
    }
  }
  return f;
}

const RANGE = /^(\d{1,3})([dw])(control)?$/i;

function parseDateRange(raw: string, position: number): { length: number; shift: number } {
  const m = RANGE.exec(raw.trim());
  if (!m)
    throw badParam('dateRange', `"${raw}" is not a range such as 1d…364d, 1w…52w, or 7dControl`, position);
  const n = Number(m[1]);
  const unit = m[2]!.toLowerCase();
  if (n < 1 || (unit === 'd' && n > 364) || (unit === 'w' && n > 52))
    throw badParam('dateRange', `"${raw}" is out of range (1d…364d, 1w…52w)`, position);
  const length = n * (unit === 'd' ? 24 * 60 * MINUTE : WEEK);
  // A control window lies before the current one by its length rounded up to whole weeks, so
  // weekdays line up and the two windows do not overlap.
  const shift = m[3] ? Math.ceil(length / WEEK) * WEEK : 0;
  return { length, shift };
}

function parseInstant(param: string, raw: string, position: number): number {
  const trimmed = raw.trim();
  // ISO-8601 with a date; a missing zone means UTC.
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.test(trimmed))
    throw badParam(param, `"${raw}" is not an ISO-8601 date-time such as 2026-11-01T00:00:00Z`, position);
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(trimmed) && trimmed.length > 10;
  const ms = Date.parse(hasZone ? trimmed : `${trimmed.length === 10 ? `${trimmed}T00:00:00` : trimmed}Z`);
  if (Number.isNaN(ms)) throw badParam(param, `"${raw}" is not a valid date`, position);
  return ms;
}

function defaultInterval(span: number): Interval {
  const day = 24 * 60 * MINUTE;
  if (span <= 3 * day) return INTERVALS['15m'];
  if (span <= 30 * day) return INTERVALS['1h'];
  if (span <= 180 * day) return INTERVALS['1d'];
  return INTERVALS['1w'];
}

/**
 * The window parameters of series `i`: its own, or those given once for every series. A date
 * parameter given once with several series (`name=a&name=b&dateRange=1d`) means every series,
 * unless series `i` names its own window the other way.
 */
function windowParams(
  at: (p: SeriesParam, i: number) => string | undefined,
  input: QueryInput,
  i: number,
): { range?: string; ds?: string; de?: string } {
  const once = (p: 'dateRange' | 'dateStart' | 'dateEnd') =>
    input[p]?.length === 1 && i > 0 ? at(p, 0) : at(p, i);
  const own = { range: at('dateRange', i), ds: at('dateStart', i), de: at('dateEnd', i) };
  if (own.range !== undefined || own.ds !== undefined || own.de !== undefined) return own;
  const shared = { range: once('dateRange'), ds: once('dateStart'), de: once('dateEnd') };
  // A shared explicit window needs both ends; a shared range alone is fine.
  return shared.ds !== undefined && shared.de !== undefined
    ? { ds: shared.ds, de: shared.de }
    : { range: shared.range };
}

/**
 * Turns the validated query of any NetFlows endpoint into series windows, filters and scalars.
 * Every rule that can reject a request beyond its shape lives here, so every endpoint rejects alike.
 * To add a series filter: a key in SERIES_PARAMS, a field in SeriesSpec, its parse in `series`.
 * @example
 * parseQuery(c.req.valid('query'), 'timeseries', Date.now())
 */
export function parseQuery(input: QueryInput, kind: Kind, nowMs: number): ParsedQuery {
  const count = Math.max(1, ...SERIES_PARAMS.map((p) => input[p]?.length ?? 0));
  if (count > MAX_SERIES) throw badParam('name', `at most ${MAX_SERIES} series per request, got ${count}`);
  const at = (p: SeriesParam, i: number) => {
    const v = input[p]?.[i];
    return v === undefined || v.trim() === '' ? undefined : v;
  };

  const requested = input.aggInterval === undefined ? undefined : INTERVALS[input.aggInterval];

  // Windows first: the default interval depends on their span.
  const windows: { start: number; end: number; shift: number; relative: boolean }[] = [];
  for (let i = 0; i < count; i++) {
    const { range, ds, de } = windowParams(at, input, i);
    if (range !== undefined && (ds !== undefined || de !== undefined))
      throw badParam('dateRange', 'give either dateRange or dateStart with dateEnd, not both', i);
    if ((ds === undefined) !== (de === undefined))
      throw badParam(ds === undefined ? 'dateStart' : 'dateEnd', 'dateStart and dateEnd go together', i);
    if (ds !== undefined && de !== undefined) {
      const start = floorTo(parseInstant('dateStart', ds, i), 15 * MINUTE);
      // dateEnd is inclusive: the 15-minute slot it falls in belongs to the window.
      const end = floorTo(parseInstant('dateEnd', de, i), 15 * MINUTE) + 15 * MINUTE;
      if (end <= start) throw badParam('dateEnd', 'must not be before dateStart', i);
      windows.push({ start, end, shift: 0, relative: false });
    } else {
      const { length, shift } = parseDateRange(range ?? '7d', i);
      windows.push({ start: -length, end: 0, shift, relative: true });
    }
  }
  const durations = windows.map((w) => w.end - w.start);
  const interval = requested ?? defaultInterval(durations[0]!);
  // Relative windows end with the bucket that holds "now", so the newest minute is always shown.
  const anchor = floorTo(nowMs, interval.ms) + interval.ms;
  for (const w of windows) {
    if (!w.relative) continue;
    w.start = anchor + w.start - w.shift;
    w.end = anchor - w.shift;
  }
  const mismatch = durations.findIndex((d) => d !== durations[0]);
  if (mismatch > 0)
    throw badParam(
      windows[mismatch]!.relative ? 'dateRange' : 'dateStart',
      'every series of a request must cover the same duration as the first',
      mismatch,
    );

  const bucketCount = Math.max(...windows.map((w) => bucketsBetween(w.start, w.end, interval)));
  if (bucketCount > MAX_BUCKETS)
    throw badParam(
      'aggInterval',
      `${interval.name} gives ${bucketCount} buckets per series; at most ${MAX_BUCKETS}: use a coarser aggInterval or a shorter range`,
    );

  if (count * bucketCount > MAX_POINTS)
    throw new ApiError(
      'COST',
      `${count} series × ${bucketCount} buckets = ${count * bucketCount} points; at most ${MAX_POINTS} per request: use fewer series, a coarser aggInterval or a shorter range`,
    );

  if (kind === 'top' && input.limit !== undefined && count * input.limit > MAX_TOP_ENTRIES)
    throw new ApiError(
      'COST',
      `${count} series × limit ${input.limit} = ${count * input.limit} entries; at most ${MAX_TOP_ENTRIES} per request: use fewer series or a smaller limit`,
    );

  const names = new Set<string>();
  const series: SeriesSpec[] = windows.map((w, i) => {
    const name = at('name', i)?.trim() ?? `${DEFAULT_NAME[kind]}_${i}`;
    if (name.length > 100) throw badParam('name', 'at most 100 characters', i);
    if (name === 'meta') throw badParam('name', '"meta" is reserved for the metadata of the response', i);
    if (names.has(name)) throw badParam('name', `"${name}" is used twice; series names must be unique`, i);
    names.add(name);
    return {
      name,
      start: w.start,
      end: w.end,
      asn: parseAsnList(at('asn', i), i),
      location: parseLocations(at('location', i), at('continent', i), i),
      geoId: parseGeoIds(at('geoId', i), i),
      product: input.product?.[i] ?? 'ALL',
    };
  });

  return {
    series,
    interval,
    bucketStarts: series.map((s) => floorTo(s.start, interval.ms)),
    bucketCount,
    normalization: input.normalization,
    format: input.format ?? 'JSON',
    limit: input.limit,
    limitPerGroup: input.limitPerGroup,
    metric: input.metric ?? 'bytes',
    direction: input.direction,
  };
}

/**
 * The bucket starts series `i` reports, Unix ms: `bucketCount` of them from its first.
 * @example seriesBuckets(q, 0).map(isoSeconds) // ['2026-11-23T09:00:00Z', '2026-11-23T10:00:00Z', …]
 */
export function seriesBuckets(q: ParsedQuery, i: number): number[] {
  const first = q.bucketStarts[i]!;
  return Array.from({ length: q.bucketCount }, (_, k) => first + k * q.interval.ms);
}

/**
 * The position of the bucket starting at `bucketMs` among series `i`'s buckets; undefined when it
 * is not one of them.
 * @example bucketPosition(q, 0, q.bucketStarts[0]! + q.interval.ms) // 1
 */
export function bucketPosition(q: ParsedQuery, i: number, bucketMs: number): number | undefined {
  const k = Math.round((bucketMs - q.bucketStarts[i]!) / q.interval.ms);
  return k >= 0 && k < q.bucketCount ? k : undefined;
}

/** Validates `normalization` against what an endpoint supports; returns the canonical name. */
export function normalizationOf<T extends string>(q: ParsedQuery, allowed: readonly T[], fallback: T): T {
  if (q.normalization === undefined) return fallback;
  return enumValue('normalization', q.normalization, allowed);
}
