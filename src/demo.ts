import { sql } from 'drizzle-orm';
import type { Config } from './config.js';
import { upsertAdm1Names } from './db/adm1-names.js';
import type { Database } from './db/client.js';
import { refreshRollups } from './db/maintenance.js';
import { addTraffic, type TrafficDelta } from './db/traffic.js';

/**
 * Demo traffic for `npm start`: a handful of real networks with daily and weekly shapes, so a
 * newcomer's first curl compares series that differ. Deterministic: the same minute always
 * gets the same numbers.
 */
export const DEMO_NETWORKS = [
  { asn: 3243, name: 'MEO-RESIDENCIAL', location: 'PT', size: 9, http: 0.78, utcOffset: 0, adm1: 2267056 },
  { asn: 2860, name: 'NOS_COMUNICACOES', location: 'PT', size: 7, http: 0.74, utcOffset: 0, adm1: 2735941 },
  { asn: 12353, name: 'VODAFONE-PT', location: 'PT', size: 4, http: 0.7, utcOffset: 0, adm1: 2740636 },
  { asn: 3320, name: 'DTAG', location: 'DE', size: 6, http: 0.72, utcOffset: 1, adm1: 2951839 },
  { asn: 3215, name: 'FRANCE-TELECOM', location: 'FR', size: 5, http: 0.7, utcOffset: 1, adm1: 3012874 },
  { asn: 7018, name: 'ATT-INTERNET4', location: 'US', size: 8, http: 0.66, utcOffset: -6, adm1: 4736286 },
  { asn: 15169, name: 'GOOGLE', location: 'US', size: 3, http: 0.9, utcOffset: -8, adm1: 5332921 },
  { asn: 4766, name: 'KIXS-AS-KR', location: 'KR', size: 4, http: 0.68, utcOffset: 9, adm1: 1835848 },
  // No subdivision known: its traffic is in no ADM1 group.
  { asn: 28573, name: 'CLARO S.A.', location: 'BR', size: 5, http: 0.71, utcOffset: -3, adm1: 0 },
  { asn: 1221, name: 'ASN-TELSTRA', location: 'AU', size: 3, http: 0.69, utcOffset: 10, adm1: 2155400 },
] as const;

/**
 * The demo networks' first-level subdivisions: GeoNames ids and English names, as a City database
 * (GeoLite2-City) gives them; `demo/city-demo.mmdb` holds them for the networks' address blocks.
 */
export const DEMO_SUBDIVISIONS: Record<number, { name: string; country: string }> = {
  2267056: { name: 'Lisbon', country: 'PT' },
  2735941: { name: 'Porto', country: 'PT' },
  2740636: { name: 'Coimbra', country: 'PT' },
  2951839: { name: 'Bavaria', country: 'DE' },
  3012874: { name: 'Île-de-France', country: 'FR' },
  4736286: { name: 'Texas', country: 'US' },
  5332921: { name: 'California', country: 'US' },
  1835848: { name: 'Seoul', country: 'KR' },
  2155400: { name: 'New South Wales', country: 'AU' },
};

const STEP_MS = 5 * 60_000;
const BYTES_PER_UNIT = 40e6; // per 5 minutes at size 1, peak

/** Small deterministic noise in [0.9, 1.1). */
function noise(seed: number): number {
  const x = Math.sin(seed * 12.9898) * 43758.5453;
  return 0.9 + 0.2 * (x - Math.floor(x));
}

/** Traffic of one network in the 5 minutes starting at t. */
export function demoRows(t: number): TrafficDelta[] {
  const rows: TrafficDelta[] = [];
  for (const n of DEMO_NETWORKS) {
    const local = new Date(t + n.utcOffset * 3600_000);
    const hour = local.getUTCHours() + local.getUTCMinutes() / 60;
    // Low at 5 am, peak at 9 pm local; weekends a fifth higher.
    const daily = 0.55 + 0.45 * Math.sin(((hour - 15) / 24) * 2 * Math.PI);
    const weekly = [0, 6].includes(local.getUTCDay()) ? 1.2 : 1;
    const total = BYTES_PER_UNIT * n.size * daily * weekly * noise(t / STEP_MS + n.asn);
    for (const product of ['HTTP', 'OTHER'] as const) {
      const share = product === 'HTTP' ? n.http : 1 - n.http;
      const inBytes = total * share;
      for (const direction of ['in', 'out'] as const) {
        const bytes = direction === 'in' ? inBytes : inBytes * 0.12;
        rows.push({
          minuteMs: t,
          asn: n.asn,
          location: n.location,
          ...(n.adm1 !== 0 ? { adm1: n.adm1 } : {}),
          product,
          direction,
          bytes,
          packets: bytes / 900,
          flows: bytes / 250_000,
        });
      }
    }
  }
  return rows;
}

