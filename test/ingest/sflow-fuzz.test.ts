/**
 * Property tests: the sFlow decoder never throws and always terminates, on random bytes, on
 * structurally plausible random datagrams and on mutated real datagrams.
 * Runs per property: env FUZZ_RUNS (default 200000; the structured generator gets a tenth), seed:
 * FUZZ_SEED to replay a failure. Each property logs its duration.
 */
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSflow } from '../../src/ingest/sflow.js';
import { newFlowRecord } from '../../src/ingest/types.js';
import { encodeSflow, type SimFlow } from '../../src/sim/encode.js';
import { readPcapFile } from '../helpers/pcap.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 200_000);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

const ctx = { nowMs: 1_000, record: newFlowRecord(), agentFallback: 'fallback' };
let emitted = 0;
const sink = (): void => {
  emitted++;
};

/** Decode and check the invariants that hold for any input. */
function check(buf: Uint8Array): void {
  emitted = 0;
  const res = decodeSflow(buf, ctx, sink);
  if (res.records !== emitted) throw new Error('records count differs from sink calls');
  if (!res.ok && emitted !== 0) throw new Error('rejected datagram reached the sink');
  // Every sample occupies at least 8 bytes, so a sane decoder emits fewer records than that.
  if (emitted > buf.length / 8) throw new Error('more records than the bytes can hold');
  if (res.ok === (res.reason !== undefined)) throw new Error('ok and reason disagree');
}

/** The structured generator costs ~200 µs a run in fast-check itself: a tenth of the runs. */
const STRUCTURED_RUNS = Math.max(1, Math.round(RUNS / 10));

function timed<T>(name: string, property: fc.IProperty<T>, numRuns = RUNS): void {
  const t0 = performance.now();
  fc.assert(property, { numRuns, seed: SEED });
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(`sflow fuzz: ${name}: ${numRuns} runs in ${s} s`);
}

// ---------------------------------------------------------------------------------------------
// Seeds: real datagrams (pmacct) and encoder output covering expanded samples, IPv6, QinQ.

const NOW = 1_763_900_000_000;
const SIM: SimFlow[] = Array.from({ length: 12 }, (_, i) => ({
  startMs: NOW,
  endMs: NOW,
  src: i % 2 ? `2001:db8::${i}` : `10.0.0.${i}`,
  dst: i % 2 ? '2001:db8::ffff' : '10.9.9.9',
  srcPort: 1000 + i,
  dstPort: 443,
  proto: [6, 17, 1][i % 3]!,
  bytes: 1500,
  packets: 1,
  srcAs: i,
  dstAs: i % 4 ? 100 + i : 0,
  inIf: i,
  outIf: 2 * i,
}));

const FIXTURES: Uint8Array[] = [
  ...readPcapFile(fileURLToPath(new URL('../fixtures/pmacct.pcap', import.meta.url)))
    .filter((p) => p.dstPort === 6343)
    .map((p) => p.payload),
  ...encodeSflow(SIM, { exportMs: NOW, expanded: true, vlans: [1, 2], agent: '2001:db8::1', mtu: 600 })
    .datagrams,
  ...encodeSflow(SIM, { exportMs: NOW, samplingRate: 64, mtu: 600 }).datagrams,
];

// ---------------------------------------------------------------------------------------------
// Structured generator: XDR datagrams whose counts and lengths are sometimes wrong.

const INTERESTING = [
  0, 1, 2, 3, 4, 5, 7, 8, 11, 12, 16, 1000, 1001, 1003, 0x3fffffff, 0x7fffffff, 0xffffffff,
];
const u32Arb = fc.oneof(fc.constantFrom(...INTERESTING), fc.nat(), fc.integer({ min: 0, max: 0xffffffff }));
/** Mostly null (= tell the truth), sometimes `arb`: keeps most inputs deep enough to decode. */
const rarely = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> =>
  fc.oneof({ arbitrary: fc.constant(null), weight: 10 }, { arbitrary: arb, weight: 1 });
