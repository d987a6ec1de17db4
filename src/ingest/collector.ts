import { isIPv4 } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Pipeline } from './pipeline.js';

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

/**
 * The receiving thread: binds the sockets and reads datagrams as they come, whatever the main
 * thread is doing. The embedded database runs on the main thread, and a flush there can hold it
 * for a second: read from the main thread, the kernel buffer (capped by net.core.rmem_max) would
 * overflow meanwhile. Here datagrams wait in this thread's memory (at most MAX_QUEUED_BYTES, the
 * rest dropped and counted) and go to the main thread in batches, one transferred buffer each.
 * A fixed text, plain JavaScript so it runs alike from src/ (tsx, vitest) and dist/.
 */
const RECEIVER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createSocket } = require('node:dgram');
const { host, ports, recvBufferSize, maxQueuedBytes } = workerData;
const wildcard = host === '0.0.0.0' || host === '::';
const v4 = !wildcard && /^\\d+\\.\\d+\\.\\d+\\.\\d+$/.test(host);
let queue = [];
let queuedBytes = 0;
let dropped = 0;
let scheduled = false;
function flush() {
  scheduled = false;
  if (queue.length === 0 && dropped === 0) return;
  const data = new Uint8Array(queuedBytes);
  const meta = [];
  let at = 0;
  for (const [kind, address, msg] of queue) {
    data.set(msg, at);
    meta.push(kind, address, at, msg.length);
    at += msg.length;
  }
  parentPort.postMessage({ meta, data, dropped }, [data.buffer]);
  queue = [];
  queuedBytes = 0;
  dropped = 0;
}
const sockets = {};
let bound = 0;
for (const kind of ['netflow', 'sflow']) {
  const socket = createSocket({ type: v4 ? 'udp4' : 'udp6', ipv6Only: false, recvBufferSize });
  sockets[kind] = socket;
  socket.on('message', (msg, rinfo) => {
    if (queuedBytes + msg.length > maxQueuedBytes) { dropped++; return; }
    queue.push([kind, rinfo.address, msg]);
    queuedBytes += msg.length;
    // Batches of what arrived in one turn of this thread's loop, or every 64 datagrams.
    if (queue.length >= 64) flush();
    else if (!scheduled) { scheduled = true; setImmediate(flush); }
  });
  socket.once('error', (err) => parentPort.postMessage({ error: kind + ': ' + err.message }));
  socket.bind({ port: ports[kind], address: wildcard ? '::' : host }, () => {
    if (++bound === 2)
      parentPort.postMessage({
        ready: { netflow: sockets.netflow.address().port, sflow: sockets.sflow.address().port,
                 recvBuffer: sockets.netflow.getRecvBufferSize() },
      });
  });
}
parentPort.on('message', (m) => {
  if (m === 'close') {
    flush();
    let open = 2;
    for (const s of Object.values(sockets)) s.close(() => { if (--open === 0) process.exit(0); });
  }
});
`;

/** Datagrams the receiving thread may hold while the main thread is busy (64 MiB). */
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/**
 * NetFlow v5/v9 and IPFIX on one port (the version is read per datagram), sFlow v5 on another.
 * @example
 * const udp = await startUdp(pipeline, { host: '0.0.0.0', netflowPort: 2055, sflowPort: 6343 }, logger);
 */
export async function startUdp(pipeline: Pipeline, opts: UdpOptions, logger: Logger): Promise<UdpListeners> {
  const worker = new Worker(RECEIVER, {
    eval: true,
    workerData: {
      host: opts.host,
      ports: { netflow: opts.netflowPort, sflow: opts.sflowPort },
      recvBufferSize: opts.recvBufferSize ?? 32 * 1024 * 1024,
      maxQueuedBytes: MAX_QUEUED_BYTES,
    },
  });
  const ready = await new Promise<{ netflow: number; sflow: number; recvBuffer: number }>((ok, fail) => {
    worker.on(
      'message',
      function first(m: { ready?: { netflow: number; sflow: number; recvBuffer: number }; error?: string }) {
        if (m.ready) {
          worker.off('message', first);
          ok(m.ready);
        } else if (m.error) fail(new Error(m.error));
      },
    );
    worker.once('error', fail);
    worker.once('exit', (code) => fail(new Error(`UDP receiver exited with ${code}`)));
  }).catch(async (err) => {
    await worker.terminate();
    throw err;
  });
  worker.on(
    'message',
    (m: { meta?: (string | number)[]; data?: Uint8Array; dropped?: number; error?: string }) => {
      if (m.error) return logger.error({ err: m.error }, 'UDP socket error');
      if (m.dropped) pipeline.receiveDropped(m.dropped);
      const { meta, data } = m;
      if (!meta || !data) return;
      for (let i = 0; i < meta.length; i += 4) {
        const at = meta[i + 2] as number;
        pipeline.handleDatagram(
          data.subarray(at, at + (meta[i + 3] as number)),
          plainAddress(meta[i + 1] as string),
          meta[i] as 'netflow' | 'sflow',
        );
      }
    },
  );
  worker.on('error', (err) => logger.error({ err }, 'UDP receiver failed'));
  logger.info(ready, 'collector listening');
  return {
    netflowPort: ready.netflow,
    sflowPort: ready.sflow,
    close: async () => {
      const exited = new Promise<void>((ok) => worker.once('exit', () => ok()));
      worker.postMessage('close');
      await Promise.race([exited, new Promise((ok) => setTimeout(ok, 2000))]);
      await worker.terminate();
    },
  };
}
