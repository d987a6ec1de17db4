import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { DEMO_NETWORKS, demoRows } from '../demo.js';
import { type EncodeOptions, encodeIpfix, encodeSflow, encodeV5, encodeV9, type SimFlow } from './encode.js';

export const PROTOCOLS = ['v5', 'v9', 'ipfix', 'sflow'] as const;
export type SimProtocol = (typeof PROTOCOLS)[number];

/**
 * Address blocks of the demo networks. They are the demo's own: `demo/ip2asn-demo.tsv` maps
 * them to the networks' AS and country, so the collector enriches simulated flows like real ones.
 */
export const DEMO_PREFIXES: Record<number, string> = {
  3243: '85.240',
  2860: '2.80',
  12353: '94.60',
  3320: '79.192',
  3215: '90.0',
  7018: '12.0',
  15169: '142.250',
  4766: '175.192',
  28573: '177.0',
  1221: '1.128',
};

const LOCAL = '10.20';

/** A deterministic host in a /16. */
const host = (prefix: string, n: number) => `${prefix}.${(n >> 8) & 255}.${n & 255 || 1}`;

/**
 * Flows that carry the demo's traffic for [fromMs, toMs): one per network, product and
 * direction, with the bytes the demo shape gives that slice. Remote servers answer on 443
 * (HTTP) or 3478/UDP (other); local clients live in 10.20.0.0/16.
 * @example
 * const flows = demoFlows(Date.now() - 60_000, Date.now());
 */
export function demoFlows(fromMs: number, toMs: number, scale = 1): SimFlow[] {
  const flows: SimFlow[] = [];
  const fraction = ((toMs - fromMs) / 300_000) * scale;
  let n = Math.floor(fromMs / 1000);
  for (const row of demoRows(Math.floor(fromMs / 300_000) * 300_000)) {
    const net = DEMO_NETWORKS.find((d) => d.asn === row.asn)!;
    const remote = host(DEMO_PREFIXES[net.asn]!, n++);
    const local = host(LOCAL, n++);
    const http = row.product === 'HTTP';
    const serverPort = http ? 443 : 3478;
    const clientPort = 40000 + (n % 20000);
    const bytes = Math.max(1, Math.round(row.bytes * fraction));
    const inbound = row.direction === 'in';
    flows.push({
      startMs: fromMs,
      endMs: toMs - 1,
      src: inbound ? remote : local,
      dst: inbound ? local : remote,
      srcPort: inbound ? serverPort : clientPort,
      dstPort: inbound ? clientPort : serverPort,
      proto: http ? 6 : 17,
      bytes,
      packets: Math.max(1, Math.round(bytes / 900)),
      srcAs: inbound ? net.asn : 0,
      dstAs: inbound ? 0 : net.asn,
      inIf: 1,
      outIf: 2,
    });
  }
  return flows;
}

/** sFlow samples packets: turn flows into sampled frames at 1 in `rate`. */
function sampledPackets(flows: SimFlow[], rate: number): SimFlow[] {
  const samples: SimFlow[] = [];
  for (const f of flows) {
    const frames = Math.round(f.bytes / 1000 / rate);
    for (let i = 0; i < frames; i++) samples.push({ ...f, bytes: 1000, packets: 1 });
  }
  return samples;
}

/** What sampling has not yet exported of each flow: fractions of a packet and its bytes. */
type SamplingCarry = Map<string, { bytes: number; packets: number }>;

/**
 * Flows as a 1-in-`rate` sampling exporter reports them: the counters divided by the rate. A
 * flow that would show less than one packet is not exported now; what is left over carries to its
 * next export, so the collector's scaled totals over time equal the demo shape, as real sampling's
 * do on average, and no flow is rounded up to a whole sampled packet it never had.
 */
function sampledFlows(flows: SimFlow[], rate: number, carry: SamplingCarry): SimFlow[] {
  const out: SimFlow[] = [];
  for (const f of flows) {
    // One flow per network, product (protocol) and direction: demoFlows' flows keep these apart.
    const key = `${f.srcAs}:${f.dstAs}:${f.proto}`;
    const left = carry.get(key) ?? { bytes: 0, packets: 0 };
    const bytes = f.bytes / rate + left.bytes;
    const packets = f.packets / rate + left.packets;
    const whole = { bytes: Math.floor(bytes), packets: Math.floor(packets) };
    if (whole.packets < 1 || whole.bytes < 1) {
      carry.set(key, { bytes, packets });
      continue;
    }
    carry.set(key, { bytes: bytes - whole.bytes, packets: packets - whole.packets });
    out.push({ ...f, ...whole });
  }
  return out;
}

