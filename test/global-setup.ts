import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';
import { type Cluster, serverMissing, startCluster } from './helpers/pg-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    templatePath: string;
    /** The shared TimescaleDB test server: its URL, or why it is not there. */
    pgServer: { url: string; template: string } | { error: string };
  }
}

/** Name of the migrated database every server-mode test database is copied from. */
export const PG_TEMPLATE = 'flowradar_template';

/**
 * Migrates one in-memory database with the real migrations and dumps it: every test file then
 * starts its own database from that dump in about a second instead of five. Likewise one real
 * TimescaleDB server for the run, with a migrated template database that each server-mode test
 * file copies (CREATE DATABASE … TEMPLATE) into a database of its own.
 */
export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'flowradar-test-'));
  const db = await openDatabase({});
  await migrate(db);
  const dump = await db.pglite!.dumpDataDir('gzip');
  const path = join(dir, 'template.tar.gz');
  writeFileSync(path, Buffer.from(await dump.arrayBuffer()));
  await db.close();
  project.provide('templatePath', path);

  let cluster: Cluster | undefined;
  const missing = process.env.FLOWRADAR_TEST_SERVER === '0' ? 'FLOWRADAR_TEST_SERVER=0' : serverMissing();
  if (missing) project.provide('pgServer', { error: missing });
  else {
    cluster = await startCluster();
    await cluster.psql(`CREATE DATABASE ${PG_TEMPLATE}`, 'postgres');
    const tdb = await openDatabase({ databaseUrl: cluster.urlOf(PG_TEMPLATE), max: 2 });
    await migrate(tdb);
    await tdb.close();
    // No connection may stay on a template (TimescaleDB's scheduler would hold one).
    await cluster.psql(
      `ALTER DATABASE ${PG_TEMPLATE} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true;
       SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${PG_TEMPLATE}'`,
      'postgres',
    );
    project.provide('pgServer', { url: cluster.url, template: PG_TEMPLATE });
  }
  return async () => {
    await cluster?.destroy();
    rmSync(dir, { recursive: true, force: true });
  };
}
