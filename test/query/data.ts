import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import type { Database } from '../../src/db/client.js';
import type { TrafficRow } from '../helpers/db.js';

/**
 * Known data for the query suite. Every expected value in the suite is derived by hand from
 * these rows; the comments next to the rows give the sums the tests rely on.
 */

/** The pinned clock: a Friday. */
export const NOW = '2026-11-20T12:07:00Z';

/**
 * Dataset "day": traffic on the last hours before NOW.
 * With dateRange=1d & aggInterval=1h the window is 2026-11-19T13:00 … 2026-11-20T13:00 (rows b–h):
 *   hour 09: b+c = 400, hour 10: d+e = 600, hour 11: f+g = 950, hour 12: h = 150 → total 2100.
 *   AS: 3243 550, 3356 500, 4766 450, 174 400, 13335 200.  Location: PT 550, FR 500, KR 450, DE 400, US 200.
 *   Product: HTTP 1400, OTHER 700.  Direction: in 1300, out 800.  Packets 50, flows 10.
 * Row a lies only in the 15-minute-anchored windows (1d@15m starts 2026-11-19T12:15).
 * Subdivisions (GeoNames ids, names from insertAdm1Names): Lisbon 2267056 a, b, h (250 in the
 * window); Porto 2735941 c 300; California 5332921 d 200; Bavaria 2951839 e 400; 1835848 g 450
 * (no name known: key geoId:1835848); f 500 unknown (0). Located: 1600.
 */
export const DAY_ROWS: TrafficRow[] = [
  {
    time: '2026-11-19T12:30:00Z',
    asn: 3243,
    location: 'PT',
    adm1: 2267056,
    product: 'HTTP',
    direction: 'in',
    bytes: 50,
  }, // a
  {
    time: '2026-11-20T09:10:00Z',
    asn: 3243,
    location: 'PT',
    adm1: 2267056,
    product: 'HTTP',
    direction: 'in',
    bytes: 100,
    packets: 10,
    flows: 1,
  }, // b
  {
    time: '2026-11-20T09:20:00Z',
    asn: 3243,
    location: 'PT',
    adm1: 2735941,
    product: 'OTHER',
    direction: 'out',
    bytes: 300,
    packets: 5,
    flows: 2,
  }, // c
  {
    time: '2026-11-20T10:05:00Z',
    asn: 13335,
    location: 'US',
    adm1: 5332921,
    product: 'HTTP',
    direction: 'in',
    bytes: 200,
    packets: 4,
    flows: 1,
  }, // d
  {
    time: '2026-11-20T10:40:00Z',
    asn: 174,
    location: 'DE',
    adm1: 2951839,
    product: 'OTHER',
    direction: 'in',
    bytes: 400,
    packets: 8,
    flows: 3,
  }, // e
  {
    time: '2026-11-20T11:05:00Z',
    asn: 3356,
    location: 'FR',
    product: 'HTTP',
    direction: 'out',
    bytes: 500,
    packets: 20,
    flows: 1,
  }, // f
  {
    time: '2026-11-20T11:30:00Z',
    asn: 4766,
    location: 'KR',
    adm1: 1835848,
    product: 'HTTP',
    direction: 'in',
    bytes: 450,
    packets: 2,
    flows: 1,
  }, // g
  {
    time: '2026-11-20T12:05:00Z',
    asn: 3243,
    location: 'PT',
    adm1: 2267056,
    product: 'HTTP',
    direction: 'in',
    bytes: 150,
    packets: 1,
    flows: 1,
  }, // h
  // 2026-11-10 06:00: twelve ASes 64501…64512 with 10…120 bytes (total 780), for default limits.
  ...Array.from({ length: 12 }, (_, i) => ({
    time: '2026-11-10T06:00:00Z',
    asn: 64501 + i,
    location: 'NL',
    bytes: 10 * (i + 1),
  })),
  // 2026-10-20 12:00: thirty more ASes 65101…65130, 1 byte each, for the widest groups.
  ...Array.from({ length: 30 }, (_, i) => ({
    time: '2026-10-20T12:00:00Z',
    asn: 65101 + i,
    location: 'ES',
    bytes: 1,
  })),
  // PERCENTAGE_CHANGE days, AS65001 GB: 2026-11-05 hours 0–4 = 300, 0, 200, 500, 0;
  // baseline 2026-11-04 hours 0–4 = 400, 0, 0, 300, 100.
  { time: '2026-11-05T00:10:00Z', asn: 65001, location: 'GB', bytes: 300 },
  { time: '2026-11-05T02:30:00Z', asn: 65001, location: 'GB', bytes: 200 },
  { time: '2026-11-05T03:45:00Z', asn: 65001, location: 'GB', bytes: 500 },
  { time: '2026-11-04T00:20:00Z', asn: 65001, location: 'GB', bytes: 400 },
  { time: '2026-11-04T03:00:00Z', asn: 65001, location: 'GB', bytes: 300 },
  { time: '2026-11-04T04:59:00Z', asn: 65001, location: 'GB', bytes: 100 },
];

