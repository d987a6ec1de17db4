import { describe, expect, it } from 'vitest';
import { IE } from '../../../src/ingest/netflow/elements.js';
import { decodeNetflow, decodeV9, TemplateRegistry } from '../../../src/ingest/netflow/index.js';
import { type FlowRecord, newFlowRecord } from '../../../src/ingest/types.js';
import {
  addr6,
  concat,
  type FieldSpec,
  NOW_MS,
  rec,
  set,
  template,
  v9,
  v9OptionsTemplate,
} from '../../fixtures/netflow-build.js';

const EXPORT_MS = 1_700_000_000_000;

function decoder(registry = new TemplateRegistry()) {
  const out: FlowRecord[] = [];
  const record = newFlowRecord();
  const decode = (buf: Uint8Array, nowMs = NOW_MS, exporter = '192.0.2.1') =>
    decodeV9(buf, { exporter, registry, nowMs, record }, (r) =>
      out.push({ ...r, srcAddr: r.srcAddr.slice(), dstAddr: r.dstAddr.slice() }),
    );
  return { decode, out, registry };
}

/** IPv4 5-tuple template with v9 uptime-relative times. */
const V4_FIELDS: FieldSpec[] = [
  [IE.sourceIPv4Address, 4],
  [IE.destinationIPv4Address, 4],
  [IE.sourceTransportPort, 2],
  [IE.destinationTransportPort, 2],
  [IE.protocolIdentifier, 1],
  [IE.octetDeltaCount, 4],
  [IE.packetDeltaCount, 4],
  [IE.flowStartSysUpTime, 4],
  [IE.flowEndSysUpTime, 4],
  [IE.ingressInterface, 2],
  [IE.egressInterface, 2],
  [IE.bgpSourceAsNumber, 4],
  [IE.bgpDestinationAsNumber, 4],
];

function v4Record(bytes = 1500, srcPort = 1234): Uint8Array {
  return rec(
    ['10.0.0.1', 4],
    ['10.0.0.2', 4],
    [srcPort, 2],
    [443, 2],
    [6, 1],
    [bytes, 4],
    [3, 4],
    [90_000, 4],
    [99_000, 4],
    [7, 2],
    [8, 2],
    [64500, 4],
    [13335, 4],
  );
}

