import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type TransferListItem, Worker } from 'node:worker_threads';

/**
 * Starts one of the collector's threads, `name` being a module beside this one (receiver,
 * decode-worker). From dist/ the compiled .js. From src/ (`node --import tsx src/cli.ts`, vitest)
 * the TypeScript source, compiled in the thread by tsx's require hook: Node 20 does not hand a
 * worker's entry module to the loader hooks that `--import tsx` registers, and vitest transforms
 * its own modules without any hook.
 * @example
 * const worker = startThread('receiver', { receiver: settings });
 */
export function startThread(
  name: 'receiver' | 'decode-worker',
  workerData: unknown,
  transferList: readonly TransferListItem[] = [],
): Worker {
  const options = { workerData, transferList: [...transferList] };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, import.meta.url), options);
  const tsx = createRequire(import.meta.url).resolve('tsx/cjs/api');
  const source = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  const boot = `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(source)});`;
  return new Worker(boot, { eval: true, ...options });
}