const HOUR_MS = 3600_000;

/**
 * The demo traffic of the hour starting at t as one row per key at t: the sum of its twelve
 * 5-minute slices, so hourly and coarser answers equal those of the 5-minute grid. Other fields of
 * a row (whatever demoRows gives) are the first slice's.
 */
export function demoHourRows(t: number): TrafficDelta[] {
  const hour = demoRows(t);
  for (let k = 1; k < HOUR_MS / STEP_MS; k++)
    demoRows(t + k * STEP_MS).forEach((r, i) => {
      const sum = hour[i]!;
      if (sum.asn !== r.asn || sum.product !== r.product || sum.direction !== r.direction)
        throw new Error('demoRows must list the same keys in the same order for every slice');
      sum.bytes += r.bytes;
      sum.packets += r.packets;
      sum.flows += r.flows;
    });
  return hour;
}

/**
 * Writes demo traffic for [fromMs, toMs) on a 5-minute grid and refreshes the rollups (within
 * `retention`). Whole hours before `hourlyBeforeMs` are written as one row per hour instead
 * ({@link demoHourRows}): twelve times fewer rows for history that is read by the hour or coarser.
 */
export async function writeDemoTraffic(
  db: Database,
  fromMs: number,
  toMs: number,
  retention?: Pick<Config['retention'], 'raw' | 'hourly'>,
  hourlyBeforeMs = Number.NEGATIVE_INFINITY,
): Promise<number> {
  const start = Math.ceil(fromMs / STEP_MS) * STEP_MS;
  let batch: TrafficDelta[] = [];
  let written = 0;
  for (let t = start; t < toMs; ) {
    if (t % HOUR_MS === 0 && t + HOUR_MS <= Math.min(hourlyBeforeMs, toMs)) {
      batch.push(...demoHourRows(t));
      t += HOUR_MS;
    } else {
      batch.push(...demoRows(t));
      t += STEP_MS;
    }
    if (batch.length >= 8000) {
      await addTraffic(db, batch);
      written += batch.length;
      batch = [];
    }
  }
  await addTraffic(db, batch);
  written += batch.length;
  await refreshRollups(db, retention);
  return written;
}

/** AS names of the demo networks, so top/ases shows names, and their subdivisions' names (ADM1 groups). */
export async function writeDemoNames(db: Database): Promise<void> {
  for (const n of DEMO_NETWORKS)
    await db.query(sql`INSERT INTO asn_names (asn, name, country) VALUES (${n.asn}, ${n.name}, ${n.location})
      ON CONFLICT (asn) DO NOTHING`);
  await upsertAdm1Names(
    db,
    Object.entries(DEMO_SUBDIVISIONS).map(([id, s]) => [Number(id), s.name, s.country] as const),
  );
}

/**
 * Days of history a fresh demo holds: five weeks, so week-over-week comparisons (`7dControl` is
 * days −14…−7) and four-week views have data. The newest {@link DEMO_DETAIL_DAYS} are on the
 * 5-minute grid, older days hourly (what their answers read anyway), which keeps the first start
 * short.
 */
export const DEMO_HISTORY_DAYS = 35;
export const DEMO_DETAIL_DAYS = 7;

/**
 * Seeds the demo history up to the start of the current five minutes when the database has no
 * recent traffic; from there the simulator exports live traffic through the collector.
 * Returns where live traffic should start.
 */
export async function seedDemo(
  db: Database,
  nowMs: number,
  log: { info: (o: object, m: string) => void },
  retention?: Pick<Config['retention'], 'raw' | 'hourly'>,
): Promise<number> {
  await writeDemoNames(db);
  const [last] = await db.query<{ ms: number | null }>(
    sql`SELECT (extract(epoch from max(time)) * 1000)::float8 AS ms FROM traffic`,
  );
  const upTo = Math.floor(nowMs / STEP_MS) * STEP_MS;
  // Never past the minutes' retention: maintenance would drop those rows at once.
  const historyMs = Math.min(DEMO_HISTORY_DAYS * 86400_000, retention?.raw ?? Number.POSITIVE_INFINITY);
  const from = Math.max(last?.ms ? Math.floor(last.ms / STEP_MS) * STEP_MS + STEP_MS : 0, nowMs - historyMs);
  if (from < upTo) {
    const detailFrom = Math.floor((nowMs - DEMO_DETAIL_DAYS * 86400_000) / HOUR_MS) * HOUR_MS;
    const rows = await writeDemoTraffic(db, from, upTo, retention, detailFrom);
    log.info({ rows, from: new Date(from).toISOString() }, 'demo history written');
  }
  return upTo;
}