describe('NetFlow v9', () => {
  it('learns a template and decodes data in the same packet', () => {
    const { decode, out } = decoder();
    const buf = v9(
      { uptime: 100_000, secs: 1_700_000_000, sequence: 5, sourceId: 42 },
      set(0, template(256, V4_FIELDS)),
      set(256, concat(v4Record(1500, 1), v4Record(2500, 2))),
    );
    const res = decode(buf);
    expect(res).toMatchObject({
      protocol: 'v9',
      ok: true,
      records: 2,
      domain: 42,
      sequence: 5,
      uptimeMs: 100_000,
      exportMs: EXPORT_MS,
      templatesLearned: 1,
      skipped: {},
    });
    expect([...out[0]!.srcAddr.slice(0, 4)]).toEqual([10, 0, 0, 1]);
    expect(out[0]).toMatchObject({
      ipVersion: 4,
      srcPort: 1,
      dstPort: 443,
      proto: 6,
      bytes: 1500,
      packets: 3,
      startMs: EXPORT_MS - 10_000,
      endMs: EXPORT_MS - 1_000,
      inIf: 7,
      outIf: 8,
      srcAs: 64500,
      dstAs: 13335,
      samplingRate: 0,
    });
    expect(out[1]).toMatchObject({ srcPort: 2, bytes: 2500 });
  });

  it('data before its template: the set is skipped and counted, the rest decoded', () => {
    const { decode, out } = decoder();
    const res = decode(v9({}, set(256, v4Record()), set(0, template(256, V4_FIELDS)), set(256, v4Record())));
    expect(res).toMatchObject({ ok: true, records: 1, skipped: { unknown_template: 1 } });
    expect(decode(v9({}, set(256, v4Record()))).records).toBe(1);
    expect(out).toHaveLength(2);
  });

  it('templates are per exporter and per source id', () => {
    const { decode } = decoder();
    decode(v9({ sourceId: 1 }, set(0, template(256, V4_FIELDS))));
    expect(decode(v9({ sourceId: 2 }, set(256, v4Record()))).skipped).toEqual({ unknown_template: 1 });
    expect(decode(v9({ sourceId: 1 }, set(256, v4Record())), NOW_MS, '192.0.2.2').skipped).toEqual({
      unknown_template: 1,
    });
    expect(decode(v9({ sourceId: 1 }, set(256, v4Record()))).records).toBe(1);
  });

  it('a redefinition replaces the template', () => {
    const { decode, out } = decoder();
    decode(v9({}, set(0, template(256, V4_FIELDS))));
    decode(v9({}, set(0, template(256, [[IE.octetDeltaCount, 8]])), set(256, rec([123456789012, 8]))));
    expect(out.at(-1)!.bytes).toBe(123456789012);
  });

  it('IPv6 addresses and 8-byte counters; counters beyond 2^53 are clamped', () => {
    const { decode, out } = decoder();
    const fields: FieldSpec[] = [
      [IE.sourceIPv6Address, 16],
      [IE.destinationIPv6Address, 16],
      [IE.octetDeltaCount, 8],
      [IE.packetDeltaCount, 8],
    ];
    const data = concat(
      rec([addr6('2001:db8::1'), 16], [addr6('2001:db8::2'), 16], [2n ** 40n, 8], [7, 8]),
      rec([addr6('2001:db8::1'), 16], [addr6('2001:db8::2'), 16], [2n ** 63n, 8], [2n ** 53n, 8]),
    );
    decode(v9({}, set(0, template(300, fields)), set(300, data)));
    expect(out[0]).toMatchObject({ ipVersion: 6, bytes: 2 ** 40, packets: 7 });
    expect([...out[0]!.srcAddr]).toEqual(addr6('2001:db8::1'));
    expect([...out[0]!.dstAddr]).toEqual(addr6('2001:db8::2'));
    expect(out[1]).toMatchObject({ bytes: Number.MAX_SAFE_INTEGER, packets: Number.MAX_SAFE_INTEGER });
  });

  it('reduced-size and odd-size counters (1, 3, 5, 7 bytes) are read big-endian', () => {
    const { decode, out } = decoder();
    const fields: FieldSpec[] = [
      [IE.octetDeltaCount, 3],
      [IE.packetDeltaCount, 1],
      [IE.bgpSourceAsNumber, 5],
      [IE.bgpDestinationAsNumber, 7],
    ];
    decode(
      v9({}, set(0, template(256, fields)), set(256, rec([0x010203, 3], [9, 1], [2 ** 33, 5], [2 ** 50, 7]))),
    );
    expect(out[0]).toMatchObject({ bytes: 0x010203, packets: 9, srcAs: 2 ** 33, dstAs: 2 ** 50 });
  });

  it('IN_BYTES wins over OUT_BYTES, which wins over the total counters', () => {
    const { decode, out } = decoder();
    const fields: FieldSpec[] = [
      [IE.postOctetDeltaCount, 4],
      [IE.octetDeltaCount, 4],
      [IE.octetTotalCount, 4],
      [IE.postPacketDeltaCount, 4],
      [IE.packetTotalCount, 4],
    ];
    decode(v9({}, set(0, template(256, fields)), set(256, rec([1, 4], [2, 4], [3, 4], [4, 4], [5, 4]))));
    expect(out[0]).toMatchObject({ bytes: 2, packets: 4 });
  });

  it('absolute IPFIX timestamps used by v9 exporters (nfdump: flowStartMilliseconds)', () => {
    const { decode, out } = decoder();
    const fields: FieldSpec[] = [
      [IE.flowStartMilliseconds, 8],
      [IE.flowEndMilliseconds, 8],
      [IE.flowStartSysUpTime, 4],
    ];
    decode(
      v9(
        {},
        set(0, template(256, fields)),
        set(256, rec([EXPORT_MS - 5000, 8], [EXPORT_MS - 10, 8], [1, 4])),
      ),
    );
    expect(out[0]).toMatchObject({ startMs: EXPORT_MS - 5000, endMs: EXPORT_MS - 10 });
  });

  it('uptime wraparound between first switched and export', () => {
    const { decode, out } = decoder();
    const fields: FieldSpec[] = [
      [IE.flowStartSysUpTime, 4],
      [IE.flowEndSysUpTime, 4],
    ];
    decode(
      v9({ uptime: 2_000 }, set(0, template(256, fields)), set(256, rec([0xffff_ffff - 999, 4], [1_000, 4]))),
    );
    expect(out[0]).toMatchObject({ startMs: EXPORT_MS - 3_000, endMs: EXPORT_MS - 1_000 });
  });

  describe('sampling', () => {
    const samplerOptions = v9OptionsTemplate(
      260,
      [[1, 4]], // scope: System
      [
        [IE.samplerId, 1],
        [IE.samplerMode, 1],
        [IE.samplerRandomInterval, 4],
      ],
    );
    const withSampler: FieldSpec[] = [
      [IE.octetDeltaCount, 4],
      [IE.samplerId, 1],
    ];

    it('FLOW_SAMPLER_ID in data uses the interval from options data', () => {
      const { decode, out, registry } = decoder();
      decode(
        v9(
          { sourceId: 3 },
          set(1, samplerOptions),
          set(260, concat(rec([0, 4], [5, 1], [2, 1], [1000, 4]), rec([0, 4], [6, 1], [2, 1], [64, 4]))),
          set(0, template(256, withSampler)),
          set(256, concat(rec([100, 4], [5, 1]), rec([100, 4], [6, 1]), rec([100, 4], [7, 1]))),
        ),
      );
      expect(out.map((r) => r.samplingRate)).toEqual([1000, 64, 0]);
      const source = registry.findSource('v9', '192.0.2.1', 3)!;
      expect(registry.samplerRate(source, 5)).toBe(1000);
    });

    it('options scope fields use their own type space: scope "Interface" (2) is not a packet count', () => {
      const { decode, out } = decoder();
      decode(
        v9(
          {},
          set(1, v9OptionsTemplate(257, [[2, 4]], [[IE.samplingInterval, 4]])),
          set(257, rec([99, 4], [10, 4])),
          set(0, template(256, [[IE.octetDeltaCount, 4]])),
          set(256, rec([1, 4])),
        ),
      );
      expect(out[0]).toMatchObject({ samplingRate: 10, packets: 0 });
    });

    it('options without a sampler id set the default of the source (softflowd)', () => {
      const { decode, out } = decoder();
      decode(
        v9(
          {},
          set(
            1,
            v9OptionsTemplate(
              257,
              [[2, 4]],
              [
                [IE.samplingInterval, 4],
                [IE.samplingAlgorithm, 1],
              ],
            ),
          ),
          set(257, rec([0, 4], [512, 4], [2, 1])),
          set(0, template(256, [[IE.octetDeltaCount, 4]])),
          set(256, rec([1, 4])),
        ),
      );
      expect(out[0]!.samplingRate).toBe(512);
    });

    it('a SAMPLING_INTERVAL in the data record itself wins over its sampler', () => {
      const { decode, out } = decoder();
      decode(
        v9(
          {},
          set(1, samplerOptions),
          set(260, rec([0, 4], [5, 1], [2, 1], [1000, 4])),
          set(0, template(256, [...withSampler, [IE.samplingInterval, 2]])),
          set(256, concat(rec([100, 4], [5, 1], [10, 2]), rec([100, 4], [5, 1], [0, 2]))),
        ),
      );
      expect(out.map((r) => r.samplingRate)).toEqual([10, 1000]);
    });

    it('options templates with scope length 0 are accepted (source-wide options)', () => {
      const { decode, out } = decoder();
      const res = decode(
        v9(
          {},
          set(1, v9OptionsTemplate(257, [], [[IE.samplingInterval, 4]])),
          set(257, rec([128, 4])),
          set(0, template(256, [[IE.octetDeltaCount, 4]])),
          set(256, rec([1, 4])),
        ),
      );
      expect(res.skipped).toEqual({});
      expect(out[0]!.samplingRate).toBe(128);
    });

    it('selectorId with samplingPacketInterval/Space and samplingSize/Population', () => {
      const { decode, out } = decoder();
      decode(
        v9(
          {},
          set(
            1,
            v9OptionsTemplate(
              257,
              [[1, 4]],
              [
                [IE.selectorId, 4],
                [IE.samplingPacketInterval, 4],
                [IE.samplingPacketSpace, 4],
                [IE.samplingSize, 4],
                [IE.samplingPopulation, 4],
              ],
            ),
          ),
          set(
            257,
            concat(
              rec([0, 4], [1, 4], [1, 4], [99, 4], [0, 4], [0, 4]),
              rec([0, 4], [2, 4], [0, 4], [0, 4], [10, 4], [1000, 4]),
            ),
          ),
          set(0, template(256, [[IE.selectorId, 4]])),
          set(256, concat(rec([1, 4]), rec([2, 4]))),
        ),
      );
      expect(out.map((r) => r.samplingRate)).toEqual([100, 100]);
    });
  });

  it('honours the byteOffset of a view into a larger buffer', () => {
    const { decode, out } = decoder();
    const inner = v9({ sequence: 3 }, set(0, template(256, V4_FIELDS)), set(256, v4Record(777)));
    const big = concat(new Uint8Array(9).fill(0xff), inner, new Uint8Array(3).fill(0xff));
    expect(decode(big.subarray(9, 9 + inner.length))).toMatchObject({ ok: true, records: 1, sequence: 3 });
    expect(out[0]!.bytes).toBe(777);
  });

  it('template expiry: data after 30 minutes without refresh is unknown; a refresh keeps it', () => {
    const { decode } = decoder();
    decode(v9({}, set(0, template(256, V4_FIELDS))), NOW_MS);
    decode(v9({}, set(0, template(256, V4_FIELDS))), NOW_MS + 20 * 60_000);
    expect(decode(v9({}, set(256, v4Record())), NOW_MS + 45 * 60_000).records).toBe(1);
    expect(decode(v9({}, set(256, v4Record())), NOW_MS + 51 * 60_000).skipped).toEqual({
      unknown_template: 1,
    });
  });

  it('reserved flowset ids 2..255 are ignored and counted', () => {
    const { decode } = decoder();
    expect(decode(v9({}, set(7, new Uint8Array(8))))).toMatchObject({ ok: true, ignored: 1 });
  });

  it('dispatches through decodeNetflow', () => {
    const registry = new TemplateRegistry();
    const ctx = { exporter: 'e', registry, nowMs: NOW_MS, record: newFlowRecord() };
    const res = decodeNetflow(v9({}, set(0, template(256, V4_FIELDS)), set(256, v4Record())), ctx, () => {});
    expect(res).toMatchObject({ protocol: 'v9', records: 1 });
    expect(decodeNetflow(Uint8Array.of(0, 7, 0, 0), ctx, () => {})).toMatchObject({
      protocol: 'unknown',
      ok: false,
      reason: 'bad_version',
    });
  });
});
