/**
 * A decode worker: one {@link IngestShard} on its own thread, for the exporters the receiving
 * thread shards to it (receiver.ts, shardOf). Datagrams come straight from the receiving thread on
 * their own port; the main thread (DecodeWorkers in decode-workers.ts) asks for drained batches
 * and counter deltas every flush interval, and runs this shard's `flow_templates` statements on
 * its database (the worker has none).
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import type { BatchContent } from './batch-builder.js';
import { createEnricher, type EnrichOptions } from './enrich.js';
import { type IngestCounts, newIngestCounts } from './metrics.js';
import { batchHandled, type ListenerKind, type ReceiverMessage } from './receiver.js';
import { IngestShard, type ShardLogger } from './shard.js';
import type { FlowTemplateTable } from './template-store.js';

/** What the main thread gives a decode worker at start. */
export interface DecodeWorkerSettings {
  enrich: EnrichOptions;
  defaultSamplingRate: number;
  samplingOverrides?: Record<string, number>;
  templateExpiryMs: number;
  collectorId: string;
  /** Where the receiving thread sends this worker's datagrams. */
  datagrams: MessagePort;
}

/** Requests of the main thread; each is answered by a {@link WorkerReply} with its id. */
export type WorkerRequest =
  | { id: number; op: 'load' }
  | { id: number; op: 'save' }
  | { id: number; op: 'handled' }
  /** Drain, expire templates and start a save (`await`: wait for it, at shutdown). */
  | { id: number; op: 'drain'; awaitSave: boolean }
  /** The answer to one of this worker's table calls. */
  | { rpc: number; result?: unknown; error?: string };

/** What a drain returns. */
export interface Drained {
  batch: BatchContent;
  counts: IngestCounts;
  templates: number;
  adm1Names: [number, string, string | null][];
}

/** Messages from a decode worker. */
export type WorkerMessage =
  | { id: number; result?: unknown; error?: string }
  /** A `flow_templates` statement for the main thread to run. */
  | { rpc: number; op: keyof FlowTemplateTable; args: unknown[] }
  | { log: 'error' | 'warn' | 'info'; obj: Record<string, unknown>; msg: string };

/** Errors lose their prototype when posted: keep what a log line needs. */
const plain = (obj: object): Record<string, unknown> =>
  Object.fromEntries(
    Object.entries(obj).map(([k, v]) => [
      k,
      v instanceof Error ? { message: v.message, stack: v.stack, code: (v as { code?: unknown }).code } : v,
    ]),
  );

async function run(port: NonNullable<typeof parentPort>, settings: DecodeWorkerSettings): Promise<void> {
  const post = (m: WorkerMessage) => port.postMessage(m);
  const logger: ShardLogger = {
    error: (obj, msg) => post({ log: 'error', obj: plain(obj), msg }),
    warn: (obj, msg) => post({ log: 'warn', obj: plain(obj), msg }),
    info: (obj, msg) => post({ log: 'info', obj: plain(obj), msg }),
  };
  let nextRpc = 0;
  const calls = new Map<number, { ok: (v: unknown) => void; fail: (e: Error) => void }>();
  const call =
    (op: keyof FlowTemplateTable) =>
    (...args: unknown[]): Promise<never> =>
      new Promise((ok, fail) => {
        const rpc = ++nextRpc;
        calls.set(rpc, { ok: ok as (v: unknown) => void, fail });
        post({ rpc, op, args });
      });
  const table = {
    read: call('read'),
    upsert: call('upsert'),
    deleteBefore: call('deleteBefore'),
    deleteExpired: call('deleteExpired'),
  } as FlowTemplateTable;
  const enricher = await createEnricher(settings.enrich);
  const counts = newIngestCounts();
  const shard = new IngestShard({
    table,
    enricher,
    counts,
    logger,
    now: Date.now,
    defaultSamplingRate: settings.defaultSamplingRate,
    ...(settings.samplingOverrides ? { samplingOverrides: settings.samplingOverrides } : {}),
    templateExpiryMs: settings.templateExpiryMs,
    collectorId: settings.collectorId,
  });

  let inflight: Int32Array | undefined;
  settings.datagrams.on('message', (m: ReceiverMessage) => {
    if ('inflight' in m) inflight = m.inflight;
    if (!('meta' in m)) return;
    const { meta, data } = m;
    for (let i = 0; i < meta.length; i += 4) {
      const at = meta[i + 2] as number;
      shard.handleDatagram(
        data.subarray(at, at + (meta[i + 3] as number)),
        meta[i + 1] as string,
        meta[i] as ListenerKind,
      );
    }
    batchHandled(inflight, data);
  });

  const drain = async (awaitSave: boolean): Promise<Drained> => {
    const batch = shard.drain();
    const templates = shard.expire(Date.now());
    // A failed save keeps its changes for the next one; the batch goes to the writer anyway.
    const save = shard.templates
      .save()
      .catch((err) => logger.warn({ err }, 'saving templates failed; will retry'));
    if (awaitSave) await save;
    // A copy: the counters keep their label keys and start again from zero.
    const delta: IngestCounts = structuredClone(counts);
    Object.assign(counts, newIngestCounts());
    return { batch, counts: delta, templates, adm1Names: enricher.takeAdm1Names() };
  };

  const answer = async (r: Exclude<WorkerRequest, { rpc: number }>): Promise<unknown> => {
    switch (r.op) {
      case 'load':
        return shard.templates.load();
      case 'save':
        return shard.templates.save();
      case 'handled':
        return shard.handled;
      case 'drain':
        return drain(r.awaitSave);
    }
  };

  port.on('message', (r: WorkerRequest) => {
    if ('rpc' in r) {
      const c = calls.get(r.rpc);
      calls.delete(r.rpc);
      if (r.error !== undefined) c?.fail(new Error(r.error));
      else c?.ok(r.result);
      return;
    }
    answer(r).then(
      (result) => post({ id: r.id, result }),
      (err: Error) => post({ id: r.id, error: err.message }),
    );
  });
}

// The main thread imports only this module's types; a worker started without settings does nothing.
if (parentPort && (workerData as { decodeWorker?: DecodeWorkerSettings } | null)?.decodeWorker)
  void run(parentPort, (workerData as { decodeWorker: DecodeWorkerSettings }).decodeWorker);
