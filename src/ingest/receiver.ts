/**
 * The receiving thread: binds the sockets and reads datagrams as they come, whatever the main
 * thread is doing. The embedded database runs on the main thread, and a flush there can hold it
 * long enough for the kernel buffer (capped by net.core.rmem_max) to overflow, were datagrams
 * read there. Here datagrams wait in this thread's memory (at most `maxQueuedBytes`, the
 * rest dropped and counted) and go to the main thread in batches, one transferred buffer each.
 *
 * Started by {@link startUdp} (collector.ts) as a worker thread; the messages it exchanges with
 * the main thread are the types below.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';

export type ListenerKind = 'netflow' | 'sflow';

/** What the main thread gives the receiving thread at start. */
export interface ReceiverSettings {
  host: string;
  ports: Record<ListenerKind, number>;
  /** Kernel receive buffer asked for; the kernel caps it at net.core.rmem_max. */
  recvBufferSize: number;
  /** Datagrams held while the main thread is busy; past it they are dropped and counted. */
  maxQueuedBytes: number;
}

/** Messages from the receiving thread. */
export type ReceiverMessage =
  /** Both sockets are bound: their ports and the receive buffer the kernel granted. */
  | { ready: { netflow: number; sflow: number; recvBuffer: number } }
  /** A socket failed (at bind: the start fails). */
  | { error: string }
  /**
   * Datagrams in one buffer: `meta` holds (kind, sender address, offset, length) per datagram;
   * `dropped` counts datagrams dropped since the last batch because the queue was full.
   */
  | { meta: (string | number)[]; data: Uint8Array; dropped: number };

/** Sent by the main thread: flush what is queued, close the sockets, exit. */
export type CloseMessage = 'close';

/** Datagrams that arrived in one turn of this thread's loop go together, or every this many. */
const BATCH_DATAGRAMS = 64;

function run(port: NonNullable<typeof parentPort>, settings: ReceiverSettings): void {
  const { host, ports, recvBufferSize, maxQueuedBytes } = settings;
  const wildcard = host === '0.0.0.0' || host === '::';
  // One dual-stack socket per kind unless bound to a specific IPv4 address.
  const v4 = !wildcard && isIPv4(host);
  let queue: [ListenerKind, string, Buffer][] = [];
  let queuedBytes = 0;
  let dropped = 0;
  let scheduled = false;

  const flush = (): void => {
    scheduled = false;
    if (queue.length === 0 && dropped === 0) return;
    const data = new Uint8Array(queuedBytes);
    const meta: (string | number)[] = [];
    let at = 0;
    for (const [kind, address, msg] of queue) {
      data.set(msg, at);
      meta.push(kind, address, at, msg.length);
      at += msg.length;
    }
    port.postMessage({ meta, data, dropped } satisfies ReceiverMessage, [data.buffer]);
    queue = [];
    queuedBytes = 0;
    dropped = 0;
  };

  const sockets = {} as Record<ListenerKind, Socket>;
  let bound = 0;
  for (const kind of ['netflow', 'sflow'] as const) {
    const socket = createSocket({ type: v4 ? 'udp4' : 'udp6', ipv6Only: false, recvBufferSize });
    sockets[kind] = socket;
    socket.on('message', (msg, rinfo) => {
      if (queuedBytes + msg.length > maxQueuedBytes) {
        dropped++;
        return;
      }
      queue.push([kind, rinfo.address, msg]);
      queuedBytes += msg.length;
      if (queue.length >= BATCH_DATAGRAMS) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
    socket.once('error', (err) =>
      port.postMessage({ error: `${kind}: ${err.message}` } satisfies ReceiverMessage),
    );
    socket.bind({ port: ports[kind], address: wildcard ? '::' : host }, () => {
      if (++bound < 2) return;
      port.postMessage({
        ready: {
          netflow: sockets.netflow.address().port,
          sflow: sockets.sflow.address().port,
          recvBuffer: sockets.netflow.getRecvBufferSize(),
        },
      } satisfies ReceiverMessage);
    });
  }
  port.on('message', (m: unknown) => {
    if (m !== ('close' satisfies CloseMessage)) return;
    flush();
    let open = 2;
    for (const s of Object.values(sockets))
      s.close(() => {
        if (--open === 0) process.exit(0);
      });
  });
}

// The main thread imports only this module's types; a worker started without settings does nothing.
if (parentPort && (workerData as { receiver?: ReceiverSettings } | null)?.receiver)
  run(parentPort, (workerData as { receiver: ReceiverSettings }).receiver);
