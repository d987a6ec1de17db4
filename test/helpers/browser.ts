import { existsSync, mkdirSync } from 'node:fs';
import { serve } from '@hono/node-server';
import { sql } from 'drizzle-orm';
import { type Browser, chromium } from 'playwright-core';
import type { Database } from '../../src/db/client.js';
import { insertTraffic, type TrafficRow } from './db.js';

/** Debian's chromium; CI installs it (.ci/run). FLOWRADAR_CHROMIUM points elsewhere. */
export const CHROMIUM_PATH = process.env.FLOWRADAR_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Screenshots and downloads of the browser tests (ignored by git). */
export const ARTIFACTS = new URL('../artifacts/', import.meta.url);

/**
 * Launches Debian's chromium. Without it the browser tests fail, loudly and with the fix, instead
 * of being skipped: CI must never pass them silently.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH))
    throw new Error(
      `The browser tests need Debian's chromium at ${CHROMIUM_PATH} and it is not installed. ` +
        'Install it with: apt-get update && apt-get install -y --no-install-recommends chromium ' +
        '(or set FLOWRADAR_CHROMIUM to a Chromium binary).',
    );
  try {
    return await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: 30_000 });
  } catch (err) {
    throw new Error(
      `Chromium at ${CHROMIUM_PATH} is installed but does not start: ${(err as Error).message}`,
    );
  }
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return new URL(name, ARTIFACTS).pathname;
}

/** Serves an app on a loopback port, as `flowradar serve` does. */
export async function listen(app: { fetch: (req: Request) => Response | Promise<Response> }) {
  return new Promise<{ url: string; close: () => Promise<void> }>((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        close: () => new Promise<void>((ok) => server.close(() => ok())),
      }),
    );
    server.once('error', reject);
  });
}

/**
 * A day of hourly traffic before `nowIso` for two networks (AS3243 in PT, AS3320 in DE) with
 * different shapes, one operator annotation over two hours, and the AS names.
 */
export async function seedTwoNetworks(db: Database, nowIso: string): Promise<void> {
  const now = Date.parse(nowIso);
  const rows: TrafficRow[] = [];
  for (let h = 1; h <= 30; h++) {
    const time = new Date(Math.floor(now / 3_600_000) * 3_600_000 - h * 3_600_000).toISOString();
    rows.push({ time, asn: 3243, location: 'PT', bytes: 1000 + 400 * (h % 6), product: 'HTTP' });
    rows.push({ time, asn: 3243, location: 'PT', bytes: 300, product: 'OTHER' });
    rows.push({ time, asn: 3320, location: 'DE', bytes: 500 + 150 * (h % 4), product: 'HTTP' });
  }
  await insertTraffic(db, rows);
  await db.query(sql`INSERT INTO asn_names (asn, name, country) VALUES
    (3243, 'MEO-RESIDENCIAL', 'PT'), (3320, 'DTAG', 'DE') ON CONFLICT (asn) DO NOTHING`);
  const start = new Date(now - 10 * 3_600_000).toISOString();
  const end = new Date(now - 8 * 3_600_000).toISOString();
  await db.query(sql`INSERT INTO annotations (start_time, end_time, description, event_type, level)
    VALUES (${start}::timestamptz, ${end}::timestamptz, 'maintenance on the PT uplink', 'OUTAGE', 3)`);
}
