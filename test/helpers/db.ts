import { readFileSync } from 'node:fs';
import postgres from 'postgres';
import { inject } from 'vitest';
import { type Database, openDatabase } from '../../src/db/client.js';
import { refreshRollups } from '../../src/db/maintenance.js';
import { addTraffic, type TrafficDelta } from '../../src/db/traffic.js';

export type Mode = 'embedded' | 'server';
/** Both modes, for suites that run the same checks on each (`describe.each(MODES)`). */
export const MODES: readonly Mode[] = ['embedded', 'server'];

export { freePort } from './net.js';

/**
 * A fresh, migrated database owned by the calling test file. `embedded`: PGlite in this process,
 * from the migrated dump. `server`: a database of its own on the run's real TimescaleDB server
 * (copied from the migrated template), through postgres.js with a real pool (10 connections,
 * prepared statements), as production runs.
 */
export async function testDatabase(mode: Mode = 'embedded'): Promise<Database> {
  if (mode === 'server') return serverTestDatabase();
  const template = new Blob([readFileSync(inject('templatePath'))]);
  return openDatabase({ loadDataDir: template });
}

let databases = 0;

/** A new database on the shared test server, copied from the migrated template. */
export async function serverTestDatabase(opts: { max?: number; prepare?: boolean } = {}): Promise<Database> {
  return openDatabase({
    databaseUrl: await serverDatabaseUrl(),
    max: opts.max ?? 10,
    prepare: opts.prepare ?? true,
  });
}

/**
 * The URL of a new database on the shared test server, for a process of its own (`flowradar
 * collect --database-url`): a copy of the migrated template, or with `empty` a database without
 * even the TimescaleDB extension, as a first start meets it.
 */
export async function serverDatabaseUrl(opts: { empty?: boolean } = {}): Promise<string> {
  const { url, template } = sharedServer();
  const name = `t_${process.pid}_${++databases}_${Date.now().toString(36)}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}${opts.empty ? '' : ` TEMPLATE ${template}`}`);
  } finally {
    await admin.end();
  }
  return url.replace(/\/[^/]*$/, `/${name}`);
}

/** The run's TimescaleDB server; throws (never skips) when it could not be started. */
export function sharedServer(): { url: string; template: string } {
  const s = inject('pgServer');
  if ('error' in s) throw new Error(`server-mode tests need the TimescaleDB test server: ${s.error}`);
  return s;
}

/** One `traffic` row as the tests write it; {@link trafficDelta} fills in the defaults. */
export interface TrafficRow {
  /** ISO 8601 with a zone, normally a minute start ('2026-11-20T09:10:00Z'); stored as given. */
  time: string;
  asn: number;
  location: string;
  /** Subdivision (GeoNames id); 0 (unknown) unless given. */
  adm1?: number;
  product?: 'HTTP' | 'OTHER';
  direction?: 'in' | 'out';
  bytes: number;
  packets?: number;
  flows?: number;
}

/**
 * Deterministic rows every `stepMinutes` from `fromMs` (inclusive) to `toMs` (exclusive), the k-th
 * row's keys and size from `row(k)`.
 * @example rowsEvery(start, end, 7, (k) => ({ asn: ASNS[k % 5]!, location: 'PT', bytes: 1000 + k }))
 */
export function rowsEvery(
  fromMs: number,
  toMs: number,
  stepMinutes: number,
  row: (k: number) => Omit<TrafficRow, 'time'>,
): TrafficRow[] {
  const out: TrafficRow[] = [];
  for (let t = fromMs, k = 0; t < toMs; t += stepMinutes * 60_000, k++)
    out.push({ time: new Date(t).toISOString(), ...row(k) });
  return out;
}

/** A test row as the delta the writers add: product HTTP, direction in, 1 packet and 1 flow unless given. */
function trafficDelta(r: TrafficRow): TrafficDelta {
  const minuteMs = Date.parse(r.time);
  if (Number.isNaN(minuteMs)) throw new Error(`TrafficRow.time is not a date: ${r.time}`);
  return {
    minuteMs,
    asn: r.asn,
    location: r.location,
    ...(r.adm1 ? { adm1: r.adm1 } : {}),
    product: r.product ?? 'HTTP',
    direction: r.direction ?? 'in',
    bytes: r.bytes,
    packets: r.packets ?? 1,
    flows: r.flows ?? 1,
  };
}

/**
 * Adds rows to `traffic` with the writers' additive upsert ({@link addTraffic}: rows of one key
 * sum) and refreshes the rollups, as the service would.
 */
export async function insertTraffic(db: Database, rows: TrafficRow[]): Promise<void> {
  await addTraffic(db, rows.map(trafficDelta));
  await refreshRollups(db);
}
