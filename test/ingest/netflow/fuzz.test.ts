/**
 * Property tests: random bytes and mutated real datagrams (bit flips, byte overwrites, 16/32-bit
 * length overwrites, truncation, splicing) fed to decodeNetflow with a registry pre-warmed from
 * the fixtures. Properties: no throw, termination, bounded record count, sane records, and
 * reasons from the closed set. Runs per protocol: FUZZ_RUNS (default 200,000).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IE } from '../../../src/ingest/netflow/elements.js';
import {
  decodeNetflow,
  type SerializedTemplate,
  TemplateRegistry,
} from '../../../src/ingest/netflow/index.js';
import { DECODE_DROP_REASONS, type FlowRecord, newFlowRecord } from '../../../src/ingest/types.js';
import {
  concat,
  fixtureDatagrams,
  ipfix,
  ipfixOptionsTemplate,
  rec,
  set,
  template,
  v9,
} from '../../fixtures/netflow-build.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 200_000);
const REASONS = new Set<string>(DECODE_DROP_REASONS);

interface Corpus {
  datagrams: Uint8Array[];
  /** Exporter of each datagram: one per capture, as their template ids collide (1024 …). */
  exporters: string[];
  templates: SerializedTemplate[];
  nowMs: number;
  version: number;
}

/** Fixture datagrams of one protocol plus hand-built ones covering what the captures lack. */
function corpus(names: string[], version: number, extra: Uint8Array[]): Corpus {
  const all = [
    ...names.flatMap((n) => fixtureDatagrams(n).map((d) => ({ ...d, exporter: n }))),
    ...extra.map((payload) => ({ payload, exporter: 'hand-built' })),
  ];
  const registry = new TemplateRegistry();
  const record = newFlowRecord();
  const nowMs = fixtureDatagrams(names[0]!)[0]!.tsMs;
  for (const { payload, exporter } of all)
    decodeNetflow(payload, { exporter, registry, nowMs, record }, () => {});
  return {
    datagrams: all.map((d) => d.payload),
    exporters: all.map((d) => d.exporter),
    templates: registry.export(),
    nowMs,
    version,
  };
}

const EXPORT_S = 1_795_349_340; // export time near the captures, so timestamps stay plausible
const extraV9 = [
  v9(
    { secs: EXPORT_S, sourceId: 0 },
    set(
      0,
      template(300, [
        [IE.sourceIPv6Address, 16],
        [IE.destinationIPv6Address, 16],
        [IE.octetDeltaCount, 8],
        [IE.samplerId, 1],
        [IE.flowStartMilliseconds, 8],
      ]),
    ),
    set(
      300,
      rec([new Array(16).fill(1), 16], [new Array(16).fill(2), 16], [99, 8], [1, 1], [EXPORT_S * 1000, 8]),
    ),
  ),
];
const extraIpfix = [
  ipfix(
    { exportSecs: EXPORT_S, domain: 0 },
    set(
      3,
      ipfixOptionsTemplate(400, 1, [
        [IE.selectorId, 4],
        [IE.samplingPacketInterval, 4],
        [IE.samplingPacketSpace, 4],
      ]),
    ),
    set(400, rec([1, 4], [1, 4], [99, 4])),
    set(
      2,
      template(401, [
        [IE.octetDeltaCount, 65535],
        [82, 65535],
        [1000, 4, 9],
        [IE.selectorId, 4],
        [IE.flowStartDeltaMicroseconds, 4],
        [IE.flowEndNanoseconds, 8],
      ]),
    ),
    set(401, concat(rec([[4, 0, 0, 1, 0], 5], [[255, 0, 2, 65, 66], 5], [0, 4], [1, 4], [1000, 4], [0, 8]))),
  ),
];

const CORPORA: [string, () => Corpus][] = [
  ['v5', () => corpus(['fprobe-v5', 'nfreplay-v5', 'softflowd-v5'], 5, [])],
  ['v9', () => corpus(['nfreplay-v9', 'softflowd-v9'], 9, extraV9)],
  ['ipfix', () => corpus(['softflowd-v10', 'pmacct', 'python-ipfix'], 10, extraIpfix)],
];

/** One mutation applied in place: kind, position (mod length), value. */
// Positions unbiased (fast-check favours small numbers, which would always hit the header).
const op = fc.tuple(fc.nat(4), fc.noBias(fc.nat()), fc.nat(0xffffffff));

