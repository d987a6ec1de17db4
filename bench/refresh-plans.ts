/**
 * A round of maintenance's rollup refreshes on a server dataset after one new minute, with the
 * refreshes planned once for any span (as before b61cdee) and planned for their span (now), in turns:
 * `node --import tsx bench/refresh-plans.ts --server-datasets XL --rounds 3`. Prints seconds per
 * rollup and the round's total for each way.
 */
import { sql } from 'drizzle-orm';
import { loadConfig } from '../src/config.js';
import { refreshStatements } from '../src/db/maintenance.js';
import { openServerDataset } from './dataset.js';
import { parseArgs } from './lib.js';

const args = parseArgs();
const name = (args.opts['server-datasets'] ?? 'XL') as 'XL';
const rounds = Number(args.opts.rounds ?? 3);
const { db, info } = await openServerDataset(name, { log: (s) => process.stderr.write(`${s}\n`) });
const { retention } = loadConfig({});
try {
  let asn = 65_000;
  // Round 0 materializes what the dataset left pending; it is not printed.
  for (let round = 0; round <= rounds; round++) {
    for (const way of ['generic', 'for values'] as const) {
      // One new minute at the dataset's end, as a collector's flush leaves it.
      await db.query(
        sql`INSERT INTO traffic (time, asn, location, product, direction, bytes, packets, flows)
            VALUES (${new Date(info.endMs - 60_000).toISOString()}::timestamptz, ${asn++}, 'DE', 'HTTP', 'in', 1, 1, 1)`,
      );
      const each: string[] = [];
      const t0 = performance.now();
      for (const { rollup, text } of refreshStatements(retention)) {
        const t = performance.now();
        await (way === 'generic' ? db.exec(text) : db.execPlannedForValues(text));
        each.push(`${rollup} ${((performance.now() - t) / 1000).toFixed(2)}`);
      }
      if (round > 0)
        process.stdout.write(
          `round ${round}, ${way}: ${((performance.now() - t0) / 1000).toFixed(2)} s (${each.join(', ')})\n`,
        );
    }
  }
} finally {
  await db.close();
}
