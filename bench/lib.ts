/**
 * Shared helpers of the benchmarks: arguments, tables, statistics, machine facts and the hand-off
 * of a benchmark's Markdown section to `bench/run.ts`.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';

export interface BenchArgs {
  quick: boolean;
  write: boolean;
  /** Benchmarks to run (decode, query, api, ingest); empty = all. */
  only: string[];
  /** Free-form `--key value` options (e.g. --datasets S,M). */
  opts: Record<string, string>;
}

export function parseArgs(argv = process.argv.slice(2)): BenchArgs {
  const args: BenchArgs = { quick: false, write: false, only: [], opts: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') args.quick = true;
    else if (a === '--write') args.write = true;
    else if (a === '--only') args.only.push(...(argv[++i] ?? '').split(',').filter(Boolean));
    else if (a.startsWith('--')) {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        args.opts[a.slice(2)] = next;
        i++;
      } else args.opts[a.slice(2)] = 'true';
    } else args.only.push(a);
  }
  return args;
}

/** A Markdown table; numbers are expected pre-formatted. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.map(String).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Thousands separators, optional decimals. */
export function num(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return String(n);
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Rates: 1.23 M, 456 k. */
export function rate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} k`;
  return n.toFixed(0);
}

export const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

export const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

export interface Machine {
  nproc: number;
  cpu: string;
  memGiB: number;
  freeGiB: number;
  node: string;
  load: string;
}

export function machine(): Machine {
  return {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(totalmem() / 2 ** 30),
    freeGiB: Math.round(freemem() / 2 ** 30),
    node: process.version,
    load: loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
  };
}

export function machineLine(): string {
  const m = machine();
  return `${m.nproc} × ${m.cpu}, ${m.memGiB} GiB RAM (${m.freeGiB} free), Node ${m.node}, load average ${m.load}`;
}

/** Text of a command's output, or '' when it fails (tool missing). */
export function tryRun(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

/**
 * Hands a finished section to the runner: appended to the file named by BENCH_OUT when the
 * benchmark runs under `bench/run.ts`, always printed.
 */
export function emit(markdown: string): void {
  process.stdout.write(`\n${markdown}\n`);
  const out = process.env.BENCH_OUT;
  if (out) appendFileSync(out, `${markdown}\n\n`);
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `flowradar-bench-${prefix}-`));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resident set size of a process, bytes (Linux /proc), 0 when gone. */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU time (user + system) of a process in seconds, from /proc/<pid>/stat; children excluded. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[11] = utime, fields[12] = stime (0-based after the command name), in clock ticks.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/**
 * CPU time (user + system, every thread) of a process and all its live descendants, seconds: what
 * a receiver that starts helper processes costs, not only its first process.
 */
export function cpuSecondsOfTree(pid: number): number {
  const parents = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return cpuSecondsOf(pid);
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = parents.get(ppid) ?? [];
      list.push(Number(e));
      parents.set(ppid, list);
    } catch {
      // The process ended while the list was read.
    }
  }
  let sum = 0;
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    sum += cpuSecondsOf(p);
    todo.push(...(parents.get(p) ?? []));
  }
  return sum;
}

/** Deterministic PRNG (mulberry32): the datasets and streams are the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Index in [0, n) with a Zipf-like skew (s ≈ 1.1): a few large, a long tail. */
export function zipfPicker(n: number, rand: () => number, s = 1.1): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += 1 / (i + 1) ** s;
    cdf[i] = sum;
  }
  for (let i = 0; i < n; i++) cdf[i]! /= sum;
  return () => {
    const u = rand();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/**
 * The settings of the real TimescaleDB server the server-mode benchmarks start
 * (`startCluster({ settings: BENCH_SERVER_SETTINGS })`): what an operator gives a dedicated
 * database machine of this size (2 cores, 24 GiB) instead of PostgreSQL's defaults (128 MB
 * shared_buffers, 4 MB work_mem), so the figures are the server's and not its defaults'.
 */
export const BENCH_SERVER_SETTINGS = [
  "shared_buffers = '6GB'",
  "effective_cache_size = '16GB'",
  "work_mem = '64MB'",
  "maintenance_work_mem = '1GB'",
  "max_wal_size = '8GB'",
  'checkpoint_timeout = 900',
  'max_parallel_workers_per_gather = 2',
  'jit = off',
  'timescaledb.max_background_workers = 4',
];
