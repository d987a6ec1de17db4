/**
 * postinstall: guards postgres.js 3.4.9 against an open upstream bug (porsager/postgres#1154,
 * #1066, #1208). A write under 1,024 bytes is deferred with setImmediate; when the connection
 * closed in between (the database went away mid-transaction: postgres.js then sends ROLLBACK on
 * the dead connection), `nextWrite` dereferences a null socket. The TypeError is thrown from a
 * timer, so no caller can catch it: the process dies, and where something catches it (a test
 * runner) the query never settles and the connection hangs for good.
 *
 * The guard does what the synchronous path already does (execute's catch → error()): it rejects
 * the pending queries with CONNECTION_CLOSED, so the transaction fails, the writer retries, and
 * postgres.js reconnects. test/collector.test.ts ("a write cut halfway by the stop") stops a real
 * server while a write waits at a statement its connection has prepared, the case that reaches
 * this ROLLBACK, and fails without the guard. (A statement not yet prepared on its connection
 * queues the ROLLBACK, which is then never sent: nothing crashes there.) Idempotent; exits 1 when the code it expects is not there (a new postgres.js:
 * check whether the bug is fixed, then drop this script).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MARK = 'flowradar: porsager/postgres#1154';
const BEFORE = '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)\n';
const AFTER = `  function nextWrite(fn) {
    if (socket === null) { // ${MARK}
      nextWriteTimer !== null && clearImmediate(nextWriteTimer)
      chunk = nextWriteTimer = null
      error(Errors.connection('CONNECTION_CLOSED', options))
      return false
    }
    const x = socket.write(chunk, fn)
`;

const root = fileURLToPath(new URL('../node_modules/postgres', import.meta.url));
if (!existsSync(join(root, 'package.json'))) {
  console.log('patch-postgres: postgres is not installed, nothing to patch');
  process.exit(0);
}
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
let failed = false;
for (const rel of ['src/connection.js', 'cjs/src/connection.js', 'cf/src/connection.js']) {
  const path = join(root, rel);
  if (!existsSync(path)) continue;
  const text = readFileSync(path, 'utf8');
  if (text.includes(MARK)) continue;
  if (!text.includes(BEFORE)) {
    console.error(`patch-postgres: postgres ${version} ${rel} does not have the expected nextWrite`);
    failed = true;
    continue;
  }
  writeFileSync(path, text.replace(BEFORE, AFTER));
  console.log(`patch-postgres: guarded nextWrite in postgres ${version} ${rel}`);
}
process.exit(failed ? 1 : 0);
