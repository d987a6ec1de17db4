/**
 * The main thread's side of the decode workers (decode-worker.ts): starts them, gives the
 * receiving thread one port per worker, runs their `flow_templates` statements on the database,
 * logs what they log, and merges their drained batches into one for the single BatchWriter.
 */
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import type { BatchContent } from './batch-builder.js';
import type { DecodeWorkerSettings, Drained, WorkerMessage, WorkerRequest } from './decode-worker.js';
import type { ShardLogger } from './shard.js';
import type { FlowTemplateTable } from './template-store.js';
import { startThread } from './thread.js';
import { sumBatches } from './writer.js';

type Request = WorkerRequest extends infer R ? (R extends { op: unknown } ? R : never) : never;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** One decode worker and its pending requests. */
class DecodeWorker {
  private nextId = 0;
  private readonly pending = new Map<number, { ok: (v: unknown) => void; fail: (e: Error) => void }>();
  private exited: Error | undefined;

  constructor(
    readonly worker: Worker,
    table: FlowTemplateTable,
    logger: ShardLogger,
  ) {
    worker.on('message', (m: WorkerMessage) => {
      if ('log' in m) return logger[m.log](m.obj, m.msg);
      if ('rpc' in m) {
        const f = table[m.op] as (...args: unknown[]) => Promise<unknown>;
        f(...m.args).then(
          (result) => worker.postMessage({ rpc: m.rpc, result } satisfies WorkerRequest),
          (err: Error) =>
            worker.postMessage({ rpc: m.rpc, error: err.message ?? String(err) } satisfies WorkerRequest),
        );
        return;
      }
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error !== undefined) p?.fail(new Error(m.error));
      else p?.ok(m.result);
    });
    worker.on('error', (err) => logger.error({ err }, 'decode worker failed'));
    worker.once('exit', (code) => {
      this.exited = new Error(`decode worker exited with ${code}`);
      for (const p of this.pending.values()) p.fail(this.exited);
      this.pending.clear();
    });
  }

  request<T>(r: DistributiveOmit<Request, 'id'>): Promise<T> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise<T>((ok, fail) => {
      const id = ++this.nextId;
      this.pending.set(id, { ok: ok as (v: unknown) => void, fail });
      this.worker.postMessage({ ...r, id } as WorkerRequest);
    });
  }
}

export interface DecodeWorkersOptions extends Omit<DecodeWorkerSettings, 'datagrams'> {
  count: number;
  table: FlowTemplateTable;
  logger: ShardLogger;
}

/**
 * N decode workers, each for the exporters the receiving thread shards to it.
 * @example
 * const workers = new DecodeWorkers({ count: 2, table, logger, enrich, defaultSamplingRate: 1, templateExpiryMs, collectorId });
 * const ports = workers.takeDatagramPorts(); // to the receiving thread
 * const { batch, counts } = await workers.drain(false);
 */
export class DecodeWorkers {
  private readonly workers: DecodeWorker[];
  private ports: MessagePort[] | undefined;

  constructor(opts: DecodeWorkersOptions) {
    const { count, table, logger, ...settings } = opts;
    this.ports = [];
    this.workers = Array.from({ length: count }, () => {
      const channel = new MessageChannel();
      this.ports!.push(channel.port2);
      const worker = startThread(
        'decode-worker',
        { decodeWorker: { ...settings, datagrams: channel.port1 } satisfies DecodeWorkerSettings },
        [channel.port1],
      );
      return new DecodeWorker(worker, table, logger);
    });
  }

  /** The ports the receiving thread sends datagrams to, worker by worker (once). */
  takeDatagramPorts(): MessagePort[] {
    const ports = this.ports ?? [];
    this.ports = undefined;
    return ports;
  }

  private all<T>(r: DistributiveOmit<Request, 'id'>): Promise<T[]> {
    return Promise.all(this.workers.map((w) => w.request<T>(r)));
  }

  /** Loads saved templates in every worker; returns templates restored (in one worker's count). */
  async load(): Promise<number> {
    return Math.max(0, ...(await this.all<number>({ op: 'load' })));
  }

  async save(): Promise<void> {
    await this.all({ op: 'save' });
  }

  /** Datagrams the workers have handled so far. */
  async handled(): Promise<number> {
    return (await this.all<number>({ op: 'handled' })).reduce((a, b) => a + b, 0);
  }

  /**
   * Every worker's batch, merged, with their counter deltas, templates held and subdivision names
   * met; workers that fail to answer are left out (and logged by their error handler).
   */
  async drain(
    awaitSave: boolean,
  ): Promise<Omit<Drained, 'batch' | 'counts'> & { batch: BatchContent; counts: Drained['counts'][] }> {
    const results = await Promise.allSettled(
      this.workers.map((w) => w.request<Drained>({ op: 'drain', awaitSave })),
    );
    const drained = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    return {
      batch: mergeWorkerBatches(drained.map((d) => d.batch)),
      counts: drained.map((d) => d.counts),
      templates: drained.reduce((a, d) => a + d.templates, 0),
      adm1Names: drained.flatMap((d) => d.adm1Names),
    };
  }

  async terminate(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}

/**
 * One batch from several workers' batches, summed as the writer sums batches ({@link sumBatches}):
 * their traffic rows one after another, exporters and exporter minutes by key. Sharding by exporter
 * address keeps the latter apart already; summing keeps them right if it ever did not.
 */
function mergeWorkerBatches(batches: BatchContent[]): BatchContent {
  if (batches.length === 1) return batches[0]!;
  const { traffic, exporters, minutes } = sumBatches(batches);
  return { traffic, exporters: exporters.map(({ firstSeenMs: _, ...e }) => e), minutes };
}
