/**
 * The receiving thread: binds the sockets and reads datagrams as they come, whatever the main
 * thread is doing. The embedded database runs on the main thread, and a flush there can hold it
 * long enough for the kernel buffer (capped by net.core.rmem_max) to overflow, were datagrams
 * read there. Here datagrams are read at once and go to the main thread (or the decode workers) in
 * batches, one transferred buffer each; the bytes sent and not yet handled are counted in memory
 * both sides share ({@link InflightMessage}), and past `maxQueuedBytes` datagrams are dropped and
 * counted, so a stalled consumer costs a bounded amount of memory.
 * On Linux the sockets are read by the native reader (native-receiver.ts: recvmmsg, many
 * datagrams per system call); without it, or for a host name, through Node's dgram.
 *
 * Started by {@link startUdp} (collector.ts) as a worker thread; the messages it exchanges with
 * the main thread are the types below.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP, isIPv4 } from 'node:net';
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { BATCH, loadNativeUdp, META_INTS, type NativeUdp, SCRATCH_BYTES } from './native-receiver.js';

export type ListenerKind = 'netflow' | 'sflow';

/** What the main thread gives the receiving thread at start. */
export interface ReceiverSettings {
  host: string;
  ports: Record<ListenerKind, number>;
  /** Kernel receive buffer asked for; the kernel caps it at net.core.rmem_max. */
  recvBufferSize: number;
  /** Datagram bytes sent and not yet handled; past it datagrams are dropped and counted. */
  maxQueuedBytes: number;
  /**
   * Decode workers' ports: datagrams of one exporter address always go to the same one
   * ({@link shardOf}); empty = every datagram to the main thread.
   */
  shards: MessagePort[];
  /** Read through the native recvmmsg reader when it is built (default true); else Node's dgram. */
  native?: boolean;
}

/** How the receiving thread reads its sockets: many datagrams per system call, or dgram's one. */
export type ReaderKind = 'recvmmsg' | 'dgram';

/**
 * The first message to each consumer (the main thread, each decode worker): the bytes of batches
 * sent and not yet handled, at index 0, which the consumer lowers by `data.byteLength` once it
 * has handled a batch ({@link batchHandled}).
 */
export type InflightMessage = { inflight: Int32Array };

/** A consumer has handled a batch: its bytes no longer count against `maxQueuedBytes`. */
export const batchHandled = (inflight: Int32Array | undefined, data: Uint8Array) => {
  if (inflight) Atomics.sub(inflight, 0, data.byteLength);
};

/** Messages from the receiving thread. */
export type ReceiverMessage =
  | InflightMessage
  /** Both sockets are bound: their ports and the receive buffer the kernel granted. */
  | { ready: { netflow: number; sflow: number; recvBuffer: number; reader: ReaderKind; readerNote?: string } }
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

/**
 * Datagrams queued per destination and sent in batches, one transferred buffer each; a datagram
 * that would take the bytes not yet handled past `maxQueuedBytes` is dropped and counted.
 */
function batcher(port: NonNullable<typeof parentPort>, shards: MessagePort[], maxQueuedBytes: number) {
  // One queue per destination: the main thread, or each decode worker.
  const targets: Pick<MessagePort, 'postMessage'>[] = shards.length > 0 ? shards : [port];
  const inflight = new Int32Array(new SharedArrayBuffer(4));
  for (const t of targets) t.postMessage({ inflight } satisfies ReceiverMessage);
  let queues: [ListenerKind, string, Uint8Array][][] = targets.map(() => []);
  let queued = 0;
  let queuedBytes = 0;
  let dropped = 0;
  return {
    /** Queues a datagram, or drops and counts it when the consumers are that far behind. */
    push(kind: ListenerKind, address: string, msg: Uint8Array): void {
      if (Atomics.load(inflight, 0) + queuedBytes + msg.length > maxQueuedBytes) {
        dropped++;
        return;
      }
      queues[targets.length === 1 ? 0 : shardOf(address, targets.length)]!.push([kind, address, msg]);
      queuedBytes += msg.length;
      queued++;
    },
    /** Whether a batch is as large as it gets before it is sent. */
    get full() {
      return queued >= BATCH_DATAGRAMS * targets.length;
    },
    flush(): void {
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
        Atomics.add(inflight, 0, data.byteLength);
        targets[t]!.postMessage({ meta, data, dropped: 0 } satisfies ReceiverMessage, [data.buffer]);
      }
      if (dropped > 0)
        port.postMessage({ meta: [], data: new Uint8Array(0), dropped } satisfies ReceiverMessage);
      queues = targets.map(() => []);
      queued = 0;
      queuedBytes = 0;
      dropped = 0;
    },
  };
}

/** The address a socket binds: one dual-stack socket per kind unless given a specific IPv4 address. */
function bindAddress(host: string): { address: string; v4: boolean } {
  const wildcard = host === '0.0.0.0' || host === '::';
  return { address: wildcard ? '::' : host, v4: !wildcard && isIPv4(host) };
}

function run(port: NonNullable<typeof parentPort>, settings: ReceiverSettings): void {
  // The native reader takes IP addresses only; a host name goes through dgram's lookup.
  const native = settings.native === false ? { reason: 'nativeReceiver is off' } : loadNativeUdp();
  if ('udp' in native && isIP(bindAddress(settings.host).address)) runNative(port, settings, native.udp);
  else runDgram(port, settings, 'reason' in native ? native.reason : 'host is a name');
}

