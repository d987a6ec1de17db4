/**
 * The detector against the embedded database and the real server: weeks of synthetic diurnal traffic written as the
 * collectors write it, rollups refreshed, then detection rounds as maintenance runs them.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { BUCKET_MS, DEFAULT_PARAMS, WEEK_MS } from '../../src/anomalies/detect.js';
import { type AnomalyConfig, detectAnomalies } from '../../src/anomalies/run.js';
import type { Database } from '../../src/db/client.js';
import { upsertExporterMinutes } from '../../src/db/ingest-store.js';
import { maintenanceRound, refreshRollups } from '../../src/db/maintenance.js';
import { writeBatches } from '../../src/ingest/writer.js';
import { MODES, testDatabase } from '../helpers/db.js';
import { DAY_MS, type Outage, START, trafficRows, writeTraffic } from './data.js';

const CONFIG: AnomalyConfig = { ...DEFAULT_PARAMS, enabled: true, settle: 5 * 60_000, backfill: 7 * DAY_MS };
/** Five weeks of history: the evaluated week is the sixth. */
const WEEK6 = START + 5 * WEEK_MS;
const at = (day: number, hh: number, mm = 0) => WEEK6 + day * DAY_MS + (hh * 60 + mm) * 60_000;
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

interface Stored {
  uuid: string;
  type: string;
  asn: number | null;
  location: string | null;
  start: string;
  end: string | null;
  status: string;
  depth: number;
}

async function anomalies(db: Database): Promise<Stored[]> {
  const rows = await db.query<Stored & { s: number; e: number | null }>(
    sql`SELECT uuid::text, type, asn, location::text, status, depth::float8,
               (extract(epoch from start_time) * 1000)::float8 AS s, (extract(epoch from end_time) * 1000)::float8 AS e
          FROM traffic_anomalies ORDER BY start_time, type`,
  );
  return rows.map(({ s, e, ...r }) => ({ ...r, start: iso(s)!, end: iso(e) }));
}

/** Writes rows through the collectors' writer: one batch, recorded in ingest_batches. */
async function ingest(db: Database, fromMs: number, toMs: number, outages: Outage[] = [], onlyAsn?: number) {
  await writeBatches(db, [
    {
      id: randomUUID(),
      traffic: trafficRows(fromMs, toMs, outages).filter((r) => onlyAsn === undefined || r.asn === onlyAsn),
      exporters: [],
      minutes: [],
    },
  ]);
  await refreshRollups(db);
}

