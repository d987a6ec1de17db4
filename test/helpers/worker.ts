import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { freePort } from './net.js';
import { sleep } from './time.js';

/** The project root, where wrangler.toml lives. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const WRANGLER = join(
  dirname(createRequire(import.meta.url).resolve('wrangler/package.json')),
  'bin/wrangler.js',
);

/** Offline and quiet: no telemetry, no error reports, no update check, no cf fetch, logs in tmp. */
function wranglerEnv(logDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    WRANGLER_SEND_METRICS: 'false',
    WRANGLER_SEND_ERROR_REPORTS: 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    WRANGLER_HIDE_BANNER: 'true',
    WRANGLER_LOG_PATH: logDir,
    CI: '1',
    NO_COLOR: '1',
    ...extra,
  };
  // Never deploy or reach an account from a test.
  for (const k of ['CLOUDFLARE_API_TOKEN', 'CLOUDFLARE_API_KEY', 'CLOUDFLARE_ACCOUNT_ID']) delete env[k];
  return env;
}

function run(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  // Own process group, so stopping it also stops workerd.
  return spawn(process.execPath, [WRANGLER, ...args], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export interface WorkerDev {
  /** http://127.0.0.1:<port> */
  url: string;
  /** Everything wrangler printed so far. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * `wrangler dev --local` of wrangler.toml on workerd, offline, on a free loopback port, with the
 * Hyperdrive binding pointed at `hyperdriveUrl`. Resolves once GET /healthz answers; rejects with
 * wrangler's output when it exits or does not answer in time (never skips).
 */
export async function startWorkerDev(opts: {
  hyperdriveUrl: string;
  vars?: Record<string, string>;
  timeoutMs?: number;
}): Promise<WorkerDev> {
  const port = await freePort();
  const inspectorPort = await freePort();
  const tmp = mkdtempSync(join(tmpdir(), 'flowradar-wrangler-'));
  const args = [
    'dev',
    '--local',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--inspector-port',
    String(inspectorPort),
    '--persist-to',
    join(tmp, 'state'),
    '--show-interactive-dev-session=false',
    '--log-level',
    'info',
    ...Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ['--var', `${k}:${v}`]),
  ];
  const child = run(
    args,
    wranglerEnv(join(tmp, 'logs'), {
      CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE: opts.hyperdriveUrl,
    }),
  );
  let out = '';
  child.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
  });
  child.stderr?.on('data', (b: Buffer) => {
    out += b.toString();
  });
  let exited: number | null | undefined;
  const exit = new Promise<void>((done) =>
    child.once('exit', (code) => {
      exited = code;
      done();
    }),
  );
  const stop = async () => {
    if (exited === undefined && child.pid) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {}
      const killed = await Promise.race([exit.then(() => true), sleep(5000).then(() => false)]);
      if (!killed)
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {}
      await exit;
    }
    rmSync(tmp, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    if (exited !== undefined) {
      await stop();
      const hint = /Uncaught/.test(out)
        ? '\n(a module of the Worker bundle throws when imported on workerd: Node-only code at module top level)'
        : '';
      throw new Error(`wrangler dev exited (code ${exited}) before answering on ${url}:\n${out}${hint}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `wrangler dev did not answer GET ${url}/healthz within ${opts.timeoutMs ?? 60_000} ms:\n${out}`,
      );
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) break;
    } catch {}
    await sleep(250);
  }
  return { url, output: () => out, stop };
}

export interface WorkerBuild {
  /** Bytes of the bundle (worker.js), and gzipped. */
  bytes: number;
  gzipBytes: number;
  /** The line wrangler prints: `Total Upload: … KiB / gzip: … KiB`. */
  totalUpload: string;
  /** Every module the bundle includes (esbuild metafile input paths). */
  inputs: string[];
  output: string;
}

/** `wrangler deploy --dry-run --outdir <tmp>`: bundles without deploying; throws with the output on failure. */
export async function buildWorker(): Promise<WorkerBuild> {
  const tmp = mkdtempSync(join(tmpdir(), 'flowradar-worker-build-'));
  try {
    const outdir = join(tmp, 'out');
    const metafile = join(tmp, 'meta.json');
    const child = run(
      ['deploy', '--dry-run', '--outdir', outdir, '--metafile', metafile],
      wranglerEnv(join(tmp, 'logs')),
    );
    let out = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.stderr?.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const code = await new Promise<number | null>((done) => child.once('exit', done));
    const bundle = join(outdir, 'worker.js');
    if (code !== 0 || !existsSync(bundle))
      throw new Error(`wrangler deploy --dry-run failed (code ${code}):\n${out}`);
    const js = readFileSync(bundle);
    const meta = JSON.parse(readFileSync(metafile, 'utf8')) as { inputs: Record<string, unknown> };
    return {
      bytes: js.length,
      gzipBytes: gzipSync(js).length,
      totalUpload: /Total Upload:[^\n]*/.exec(out)?.[0] ?? '',
      inputs: Object.keys(meta.inputs),
      output: out,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
