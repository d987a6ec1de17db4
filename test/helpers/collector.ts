import { createSocket, type Socket } from 'node:dgram';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import type { Database } from '../../src/db/client.js';
import { startUdp, type UdpListeners } from '../../src/ingest/collector.js';
import { createEnricher, type EnrichOptions } from '../../src/ingest/enrich.js';
import { IngestMetrics } from '../../src/ingest/metrics.js';
import { Pipeline, type PipelineOptions } from '../../src/ingest/pipeline.js';
import type { SimFlow } from '../../src/sim/encode.js';

export interface TestCollector {
  pipeline: Pipeline;
  udp: UdpListeners;
  metrics: IngestMetrics;
  /**
   * Sends datagrams to the NetFlow (or sFlow) port and waits until the pipeline has seen them.
   * `from` is the exporter's address: any 127.x.y.z (all of 127/8 is loopback), default 127.0.0.1.
   */
  send(datagrams: Uint8Array[], kind?: 'netflow' | 'sflow', from?: string): Promise<void>;
  stop(): Promise<number>;
}

/** A real collector (UDP sockets on loopback, pipeline, writer) on a test database. */
export async function testCollector(
  db: Database,
  opts: Partial<EnrichOptions> &
    Partial<Omit<PipelineOptions, 'db' | 'enricher' | 'metrics' | 'logger'>> & {
      recvBufferSize?: number;
      /** The receiving thread's reader: native recvmmsg when built (default), or dgram. */
      native?: boolean;
      /** Datagram bytes read and not yet handled before the receiving thread drops (64 MiB). */
      maxQueuedBytes?: number;
    } = {},
): Promise<TestCollector> {
  const enrichOptions = {
    localNetworks: opts.localNetworks ?? [],
    useExporterAs: opts.useExporterAs ?? true,
    asnTsv: opts.asnTsv ?? [],
    mmdb: opts.mmdb ?? [],
  };
  const enricher = await createEnricher(enrichOptions);
  const metrics = new IngestMetrics();
  const logger = pino({ level: 'silent' });
  const pipeline = new Pipeline({
    db,
    enricher,
    metrics,
    logger,
    flushIntervalMs: 60_000,
    retryMs: 200,
    enrichOptions,
    ...opts,
  } as PipelineOptions);
  await pipeline.loadTemplates();
  const udp = await startUdp(
    pipeline,
    {
      host: '127.0.0.1',
      netflowPort: 0,
      sflowPort: 0,
      ...(opts.recvBufferSize ? { recvBufferSize: opts.recvBufferSize } : {}),
      ...(opts.native !== undefined ? { native: opts.native } : {}),
      ...(opts.maxQueuedBytes !== undefined ? { maxQueuedBytes: opts.maxQueuedBytes } : {}),
    },
    logger,
  );
  const client = createSocket('udp4');
  const others = new Map<string, Socket>();
  const socketFrom = async (from: string | undefined): Promise<Socket> => {
    if (from === undefined || from === '127.0.0.1') return client;
    let s = others.get(from);
    if (!s) {
      const socket = createSocket('udp4');
      await new Promise<void>((ok) => socket.bind({ address: from, port: 0 }, ok));
      others.set(from, socket);
      s = socket;
    }
    return s;
  };
  let handled = 0;
  const original = pipeline.handleDatagram.bind(pipeline);
  pipeline.handleDatagram = (buf, address, kind) => {
    original(buf, address, kind);
    handled++;
  };
  // Decode workers get datagrams on their own threads: ask them how many they handled.
  const workers = (opts.decodeWorkers ?? 1) > 1;
  const poll = async () => {
    await new Promise((r) => setTimeout(r, 5));
    if (workers) handled = await pipeline.handled();
  };
  return {
    pipeline,
    udp,
    metrics,
    async send(datagrams, kind = 'netflow', from) {
      if (workers) handled = await pipeline.handled();
      const target = handled + datagrams.length;
      const port = kind === 'netflow' ? udp.netflowPort : udp.sflowPort;
      const sender = await socketFrom(from);
      for (const d of datagrams) {
        await new Promise<void>((ok, fail) => sender.send(d, port, '127.0.0.1', (e) => (e ? fail(e) : ok())));
        // Loopback drops bursts beyond the socket buffer; pace a little.
        if (workers) await new Promise((r) => setImmediate(r));
        else if (handled + 64 < target - datagrams.length) await new Promise((r) => setImmediate(r));
      }
      const deadline = Date.now() + 10_000;
      while (handled < target && Date.now() < deadline) await poll();
      if (handled < target)
        throw new Error(
          `only ${handled - (target - datagrams.length)} of ${datagrams.length} datagrams arrived`,
        );
    },
    async stop() {
      client.close();
      for (const s of others.values()) s.close();
      await udp.close();
      return pipeline.stop();
    },
  };
}

/** Sum of a traffic column. */
export async function trafficTotal(
  db: Database,
  column: 'bytes' | 'packets' | 'flows' = 'bytes',
): Promise<number> {
  const [row] = await db.query<{ v: number | null }>(
    sql.raw(`SELECT sum(${column})::float8 AS v FROM traffic`),
  );
  return row?.v ?? 0;
}

/**
 * `n` flows into the local network 10.20.0.0/24 from AS3243 (one per destination port), ended a
 * second before `nowMs`; `vary` overrides fields per flow.
 * @example inboundFlows(2, now, (k) => ({ srcAs: 64512 + k })) // two flows from two ASes
 */
export function inboundFlows(n: number, nowMs: number, vary?: (k: number) => Partial<SimFlow>): SimFlow[] {
  return Array.from({ length: n }, (_, k) => ({
    startMs: nowMs - 5000,
    endMs: nowMs - 1000,
    src: `85.240.1.${(k % 250) + 1}`,
    dst: '10.20.0.1',
    srcPort: 443,
    dstPort: 40000 + k,
    proto: 6,
    bytes: 1000 + k,
    packets: 1,
    srcAs: 3243,
    dstAs: 0,
    inIf: 1,
    outIf: 2,
    ...vary?.(k),
  }));
}
