/**
 * Where a distinct request's time goes in server mode: distinct 2-series 7d@1h timeseries requests
 * (an AS, and the same AS in DE; any AS, windows ending on any hour of the dataset, so `dateEnd` on
 * the hour puts the window's end at :15) through the app in-process, one at a time, on a server
 * dataset over one connection. Per request: wall time, this process's CPU and the server's (its
 * process tree). Per statement: the time it was waited for within a request, then the same
 * statement repeated alone on the connection (its round trip, its Node CPU, the server's CPU).
 *
 * Run: npx tsx bench/statements.ts [--dataset M] [--requests 300]
 */
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import pino from 'pino';
import { createApp } from '../src/app.js';
import { createToken } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config.js';
import { type DatasetName, datasetKeys, openServerDataset } from './dataset.js';
import { emit, parseArgs, table } from './lib.js';
import { benchServer, treeCpuSeconds } from './server.js';

const args = parseArgs();
const NAME = (args.opts.dataset ?? 'M') as DatasetName;
const REQUESTS = Number(args.opts.requests ?? 300);
const ALONE = 400;
const HOUR = 3_600_000;

const pgPid = (await benchServer()).pid();
const { db, info } = await openServerDataset(NAME, { max: 1 });
const dialect = new PgDialect();
/** Statements by their first 70 characters: time waited for, count, and one to repeat alone. */
const seen = new Map<string, { n: number; ms: number; sample: SQL }>();
const query = db.query.bind(db);
db.query = async <T>(q: SQL): Promise<T[]> => {
  const key = dialect.sqlToQuery(q).sql.replace(/\s+/g, ' ').trim().slice(0, 70);
  const t = performance.now();
  try {
    return await query<T>(q);
  } finally {
    const s = seen.get(key) ?? { n: 0, ms: 0, sample: q };
    s.n++;
    s.ms += performance.now() - t;
    seen.set(key, s);
  }
};
const app = createApp({
  db,
  config: loadConfig({ flags: { rateLimit: { requests: 1e9 } } }),
  logger: pino({ level: 'silent' }),
  now: () => info.endMs,
});
const { token } = await createToken(db, { name: `statements-${Date.now()}`, scopes: ['read'] });
const headers = { authorization: `Bearer ${token}`, 'cache-control': 'no-cache' };
const { asns } = datasetKeys(NAME);
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
const lastHour = Math.floor(info.endMs / HOUR) * HOUR;
const path = (n: number) => {
  const asn = asns[n % asns.length]!;
  const end = lastHour - ((n * 7919) % (80 * 24)) * HOUR;
  const w = `dateStart=${iso(end - 7 * 24 * HOUR)}&dateEnd=${iso(end)}`;
  return `/radar/netflows/timeseries?name=a&asn=${asn}&${w}&name=b&location=DE&asn=${asn}&${w}&aggInterval=1h`;
};
const request = async (n: number) => {
  const r = await app.request(path(n), { headers });
  if (r.status !== 200) throw new Error(`${r.status} ${await r.text()}`);
  await r.text();
};

for (let i = 0; i < 50; i++) await request(i);
seen.clear();
const cpu0 = process.cpuUsage();
const pg0 = treeCpuSeconds(pgPid);
const t0 = performance.now();
for (let i = 0; i < REQUESTS; i++) await request(1000 + i);
const wall = (performance.now() - t0) / REQUESTS;
const cpu = process.cpuUsage(cpu0);
const pg = ((treeCpuSeconds(pgPid) - pg0) * 1000) / REQUESTS;
const per = (x: number) => x.toFixed(2);

const rows: (string | number)[][] = [];
for (const [key, s] of [...seen].sort((a, b) => b[1].ms - a[1].ms)) {
  for (let i = 0; i < 20; i++) await query(s.sample);
  const c0 = process.cpuUsage();
  const p0 = treeCpuSeconds(pgPid);
  const t = performance.now();
  for (let i = 0; i < ALONE; i++) await query(s.sample);
  const c = process.cpuUsage(c0);
  rows.push([
    `\`${key.replaceAll('|', '\\|')}…\``,
    (s.n / REQUESTS).toFixed(2),
    per(s.ms / REQUESTS),
    per((performance.now() - t) / ALONE),
    per((c.user + c.system) / 1000 / ALONE),
    per(((treeCpuSeconds(pgPid) - p0) * 1000) / ALONE),
  ]);
}
await db.close();

emit(`### Statements of a distinct request (server ${NAME})

${REQUESTS} distinct 2-series 7d@1h requests one at a time after 50 of warm-up, one connection: **${per(wall)} ms** wall,
**${per((cpu.user + cpu.system) / 1000 / REQUESTS)} ms** Node CPU and **${per(pg)} ms** PostgreSQL CPU per request.
Per statement: how many a request runs, the time waited for it per request (statements run at once share the
connection, so these overlap), and the statement repeated ${ALONE} times alone.

${table(['statement', 'per request', 'waited ms/req', 'alone: round trip ms', 'alone: Node CPU ms', 'alone: PG CPU ms'], rows)}`);
process.exit(0);