/** A declared length: usually right (null), sometimes off by a little or absurd. */
const lenLie = rarely(fc.oneof(fc.integer({ min: -12, max: 12 }), u32Arb));

function u32s(...v: number[]): number[] {
  return v.flatMap((x) => [(x >>> 24) & 0xff, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff]);
}

function block(tag: number, body: number[], lie: number | null): number[] {
  const padded = [...body, ...new Array((4 - (body.length % 4)) % 4).fill(0)];
  const len = lie === null ? body.length : Math.abs(lie) <= 12 ? Math.max(0, body.length + lie) : lie;
  return [...u32s(tag, len), ...padded];
}

/**
 * Random bytes from a seed: generating them one fast-check value per byte is ~10x slower, and
 * shrinking single bytes of a lying structure gains little.
 */
const bytesArb = (max: number) =>
  fc.tuple(fc.integer(), fc.nat(max)).map(([seed, len]) => {
    let x = seed | 1;
    const out = new Array<number>(len);
    for (let i = 0; i < len; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 0xff;
    }
    return out;
  });

const ethHeader = fc
  .record({
    tags: fc.array(fc.constantFrom(0x8100, 0x88a8, 0x9100), { maxLength: 3 }),
    type: fc.constantFrom(0x0800, 0x86dd, 0x0806, 0x8100),
    ip: bytesArb(80),
  })
  .map(({ tags, type, ip }) => {
    if (ip.length > 0) ip[0] = type === 0x86dd ? 0x60 : 0x45;
    return [
      ...new Array(12).fill(2),
      ...tags.flatMap((t) => [t >> 8, t & 0xff, 0, 5]),
      type >> 8,
      type & 0xff,
      ...ip,
    ];
  });

const rawHeaderRec = fc
  .record({
    proto: fc.constantFrom(1, 11, 12, 2, 99),
    header: fc.oneof(ethHeader, bytesArb(100)),
    hlen: lenLie,
    lie: lenLie,
  })
  .map(({ proto, header, hlen, lie }) => {
    const declared =
      hlen === null ? header.length : Math.abs(hlen) <= 12 ? Math.max(0, header.length + hlen) : hlen;
    const padded = [...header, ...new Array((4 - (header.length % 4)) % 4).fill(0)];
    return block(1, [...u32s(proto, 1514, 4, declared), ...padded], lie);
  });

const gatewayRec = fc
  .record({
    nh: fc.constantFrom(0, 1, 2, 3),
    segs: fc.array(fc.array(u32Arb, { maxLength: 4 }), { maxLength: 3 }),
    segCount: rarely(u32Arb),
    lie: lenLie,
  })
  .map(({ nh, segs, segCount, lie }) => {
    const body = [...u32s(nh), ...new Array(nh === 2 ? 16 : nh === 1 ? 4 : 0).fill(0), ...u32s(1, 2, 3)];
    body.push(...u32s(segCount ?? segs.length));
    for (const s of segs) body.push(...u32s(2, s.length, ...s));
    return block(1003, [...body, ...u32s(0, 0)], lie);
  });

const otherRec = fc
  .record({ tag: fc.oneof(fc.constantFrom(3, 4, 1001, 1002), u32Arb), body: bytesArb(64), lie: lenLie })
  .map(({ tag, body, lie }) => block(tag, body, lie));

const flowSampleArb = fc
  .record({
    expanded: fc.boolean(),
    fields: fc.array(u32Arb, { minLength: 10, maxLength: 10 }),
    records: fc.array(fc.oneof(rawHeaderRec, gatewayRec, otherRec), { maxLength: 4 }),
    count: rarely(u32Arb),
    lie: lenLie,
  })
  .map(({ expanded, fields, records, count, lie }) => {
    const fixed = fields.slice(0, expanded ? 10 : 7);
    const body = [...u32s(...fixed, count ?? records.length), ...records.flat()];
    return block(expanded ? 3 : 1, body, lie);
  });

