/**
 * GET /radar/traffic_anomalies and /radar/traffic_anomalies/locations: the stored anomalies in
 * Radar's shape (the official SDK's `radar.trafficAnomalies.get` and `.locations.get`).
 */
import { type SQL, sql } from 'drizzle-orm';
import type { Queryable } from '../db/client.js';
import { MAX_STORED_ASN } from '../db/traffic.js';
import { badParam } from '../errors.js';
import { type Output, toCsv } from '../query/format.js';
import { countryName, isCountryCode } from '../query/geo.js';
import { isoSeconds } from '../query/time.js';
import { parseSearchQuery } from '../routes/schemas.js';
import type { AnomalyStatus, AnomalyType } from './store.js';

/** What the endpoints filter by, parsed and checked. */
export interface AnomalyFilters {
  /** Overlapping [start, end); no window = every anomaly. */
  window: { start: number; end: number } | undefined;
  asn: number | undefined;
  location: string | undefined;
  /** Statuses shown; DISMISSED only when asked for by name. */
  statuses: AnomalyStatus[];
  /** Types asked for; ORIGIN (Radar's, which we have none of) matches nothing. */
  types: string[];
  /** False when a filter only Radar's own data can match (another data source, an origin). */
  matchable: boolean;
  limit: number;
  offset: number;
  format: 'JSON' | 'CSV';
}

const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 1000;

const DATA_SOURCES = [
  'ALL',
  'AI_BOTS',
  'AI_GATEWAY',
  'BGP',
  'BOTS',
  'CONNECTION_ANOMALY',
  'CT',
  'DNS',
  'DNS_MAGNITUDE',
  'DNS_AS112',
  'DOS',
  'EMAIL_ROUTING',
  'EMAIL_SECURITY',
  'FW',
  'FW_PG',
  'HTTP',
  'HTTP_CONTROL',
  'HTTP_CRAWLER_REFERER',
  'HTTP_ORIGINS',
  'IQI',
  'LEAKED_CREDENTIALS',
  'NET',
  'ROBOTS_TXT',
  'SPEED',
  'WORKERS_AI',
];

function one(params: URLSearchParams, key: string): string | undefined {
  const all = params.getAll(key).filter((v) => v.trim() !== '');
  if (all.length > 1) throw badParam(key, 'given more than once');
  return all[0]?.trim();
}

function choice<T extends string>(key: string, raw: string, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === raw.toUpperCase());
  if (!found) throw badParam(key, `expected one of ${allowed.join(', ')}, got "${raw}"`);
  return found;
}

function count(key: string, raw: string | undefined, min: number, max: number, fallback: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d{1,9}$/.test(raw)) throw badParam(key, `"${raw}" is not a whole number`);
  const n = Number(raw);
  if (n < min || n > max) throw badParam(key, `must be between ${min} and ${max}`);
  return n;
}

/**
 * Parses the query of either endpoint; `kind` says which parameters it takes.
 * @example parseAnomalyQuery(new URL(req.url).searchParams, 'list', Date.now())
 */
export function parseAnomalyQuery(
  params: URLSearchParams,
  kind: 'list' | 'locations',
  nowMs: number,
): AnomalyFilters {
  // The window as every other endpoint reads it (dateRange with control, or dateStart + dateEnd).
  const dates = new URLSearchParams();
  for (const key of ['dateRange', 'dateStart', 'dateEnd'])
    for (const v of params.getAll(key)) dates.append(key, v);
  if (params.getAll('dateRange').length > 1 || params.getAll('dateStart').length > 1)
    throw badParam('dateRange', 'one window per request');
  const window = [...dates.keys()].length
    ? (({ start, end }) => ({ start, end }))(parseSearchQuery(dates, 'top', nowMs).series[0]!)
    : undefined;
  const statusRaw = one(params, 'status');
  const format = one(params, 'format');
  const filters: AnomalyFilters = {
    window,
    asn: undefined,
    location: undefined,
    statuses: statusRaw
      ? [choice('status', statusRaw, ['VERIFIED', 'UNVERIFIED', 'DISMISSED'] as const)]
      : ['VERIFIED', 'UNVERIFIED'],
    types: ['AS', 'LOCATION'],
    matchable: true,
    limit: count('limit', one(params, 'limit'), 1, MAX_LIMIT, DEFAULT_LIMIT),
    offset: kind === 'list' ? count('offset', one(params, 'offset'), 0, 1_000_000, 0) : 0,
    format: format ? choice('format', format, ['JSON', 'CSV'] as const) : 'JSON',
  };
  if (kind === 'locations') return filters;
  const asn = one(params, 'asn');
  if (asn !== undefined) {
    if (!/^\d{1,10}$/.test(asn) || Number(asn) > 4294967295)
      throw badParam('asn', `"${asn}" is not an AS number (digits only, e.g. 13335)`);
    filters.asn = Number(asn);
  }
  const location = one(params, 'location');
  if (location !== undefined) {
    if (!/^[A-Za-z]{2}$/.test(location) || !isCountryCode(location.toUpperCase()))
      throw badParam('location', `"${location}" is not an ISO 3166-1 alpha-2 code`);
    filters.location = location.toUpperCase();
  }
  const types = params
    .getAll('type')
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  if (types.length)
    filters.types = types.map((t) => choice('type', t, ['AS', 'LOCATION', 'ORIGIN'] as const));
  const dataSource = one(params, 'dataSource');
  if (dataSource !== undefined && !['ALL', 'NET'].includes(choice('dataSource', dataSource, DATA_SOURCES)))
    filters.matchable = false;
  if (one(params, 'origin') !== undefined) filters.matchable = false;
  return filters;
}

const ts = (ms: number) => sql`${new Date(ms).toISOString()}::timestamptz`;

