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
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';

export type ListenerKind = 'netflow' | 'sflow';

/** What the main thread gives the receiving thread at start. */
export interface ReceiverSettings {
  host: string;
  ports: Record<ListenerKind, number>;
  /** Kernel receive buffer asked for; the kernel caps it at net.core.rmem_max. */
  recvBufferSize: number;
  /** Datagrams held while the main thread is busy; past it they are dropped and counted. */
  maxQueuedBytes: number;
  /**
   * Decode workers' ports: datagrams of one exporter address always go to the same one
   * ({@link shardOf}); empty = every datagram to the main thread.
   */
  shards: MessagePort[];
}

/** Messages from the receiving thread. */
export type ReceiverMessage =
  /** Both sockets are bound: their ports and the receive buffer the kernel granted. */
  | { ready: { netflow: number; sflow: number; recvBuffer: number } }
  /** A socket failed (at bind: the start fails). */
  | { error: string }
  /**
   * Datagrams in one buffer: `meta` holds (kind, sender address, offset, length) per datagram,
   * the address as {@link plainAddress} gives it; `dropped` counts datagrams dropped since the last batch because the queue was full.
   */
  | { meta: (string | number)[]; data: Uint8Array; dropped: number };

/** Sent by the main thread: flush what is queued, close the sockets, exit. */
export type CloseMessage = 'close';

/** IPv4-mapped IPv6 senders are reported as plain IPv4, so one exporter has one name. */
export const plainAddress = (a: string) => (a.startsWith('::ffff:') && isIPv4(a.slice(7)) ? a.slice(7) : a);

/**
 * The decode worker of an exporter address, of `n`: a hash of the address, so an exporter's
 * templates, sequences and counters stay in one worker however many exporters there are.
 */
export function shardOf(address: string, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < address.length; i++) h = Math.imul(h ^ address.charCodeAt(i), 0x01000193);
  return (h >>> 0) % n;
}

/**
 * Each datagram of a batch starts on an 8-byte boundary of its buffer, so the duplicate check
 * reads it through an Int32Array (contentHash), twice as fast as through a DataView.
 */
const aligned = (n: number) => (n + 7) & ~7;

/** Datagrams that arrived in one turn of this thread's loop go together, or every this many. */
const BATCH_DATAGRAMS = 64;

function run(port: NonNullable<typeof parentPort>, settings: ReceiverSettings): void {
  const { host, ports, recvBufferSize, maxQueuedBytes, shards } = settings;
  const wildcard = host === '0.0.0.0' || host === '::';
  // One dual-stack socket per kind unless bound to a specific IPv4 address.
  const v4 = !wildcard && isIPv4(host);
  // One queue per destination: the main thread, or each decode worker.
  const targets: Pick<MessagePort, 'postMessage'>[] = shards.length > 0 ? shards : [port];
  let queues: [ListenerKind, string, Buffer][][] = targets.map(() => []);
  let queued = 0;
  let queuedBytes = 0;
  let dropped = 0;
  let scheduled = false;

  const flush = (): void => {
    scheduled = false;
    if (queued === 0 && dropped === 0) return;
    for (let t = 0; t < targets.length; t++) {
      const queue = queues[t]!;
      if (queue.length === 0) continue;
      let bytes = 0;
      for (const [, , msg] of queue) bytes += aligned(msg.length);
      const data = new Uint8Array(bytes);
      const meta: (string | number)[] = [];
      let at = 0;
      for (const [kind, address, msg] of queue) {
        data.set(msg, at);
        meta.push(kind, address, at, msg.length);
        at += aligned(msg.length);
      }
      targets[t]!.postMessage({ meta, data, dropped: 0 } satisfies ReceiverMessage, [data.buffer]);
    }
    if (dropped > 0)
      port.postMessage({ meta: [], data: new Uint8Array(0), dropped } satisfies ReceiverMessage);
    queues = targets.map(() => []);
    queued = 0;
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
      const address = plainAddress(rinfo.address);
      queues[targets.length === 1 ? 0 : shardOf(address, targets.length)]!.push([kind, address, msg]);
      queuedBytes += msg.length;
      if (++queued >= BATCH_DATAGRAMS * targets.length) flush();
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