function mutate(base: Uint8Array, ops: [number, number, number][]): Uint8Array {
  const out = base.slice();
  if (out.length === 0) return out;
  for (const [kind, pos, value] of ops) {
    const i = pos % out.length;
    if (kind === 0)
      out[i]! ^= 1 << (value & 7); // bit flip
    else if (kind === 1)
      out[i] = value & 0xff; // byte overwrite
    else if (kind === 2 && i + 1 < out.length) {
      // 16-bit overwrite with a small or boundary value: lengths, counts, ids
      const v = [0, 1, 3, 4, 255, 256, 0xffff, value & 0xffff][value % 8]!;
      out[i] = v >> 8;
      out[i + 1] = v & 0xff;
    } else if (kind === 3) out.fill(value & 0xff, i, Math.min(out.length, i + 1 + (value % 16)));
    else out.copyWithin(i, (value >>> 8) % out.length); // shift bytes around
  }
  return out;
}

/** Inputs: a mutated corpus datagram, a splice of two, or random bytes behind a valid version. */
function inputs(c: Corpus): fc.Arbitrary<[Uint8Array, string]> {
  const n = c.datagrams.length;
  const mutated = fc
    .tuple(
      fc.nat(n - 1),
      fc.array(op, { maxLength: 4 }),
      fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: fc.nat(), weight: 1 }),
    )
    .map(([b, ops, cut]) => {
      const m = mutate(c.datagrams[b]!, ops);
      return [cut === undefined ? m : m.subarray(0, cut % (m.length + 1)), c.exporters[b]!] as [
        Uint8Array,
        string,
      ];
    });
  const spliced = fc.tuple(fc.nat(n - 1), fc.nat(n - 1), fc.nat(), fc.nat()).map(([a, b, ca, cb]) => {
    const x = c.datagrams[a]!;
    const y = c.datagrams[b]!;
    const buf = concat(x.subarray(0, ca % (x.length + 1)), y.subarray(cb % (y.length + 1)));
    return [buf, c.exporters[a]!] as [Uint8Array, string];
  });
  const random = fc
    .tuple(fc.uint8Array({ maxLength: 96 }), fc.nat(n - 1))
    .map(([tail, e]) => [concat(Uint8Array.of(0, c.version), tail), c.exporters[e]!] as [Uint8Array, string]);
  return fc.oneof(
    { arbitrary: mutated, weight: 6 },
    { arbitrary: spliced, weight: 2 },
    { arbitrary: random, weight: 2 },
  );
}

function checkRecord(r: FlowRecord): void {
  for (const v of [r.bytes, r.packets, r.srcPort, r.dstPort, r.proto, r.srcAs, r.dstAs, r.inIf, r.outIf]) {
    if (!(Number.isSafeInteger(v) && v >= 0)) throw new Error(`bad counter ${v}`);
  }
  if (!(Number.isFinite(r.startMs) && Number.isFinite(r.endMs) && r.startMs <= r.endMs))
    throw new Error('bad times');
  if (!(Number.isFinite(r.samplingRate) && r.samplingRate >= 0))
    throw new Error(`bad rate ${r.samplingRate}`);
  if (r.ipVersion !== 0 && r.ipVersion !== 4 && r.ipVersion !== 6)
    throw new Error(`bad ipVersion ${r.ipVersion}`);
}

describe.each(CORPORA)('fuzz %s', (_name, make) => {
  it(`${RUNS} runs: never throws, terminates, bounded and sane output`, { timeout: 600_000 }, () => {
    const c = make();
    if (process.env.FUZZ_DEBUG) {
      for (let i = 0; i < c.datagrams.length; i++) {
        const registry = new TemplateRegistry({ maxTemplatesPerExporter: 64 });
        registry.import(c.templates);
        const ctx = { exporter: c.exporters[i]!, registry, nowMs: c.nowMs, record: newFlowRecord() };
        console.log(c.exporters[i], JSON.stringify(decodeNetflow(c.datagrams[i]!, ctx, () => {})));
      }
    }
    const record = newFlowRecord();
    const started = performance.now();
    let deep = 0; // runs that emitted records: the fuzz must reach the record decoders
    fc.assert(
      fc.property(inputs(c), ([buf, exporter]) => {
        // A fresh registry per run keeps runs independent, so shrinking is deterministic.
        const registry = new TemplateRegistry({ maxTemplatesPerExporter: 64 });
        registry.import(c.templates);
        let count = 0;
        const res = decodeNetflow(buf, { exporter, registry, nowMs: c.nowMs, record }, (r) => {
          checkRecord(r);
          count++;
        });
        if (count > 0) deep++;
        if (res.records !== count || res.records > buf.length) return false;
        if (!res.ok && !REASONS.has(res.reason!)) return false;
        return Object.keys(res.skipped).every((k) => REASONS.has(k));
      }),
      { numRuns: RUNS },
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(`fuzz ${_name}: ${RUNS} runs in ${seconds.toFixed(1)} s, ${deep} emitted records`);
    expect(deep).toBeGreaterThan(RUNS / 10);
  });
});