export async function insertAsnNames(db: Database): Promise<void> {
  await db.query(sql`INSERT INTO asn_names (asn, name, country) VALUES
    (3243, 'MEO-RESIDENCIAL', 'PT'), (3356, 'LEVEL3', 'US'), (174, 'COGENT-174', 'US'), (13335, 'CLOUDFLARENET', 'US')`);
}

/** Names of the day dataset's subdivisions; 1835848 stays without one. */
export async function insertAdm1Names(db: Database): Promise<void> {
  await db.query(sql`INSERT INTO adm1_names (geoname_id, name, country) VALUES
    (2267056, 'Lisbon', 'PT'), (2735941, 'Porto', 'PT'), (5332921, 'California', 'US'), (2951839, 'Bavaria', 'DE')`);
}

/**
 * Dataset "weeks": powers of two spread over two months, so every sum names its rows.
 *   7d@1h  = 2026-11-13T13:00 … 11-20T13:00 → w1–w6 = 63000
 *   7d@1d  = 2026-11-14T00:00 … 11-21T00:00 → w1–w5 = 31000
 *   7d@15m = 2026-11-13T12:15 … 11-20T12:15 → w1–w7 = 127000
 *   7dcontrol@1h = 11-06T13:00 … 11-13T13:00 → w7+w8 = 192000; @1d = 11-07 … 11-14 → w6+w7+w8 = 224000
 *   10dcontrol@1h = 10-27T13:00 … 11-06T13:00 → w9+w10 = 768000
 *   8w@1w = 2026-09-28 … 11-23 → w1–w12 = 4095000
 */
export const WEEK_ROWS: TrafficRow[] = [
  { time: '2026-11-20T11:20:00Z', asn: 3243, location: 'PT', bytes: 1000 }, // w1
  { time: '2026-11-20T00:10:00Z', asn: 3243, location: 'PT', product: 'OTHER', bytes: 2000 }, // w2
  { time: '2026-11-19T23:50:00Z', asn: 174, location: 'DE', direction: 'out', bytes: 4000 }, // w3
  { time: '2026-11-17T08:15:00Z', asn: 3243, location: 'PT', bytes: 8000 }, // w4
  { time: '2026-11-14T00:00:00Z', asn: 3356, location: 'FR', bytes: 16000 }, // w5
  { time: '2026-11-13T13:30:00Z', asn: 3356, location: 'FR', bytes: 32000 }, // w6
  { time: '2026-11-13T12:30:00Z', asn: 3356, location: 'FR', bytes: 64000 }, // w7
  { time: '2026-11-10T05:00:00Z', asn: 3243, location: 'PT', bytes: 128000 }, // w8
  { time: '2026-11-06T12:59:00Z', asn: 3243, location: 'PT', bytes: 256000 }, // w9
  { time: '2026-10-27T13:00:00Z', asn: 174, location: 'DE', bytes: 512000 }, // w10
  { time: '2026-10-27T12:59:00Z', asn: 174, location: 'DE', bytes: 1024000 }, // w11
  { time: '2026-09-28T00:00:00Z', asn: 3243, location: 'PT', bytes: 2048000 }, // w12 (a Monday)
  { time: '2026-09-27T23:59:00Z', asn: 3243, location: 'PT', bytes: 4096000 }, // w13
];

