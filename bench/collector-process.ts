/**
 * A collector process as production runs it, for the ingest and collectors benchmarks: the built
 * `flowradar collect` (`node dist/cli.js collect`; {@link buildService} builds it), on the embedded
 * database in its own data directory or in server mode on a database URL. Not bench/api-server.ts
 * under tsx: tsx's loader (a hooks thread and the compiled sources) adds ~80 MiB to the RSS of the
 * process it runs in (a server-mode collector idled at 190 MiB under tsx, 106–117 MiB built).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const ROOT = new URL('..', import.meta.url).pathname;

/** `npm run build`: dist/ as `npm start` and production run it. */
export function buildService(): void {
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

export interface CollectorProcess {
  /** The collector's HTTP server (/metrics). */
  url: string;
  netflowPort: number;
  sflowPort: number;
  /** How its receiving thread reads: 'recvmmsg' (the native reader) or 'dgram'. */
  reader: string;
  pid: number;
  /** SIGTERM (the collector flushes), then its exit; stopping twice waits for the same exit. */
  stop(): Promise<void>;
}

export interface CollectorOptions {
  dataDir: string;
  /** Server mode; unset: the embedded database in `dataDir`. */
  databaseUrl?: string;
  /** FLOWRADAR_COLLECTOR_ID. */
  collectorId?: string;
  /** Decode threads; unset: the service's default for this machine. */
  decodeWorkers?: number;
  /** FLOWRADAR_NATIVE_RECEIVER: false reads through dgram; unset: the default (native when built). */
  nativeReceiver?: boolean;
}

/** Starts `flowradar collect` on loopback, ports chosen by the kernel, read from its log lines. */
export async function startCollectorProcess(opts: CollectorOptions): Promise<CollectorProcess> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && k !== 'DATABASE_URL' && !k.startsWith('FLOWRADAR_')) env[k] = v;
  if (opts.databaseUrl) env.DATABASE_URL = opts.databaseUrl;
  if (opts.collectorId) env.FLOWRADAR_COLLECTOR_ID = opts.collectorId;
  if (opts.nativeReceiver !== undefined) env.FLOWRADAR_NATIVE_RECEIVER = opts.nativeReceiver ? '1' : '0';
  const flags = ['--data-dir', opts.dataDir, '--host', '127.0.0.1', '--port', '0'];
  flags.push('--netflow-port', '0', '--sflow-port', '0', '--log-level', 'info');
  if (opts.decodeWorkers !== undefined) flags.push('--decode-workers', String(opts.decodeWorkers));
  const child = spawn(process.execPath, ['dist/cli.js', 'collect', ...flags], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const ready = await new Promise<{ url: string; netflow: number; sflow: number; reader: string }>(
    (ok, fail) => {
      let ports: { netflow: number; sflow: number; reader: string } | undefined;
      const lines = createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        if (!line.startsWith('{')) return;
        const entry = JSON.parse(line) as {
          msg?: string;
          netflow?: number;
          sflow?: number;
          url?: string;
          reader?: string;
        };
        if (entry.msg === 'collector listening')
          ports = { netflow: entry.netflow!, sflow: entry.sflow!, reader: entry.reader! };
        if (entry.msg === 'flowradar is serving' && entry.url && ports) {
          // Keep reading what it logs, so a full pipe never blocks it.
          lines.removeAllListeners('line');
          child.stdout!.resume();
          ok({ url: entry.url, ...ports });
        }
      });
      child.once('exit', (code) => fail(new Error(`flowradar collect exited with ${code}`)));
    },
  );
  return {
    url: ready.url,
    netflowPort: ready.netflow,
    sflowPort: ready.sflow,
    reader: ready.reader,
    pid: child.pid!,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * The labelled samples of the counters `names` on a collector's /metrics (one read), summed by
 * their label text: `flowradar_drops_total{reason="receive_queue"} 12` gives `reason="receive_queue"` → 12.
 */
export async function metricByLabels(url: string, names: readonly string[]): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)\{([^}]*)\} (\S+)$/.exec(line);
    if (m && names.includes(m[1]!)) samples.set(m[2]!, (samples.get(m[2]!) ?? 0) + Number(m[3]));
  }
  return samples;
}

/** The sum of every sample of `name` (all its labels) on a collector's /metrics. */
export async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').pop());
  return sum;
}
