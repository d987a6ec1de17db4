import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { freePort } from './net.js';
import { ROOT } from './worker.js';

export interface FlowradarProcess {
  child: ChildProcess;
  /** http://127.0.0.1:<port> of its API. */
  url: string;
  ports: { http: number; netflow: number; sflow: number };
  /** Everything it wrote to stdout and stderr so far (pino JSON lines and messages). */
  output(): string;
  /** The lines of its JSON log at or above `level` (pino numbers: 40 warn, 50 error). */
  logLines(minLevel: number): { level: number; msg: string; [k: string]: unknown }[];
  /** Sends `signal` (default SIGTERM) and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * `flowradar <command>` as a separate process (tsx over src/, as a user runs it after npm ci; or
 * the compiled dist/cli.js, as the published package runs, with `from: 'dist'` after
 * {@link buildDist}), on free loopback ports; resolves once its /healthz answers.
 * @example
 * const c = await startFlowradar(['collect', '--database-url', url], { FLOWRADAR_FLUSH_INTERVAL: '1s' });
 */
export async function startFlowradar(
  args: string[],
  env: Record<string, string> = {},
  opts: { timeoutMs?: number; from?: 'src' | 'dist' } = {},
): Promise<FlowradarProcess> {
  const ports = { http: await freePort(), netflow: await freePort(), sflow: await freePort() };
  let out = '';
  const child = spawn(
    process.execPath,
    [
      ...(opts.from === 'dist' ? ['dist/cli.js'] : ['--import', 'tsx', 'src/cli.ts']),
      ...args,
      '--host',
      '127.0.0.1',
      '--port',
      String(ports.http),
      '--netflow-port',
      String(ports.netflow),
      '--sflow-port',
      String(ports.sflow),
    ],
    {
      cwd: ROOT,
      env: { ...process.env, FLOWRADAR_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
  const url = `http://127.0.0.1:${ports.http}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`flowradar ${args[0]} exited ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`flowradar ${args[0]} did not answer /healthz:\n${out}`);
    }
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    url,
    ports,
    output: () => out,
    logLines(minLevel) {
      return out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: number; msg: string })
        .filter((l) => l.level >= minLevel);
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * `npm run build` (tsc -p tsconfig.build.json) into dist/, where the compiled CLI finds
 * migrations/, public/ and demo/ one level up; throws with tsc's output when it fails.
 */
export function buildDist(): void {
  const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (tsc.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed:\n${tsc.stdout}${tsc.stderr}`);
}
