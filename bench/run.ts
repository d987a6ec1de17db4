/**
 * `npm run bench [-- --quick] [-- --write] [-- --only decode,query,api,ingest,writers,collectors]`
 *
 * Runs each benchmark in its own Node process (decode needs --expose-gc; the others must not
 * share a heap or a CPU with each other), prints their tables, and with --write appends them to
 * BENCHMARKS.md under a heading with the date, the machine and the command.
 * Extra `--key value` options are passed to every benchmark (e.g. --datasets S,M, --protocol v9).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { machineLine, parseArgs, tempDir } from './lib.js';

const ALL = ['decode', 'query', 'api', 'ingest', 'writers', 'collectors'] as const;
const args = parseArgs();
const only = args.only.length ? args.only : [...ALL];
for (const b of only) if (!(ALL as readonly string[]).includes(b)) throw new Error(`unknown benchmark ${b}`);

const root = new URL('..', import.meta.url).pathname;
const out = join(tempDir('run'), 'sections.md');
writeFileSync(out, '');
const passOn = [
  ...(args.quick ? ['--quick'] : []),
  ...Object.entries(args.opts).flatMap(([k, v]) => [`--${k}`, v]),
];
const started = new Date();
const machine = machineLine();
const t0 = performance.now();
const failed: string[] = [];
for (const b of ALL.filter((x) => only.includes(x))) {
  const bt = performance.now();
  process.stderr.write(`\n== bench ${b}${args.quick ? ' (quick)' : ''}\n`);
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', `bench/${b}.ts`, ...passOn], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, BENCH_OUT: out },
  });
  process.stderr.write(
    `== bench ${b}: ${((performance.now() - bt) / 1000).toFixed(0)} s, exit ${r.status}\n`,
  );
  if (r.status !== 0) failed.push(b);
}
const seconds = (performance.now() - t0) / 1000;
const sections = readFileSync(out, 'utf8');
rmSync(join(out, '..'), { recursive: true, force: true });
const command = `npm run bench --${args.quick ? ' --quick' : ''}${args.only.length ? ` --only ${only.join(',')}` : ''}${args.write ? ' --write' : ''}`;
const report = `## Run ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC${args.quick ? ' (quick)' : ''}

Machine: ${machine} (at start). Command: \`${command}\`; took ${(seconds / 60).toFixed(1)} min.${
  failed.length ? ` **Failed: ${failed.join(', ')}.**` : ''
}

${sections}`;
if (args.write) {
  appendFileSync(join(root, 'BENCHMARKS.md'), `\n${report}`);
  process.stderr.write('appended to BENCHMARKS.md\n');
}
process.stderr.write(
  `\nbench: ${(seconds / 60).toFixed(1)} min${failed.length ? `, failed: ${failed.join(', ')}` : ''}\n`,
);
process.exit(failed.length ? 1 : 0);