/** Operator annotations and exporter quality minutes of the "weeks" dataset. */
export async function insertQuality(db: Database): Promise<void> {
  await db.query(sql`INSERT INTO annotations (start_time, end_time, description, event_type, linked_url, level) VALUES
    ('2026-10-05T10:00:00Z', '2026-10-05T12:00:00Z', 'fiber cut in Lisbon', 'OUTAGE', 'https://status.example/1', 2),
    ('2026-10-05T11:00:00Z', NULL, 'router reboot', 'GENERAL', '', 3),
    ('2026-10-01T00:00:00Z', '2026-10-01T01:00:00Z', 'planned maintenance', 'GENERAL', '', 4),
    ('2026-11-08T00:00:00Z', '2026-11-08T01:00:00Z', 'control week note', 'GENERAL', '', 4)`);
  // 192.0.2.1 loses 150 of 3150 records (4.8 %); 192.0.2.2 loses 3 of 3003 (0.1 %).
  await db.query(sql`INSERT INTO exporter_minutes (time, exporter, records, lost_records, unsampled_records) VALUES
    ('2026-10-10T10:00:00Z', '192.0.2.1', 1000, 50, 0), ('2026-10-10T10:01:00Z', '192.0.2.1', 1000, 50, 0),
    ('2026-10-10T10:02:00Z', '192.0.2.1', 1000, 50, 0),
    ('2026-10-10T10:00:00Z', '192.0.2.2', 1000, 1, 0), ('2026-10-10T10:01:00Z', '192.0.2.2', 1000, 1, 0),
    ('2026-10-10T10:02:00Z', '192.0.2.2', 1000, 1, 0),
    ('2026-10-12T10:00:00Z', '192.0.2.3', 100, 0, 10)`);
}

export type Params = Record<string, string | string[]>;

/** A path with repeated query keys, in the order given. */
export function url(path: string, params: Params = {}): string {
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const x of Array.isArray(v) ? v : [v]) sp.append(k, x);
  const s = sp.toString();
  return s ? `${path}?${s}` : path;
}

/** n values "0" with some positions set. */
export function zerosWith(n: number, set: Record<number, string | null> = {}): (string | null)[] {
  return Array.from({ length: n }, (_, k) => (k in set ? set[k]! : '0'));
}

/** n timestamps from `first`, `stepMs` apart, in Radar's format. */
export function stamps(first: string, n: number, stepMs: number): string[] {
  const t0 = Date.parse(first);
  return Array.from({ length: n }, (_, k) => `${new Date(t0 + k * stepMs).toISOString().slice(0, 19)}Z`);
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/** Sum of a series of RAW_VALUES strings. */
export function total(values: (string | null)[]): number {
  return values.reduce((a, v) => a + Number(v ?? 0), 0);
}

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

/** A Radar error envelope with one error of the given code whose message names every `parts`. */
export function expectError(r: Reply, status: number, code: number, ...parts: string[]): void {
  expect(r.status, r.text).toBe(status);
  expect(r.headers.get('content-type') ?? '').toContain('application/json');
  expect(r.body).toMatchObject({ success: false, messages: [], result: null });
  expect(r.body.errors).toHaveLength(1);
  expect(r.body.errors[0].code, r.text).toBe(code);
  for (const p of parts) expect(r.body.errors[0].message, r.text).toContain(p);
}

/** A successful Radar envelope. */
export function expectOk(r: Reply): void {
  expect(r.status, r.text).toBe(200);
  expect(r.body, r.text).toMatchObject({ success: true, errors: [], messages: [] });
  expect(r.body.result).toBeTypeOf('object');
}

const VALUE = /^-?(0|[1-9]\d*)(\.\d{0,5}[1-9])?$/;
const STAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** Every value a string with ≤ 6 decimals and no trailing zeros; every timestamp UTC to the second. */
export function expectWellFormed(result: Record<string, unknown>): void {
  for (const [name, serie] of Object.entries(result)) {
    if (name === 'meta') continue;
    for (const [key, arr] of Object.entries(serie as Record<string, unknown>)) {
      if (!Array.isArray(arr)) {
        expect(arr, `${name}.${key}`).toMatch(VALUE);
        continue;
      }
      for (const v of arr) {
        if (key === 'timestamps') expect(v, `${name}.${key}`).toMatch(STAMP);
        else if (v !== null && typeof v === 'string') expect(v, `${name}.${key}`).toMatch(VALUE);
      }
    }
  }
}

/** Parses RFC 4180 CSV into rows of cells. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else if (ch !== '\r') cell += ch;
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}