function runDgram(
  port: NonNullable<typeof parentPort>,
  settings: ReceiverSettings,
  readerNote: string,
): void {
  const { host, ports, recvBufferSize, maxQueuedBytes, shards } = settings;
  const { address: bindTo, v4 } = bindAddress(host);
  const batch = batcher(port, shards, maxQueuedBytes);
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    batch.flush();
  };

  const sockets = {} as Record<ListenerKind, Socket>;
  let bound = 0;
  for (const kind of ['netflow', 'sflow'] as const) {
    const socket = createSocket({ type: v4 ? 'udp4' : 'udp6', ipv6Only: false, recvBufferSize });
    sockets[kind] = socket;
    socket.on('message', (msg, rinfo) => {
      batch.push(kind, plainAddress(rinfo.address), msg);
      if (batch.full) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
    socket.once('error', (err) =>
      port.postMessage({ error: `${kind}: ${err.message}` } satisfies ReceiverMessage),
    );
    socket.bind({ port: ports[kind], address: bindTo }, () => {
      if (++bound < 2) return;
      port.postMessage({
        ready: {
          netflow: sockets.netflow.address().port,
          sflow: sockets.sflow.address().port,
          recvBuffer: sockets.netflow.getRecvBufferSize(),
          reader: 'dgram',
          readerNote,
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

/** Datagrams one native read may return: two sockets' worth of system calls. */
const NATIVE_MAX = 2 * BATCH;
/** Senders' addresses as text, by their words: exporters are few; cleared past this many. */
const ADDRESS_CACHE = 4096;

/**
 * The native reader's loop: each turn polls both sockets and reads what they hold, many datagrams
 * per system call, then yields to this thread's event loop (so 'close' is seen). Idle, a turn waits
 * up to 20 ms in poll; after a small read it sleeps 1 ms so the next read finds a batch, not one
 * datagram (the kernel buffer holds them meanwhile).
 */
function runNative(port: NonNullable<typeof parentPort>, settings: ReceiverSettings, udp: NativeUdp): void {
  const { host, ports, recvBufferSize, maxQueuedBytes, shards } = settings;
  const kinds = ['netflow', 'sflow'] as const;
  const opened: [number, number, number][] = [];
  try {
    for (const kind of kinds) {
      try {
        opened.push(udp.open(bindAddress(host).address, ports[kind], recvBufferSize));
      } catch (err) {
        throw new Error(`${kind}: ${(err as Error).message}`);
      }
    }
  } catch (err) {
    for (const [fd] of opened) udp.close(fd);
    port.postMessage({ error: (err as Error).message } satisfies ReceiverMessage);
    return;
  }
  const fds = Int32Array.from(opened, ([fd]) => fd);
  const scratch = new Uint8Array(SCRATCH_BYTES);
  const out = new Uint8Array(NATIVE_MAX * 65536);
  const meta = new Int32Array(NATIVE_MAX * META_INTS);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const names = new Map<number | string, string>();
  const addressAt = (m: number): string => {
    const family = meta[m + 3]!;
    const key = family === 4 ? meta[m + 4]! : `${meta[m + 4]},${meta[m + 5]},${meta[m + 6]},${meta[m + 7]}`;
    let name = names.get(key);
    if (name === undefined) {
      if (names.size >= ADDRESS_CACHE) names.clear();
      name = udp.ntop(family, meta[m + 4]!, meta[m + 5]!, meta[m + 6]!, meta[m + 7]!);
      names.set(key, name);
    }
    return name;
  };
  const batch = batcher(port, shards, maxQueuedBytes);
  let closing = false;
  let lastError = 0;
  const turn = (): void => {
    if (closing) return;
    let n: number;
    try {
      n = udp.recv(fds, scratch, out, meta, 0) || udp.recv(fds, scratch, out, meta, 20);
    } catch (err) {
      // A socket error (as dgram's 'error'): reported at most once a second, and reading goes on.
      if (Date.now() - lastError > 1000) {
        lastError = Date.now();
        port.postMessage({ error: (err as Error).message } satisfies ReceiverMessage);
      }
      setTimeout(turn, 10);
      return;
    }
    for (let i = 0; i < n; i++) {
      const m = i * META_INTS;
      const at = meta[m + 1]!;
      batch.push(kinds[meta[m]!]!, addressAt(m), out.subarray(at, at + meta[m + 2]!));
    }
    // The views above are of `out`, which the next read overwrites: send them now.
    batch.flush();
    if (n > 0 && n < BATCH / 2) Atomics.wait(sleeper, 0, 0, 1);
    setImmediate(turn);
  };
  port.on('message', (m: unknown) => {
    if (m !== ('close' satisfies CloseMessage)) return;
    closing = true;
    batch.flush();
    for (const fd of fds) udp.close(fd);
    process.exit(0);
  });
  port.postMessage({
    ready: { netflow: opened[0]![1], sflow: opened[1]![1], recvBuffer: opened[0]![2], reader: 'recvmmsg' },
  } satisfies ReceiverMessage);
  setImmediate(turn);
}

// The main thread imports only this module's types; a worker started without settings does nothing.
if (parentPort && (workerData as { receiver?: ReceiverSettings } | null)?.receiver)
  run(parentPort, (workerData as { receiver: ReceiverSettings }).receiver);
