/**
 * A fixed-length template's compiled reader (src/ingest/netflow/reader.ts) decodes exactly what
 * walking the plan decodes: random templates (any element the decoder knows, and some it does
 * not, at fitting and unfitting lengths, v9 and IPFIX, data and options) over random record bytes,
 * each data set decoded once with the reader and once without, records, counts and sampler state
 * compared. Runs: FUZZ_RUNS / 100, at least 200 (2,000 by default, 200 in the quick tier).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeDataSet } from '../../../src/ingest/netflow/dataset.js';
import { IE, kindOf, lengthFits, VARIABLE_LENGTH } from '../../../src/ingest/netflow/elements.js';
import { TemplateRegistry } from '../../../src/ingest/netflow/index.js';
import { newResult } from '../../../src/ingest/netflow/message.js';
import { compilePlan, type DecodePlan } from '../../../src/ingest/netflow/plan.js';
import type { Template } from '../../../src/ingest/netflow/templates.js';
import { type DecodeResult, type FlowRecord, newFlowRecord } from '../../../src/ingest/types.js';

const RUNS = Math.max(200, Math.round(Number(process.env.FUZZ_RUNS ?? 200_000) / 100));
const NOW_MS = 1_795_349_340_000;
/** Element ids the decoder reads, plus some it skips (tcpFlags, ipClassOfService, an unassigned one). */
const ELEMENTS = [...Object.values(IE), 5, 6, 999];
const LENGTHS = [1, 2, 3, 4, 5, 6, 7, 8, 16];

interface Run {
  records: unknown[];
  res: DecodeResult;
  sampler: unknown;
  reader: DecodePlan['reader'];
}

function snapshot(r: FlowRecord): unknown {
  return { ...r, srcAddr: [...r.srcAddr], dstAddr: [...r.dstAddr] };
}

function decodeOnce(
  protocol: 'v9' | 'ipfix',
  plan: DecodePlan,
  kind: 'data' | 'options',
  body: Uint8Array,
  uptimeMs: number,
): Run {
  const registry = new TemplateRegistry();
  const source = registry.sourceFor(protocol, '192.0.2.1', 1);
  const tpl: Template = { id: 256, kind, fields: [], scopeCount: 0, learnedAtMs: NOW_MS, plan };
  const record = newFlowRecord();
  const ctx = {
    exporter: '192.0.2.1',
    registry,
    nowMs: NOW_MS,
    record,
    // Wide windows: random times reach the sink instead of all counting as bad_timestamp.
    maxFutureMs: Number.MAX_SAFE_INTEGER,
    maxPastMs: Number.MAX_SAFE_INTEGER,
  };
  const res = newResult(protocol);
  res.uptimeMs = uptimeMs;
  res.exportMs = NOW_MS - 5000;
  const records: unknown[] = [];
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  decodeDataSet(
    dv,
    0,
    body.length,
    tpl,
    source,
    { exportMs: res.exportMs, uptimeMs },
    ctx,
    (r) => {
      records.push(snapshot(r));
    },
    res,
  );
  return {
    records,
    res,
    sampler: {
      defaultRate: source.defaultRate,
      systemInitMs: source.systemInitMs,
      samplers: [...source.samplers].map(([id, s]) => [id, s.rate]),
    },
    reader: plan.reader,
  };
}

/** Most fields are an element the decoder reads at a length it accepts; the rest anything. */
const field = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .constantFrom(...Object.values(IE))
      .chain((type) =>
        fc
          .constantFrom(...LENGTHS.filter((length) => lengthFits(kindOf(type), length)))
          .map((length) => ({ type, length, enterprise: false })),
      ),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constantFrom(...ELEMENTS),
      length: fc.constantFrom(...LENGTHS),
      enterprise: fc.boolean(),
    }),
  },
);
/** Up to 1,500 record bytes, half of them zero: small counters, early times, all-zero IPv6 addresses. */
const bodyBytes = fc
  .array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 255 })), { maxLength: 1500, size: 'max' })
  .map((b) => Uint8Array.from(b));

describe('compiled reader of a fixed-length template', () => {
  it('decodes what walking the plan decodes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('v9' as const, 'ipfix' as const),
        fc.constantFrom('data' as const, 'options' as const),
        fc.array(field, { minLength: 1, maxLength: 30 }),
        fc.nat({ max: 2 }),
        bodyBytes,
        fc.constantFrom(-1, 0, 3_600_000, 4_294_000_000),
        (protocol, kind, fields, scopeCount, body, uptimeMs) => {
          const list = {
            count: fields.length,
            types: fields.map((f) => f.type),
            lengths: fields.map((f) => f.length),
            pens: fields.map((f) => (f.enterprise && protocol === 'ipfix' ? 9 : 0)),
          };
          const walked = compilePlan(protocol, list, Math.min(scopeCount, fields.length));
          const compiled = compilePlan(protocol, list, Math.min(scopeCount, fields.length));
          if (typeof walked === 'string' || typeof compiled === 'string') return;
          walked.reader = null;
          const a = decodeOnce(protocol, walked, kind, body, uptimeMs);
          const b = decodeOnce(protocol, compiled, kind, body, uptimeMs);
          expect(typeof b.reader).toBe('function');
          expect(b.records).toEqual(a.records);
          expect(b.res).toEqual(a.res);
          expect(b.sampler).toEqual(a.sampler);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('leaves a template with a variable-length field to the plan walk', () => {
    const plan = compilePlan(
      'ipfix',
      {
        count: 2,
        types: [IE.octetDeltaCount, 82],
        lengths: [8, VARIABLE_LENGTH],
        pens: [0, 0],
      },
      0,
    );
    if (typeof plan === 'string') throw new Error(plan);
    const body = new Uint8Array([0, 0, 0, 0, 0, 0, 1, 0, 3, 101, 116, 104]);
    const run = decodeOnce('ipfix', plan, 'data', body, -1);
    expect(run.reader).toBeNull();
    expect(run.records).toHaveLength(1);
    expect((run.records[0] as FlowRecord).bytes).toBe(256);
  });
});
