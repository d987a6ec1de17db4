/**
 * postinstall: two guards in postgres.js 3.4.9 against open upstream bugs. Idempotent; exits 1
 * when the code a guard expects is not there (a new postgres.js: check whether the bug is fixed,
 * then drop that guard).
 *
 * 1. nextWrite on a closed socket (porsager/postgres#1154, #1066, #1208). A write under 1,024 bytes
 *    is deferred with setImmediate; when the connection closed in between (the database went away
 *    mid-transaction: postgres.js then sends ROLLBACK on the dead connection), `nextWrite`
 *    dereferences a null socket. The TypeError is thrown from a timer, so no caller can catch it:
 *    the process dies, and where something catches it (a test runner) the query never settles and
 *    the connection hangs for good. The guard does what the synchronous path already does
 *    (execute's catch → error()): it rejects the pending queries with CONNECTION_CLOSED, so the
 *    transaction fails, the writer retries, and postgres.js reconnects. test/ingest/collector.test.ts
 *    ("a write cut halfway by the stop") stops a real server while a write waits at a statement
 *    its connection has prepared, the case that reaches this ROLLBACK, and fails without it.
 * 2. A query failed by a lost connection stays attached to it (porsager/postgres#1097, #1130): the
 *    pool's `end()` then waits for it until its timeout, so every shutdown after an outage took
 *    5 s more. `errored` now detaches the query it fails, as upstream's proposed fix (#1142) does.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const GUARDS = [
  {
    name: 'guarded nextWrite',
    mark: 'flowradar: porsager/postgres#1154',
    before: '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)\n',
    after: (mark) => `  function nextWrite(fn) {
    if (socket === null) { // ${mark}
      nextWriteTimer !== null && clearImmediate(nextWriteTimer)
      chunk = nextWriteTimer = null
      error(Errors.connection('CONNECTION_CLOSED', options))
      return false
    }
    const x = socket.write(chunk, fn)
`,
  },
  {
    name: 'detached the failed query in errored',
    mark: 'flowradar: porsager/postgres#1097',
    before:
      '    query && queryError(query, err)\n    initial && (queryError(initial, err), initial = null)\n',
    after: (mark) => `    query && (queryError(query, err), query = null) // ${mark}
    initial && (queryError(initial, err), initial = null)
`,
  },
];

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
  let text = readFileSync(path, 'utf8');
  for (const g of GUARDS) {
    if (text.includes(g.mark)) continue;
    if (!text.includes(g.before)) {
      console.error(`patch-postgres: postgres ${version} ${rel} does not have the code of "${g.name}"`);
      failed = true;
      continue;
    }
    text = text.replace(g.before, g.after(g.mark));
    console.log(`patch-postgres: ${g.name} in postgres ${version} ${rel}`);
  }
  writeFileSync(path, text);
}
process.exit(failed ? 1 : 0);
