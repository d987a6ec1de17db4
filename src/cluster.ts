/**
 * `flowradar serve --api-processes N`: HTTP answered by N processes (node:cluster workers sharing
 * the port; the primary hands each new connection to the next worker) while the primary keeps what
 * must run once per service: migrations (before any worker starts), the first admin token,
 * maintenance, the collector and the demo. A request's CPU (routing, parsing, JSON) then spreads
 * over the cores, which a single Node process cannot do. Server mode only: the embedded database
 * admits one process.
 *
 * The workers are the same program (`cluster.fork` re-runs the CLI): {@link startCluster} decides
 * by `cluster.isPrimary` which half to run. A worker that dies is started again (after a pause
 * that grows while they keep dying young); SIGTERM or SIGINT to the primary stops the workers
 * first, then the primary; a worker whose primary is gone stops itself.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { prometheusContentType } from 'prom-client';
import type { Config } from './config.js';
import type { MetricsSource } from './deps.js';
import { createLogger } from './logger.js';
import { type Service, startService } from './service.js';

/** A worker that dies sooner than this after its start counts as a crash loop: the pause grows. */
const YOUNG_MS = 10_000;
const MAX_RESTART_PAUSE_MS = 30_000;
/** How long the workers get to finish their requests at shutdown before they are killed. */
const STOP_GRACE_MS = 10_000;

type Message = { type: 'metrics'; id: number } | { type: 'metrics-text'; id: number; text: string };

export interface ClusterHandle {
  /** http://host:port the workers share; empty in a worker. */
  url: string;
  /** Pids of the running API processes (primary only). */
  workerPids(): number[];
  stop(): Promise<void>;
}

/**
 * Runs the half of `serve --api-processes N` this process is: the primary (services without HTTP,
 * then N workers) or a worker (role `api`).
 * @example
 * const handle = await startCluster(config, { print });
 * process.once('SIGTERM', () => void handle.stop().then(() => process.exit(0)));
 */
export async function startCluster(
  config: Config,
  opts: { logger?: Logger; print?: (s: string) => void } = {},
): Promise<ClusterHandle> {
  if (!config.databaseUrl || config.apiProcesses < 1)
    throw new Error('API processes need databaseUrl and apiProcesses ≥ 1');
  return cluster.isPrimary ? startPrimary(config, opts) : startWorker(config, opts.logger);
}

async function startPrimary(
  config: Config,
  opts: { logger?: Logger; print?: (s: string) => void },
): Promise<ClusterHandle> {
  const logger = opts.logger ?? createLogger(config);
  const print = opts.print ?? ((s: string) => process.stdout.write(s));
  const service = await startService(config, { logger, print, http: false });
  const registry = service.metrics.registry;
  const started = new Map<Worker, number>();
  let stopping = false;
  let urlKnown = false;
  let youngDeaths = 0;
  const listening = new Set<Worker>();
  let ready: (url: string) => void = () => {};
  let failed: (err: Error) => void = () => {};
  const allListening = new Promise<string>((ok, fail) => {
    ready = ok;
    failed = fail;
  });

  const fork = () => {
    const worker = cluster.fork();
    started.set(worker, Date.now());
    // /metrics on a worker shows the primary's collector (the workers collect nothing).
    worker.on('message', (msg: Message) => {
      if (msg?.type !== 'metrics') return;
      registry.metrics().then(
        (text) => worker.send({ type: 'metrics-text', id: msg.id, text } satisfies Message),
        (err: unknown) => {
          logger.warn({ err }, 'metrics for an API process failed');
          worker.send({ type: 'metrics-text', id: msg.id, text: '' } satisfies Message);
        },
      );
    });
  };
  cluster.on('listening', (worker, address) => {
    listening.add(worker);
    if (listening.size === config.apiProcesses) {
      const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
      ready(`http://${host}:${address.port}`);
    }
  });
  cluster.on('exit', (worker, code, signal) => {
    const age = Date.now() - (started.get(worker) ?? 0);
    started.delete(worker);
    listening.delete(worker);
    if (stopping) return;
    youngDeaths = age < YOUNG_MS ? youngDeaths + 1 : 0;
    // Workers that cannot come up at all (a port in use) stop the start instead of looping.
    if (!urlKnown && youngDeaths > 3) {
      failed(new Error(`API processes keep exiting at start (last: code ${code}, signal ${signal})`));
      return;
    }
    const pauseMs = youngDeaths === 0 ? 0 : Math.min(MAX_RESTART_PAUSE_MS, 500 * 2 ** (youngDeaths - 1));
    logger.error(
      { apiProcessPid: worker.process.pid, code, signal, restartInMs: pauseMs },
      'an API process exited; starting another',
    );
    setTimeout(() => {
      if (!stopping) fork();
    }, pauseMs).unref();
  });

  for (let i = 0; i < config.apiProcesses; i++) fork();
  const stopWorkers = async () => {
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((ok) => {
            if (w.isDead()) return ok();
            const kill = setTimeout(() => w.process.kill('SIGKILL'), STOP_GRACE_MS);
            w.once('exit', () => {
              clearTimeout(kill);
              ok();
            });
            w.process.kill('SIGTERM');
          }),
      ),
    );
  };
  let url: string;
  try {
    url = await allListening;
    urlKnown = true;
  } catch (err) {
    await stopWorkers();
    await service.stop();
    throw err;
  }
  logger.info({ url, apiProcesses: config.apiProcesses }, 'API processes are serving');
  print(`flowradar API on ${url}  (docs: ${url}/docs; ${config.apiProcesses} API processes)\n`);
  return {
    url,
    workerPids: () =>
      Object.values(cluster.workers ?? {})
        .map((w) => w?.process.pid)
        .filter((p): p is number => p !== undefined),
    async stop() {
      await stopWorkers();
      await service.stop();
    },
  };
}

async function startWorker(config: Config, given?: Logger): Promise<ClusterHandle> {
  const logger = (given ?? createLogger(config)).child({ apiProcess: cluster.worker?.id });
  const waiting = new Map<number, (text: string) => void>();
  let next = 0;
  process.on('message', (msg: Message) => {
    if (msg?.type !== 'metrics-text') return;
    waiting.get(msg.id)?.(msg.text);
    waiting.delete(msg.id);
  });
  const metrics: MetricsSource = {
    registry: {
      contentType: prometheusContentType,
      metrics: () =>
        new Promise<string>((ok, fail) => {
          const id = ++next;
          const timer = setTimeout(() => {
            waiting.delete(id);
            fail(new Error('the primary did not answer for /metrics'));
          }, 5000);
          waiting.set(id, (text) => {
            clearTimeout(timer);
            ok(text);
          });
          process.send?.({ type: 'metrics', id } satisfies Message);
        }),
    },
  };
  const service: Service = await startService(config, { logger, print: () => {}, role: 'api', metrics });
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= service.stop();
    return stopped;
  };
  // An API process whose primary is gone (killed, crashed) must not go on serving alone.
  process.once('disconnect', () => {
    logger.warn({}, 'the primary process is gone; this API process stops');
    void stop().finally(() => process.exit(0));
  });
  return { url: service.url, workerPids: () => [], stop };
}
