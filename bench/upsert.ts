/**
 * The writers' upsert into the minute table on the embedded database, per row: a minute's rows
 * written new, then the same rows again (what a collector does at every flush while the minute
 * lasts), at the table's fillfactor as migrated (70, migration 0012) and at PostgreSQL's default
 * (100), in one run on two fresh databases. Rows already there are the case the fillfactor is for:
 * with room on its page an update touches none of the table's four indexes.
 *
 * Run (alone): npx tsx bench/upsert.ts [--rows 16000] [--minutes 3] [--again 4]
 */

import { openDatabase } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';
import { addTraffic, type TrafficDelta } from '../src/db/traffic.js';
import { median, parseArgs, table, tempDir } from './lib.js';

const args = parseArgs();
const ROWS = Number(args.opts.rows ?? 16_000);
const MINUTES = Number(args.opts.minutes ?? 3);
const AGAIN = Number(args.opts.again ?? 4);
const LOCATIONS = ['DE', 'US', 'FR', 'GB'];

/** One minute's rows: ASes × locations × directions, as a busy exporter's minute has them. */
function minuteRows(minuteMs: number): TrafficDelta[] {
  return Array.from({ length: ROWS }, (_, i) => ({
    minuteMs,
    asn: 1 + (i % 4000),
    location: LOCATIONS[Math.floor(i / 4000) % LOCATIONS.length]!,
    adm1: 0,
    product: 'HTTP',
    direction: i % 2 ? 'in' : 'out',
    bytes: 1000,
    packets: 1,
    flows: 1,
  }));
}

async function usPerRow(f: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await f();
  return ((performance.now() - t) * 1000) / ROWS;
}

async function run(fillfactor: 'as migrated' | '100') {
  const db = await openDatabase({ dataDir: tempDir('upsert') });
  await migrate(db);
  if (fillfactor === '100') await db.exec('ALTER TABLE traffic RESET (fillfactor)');
  const fresh: number[] = [];
  const again: number[] = [];
  const start = Math.floor(Date.now() / 60_000) * 60_000;
  for (let m = 0; m < MINUTES; m++) {
    const rows = minuteRows(start - m * 60_000);
    fresh.push(await usPerRow(() => addTraffic(db, rows)));
    for (let k = 0; k < AGAIN; k++) again.push(await usPerRow(() => addTraffic(db, rows)));
  }
  await db.close();
  return { fillfactor, fresh: median(fresh), again: median(again) };
}

// The first database opened in a process pays for compiling PGlite's module and warming the JIT.
await run('100');
const results = [await run('as migrated'), await run('100'), await run('as migrated'), await run('100')];
console.log(`Upsert into traffic, embedded database, ${ROWS} rows a minute, ${MINUTES} minutes, each written once new and ${AGAIN} times again (median µs per row; after a first run not shown, which warms the JIT):

${table(
  ['fillfactor', 'new rows', 'rows already there'],
  results.map((r) => [
    r.fillfactor === 'as migrated' ? '70 (as migrated)' : '100',
    r.fresh.toFixed(1),
    r.again.toFixed(1),
  ]),
)}`);
process.exit(0);
