/**
 * Synthetic flow streams for the decode and ingest benchmarks: skewed remote ASes (the demo
 * networks first, so the demo ip2asn table answers for the big ones), both directions, HTTP and
 * other traffic, some IPv6, flows lasting up to two minutes; encoded once with our own encoders,
 * sampled 1 in 1000 like a typical router.
 */
import {
  type EncodeOptions,
  encodeIpfix,
  encodeSflow,
  encodeV5,
  encodeV9,
  type SimFlow,
} from '../src/sim/encode.js';
import { DEMO_PREFIXES } from '../src/sim/simulate.js';
import { prng, zipfPicker } from './lib.js';

export type Protocol = 'v5' | 'v9' | 'ipfix' | 'sflow';
export const PROTOCOLS: Protocol[] = ['v5', 'v9', 'ipfix', 'sflow'];
export const SAMPLING = 1000;
/** The local side of every synthetic flow; pass it as localNetworks to the enricher. */
export const LOCAL_NETWORK = '10.20.0.0/16';
export const DEMO_TSV = new URL('../demo/ip2asn-demo.tsv', import.meta.url).pathname;

const DEMO_ASNS = Object.keys(DEMO_PREFIXES).map(Number);

export interface FlowOptions {
  /** Export time; flows end in the five minutes before it. */
  nowMs: number;
  seed?: number;
  /** Share of IPv6 flows (v5 drops them). */
  v6Share?: number;
  /** Distinct remote ASes. */
  ases?: number;
}

/** `n` flows (for sFlow: sampled packets) with a realistic mix of keys. */
export function syntheticFlows(n: number, opts: FlowOptions): SimFlow[] {
  const rand = prng(opts.seed ?? 42);
  const ases = opts.ases ?? 2000;
  const pick = zipfPicker(ases, rand);
  const asnOf = (i: number) => (i < DEMO_ASNS.length ? DEMO_ASNS[i]! : 64512 + i * 7);
  const v6Share = opts.v6Share ?? 0.1;
  const flows: SimFlow[] = [];
  for (let k = 0; k < n; k++) {
    const i = pick();
    const asn = asnOf(i);
    const v6 = rand() < v6Share;
    const h = () => Math.floor(rand() * 254) + 1;
    const remote = v6
      ? `2001:db8:${(i % 65535).toString(16)}::${h().toString(16)}`
      : i < DEMO_ASNS.length
        ? `${DEMO_PREFIXES[asn]}.${h()}.${h()}`
        : `${100 + (i % 100)}.${(i >> 8) & 255}.${h()}.${h()}`;
    const local = v6 ? `fd00:20::${h().toString(16)}` : `10.20.${h()}.${h()}`;
    const inbound = rand() < 0.7;
    const http = rand() < 0.6;
    const serverPort = http ? (rand() < 0.8 ? 443 : 80) : 1024 + Math.floor(rand() * 60000);
    const clientPort = 32768 + Math.floor(rand() * 28000);
    const endMs = opts.nowMs - Math.floor(rand() * 300_000);
    const duration = Math.floor(rand() * 120_000);
    const packets = 1 + Math.floor(rand() * 200);
    flows.push({
      startMs: endMs - duration,
      endMs,
      src: inbound ? remote : local,
      dst: inbound ? local : remote,
      srcPort: inbound ? serverPort : clientPort,
      dstPort: inbound ? clientPort : serverPort,
      proto: http && rand() < 0.9 ? 6 : 17,
      bytes: packets * (64 + Math.floor(rand() * 1400)),
      packets,
      srcAs: inbound ? asn : 0,
      dstAs: inbound ? 0 : asn,
      inIf: 1,
      outIf: 2,
    });
  }
  return flows;
}

/** sFlow samples are packets: frame length as bytes. */
function asSamples(flows: SimFlow[]): SimFlow[] {
  return flows.map((f) => ({
    ...f,
    bytes: Math.max(128, Math.min(1518, Math.round(f.bytes / f.packets))),
    packets: 1,
  }));
}

export interface EncodedStream {
  protocol: Protocol;
  datagrams: Uint8Array[];
  records: number;
}

/** Encodes flows as one exporter would, with 1:1000 sampling announced the protocol's way. */
export function encodeStream(
  protocol: Protocol,
  flows: SimFlow[],
  nowMs: number,
  extra: Partial<EncodeOptions> = {},
): EncodedStream {
  const opts: EncodeOptions = {
    exportMs: nowMs,
    bootMs: nowMs - 10 * 86_400_000,
    samplingRate: SAMPLING,
    domain: 1,
    templateEvery: 20,
    ...extra,
  };
  const out =
    protocol === 'v5'
      ? encodeV5(flows, opts)
      : protocol === 'v9'
        ? encodeV9(flows, opts)
        : protocol === 'ipfix'
          ? encodeIpfix(flows, opts)
          : encodeSflow(asSamples(flows), opts);
  return { protocol, datagrams: out.datagrams, records: flows.length - out.skipped };
}