export interface SimulatorOptions {
  host: string;
  port: number;
  protocol: SimProtocol;
  /** Milliseconds between exports (default 5 s). */
  intervalMs?: number;
  /** Days of past traffic to send first (not for sFlow, which has no flow timestamps). */
  backfillDays?: number;
  /** Share of datagrams not sent, 0–1, to exercise loss accounting. */
  loss?: number;
  /** 1 in N sampling announced by the exporter (sFlow default 1000). */
  samplingRate?: number;
  /** Where live export starts (default: now); earlier minutes are sent at the first tick. */
  startMs?: number;
  now?: () => number;
  log?: (msg: string) => void;
}

/**
 * An exporter of demo traffic: real export datagrams of our own encoder, sent over UDP.
 * Returns a stop function.
 * @example
 * const sim = await startSimulator({ host: '127.0.0.1', port: 2055, protocol: 'ipfix', intervalMs: 1000 });
 * sim.stop();
 */
export async function startSimulator(opts: SimulatorOptions): Promise<{ stop(): void; sent(): number }> {
  const now = opts.now ?? Date.now;
  const socket = createSocket(isIPv6(opts.host) ? 'udp6' : 'udp4');
  const interval = opts.intervalMs ?? 5000;
  const rate = opts.samplingRate ?? (opts.protocol === 'sflow' ? 1000 : 0);
  const bootMs = now() - 40 * 86400_000 + Math.max(0, 30 - (opts.backfillDays ?? 0)) * 86400_000;
  const state = { sequence: 0, datagramIndex: 0, sampleSequence: 0, sent: 0 };
  const carry: SamplingCarry = new Map();
  if (opts.protocol === 'sflow' && opts.backfillDays)
    throw new Error('sFlow carries no flow timestamps: backfill needs v5, v9 or ipfix');
  if ((opts.backfillDays ?? 0) > 30)
    throw new Error('backfill: at most 30 days (NetFlow uptimes are 32-bit milliseconds)');

  const send = async (flows: SimFlow[], exportMs: number) => {
    const base: EncodeOptions = {
      exportMs,
      bootMs,
      sequence: state.sequence,
      datagramIndex: state.datagramIndex,
      domain: 1,
      templateEvery: 10,
      ...(rate ? { samplingRate: rate } : {}),
    };
    const scaled = rate && opts.protocol !== 'sflow' ? sampledFlows(flows, rate, carry) : flows;
    const out =
      opts.protocol === 'v5'
        ? encodeV5(scaled, base)
        : opts.protocol === 'v9'
          ? encodeV9(scaled, base)
          : opts.protocol === 'ipfix'
            ? encodeIpfix(scaled, base)
            : encodeSflow(sampledPackets(flows, rate), { ...base, sampleSequence: state.sampleSequence });
    state.sequence = out.nextSequence;
    state.datagramIndex = out.nextDatagramIndex;
    if ('nextSampleSequence' in out) state.sampleSequence = out.nextSampleSequence as number;
    for (const d of out.datagrams) {
      if (opts.loss && Math.random() < opts.loss) continue;
      await new Promise<void>((ok, fail) =>
        socket.send(d, opts.port, opts.host, (err) => (err ? fail(err) : ok())),
      );
      state.sent++;
    }
  };

  let cursor = opts.startMs ?? Math.floor(now() / interval) * interval;
  if (opts.backfillDays) {
    const slice = 300_000;
    let t = Math.floor((cursor - opts.backfillDays * 86400_000) / slice) * slice;
    for (; t + slice <= cursor; t += slice) await send(demoFlows(t, t + slice), t + slice);
    if (t < cursor) await send(demoFlows(t, cursor), cursor);
    opts.log?.(`backfilled ${opts.backfillDays} day(s)`);
  }
  const timer = setInterval(
    () => {
      const end = Math.floor(now() / interval) * interval;
      if (end <= cursor) return;
      const from = cursor;
      cursor = end;
      void send(demoFlows(from, end), end).catch((err: Error) => opts.log?.(`send failed: ${err.message}`));
    },
    Math.min(interval, 1000),
  );
  return {
    stop: () => {
      clearInterval(timer);
      socket.close();
    },
    sent: () => state.sent,
  };
}
