import { describe, expect, it } from 'vitest';
import { IE } from '../../../src/ingest/netflow/elements.js';
import { decodeIpfix, decodeNetflow, TemplateRegistry } from '../../../src/ingest/netflow/index.js';
import { type FlowRecord, newFlowRecord } from '../../../src/ingest/types.js';
import {
  Bytes,
  concat,
  type FieldSpec,
  ipfix,
  ipfixOptionsTemplate,
  NOW_MS,
  rec,
  set,
  template,
} from '../../fixtures/netflow-build.js';

const EXPORT_MS = 1_700_000_000_000;
const NTP_OFFSET = 2_208_988_800;

function decoder(registry = new TemplateRegistry()) {
  const out: FlowRecord[] = [];
  const record = newFlowRecord();
  const decode = (buf: Uint8Array, nowMs = NOW_MS) =>
    decodeIpfix(buf, { exporter: '192.0.2.1', registry, nowMs, record }, (r) =>
      out.push({ ...r, srcAddr: r.srcAddr.slice(), dstAddr: r.dstAddr.slice() }),
    );
  return { decode, out, registry };
}

/** One-template-one-record message: decode it and return the record. */
function single(fields: FieldSpec[], data: Uint8Array, header = {}) {
  const d = decoder();
  const res = d.decode(ipfix(header, set(2, template(256, fields)), set(256, data)));
  return { res, r: d.out[0] };
}

/** NTP timestamp bytes for a Unix ms value. */
function ntp(ms: number): number[] {
  const secs = Math.floor(ms / 1000) + NTP_OFFSET;
  const frac = Math.round(((ms % 1000) / 1000) * 2 ** 32);
  return [...new Bytes().u32(secs).u32(frac).build()];
}

