/**
 * postinstall: builds native/udp_receiver.c (the receiving thread's recvmmsg reader) into
 * build/udp_receiver.node with the system's C compiler and the Node-API headers of the
 * node-api-headers package. One C file and no node-gyp: nothing to download at install. A machine
 * without a compiler, or not Linux, gets a warning and the collector reads its sockets through
 * Node's dgram, as before (src/ingest/native-receiver.ts). FLOWRADAR_NATIVE_BUILD=0 skips it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'native', 'udp_receiver.c');
const target = join(root, 'build', 'udp_receiver.node');

function headers() {
  try {
    return createRequire(import.meta.url)('node-api-headers').include_dir;
  } catch {
    // The headers a Node tarball installs beside its binary.
    const dir = join(dirname(process.execPath), '..', 'include', 'node');
    return existsSync(join(dir, 'node_api.h')) ? dir : undefined;
  }
}

function build() {
  if (process.env.FLOWRADAR_NATIVE_BUILD === '0') return 'skipped (FLOWRADAR_NATIVE_BUILD=0)';
  if (process.platform !== 'linux') return `skipped: recvmmsg is Linux's (${process.platform})`;
  const include = headers();
  if (!include) return 'skipped: no Node-API headers';
  const cc = process.env.CC || 'cc';
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}`;
  try {
    execFileSync(
      cc,
      [
        '-O2',
        '-Wall',
        '-Werror',
        '-std=gnu11',
        '-shared',
        '-fPIC',
        '-fvisibility=hidden',
        `-I${include}`,
        source,
        '-o',
        tmp,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
  } catch (err) {
    return `skipped: ${cc} failed (${err.code ?? err.status})`;
  }
  renameSync(tmp, target);
  return undefined;
}

const skipped = build();
if (skipped) console.warn(`flowradar: native UDP receiver ${skipped}; the collector reads with Node's dgram`);
