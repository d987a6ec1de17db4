/**
 * The writers' upsert into the minute table (src/db/traffic.ts) adds to a row already there, and
 * (migration 0012, fillfactor 70) does so on the row's own page: a collector adds to the same
 * minute's rows at every flush, and an update that stays on its page touches none of the table's
 * indexes. On a full page the new version would move elsewhere, which the row's ctid shows.
 * Rows of one key given in one call are summed before the statement, which may not update a row twice.
 * Rows in columns (the collector's flushes) are written as the same rows given as objects.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.js';
import { addTraffic, concatTraffic, type TrafficDelta, trafficColumns } from '../../src/db/traffic.js';
import { MODES, testDatabase } from '../helpers/db.js';

const MINUTE_MS = Date.parse('2026-11-20T10:07:00Z');

function rows(asns: number[], bytes: number): TrafficDelta[] {
  return asns.map((asn) => ({
    minuteMs: MINUTE_MS,
    asn,
    location: 'DE',
    adm1: 0,
    product: 'HTTP',
    direction: 'in',
    bytes,
    packets: 1,
    flows: 1,
  }));
}

/** ctid's block of each row of the minute, by AS. */
async function blocks(db: Database): Promise<Map<number, string>> {
  const found = await db.query<{ asn: number; block: string }>(
    sql`SELECT asn, split_part(trim(both '()' from ctid::text), ',', 1) AS block
          FROM traffic WHERE time = ${new Date(MINUTE_MS).toISOString()}::timestamptz`,
  );
  return new Map(found.map((r) => [r.asn, r.block]));
}

describe.each(MODES)('the minute table upsert (%s)', (mode) => {
  let db: Database;
  beforeAll(async () => {
    db = await testDatabase(mode);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('adds to existing rows on their own pages, so their indexes are not touched', async () => {
    const all = Array.from({ length: 3000 }, (_, i) => i + 1);
    await addTraffic(db, rows(all, 100));
    const before = await blocks(db);
    expect(before.size).toBe(3000);
    // Spread over many pages: the check is about rows that share a page with others.
    expect(new Set(before.values()).size).toBeGreaterThan(10);

    // What one flush adds while the minute lasts: a tenth of the minute's keys again.
    const again = all.filter((asn) => asn % 10 === 0);
    await addTraffic(db, rows(again, 5));
    const after = await blocks(db);
    const moved = again.filter((asn) => after.get(asn) !== before.get(asn));
    expect(moved).toEqual([]);

    const [sums] = await db.query<{ bytes: string; n: string }>(
      sql`SELECT sum(bytes)::text AS bytes, count(*)::text AS n
            FROM traffic WHERE time = ${new Date(MINUTE_MS).toISOString()}::timestamptz`,
    );
    expect(sums).toEqual({ bytes: String(3000 * 100 + again.length * 5), n: '3000' });
  });

  it('sums rows of one key given together (batches written as one), each rounded as if written alone', async () => {
    const minuteMs = MINUTE_MS + 60_000;
    const row = (asn: number, bytes: number): TrafficDelta => ({
      minuteMs,
      asn,
      location: 'FR',
      product: 'OTHER',
      direction: 'out',
      bytes,
      packets: 1.4,
      flows: 1,
    });
    const given = [row(7, 1.4), row(8, 2.6), row(7, 1.4), { ...row(7, 0.6), adm1: 0 }];
    const before = structuredClone(given);
    await addTraffic(db, given);
    expect(given).toEqual(before);
    const found = await db.query<{ asn: number; bytes: string; packets: string; flows: string }>(
      sql`SELECT asn, bytes::text, packets::text, flows::text FROM traffic
            WHERE time = ${new Date(minuteMs).toISOString()}::timestamptz ORDER BY asn`,
    );
    expect(found).toEqual([
      { asn: 7, bytes: '3', packets: '3', flows: '3' },
      { asn: 8, bytes: '3', packets: '1', flows: '1' },
    ]);
  });

  it('writes rows in columns as it writes them as objects: escapes, the largest AS number stored, subdivisions, repeats', async () => {
    const minute = (m: number) => MINUTE_MS + m * 60_000;
    const given = (at: number): TrafficDelta[] => [
      {
        minuteMs: minute(at),
        asn: 2_147_483_647,
        location: '"\\',
        product: 'HTTP',
        direction: 'in',
        bytes: 1e12 + 0.5,
        packets: 3,
        flows: 1,
      },
      {
        minuteMs: minute(at),
        asn: 13335,
        location: 'US',
        adm1: 5_332_921,
        product: 'OTHER',
        direction: 'out',
        bytes: 7.5,
        packets: 2.5,
        flows: 2,
      },
      {
        minuteMs: minute(at + 1),
        asn: 13335,
        location: 'US',
        product: 'HTTP',
        direction: 'out',
        bytes: 9,
        packets: 1,
        flows: 1,
      },
      {
        minuteMs: minute(at),
        asn: 2_147_483_647,
        location: '"\\',
        product: 'HTTP',
        direction: 'in',
        bytes: 2,
        packets: 1,
        flows: 1,
      },
    ];
    const written = (from: number) =>
      db.query<Record<string, string>>(
        sql`SELECT ((extract(epoch FROM time) * 1000)::bigint - ${minute(from)})::text AS at, asn::text, location,
                   adm1::text, product, direction, bytes::text, packets::text, flows::text
              FROM traffic WHERE time >= ${new Date(minute(from)).toISOString()}::timestamptz
                             AND time < ${new Date(minute(from + 2)).toISOString()}::timestamptz
             ORDER BY 1, 2, 3, 4, 5, 6`,
      );
    await addTraffic(db, given(10));
    const rows = given(20);
    // Two batches' columns, the repeated key in both.
    await addTraffic(db, concatTraffic([trafficColumns(rows.slice(0, 2)), trafficColumns(rows.slice(2))]));
    const byRows = await written(10);
    expect(byRows).toHaveLength(3);
    expect(byRows.find((r) => r.location === '"\\')).toMatchObject({
      asn: '2147483647',
      location: '"\\',
      bytes: String(1e12 + 1 + 2),
    });
    expect(await written(20)).toEqual(byRows);
  });
});