describe('IPFIX', () => {
  it('decodes header, template and data; reports the header sequence', () => {
    const fields: FieldSpec[] = [
      [IE.sourceIPv4Address, 4],
      [IE.destinationIPv4Address, 4],
      [IE.octetDeltaCount, 8],
      [IE.packetDeltaCount, 8],
      [IE.flowStartMilliseconds, 8],
      [IE.flowEndMilliseconds, 8],
      [IE.bgpSourceAsNumber, 4],
      [IE.bgpDestinationAsNumber, 4],
    ];
    const data = rec(
      ['198.51.100.1', 4],
      ['203.0.113.5', 4],
      [5000, 8],
      [4, 8],
      [EXPORT_MS - 2000, 8],
      [EXPORT_MS - 1000, 8],
      [64496, 4],
      [13335, 4],
    );
    const { res, r } = single(fields, data, { sequence: 1234, domain: 7 });
    expect(res).toMatchObject({
      protocol: 'ipfix',
      ok: true,
      records: 1,
      sequence: 1234,
      domain: 7,
      exportMs: EXPORT_MS,
      uptimeMs: -1,
      templatesLearned: 1,
    });
    expect(r).toMatchObject({
      ipVersion: 4,
      bytes: 5000,
      packets: 4,
      startMs: EXPORT_MS - 2000,
      endMs: EXPORT_MS - 1000,
      srcAs: 64496,
      dstAs: 13335,
    });
    expect([...r!.dstAddr.slice(0, 4)]).toEqual([203, 0, 113, 5]);
  });

  describe('timestamps', () => {
    it('flowStart/EndSeconds', () => {
      const { r } = single(
        [
          [IE.flowStartSeconds, 4],
          [IE.flowEndSeconds, 4],
        ],
        rec([1_699_999_990, 4], [1_699_999_995, 4]),
      );
      expect(r).toMatchObject({ startMs: 1_699_999_990_000, endMs: 1_699_999_995_000 });
    });

    it('flowStart/EndMicroseconds and Nanoseconds (NTP format)', () => {
      const f = (s: number, e: number): FieldSpec[] => [
        [s, 8],
        [e, 8],
      ];
      const data = rec([ntp(EXPORT_MS - 1500), 8], [ntp(EXPORT_MS - 250), 8]);
      expect(single(f(IE.flowStartMicroseconds, IE.flowEndMicroseconds), data).r).toMatchObject({
        startMs: EXPORT_MS - 1500,
        endMs: EXPORT_MS - 250,
      });
      expect(single(f(IE.flowStartNanoseconds, IE.flowEndNanoseconds), data).r).toMatchObject({
        startMs: EXPORT_MS - 1500,
        endMs: EXPORT_MS - 250,
      });
    });

    it('flowStart/EndDeltaMicroseconds count back from the export time', () => {
      const { r } = single(
        [
          [IE.flowStartDeltaMicroseconds, 4],
          [IE.flowEndDeltaMicroseconds, 4],
        ],
        rec([3_000_000, 4], [500_000, 4]),
      );
      expect(r).toMatchObject({ startMs: EXPORT_MS - 3000, endMs: EXPORT_MS - 500 });
    });

    it('flowStart/EndSysUpTime with systemInitTimeMilliseconds from options data', () => {
      const d = decoder();
      d.decode(
        ipfix(
          {},
          set(
            3,
            ipfixOptionsTemplate(300, 1, [
              [143, 4], // meteringProcessId (scope)
              [IE.systemInitTimeMilliseconds, 8],
            ]),
          ),
          set(300, rec([1, 4], [EXPORT_MS - 60_000, 8])),
          set(
            2,
            template(256, [
              [IE.flowStartSysUpTime, 4],
              [IE.flowEndSysUpTime, 4],
            ]),
          ),
          set(256, rec([10_000, 4], [12_000, 4])),
        ),
      );
      expect(d.out[0]).toMatchObject({ startMs: EXPORT_MS - 50_000, endMs: EXPORT_MS - 48_000 });
    });

    it('flowStart/EndSysUpTime without a known init time: anchored to end at export time', () => {
      const { r } = single(
        [
          [IE.flowStartSysUpTime, 4],
          [IE.flowEndSysUpTime, 4],
        ],
        rec([10_000, 4], [12_000, 4]),
      );
      expect(r).toMatchObject({ startMs: EXPORT_MS - 2000, endMs: EXPORT_MS });
    });

    it('no timestamps at all: start = end = export time; only one end: both the same', () => {
      expect(single([[IE.octetDeltaCount, 4]], rec([1, 4])).r).toMatchObject({
        startMs: EXPORT_MS,
        endMs: EXPORT_MS,
      });
      expect(single([[IE.flowEndSeconds, 4]], rec([1_699_999_000, 4])).r).toMatchObject({
        startMs: 1_699_999_000_000,
        endMs: 1_699_999_000_000,
      });
    });

    it('the most precise absolute start wins when a template carries several', () => {
      const { r } = single(
        [
          [IE.flowStartSeconds, 4],
          [IE.flowStartMilliseconds, 8],
          [IE.flowEndMilliseconds, 8],
        ],
        rec([1, 4], [EXPORT_MS - 1234, 8], [EXPORT_MS, 8]),
      );
      expect(r!.startMs).toBe(EXPORT_MS - 1234);
    });
  });

  describe('variable-length fields', () => {
    it('1-byte and 3-byte length prefixes; numeric elements sent as variable length still decode', () => {
      const fields: FieldSpec[] = [
        [82, 65535], // interfaceName, variable
        [IE.octetDeltaCount, 65535],
        [IE.sourceTransportPort, 2],
      ];
      const long = new Array(300).fill(0x41);
      const data = concat(
        new Bytes().u8(3).bytes([0x61, 0x62, 0x63]).u8(4).u32(777).u16(53).build(),
        new Bytes().u8(255).u16(300).bytes(long).u8(2).u16(999).u16(54).build(),
      );
      const d = decoder();
      const res = d.decode(ipfix({}, set(2, template(256, fields)), set(256, data)));
      expect(res).toMatchObject({ ok: true, records: 2, skipped: {} });
      expect(d.out.map((r) => [r.bytes, r.srcPort])).toEqual([
        [777, 53],
        [999, 54],
      ]);
    });

    it('a zero-length variable field is valid', () => {
      const d = decoder();
      d.decode(
        ipfix(
          {},
          set(
            2,
            template(256, [
              [82, 65535],
              [IE.octetDeltaCount, 4],
            ]),
          ),
          set(256, new Bytes().u8(0).u32(5).build()),
        ),
      );
      expect(d.out[0]!.bytes).toBe(5);
    });
  });

  it('enterprise-specific fields are skipped (their bytes consumed) and counted', () => {
    const fields: FieldSpec[] = [
      [IE.octetDeltaCount, 4, 29305], // reverse octetDeltaCount (RFC 5103): not ours
      [1000, 6, 9],
      [IE.octetDeltaCount, 4],
    ];
    const { res, r } = single(fields, rec([111, 4], [0, 6], [222, 4]));
    expect(res).toMatchObject({ ok: true, ignored: 2 });
    expect(r!.bytes).toBe(222);
  });

  it('template withdrawal is ignored over UDP (counted), the template stays', () => {
    const d = decoder();
    d.decode(ipfix({}, set(2, template(256, [[IE.octetDeltaCount, 4]]))));
    const res = d.decode(ipfix({}, set(2, template(256, [], 0)), set(256, rec([9, 4]))));
    expect(res).toMatchObject({ ok: true, ignored: 1, records: 1 });
  });

  describe('sampling', () => {
    it('selectorId scope with samplingPacketInterval/Space', () => {
      const d = decoder();
      d.decode(
        ipfix(
          {},
          set(
            3,
            ipfixOptionsTemplate(400, 1, [
              [IE.selectorId, 8],
              [IE.samplingPacketInterval, 4],
              [IE.samplingPacketSpace, 4],
              [IE.selectorAlgorithm, 2],
            ]),
          ),
          set(400, concat(rec([17, 8], [1, 4], [1023, 4], [1, 2]), rec([18, 8], [2, 4], [8, 4], [1, 2]))),
          set(
            2,
            template(256, [
              [IE.octetDeltaCount, 4],
              [IE.selectorId, 2],
            ]),
          ),
          set(256, concat(rec([1, 4], [17, 2]), rec([1, 4], [18, 2]), rec([1, 4], [19, 2]))),
        ),
      );
      expect(d.out.map((r) => r.samplingRate)).toEqual([1024, 5, 0]);
    });

    it('samplingProbability (float64) in options without selector: source default', () => {
      const d = decoder();
      const prob = new Bytes().bytes(new Uint8Array(new Float64Array([0.01]).buffer).reverse()).build();
      d.decode(
        ipfix(
          {},
          set(
            3,
            ipfixOptionsTemplate(400, 1, [
              [143, 4],
              [IE.samplingProbability, 8],
            ]),
          ),
          set(400, concat(rec([1, 4]), prob)),
          set(2, template(256, [[IE.octetDeltaCount, 4]])),
          set(256, rec([1, 4])),
        ),
      );
      expect(d.out[0]!.samplingRate).toBeCloseTo(100, 9);
    });

    it('samplingInterval in the data record itself', () => {
      const { r } = single(
        [
          [IE.octetDeltaCount, 4],
          [IE.samplingInterval, 4],
        ],
        rec([1, 4], [2048, 4]),
      );
      expect(r!.samplingRate).toBe(2048);
    });
  });

  it('an IPv6 field with value :: does not override an IPv4 address of the same record', () => {
    const { r } = single(
      [
        [IE.sourceIPv4Address, 4],
        [IE.sourceIPv6Address, 16],
        [IE.destinationIPv6Address, 16],
        [IE.destinationIPv4Address, 4],
      ],
      rec(['10.1.1.1', 4], [new Array(16).fill(0), 16], [new Array(16).fill(0), 16], ['10.2.2.2', 4]),
    );
    expect(r!.ipVersion).toBe(4);
    expect([...r!.srcAddr.slice(0, 4)]).toEqual([10, 1, 1, 1]);
    expect([...r!.dstAddr.slice(0, 4)]).toEqual([10, 2, 2, 2]);
  });

  it('honours the byteOffset of a view into a larger buffer', () => {
    const d = decoder();
    const inner = ipfix(
      { sequence: 8 },
      set(2, template(256, [[IE.octetDeltaCount, 4]])),
      set(256, rec([31, 4])),
    );
    const big = concat(new Uint8Array(5), inner, new Uint8Array(11));
    expect(d.decode(big.subarray(5, 5 + inner.length))).toMatchObject({ ok: true, records: 1, sequence: 8 });
    expect(d.out[0]!.bytes).toBe(31);
  });

  it('dispatches through decodeNetflow', () => {
    const ctx = { exporter: 'e', registry: new TemplateRegistry(), nowMs: NOW_MS, record: newFlowRecord() };
    const buf = ipfix({}, set(2, template(256, [[IE.octetDeltaCount, 4]])), set(256, rec([1, 4])));
    expect(decodeNetflow(buf, ctx, () => {})).toMatchObject({ protocol: 'ipfix', ok: true, records: 1 });
  });
});
