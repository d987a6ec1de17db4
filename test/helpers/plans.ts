/**
 * What the tests of statements planned once share (test/db/server-plans.test.ts,
 * test/db/embedded-prepared.test.ts): a window's bytes read by one statement text, kept prepared,
 * and traffic whose chunks come and go under that plan.
 */
import { type SQL, sql } from 'drizzle-orm';
import { expect } from 'vitest';
import type { Database, Queryable } from '../../src/db/client.js';
import { addTraffic, type TrafficDelta } from '../../src/db/traffic.js';

export const DAY = 86_400_000;
export const T0 = Date.parse('2026-11-01T00:00:00Z');
export const iso = (ms: number) => new Date(ms).toISOString();

export const trafficRow = (minuteMs: number, bytes: number): TrafficDelta => ({
  minuteMs,
  asn: 64_500,
  location: 'DE',
  product: 'HTTP',
  direction: 'in',
  bytes,
  packets: 1,
  flows: 1,
});

/** sum(bytes) of `table` from 30 days before T0 to 30 days after, always the same statement text. */
export async function windowBytes(db: Queryable, table: SQL = sql`traffic`): Promise<number> {
  const [r] = await db.query<{ b: number }>(
    sql`SELECT coalesce(sum(bytes), 0)::float8 AS b FROM ${table} WHERE time >= ${iso(T0 - 30 * DAY)}::timestamptz AND time < ${iso(T0 + 30 * DAY)}::timestamptz`,
  );
  return r!.b;
}

/**
 * Writes through `writer` what a plan made once must follow — a minute, a day ten days on (a chunk
 * no plan made before lists), every chunk compressed, a minute into a compressed chunk, the older
 * chunks dropped — and holds `minutes()` (5 reads) to the bytes after each step. `first` runs
 * after the first minute, `afterNewChunk` after the new chunk (a rollup's refresh and its reads).
 */
export async function chunksComeAndGo(
  writer: Database,
  minutes: () => Promise<number>,
  hooks: { first?: () => Promise<void>; afterNewChunk?: () => Promise<void> } = {},
): Promise<void> {
  await addTraffic(writer, [trafficRow(T0 + 60_000, 10)]);
  expect(await minutes()).toBe(10);
  await hooks.first?.();
  await addTraffic(writer, [trafficRow(T0 + 10 * DAY, 100)]);
  expect(await minutes()).toBe(110);
  await hooks.afterNewChunk?.();
  // Compressed, the rows move to another table that the plan must read instead.
  await writer.exec(`SELECT compress_chunk(c) FROM show_chunks('traffic') c`);
  expect(await minutes()).toBe(110);
  await addTraffic(writer, [trafficRow(T0 + 120_000, 1_000)]);
  expect(await minutes()).toBe(1_110);
  await writer.exec(`SELECT drop_chunks('traffic', older_than => '${iso(T0 + 5 * DAY)}'::timestamptz)`);
  expect(await minutes()).toBe(100);
}
