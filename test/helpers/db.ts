import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { sql } from 'drizzle-orm';
import { inject } from 'vitest';
import { type Database, openDatabase } from '../../src/db/client.js';
import { refreshRollups } from '../../src/db/maintenance.js';

export type Mode = 'embedded' | 'server';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * A fresh, migrated database owned by the calling test file. `server` serves the embedded
 * database over the wire protocol (pglite-socket) and talks to it through postgres.js, the
 * driver of server mode.
 */
export async function testDatabase(mode: Mode = 'embedded'): Promise<Database & { embedded: Database }> {
  const template = new Blob([readFileSync(inject('templatePath'))]);
  const embedded = await openDatabase({ loadDataDir: template });
  if (mode === 'embedded') return Object.assign(embedded, { embedded });
  const port = await freePort();
  const server = new PGLiteSocketServer({ db: embedded.pglite!, port, host: '127.0.0.1' });
  await server.start();
  const db = await openDatabase({
    databaseUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    max: 1,
    prepare: false,
  });
  const closeClient = db.close;
  return Object.assign(db, {
    embedded,
    close: async () => {
      await closeClient();
      await server.stop();
      await embedded.close();
    },
  });
}

export interface TrafficRow {
  time: string;
  asn: number;
  location: string;
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

/** Inserts rows straight into `traffic` and refreshes the rollups, as the service would. */
export async function insertTraffic(db: Database, rows: TrafficRow[]): Promise<void> {
  for (const r of rows) {
    await db.query(sql`INSERT INTO traffic (time, asn, location, product, direction, bytes, packets, flows)
      VALUES (${r.time}::timestamptz, ${r.asn}, ${r.location}, ${r.product ?? 'HTTP'}, ${r.direction ?? 'in'},
              ${r.bytes}, ${r.packets ?? 1}, ${r.flows ?? 1})
      ON CONFLICT (time, asn, location, product, direction) DO UPDATE SET
        bytes = traffic.bytes + excluded.bytes, packets = traffic.packets + excluded.packets,
        flows = traffic.flows + excluded.flows`);
  }
  await refreshRollups(db);
}
