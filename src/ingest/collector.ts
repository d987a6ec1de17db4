import type { Logger } from 'pino';
import type { Pipeline } from './pipeline.js';
import {
  batchHandled,
  type CloseMessage,
  type ListenerKind,
  type ReaderKind,
  type ReceiverMessage,
} from './receiver.js';
import { startThread } from './thread.js';

export interface UdpOptions {
  host: string;
  netflowPort: number;
  sflowPort: number;
  /** Kernel receive buffer asked for; the kernel caps it at net.core.rmem_max. */
  recvBufferSize?: number;
  /** Read through the native recvmmsg reader when built (default); false: Node's dgram. */
  native?: boolean;
  /** Datagram bytes read and not yet handled before datagrams are dropped (default 256 MiB). */
  maxQueuedBytes?: number;
}

export interface UdpListeners {
  netflowPort: number;
  sflowPort: number;
  /** How the receiving thread reads: the native reader when built, else dgram. */
  reader: ReaderKind;
  close(): Promise<void>;
}

/**
 * Datagram bytes read and not yet handled while the main thread (or a decode worker) is busy:
 * 256 MiB, 1.6 s at 2 M records/s, so an embedded flush that holds the main thread that long
 * (2.6 s at that rate in the ingest benchmark, the writer yielding between statements) loses
 * nothing, while a consumer stalled for good costs a bounded amount of memory.
 */
const MAX_QUEUED_BYTES = 256 * 1024 * 1024;

/**
 * NetFlow v5/v9 and IPFIX on one port (the version is read per datagram), sFlow v5 on another.
 * @example
 * const udp = await startUdp(pipeline, { host: '0.0.0.0', netflowPort: 2055, sflowPort: 6343 }, logger);
 */
export async function startUdp(pipeline: Pipeline, opts: UdpOptions, logger: Logger): Promise<UdpListeners> {
  // With decode workers, datagrams go from the receiving thread straight to the worker of their exporter.
  const shards = pipeline.takeDatagramPorts();
  const worker = startThread(
    'receiver',
    {
      receiver: {
        host: opts.host,
        ports: { netflow: opts.netflowPort, sflow: opts.sflowPort },
        recvBufferSize: opts.recvBufferSize ?? 32 * 1024 * 1024,
        maxQueuedBytes: opts.maxQueuedBytes ?? MAX_QUEUED_BYTES,
        shards,
        native: opts.native,
      },
    },
    shards,
  );
  type Ready = Extract<ReceiverMessage, { ready: unknown }>['ready'];
  // The bytes this thread has yet to handle, shared with the receiving thread: sent before `ready`.
  let inflight: Int32Array | undefined;
  const ready = await new Promise<Ready>((ok, fail) => {
    worker.on('message', function first(m: ReceiverMessage) {
      if ('inflight' in m) inflight = m.inflight;
      else if ('ready' in m) {
        worker.off('message', first);
        ok(m.ready);
      } else if ('error' in m) fail(new Error(m.error));
    });
    worker.once('error', fail);
    worker.once('exit', (code) => fail(new Error(`UDP receiver exited with ${code}`)));
  }).catch(async (err) => {
    await worker.terminate();
    throw err;
  });
  worker.on('message', (m: ReceiverMessage) => {
    if ('error' in m) return logger.error({ err: m.error }, 'UDP socket error');
    if (!('meta' in m)) return;
    if (m.dropped) pipeline.receiveDropped(m.dropped);
    const { meta, data } = m;
    for (let i = 0; i < meta.length; i += 4) {
      const at = meta[i + 2] as number;
      pipeline.handleDatagram(
        data.subarray(at, at + (meta[i + 3] as number)),
        meta[i + 1] as string,
        meta[i] as ListenerKind,
      );
    }
    batchHandled(inflight, data);
  });
  worker.on('error', (err) => logger.error({ err }, 'UDP receiver failed'));
  logger.info(ready, 'collector listening');
  return {
    netflowPort: ready.netflow,
    sflowPort: ready.sflow,
    reader: ready.reader,
    close: async () => {
      const exited = new Promise<void>((ok) => worker.once('exit', () => ok()));
      worker.postMessage('close' satisfies CloseMessage);
      await Promise.race([exited, new Promise((ok) => setTimeout(ok, 2000))]);
      await worker.terminate();
    },
  };
}
