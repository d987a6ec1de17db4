/**
 * The exporters of bench/collectors.ts: pre-encoded v9 or IPFIX datagrams replayed at a fixed rate
 * from a loopback address of their own (127.0.0.x, so each stream is an exporter of its own to the
 * collector), with the header's sequence and export time made current on every send so no datagram
 * is a duplicate. In v9 the flows' times are offsets from the header's uptime, which is left as
 * encoded: moving the export time moves every flow, so a v9 stream replayed for an hour brings new
 * minutes (and new minute keys) as a live exporter does. IPFIX carries absolute times and replays
 * the same minutes.
 */
import { createSocket, type Socket } from 'node:dgram';
import { decodeNetflow, TemplateRegistry } from '../src/ingest/netflow/index.js';
import { decodeSflow } from '../src/ingest/sflow.js';
import { newFlowRecord } from '../src/ingest/types.js';
import type { SimFlow } from '../src/sim/encode.js';
import { encodeStream, type Protocol } from './flows.js';
import { sleep } from './lib.js';

export type StreamProtocol = 'v9' | 'ipfix';

/**
 * Datagrams replayed in a loop as one exporter sending on: every send gets the header's next
 * sequence and the current export time ({@link stampHeader}), so no datagram is a duplicate.
 * @example
 * const stream = new ReplayStream('ipfix', datagrams, records, units);
 * const [datagram, n] = stream.next();
 */
export class ReplayStream {
  /** Records in one pass over the datagrams. */
  readonly recordsPerPass: number;
  readonly recordsPerDatagram: number;
  private i = 0;
  private sequence = 0;

  constructor(
    readonly protocol: Protocol,
    readonly datagrams: Buffer[],
    /** Records per datagram, as our decoder counts them. */
    readonly records: number[],
    /** Sequence units per datagram: IPFIX data records (v5 records), v9 and sFlow one. */
    private readonly units: number[],
  ) {
    this.recordsPerPass = records.reduce((a, b) => a + b, 0);
    this.recordsPerDatagram = this.recordsPerPass / datagrams.length;
  }

  /**
   * Back to the first datagram, which carries the templates: a receiver started afresh then
   * decodes every datagram of its warm-up, and the warm-up can be subtracted exactly. The sequence
   * keeps going: to the receiver this is one exporter sending on.
   */
  rewind(): void {
    this.i = 0;
  }

  /** The next datagram, its sequence and export time made current; returns [buffer, records]. */
  next(): [Buffer, number] {
    const k = this.i++ % this.datagrams.length;
    const d = this.datagrams[k]!;
    stampHeader(this.protocol, d, this.sequence);
    this.sequence += this.units[k]!;
    return [d, this.records[k]!];
  }
}

/** One exporter of generated flows, encoded once as v9 or IPFIX and counted by our decoder. */
export class ExporterStream extends ReplayStream {
  constructor(
    protocol: StreamProtocol,
    flows: SimFlow[],
    nowMs: number,
    /** Observation domain (IPFIX) or source id (v9). */
    domain = 1,
  ) {
    const datagrams = encodeStream(protocol, flows, nowMs, { domain }).datagrams.map((d) => Buffer.from(d));
    const { records, units } = countRecords(protocol, datagrams, nowMs);
    super(protocol, datagrams, records, units);
  }
}

/**
 * Per datagram of one exporter's stream, in order (templates come first): the records our decoders
 * count in it, and the units its header sequence advances by (IPFIX data records, v5 records, v9
 * and sFlow one datagram).
 * @example const { records, units } = countRecords('ipfix', datagrams, Date.now());
 */
export function countRecords(
  protocol: Protocol,
  datagrams: Uint8Array[],
  nowMs: number,
): { records: number[]; units: number[] } {
  const registry = new TemplateRegistry();
  const record = newFlowRecord();
  const records: number[] = [];
  const units: number[] = [];
  for (const d of datagrams) {
    const res =
      protocol === 'sflow'
        ? decodeSflow(d, { nowMs, record }, () => {})
        : decodeNetflow(d, { exporter: 'x', registry, nowMs, record }, () => {});
    records.push(res.records);
    units.push(protocol === 'ipfix' ? (res.dataRecords ?? res.records) : protocol === 'v5' ? res.records : 1);
  }
  return { records, units };
}

/**
 * Makes a datagram's header current: export time (NetFlow v9, IPFIX) and sequence. sFlow carries no
 * export time; its sequence follows an IPv4 agent address (version, type, address, sub-agent). v5 is
 * left as encoded.
 */
export function stampHeader(protocol: Protocol, d: Buffer, sequence: number): void {
  const secs = Math.floor(Date.now() / 1000) >>> 0;
  if (protocol === 'ipfix') {
    d.writeUInt32BE(secs, 4);
    d.writeUInt32BE(sequence >>> 0, 8);
  } else if (protocol === 'v9') {
    d.writeUInt32BE(secs, 8);
    d.writeUInt32BE(sequence >>> 0, 12);
  } else if (protocol === 'sflow') d.writeUInt32BE(sequence >>> 0, 16);
}

/** A socket bound to `address` (any of 127.0.0.0/8 on Linux): the exporter's source address. */
export async function exporterSocket(address: string): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((ok, fail) => {
    socket.once('error', fail);
    socket.bind(0, address, () => {
      socket.off('error', fail);
      ok();
    });
  });
  return socket;
}

export interface Sent {
  records: number;
  datagrams: number;
  seconds: number;
}

/** What `pace` sends: a datagram and the records it carries, made current on every call. */
export interface PacedStream {
  readonly recordsPerDatagram: number;
  next(): [Buffer, number];
}

/**
 * Sends `streams` to 127.0.0.1:`port` at `recordsPerSecond` in all for `seconds`, paced every
 * millisecond, the streams taking turns datagram by datagram, each from its socket. Several calls
 * run side by side in one event loop (one sender process for every exporter).
 */
export async function pace(
  streams: PacedStream[],
  sockets: Socket[],
  port: number,
  recordsPerSecond: number,
  seconds: number,
): Promise<Sent> {
  const perDatagram = streams.reduce((a, r) => a + r.recordsPerDatagram, 0) / streams.length;
  const dgRate = recordsPerSecond / perDatagram;
  let datagrams = 0;
  let records = 0;
  const t0 = performance.now();
  for (;;) {
    const elapsed = (performance.now() - t0) / 1000;
    if (elapsed >= seconds) break;
    const due = Math.floor(elapsed * dgRate);
    while (datagrams < due) {
      const k = datagrams % streams.length;
      const [d, n] = streams[k]!.next();
      sockets[k]!.send(d, port, '127.0.0.1');
      datagrams++;
      records += n;
    }
    await sleep(1);
  }
  return { records, datagrams, seconds: (performance.now() - t0) / 1000 };
}

export function udpInErrors(text: string): number {
  const lines = text.split('\n').filter((l) => l.startsWith('Udp:'));
  if (lines.length < 2) return 0;
  const head = lines[0]!.split(/\s+/);
  const vals = lines[1]!.split(/\s+/).map(Number);
  return vals[head.indexOf('InErrors')] ?? 0;
}