const otherSampleArb = fc
  .record({ tag: fc.oneof(fc.constantFrom(2, 4, 5), u32Arb), body: bytesArb(64), lie: lenLie })
  .map(({ tag, body, lie }) => block(tag, body, lie));

const datagramArb = fc
  .record({
    addrType: fc.oneof({ arbitrary: fc.constantFrom(1, 2), weight: 10 }, { arbitrary: u32Arb, weight: 1 }),
    samples: fc.array(fc.oneof(flowSampleArb, otherSampleArb), { maxLength: 6 }),
    count: rarely(u32Arb),
    cut: rarely(fc.nat()),
  })
  .map(({ addrType, samples, count, cut }) => {
    const addr = new Array(addrType === 2 ? 16 : 4).fill(7);
    const bytes = [
      ...u32s(5, addrType),
      ...addr,
      ...u32s(0, 1, 2, count ?? samples.length),
      ...samples.flat(),
    ];
    return Uint8Array.from(cut === null ? bytes : bytes.slice(0, cut % (bytes.length + 1)));
  });

// ---------------------------------------------------------------------------------------------
// Mutations of real datagrams.

const mutationArb = fc.oneof(
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({ kind: fc.constant('u32' as const), at: fc.nat(), value: u32Arb }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('dup' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 200 }) }),
);
type Mutation = typeof mutationArb extends fc.Arbitrary<infer M> ? M : never;

/** b with `del` bytes at `at` replaced by `ins`. */
function splice(b: Uint8Array, at: number, del: number, ins: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length - del + ins.length);
  out.set(b.subarray(0, at));
  out.set(ins, at);
  out.set(b.subarray(at + del), at + ins.length);
  return out;
}

function mutate(src: Uint8Array, muts: Mutation[]): Uint8Array {
  let b: Uint8Array = Uint8Array.from(src);
  for (const m of muts) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.kind === 'byte') b[at] = m.value;
    else if (m.kind === 'u32') {
      const o = at & ~3; // XDR fields are 4-byte aligned
      for (let i = 0; i < 4 && o + i < b.length; i++) b[o + i] = (m.value >>> (24 - 8 * i)) & 0xff;
    } else if (m.kind === 'cut') b = b.slice(0, at);
    else if (m.kind === 'delete') b = splice(b, at, Math.min(m.len, b.length - at), new Uint8Array(0));
    else b = splice(b, at, 0, b.slice(at, at + m.len));
  }
  return b;
}

describe(`sFlow decoder fuzz (${RUNS} runs)`, () => {
  it('random bytes, with and without a valid version/address prefix', () => {
    const prefix = fc.constantFrom([], [0, 0, 0, 5, 0, 0, 0, 1], [0, 0, 0, 5, 0, 0, 0, 2]);
    timed(
      'random bytes',
      fc.property(prefix, fc.uint8Array({ maxLength: 1500 }), (p, rest) => {
        const buf = new Uint8Array(p.length + rest.length);
        buf.set(p);
        buf.set(rest, p.length);
        check(buf);
      }),
    );
  });

  it('structured datagrams with lying counts and lengths', () => {
    let accepted = 0;
    timed(
      'structured',
      fc.property(datagramArb, (buf) => {
        check(buf);
        if (decodeSflow(buf, ctx, () => {}).records > 0) accepted++;
      }),
      STRUCTURED_RUNS,
    );
    // The generator must reach the record decoders, not only the framing checks.
    expect(accepted).toBeGreaterThan(STRUCTURED_RUNS / 10);
  });

  it('mutated real datagrams', () => {
    expect(FIXTURES.length).toBeGreaterThan(85);
    timed(
      'mutated fixtures',
      fc.property(
        fc.nat(FIXTURES.length - 1),
        fc.array(mutationArb, { minLength: 1, maxLength: 6 }),
        (i, muts) => check(mutate(FIXTURES[i]!, muts)),
      ),
    );
  });
});