/** The WHERE clause of the filters, over traffic_anomalies `a` joined to asn_names `n`. */
function where(f: AnomalyFilters, types: readonly string[]): SQL {
  const conds: SQL[] = [
    sql`a.status IN (${sql.join(
      f.statuses.map((s) => sql`${s}`),
      sql`, `,
    )})`,
  ];
  const kinds = types.filter((t) => t === 'AS' || t === 'LOCATION');
  conds.push(
    kinds.length && f.matchable
      ? sql`a.type IN (${sql.join(
          kinds.map((t) => sql`${t}`),
          sql`, `,
        )})`
      : sql`false`,
  );
  if (f.window)
    conds.push(
      sql`a.start_time < ${ts(f.window.end)} AND (a.end_time IS NULL OR a.end_time > ${ts(f.window.start)})`,
    );
  if (f.asn !== undefined) conds.push(f.asn <= MAX_STORED_ASN ? sql`a.asn = ${f.asn}` : sql`false`);
  // An AS anomaly is in a location when the AS is registered there (asn_names.country).
  if (f.location !== undefined) conds.push(sql`coalesce(a.location, n.country) = ${f.location}`);
  return sql.join(conds, sql` AND `);
}

interface Row {
  uuid: string;
  type: AnomalyType;
  status: AnomalyStatus;
  asn: number | null;
  location: string | null;
  start_ms: number;
  end_ms: number | null;
  as_name: string | null;
  as_country: string | null;
}

/** One anomaly as Radar shows it. */
export interface TrafficAnomaly {
  uuid: string;
  type: AnomalyType;
  status: AnomalyStatus;
  startDate: string;
  endDate: string | null;
  asnDetails: { asn: string; name: string | null; location: { code: string; name: string } | null } | null;
  locationDetails: { code: string; name: string } | null;
  originDetails: null;
  visibleInDataSources: string[];
}

const place = (code: string | null) => (code ? { code, name: countryName(code) } : null);

function shown(r: Row): TrafficAnomaly {
  return {
    uuid: r.uuid,
    type: r.type,
    status: r.status,
    startDate: isoSeconds(r.start_ms),
    endDate: r.end_ms === null ? null : isoSeconds(r.end_ms),
    asnDetails:
      r.type === 'AS' && r.asn !== null
        ? { asn: String(r.asn), name: r.as_name, location: place(r.as_country) }
        : null,
    locationDetails: place(r.type === 'LOCATION' ? r.location : r.as_country),
    originDetails: null,
    visibleInDataSources: ['NET'],
  };
}

/**
 * The anomalies matching the filters, newest start first.
 * @example await getTrafficAnomalies(db, parseAnomalyQuery(params, 'list', now))
 */
export async function getTrafficAnomalies(db: Queryable, f: AnomalyFilters): Promise<Output> {
  const rows = await db.query<Row>(sql`
    SELECT a.uuid::text, a.type, a.status, a.asn, a.location::text,
           (extract(epoch from a.start_time) * 1000)::float8 AS start_ms,
           (extract(epoch from a.end_time) * 1000)::float8 AS end_ms,
           n.name AS as_name, n.country::text AS as_country
      FROM traffic_anomalies a LEFT JOIN asn_names n ON n.asn = a.asn
     WHERE ${where(f, f.types)}
     ORDER BY a.start_time DESC, a.type, a.asn, a.location, a.uuid
     LIMIT ${f.limit} OFFSET ${f.offset}`);
  const anomalies = rows.map(shown);
  if (f.format === 'CSV') {
    const col = (header: string, cell: (a: TrafficAnomaly) => string | null) => ({
      header,
      cells: anomalies.map(cell),
    });
    return {
      csv: toCsv([
        col('uuid', (a) => a.uuid),
        col('type', (a) => a.type),
        col('status', (a) => a.status),
        col('startDate', (a) => a.startDate),
        col('endDate', (a) => a.endDate),
        col('asn', (a) => a.asnDetails?.asn ?? null),
        col('asnName', (a) => a.asnDetails?.name ?? null),
        col('locationCode', (a) => a.locationDetails?.code ?? null),
        col('locationName', (a) => a.locationDetails?.name ?? null),
        col('visibleInDataSources', (a) => a.visibleInDataSources.join(' ')),
      ]),
    };
  }
  return { result: { trafficAnomalies: anomalies } };
}

/**
 * How many anomalies each location had (LOCATION anomalies by their location, AS anomalies by
 * the country their AS is registered in), most first.
 * @example await getTrafficAnomalyLocations(db, parseAnomalyQuery(params, 'locations', now))
 */
export async function getTrafficAnomalyLocations(db: Queryable, f: AnomalyFilters): Promise<Output> {
  const rows = await db.query<{ code: string; n: number }>(sql`
    SELECT coalesce(a.location, n.country)::text AS code, count(*)::float8 AS n
      FROM traffic_anomalies a LEFT JOIN asn_names n ON n.asn = a.asn
     WHERE ${where(f, f.types)} AND coalesce(a.location, n.country) IS NOT NULL
     GROUP BY 1 ORDER BY n DESC, code LIMIT ${f.limit}`);
  const entries = rows.map((r) => ({
    clientCountryAlpha2: r.code,
    clientCountryName: countryName(r.code),
    value: String(r.n),
  }));
  if (f.format === 'CSV')
    return {
      csv: toCsv([
        { header: 'clientCountryAlpha2', cells: entries.map((e) => e.clientCountryAlpha2) },
        { header: 'clientCountryName', cells: entries.map((e) => e.clientCountryName) },
        { header: 'value', cells: entries.map((e) => e.value) },
      ]),
    };
  return { result: { trafficAnomalies: entries } };
}
