/**
 * The benchmarks' server datasets are written in PostgreSQL's binary COPY format, each day's rows
 * by key (the minute table's compression order) rather than by time: the same rows as the CSV the
 * embedded datasets are written with, in that order, on a real server.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dayGenerator, serverSink } from '../bench/dataset.js';
import { type Cluster, startCluster } from './helpers/pg-server.js';

describe('bench datasets: binary COPY by key', () => {
  let pg: Cluster;
  let client: postgres.Sql;
  beforeAll(async () => {
    pg = await startCluster();
    client = postgres(pg.url, { max: 1, onnotice: () => {} });
    await client.unsafe(`CREATE TABLE t (time timestamptz NOT NULL, asn int NOT NULL, location char(2) NOT NULL,
      product text NOT NULL, direction text NOT NULL, bytes bigint NOT NULL, packets bigint NOT NULL,
      flows bigint NOT NULL, adm1 int NOT NULL DEFAULT 0);
      CREATE TABLE csv (LIKE t INCLUDING DEFAULTS); CREATE TABLE bin (LIKE t INCLUDING DEFAULTS);`);
  });
  afterAll(async () => {
    await client?.end({ timeout: 5 });
    await pg?.destroy();
  });

  it('gives the CSV rows of a day, keys in compression order, minutes newest first', async () => {
    const end = Date.UTC(2026, 11, 7, 12, 34);
    const columns = '(time, asn, location, product, direction, bytes, packets, flows)';
    const sink = serverSink(client);
    // Day 0 is the partial first calendar day; day 1 a whole one. Two generators: a day's draws
    // depend only on the day with calendar days.
    const csvCount = { rows: 0 };
    const binCount = { rows: 0 };
    for (const day of [0, 1]) {
      await sink.copy(`csv ${columns}`, dayGenerator('S', end, true).traffic(day, csvCount));
      await sink.copyBinary(`bin ${columns}`, dayGenerator('S', end, true).trafficBinary(day, binCount));
    }
    expect(binCount.rows).toBe(csvCount.rows);
    expect(csvCount.rows).toBeGreaterThan(3000);
    const [diff] = await client.unsafe(`SELECT
        (SELECT count(*) FROM bin)::int AS bin,
        (SELECT count(*) FROM (SELECT * FROM csv EXCEPT ALL SELECT * FROM bin) x)::int AS csv_only,
        (SELECT count(*) FROM (SELECT * FROM bin EXCEPT ALL SELECT * FROM csv) x)::int AS bin_only`);
    expect(diff).toEqual({ bin: csvCount.rows, csv_only: 0, bin_only: 0 });
    // Physical order (one COPY per day, so ctid order within a day) against the compression order.
    const [order] = await client.unsafe(`SELECT count(*)::int AS out_of_order FROM (
        SELECT time, asn, location, product, direction, date_trunc('day', time) AS day,
               lag(ROW(asn, location, product, direction)) OVER w AS prev_key,
               lag(time) OVER w AS prev_time
          FROM bin WINDOW w AS (PARTITION BY date_trunc('day', time) ORDER BY ctid)) x
       WHERE prev_key > ROW(asn, location, product, direction)
          OR (prev_key = ROW(asn, location, product, direction) AND prev_time <= time)`);
    expect(order).toEqual({ out_of_order: 0 });
  });
});
