import { createRequire } from 'node:module';
import { isIPv4 } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Pipeline } from './pipeline.js';
import type { CloseMessage, ListenerKind, ReceiverMessage, ReceiverSettings } from './receiver.js';

export interface UdpOptions {
  host: string;
  netflowPort: number;
  sflowPort: number;
  /** Kernel receive buffer asked for; the kernel caps it at net.core.rmem_max. */
  recvBufferSize?: number;
}

export interface UdpListeners {
  netflowPort: number;
  sflowPort: number;
  close(): Promise<void>;
}

/** IPv4-mapped IPv6 senders are reported as plain IPv4, so one exporter has one name. */
const plainAddress = (a: string) => (a.startsWith('::ffff:') && isIPv4(a.slice(7)) ? a.slice(7) : a);

/** Datagrams the receiving thread may hold while the main thread is busy (64 MiB). */
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/**
 * The receiving thread (receiver.ts). From dist/ the compiled receiver.js beside this file. From
 * src/ (`node --import tsx src/cli.ts`, vitest) the TypeScript source, compiled in the worker by
 * tsx's require hook: Node 20 does not hand a worker's entry module to the loader hooks that
 * `--import tsx` registers, and vitest transforms its own modules without any hook.
 */
function startReceiver(settings: ReceiverSettings): Worker {
  const workerData = { receiver: settings };
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./receiver.js', import.meta.url), { workerData });
  const tsx = createRequire(import.meta.url).resolve('tsx/cjs/api');
  const source = fileURLToPath(new URL('./receiver.ts', import.meta.url));
  const boot = `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(source)});`;
  return new Worker(boot, { eval: true, workerData });
}

/**
 * NetFlow v5/v9 and IPFIX on one port (the version is read per datagram), sFlow v5 on another.
 * @example
 * const udp = await startUdp(pipeline, { host: '0.0.0.0', netflowPort: 2055, sflowPort: 6343 }, logger);
 */
export async function startUdp(pipeline: Pipeline, opts: UdpOptions, logger: Logger): Promise<UdpListeners> {
  const worker = startReceiver({
    host: opts.host,
    ports: { netflow: opts.netflowPort, sflow: opts.sflowPort },
    recvBufferSize: opts.recvBufferSize ?? 32 * 1024 * 1024,
    maxQueuedBytes: MAX_QUEUED_BYTES,
  });
  type Ready = Extract<ReceiverMessage, { ready: unknown }>['ready'];
  const ready = await new Promise<Ready>((ok, fail) => {
    worker.on('message', function first(m: ReceiverMessage) {
      if ('ready' in m) {
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
        plainAddress(meta[i + 1] as string),
        meta[i] as ListenerKind,
      );
    }
  });
  worker.on('error', (err) => logger.error({ err }, 'UDP receiver failed'));
  logger.info(ready, 'collector listening');
  return {
    netflowPort: ready.netflow,
    sflowPort: ready.sflow,
    close: async () => {
      const exited = new Promise<void>((ok) => worker.once('exit', () => ok()));
      worker.postMessage('close' satisfies CloseMessage);
      await Promise.race([exited, new Promise((ok) => setTimeout(ok, 2000))]);
      await worker.terminate();
    },
  };
}
