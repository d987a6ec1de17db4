/**
 * The anomaly detector's cost on a benchmark dataset (embedded database, as maintenance runs it):
 * the first round, which judges the last `backfill` (28 days), then steady rounds, each judging the
 * one 15-minute bucket closed since the last. The detector's state and findings are reset first,
 * so every run measures the same work. Run: npx tsx bench/anomalies-cost.ts L [--rounds 8]
 */
import { sql } from 'drizzle-orm';
import { BUCKET_MS } from '../src/anomalies/detect.js';
import { detectAnomalies } from '../src/anomalies/run.js';
import { loadConfig } from '../src/config.js';
import { type DatasetName, openDataset } from './dataset.js';
import { parseArgs } from './lib.js';

const args = parseArgs(process.argv.slice(2));
const name = (args.only[0] ?? 'L') as DatasetName;
const rounds = Number(args.opts.rounds ?? 8);
const { db, info } = await openDataset(name, { log: (s) => console.error(s) });
const config = { ...loadConfig({}).anomalies, enabled: true };
await db.query(sql`DELETE FROM traffic_anomalies`);
await db.query(sql`DELETE FROM anomaly_detector`);
await db.query(sql`DELETE FROM anomaly_events`);

// Start a little before the dataset's end, so the steady rounds still judge buckets with traffic.
let now = info.endMs - rounds * BUCKET_MS;
let t0 = performance.now();
const first = await detectAnomalies(db, config, now);
const firstMs = performance.now() - t0;
const steady: number[] = [];
for (let i = 0; i < rounds; i++) {
  now += BUCKET_MS;
  t0 = performance.now();
  await detectAnomalies(db, config, now);
  steady.push(performance.now() - t0);
}
steady.sort((a, b) => a - b);
const [count] = await db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM traffic_anomalies`);
console.log(`| dataset | rows | first round (${config.backfill / 86_400_000} d backfill) ms | steady round (1 bucket) ms p50 / max | anomalies in the backfill |
|---|---|---|---|---|
| ${name} | ${info.rows.toLocaleString('en')} | ${firstMs.toFixed(0)} | ${steady[Math.floor(steady.length / 2)]!.toFixed(1)} / ${steady.at(-1)!.toFixed(1)} | ${first.opened} (${count?.n} stored) |`);
await db.close();
