/**
 * The last step of a server dataset's generation, alone: drops the indexes the generator builds at
 * the end (bench/dataset.ts, loadIndexes) and builds them again, on two connections, the chosen way:
 * `node --import tsx bench/index-builds.ts --server-datasets XL --way 'largest first'` (or
 * `--way listed`, the order before). Prints each build's seconds and the step's. The dataset is left
 * with the same indexes.
 */
import { openDatabase } from '../src/db/client.js';
import { buildIndexes, loadIndexes, openServerDataset } from './dataset.js';
import { parseArgs } from './lib.js';

const args = parseArgs();
const name = (args.opts['server-datasets'] ?? 'XL') as 'XL';
const way = args.opts.way ?? 'largest first';
if (way !== 'largest first' && way !== 'listed') throw new Error("--way: 'largest first' or listed");
const { db, url } = await openServerDataset(name, { log: (s) => process.stderr.write(`${s}\n`) });
const conns = await Promise.all([0, 1].map(() => openDatabase({ databaseUrl: url, max: 1 })));
try {
  const indexes = await loadIndexes(db);
  for (const index of indexes) await db.exec(`DROP INDEX ${index.name};`);
  // What the drops left to write is not the builds' to pay.
  await db.exec('CHECKPOINT');
  const t0 = performance.now();
  await buildIndexes(db, conns, indexes, way, (index, seconds) =>
    process.stdout.write(`${seconds.toFixed(1)} s ${index.name}\n`),
  );
  process.stdout.write(
    `${indexes.length} indexes of ${name}, ${way}: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
} finally {
  for (const c of conns) await c.close();
  await db.close();
}