describe.each(MODES)('detectAnomalies on the %s database', (mode) => {
  let db: Database | undefined;
  afterEach(async () => {
    await db?.close();
    db = undefined;
  });

  it('finds an AS outage and its location, to the bucket, and nothing in normal traffic', async () => {
    db = await testDatabase(mode);
    const cut: Outage = { asn: 64500, fromMs: at(2, 13), toMs: at(2, 15, 30), factor: 0.1 };
    await writeTraffic(db, START, at(5, 0), [cut]);
    const counts = await detectAnomalies(db, CONFIG, at(5, 0));
    expect(counts.opened).toBe(2);
    const found = await anomalies(db);
    expect(found.map((a) => [a.type, a.asn, a.location, a.start, a.end, a.status])).toEqual([
      ['AS', 64500, null, iso(cut.fromMs), iso(cut.toMs), 'UNVERIFIED'],
      ['LOCATION', null, 'PT', iso(cut.fromMs), iso(cut.toMs), 'UNVERIFIED'],
    ]);
    expect(found[0]!.depth).toBeGreaterThan(0.85);
    const [params] = await db.query<{ p: Record<string, number> }>(
      sql`SELECT params AS p FROM traffic_anomalies LIMIT 1`,
    );
    expect(params!.p).toMatchObject({ weeks: 4, dropBelow: 0.6, openAfter: 2 });
    // A second round at the same time judges nothing new and changes nothing.
    expect(await detectAnomalies(db, CONFIG, at(5, 0))).toMatchObject({ opened: 0, removed: 0 });
    expect(await anomalies(db)).toEqual(found);
  });

  it('opens nothing where exporter loss explains the drop', async () => {
    db = await testDatabase(mode);
    const cut: Outage = { asn: 64501, fromMs: at(1, 10), toMs: at(1, 12), factor: 0.2 };
    await writeTraffic(db, START, at(3, 0), [cut]);
    const minutes = [];
    for (let t = cut.fromMs; t < cut.toMs; t += 60_000)
      minutes.push({
        minuteMs: t,
        exporter: '192.0.2.1',
        collector: 'c1',
        records: 700,
        lostRecords: 300,
        unsampledRecords: 0,
      });
    await upsertExporterMinutes(db, minutes);
    await refreshRollups(db);
    await detectAnomalies(db, CONFIG, at(3, 0));
    expect(await anomalies(db)).toEqual([]);
  });

  it('keeps an outage open while it lasts and closes the same anomaly when traffic returns', async () => {
    db = await testDatabase(mode);
    const cut: Outage = { asn: 64502, fromMs: at(1, 20), toMs: at(2, 2), factor: 0 };
    await writeTraffic(db, START, at(1, 22), [cut]);
    await detectAnomalies(db, CONFIG, at(1, 22, 5));
    const open = (await anomalies(db)).filter((a) => a.type === 'AS');
    expect(open.map((a) => [a.asn, a.start, a.end])).toEqual([[64502, iso(cut.fromMs), null]]);
    await writeTraffic(db, at(1, 22), at(2, 6), [cut]);
    const counts = await detectAnomalies(db, CONFIG, at(2, 6, 5));
    expect(counts.closed).toBe(2);
    const closed = (await anomalies(db)).filter((a) => a.type === 'AS');
    expect(closed.map((a) => [a.uuid, a.start, a.end])).toEqual([
      [open[0]!.uuid, iso(cut.fromMs), iso(cut.toMs)],
    ]);
    // One event per state change, for the webhooks: opened in the first round, closed in the second.
    const events = await db.query<{ event: string; end: string | null }>(
      sql`SELECT event, anomaly->>'endDate' AS end FROM anomaly_events WHERE anomaly_uuid = ${open[0]!.uuid}::uuid ORDER BY id`,
    );
    expect(events).toEqual([
      { event: 'opened', end: null },
      { event: 'closed', end: iso(cut.toMs)!.replace('.000Z', 'Z') },
    ]);
  });

  it('re-judges windows late data touched: a filled gap is no outage, a backfilled day gets its own', async () => {
    db = await testDatabase(mode);
    // AS 64500's rows of 13:00–15:00 on day 2 arrive late (the exporter's flows were delayed).
    const gap: Outage = { asn: 64500, fromMs: at(2, 13), toMs: at(2, 15), factor: 0 };
    // Nothing at all was collected on day 3 at first.
    await writeTraffic(db, START, at(3, 0), [gap]);
    await writeTraffic(db, at(4, 0), at(5, 0));
    await detectAnomalies(db, CONFIG, at(5, 0));
    expect((await anomalies(db)).map((a) => [a.type, a.start])).toEqual([
      ['AS', iso(gap.fromMs)],
      ['LOCATION', iso(gap.fromMs)],
    ]);

    // The late rows, and day 3 backfilled: AS 64501 was down 08:00–09:30 that day.
    const late = trafficRows(gap.fromMs, gap.toMs).filter((r) => r.asn === 64500);
    await writeBatches(db, [{ id: randomUUID(), traffic: late, exporters: [], minutes: [] }]);
    const down: Outage = { asn: 64501, fromMs: at(3, 8), toMs: at(3, 9, 30), factor: 0.05 };
    await ingest(db, at(3, 0), at(4, 0), [down]);
    const counts = await detectAnomalies(db, CONFIG, at(5, 0) + BUCKET_MS);
    expect(counts.lateWindows).toBeGreaterThan(0);
    expect((await anomalies(db)).map((a) => [a.type, a.asn ?? a.location, a.start, a.end])).toEqual([
      ['AS', 64501, iso(down.fromMs), iso(down.toMs)],
      ['LOCATION', 'DE', iso(down.fromMs), iso(down.toMs)],
    ]);
  });

  it('keeps an anomaly an operator verified even when late data fills it', async () => {
    db = await testDatabase(mode);
    const gap: Outage = { asn: 64500, fromMs: at(1, 9), toMs: at(1, 11), factor: 0 };
    await writeTraffic(db, START, at(2, 0), [gap]);
    await detectAnomalies(db, CONFIG, at(2, 0));
    await db.query(sql`UPDATE traffic_anomalies SET status = 'VERIFIED' WHERE type = 'AS'`);
    await ingest(db, gap.fromMs, gap.toMs, [], 64500);
    await detectAnomalies(db, CONFIG, at(2, 1));
    expect((await anomalies(db)).map((a) => [a.type, a.status])).toEqual([['AS', 'VERIFIED']]);
  });

  it('runs in the maintenance round when configured', async () => {
    db = await testDatabase(mode);
    const cut: Outage = { asn: 64501, fromMs: at(0, 12), toMs: at(0, 14), factor: 0 };
    await writeTraffic(db, START, at(1, 0), [cut]);
    const base = {
      compressAfter: 400 * DAY_MS,
      retention: { raw: 400 * DAY_MS, hourly: 800 * DAY_MS, daily: 4000 * DAY_MS },
      maintenanceInterval: 60_000,
    };
    expect(await maintenanceRound(db, base, 'a', () => at(1, 0))).toBe(true);
    expect(await anomalies(db)).toEqual([]);
    await db.query(sql`DELETE FROM maintenance_runs`);
    expect(await maintenanceRound(db, { ...base, anomalies: CONFIG }, 'a', () => at(1, 0))).toBe(true);
    expect((await anomalies(db)).map((a) => [a.type, a.start])).toEqual([
      ['AS', iso(cut.fromMs)],
      ['LOCATION', iso(cut.fromMs)],
    ]);
  });
});
