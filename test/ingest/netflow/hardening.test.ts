/**
 * Hostile and broken input, built byte by byte. Every case must end in a DecodeResult (never a
 * throw), and whatever is skipped must be counted under a reason.
 */
import { describe, expect, it } from 'vitest';
import { IE } from '../../../src/ingest/netflow/elements.js';
import { decodeNetflow, TemplateRegistry } from '../../../src/ingest/netflow/index.js';
import { type FlowRecord, newFlowRecord } from '../../../src/ingest/types.js';
import {
  Bytes,
  concat,
  fixtureDatagrams,
  ipfix,
  ipfixOptionsTemplate,
  NOW_MS,
  rec,
  set,
  template,
  v5,
  v9,
  v9OptionsTemplate,
} from '../../fixtures/netflow-build.js';

function decoder(registry = new TemplateRegistry()) {
  const out: FlowRecord[] = [];
  const record = newFlowRecord();
  const decode = (buf: Uint8Array, nowMs = NOW_MS) =>
    decodeNetflow(buf, { exporter: '192.0.2.1', registry, nowMs, record }, (r) => out.push({ ...r }));
  return { decode, out, registry };
}
const once = (buf: Uint8Array, nowMs = NOW_MS) => decoder().decode(buf, nowMs);

const bytes4 = template(256, [[IE.octetDeltaCount, 4]]);

describe.each([
  ['v9', (...sets: Uint8Array[]) => v9({}, ...sets), 0, 1],
  ['ipfix', (...sets: Uint8Array[]) => ipfix({}, ...sets), 2, 3],
] as const)('%s set framing', (_name, message, TEMPLATE, OPTIONS) => {
  it('set length 0 rejects the datagram (no progress possible)', () => {
    expect(once(message(set(TEMPLATE, bytes4), set(256, new Uint8Array(4), 0)))).toMatchObject({
      ok: false,
      reason: 'bad_length',
      records: 0,
    });
  });

  it.each([1, 2, 3])('set length %i (< 4) rejects the datagram', (len) => {
    expect(once(message(set(TEMPLATE, bytes4), set(256, rec([1, 4]), len)))).toMatchObject({
      ok: false,
      reason: 'bad_length',
    });
  });

  it('set length beyond the datagram rejects it, and nothing is emitted or learned', () => {
    const d = decoder();
    const res = d.decode(message(set(TEMPLATE, bytes4), set(256, rec([1, 4]), 9)));
    expect(res).toMatchObject({ ok: false, reason: 'bad_length', records: 0, templatesLearned: 0 });
    expect(d.registry.size).toBe(0);
  });

  it('trailing bytes shorter than a set header are tolerated as padding', () => {
    // message() counts every part in the IPFIX length, so the padding is inside the message.
    const buf = message(set(TEMPLATE, bytes4), set(256, rec([1, 4])), new Uint8Array(3));
    expect(once(buf)).toMatchObject({ ok: true, records: 1 });
  });

  it('template with total record length 0 is refused; its data set is then unknown', () => {
    const zero = template(256, [
      [IE.octetDeltaCount, 0],
      [IE.packetDeltaCount, 0],
    ]);
    expect(once(message(set(TEMPLATE, zero), set(256, rec([1, 4]))))).toMatchObject({
      ok: true,
      records: 0,
      skipped: { bad_template: 1, unknown_template: 1 },
    });
  });

  it('field length 0 is accepted as an empty field (it reads nothing)', () => {
    const t = template(256, [
      [IE.octetDeltaCount, 0],
      [IE.packetDeltaCount, 4],
    ]);
    const d = decoder();
    expect(d.decode(message(set(TEMPLATE, t), set(256, rec([9, 4]))))).toMatchObject({
      ok: true,
      records: 1,
    });
    expect(d.out[0]).toMatchObject({ bytes: 0, packets: 9 });
  });

  it('field count overrunning the set abandons the rest of that set only', () => {
    const overrun = template(257, [[IE.octetDeltaCount, 4]], 50);
    const res = once(message(set(TEMPLATE, concat(bytes4, overrun)), set(256, rec([1, 4]))));
    expect(res).toMatchObject({ ok: true, records: 1, templatesLearned: 1, skipped: { bad_template: 1 } });
  });

  it('field count 65535 in a tiny set: no allocation from it, counted', () => {
    const res = once(message(set(TEMPLATE, new Bytes().u16(256).u16(65535).u16(1).u16(4).build())));
    expect(res.ok).toBe(true);
    expect(Object.keys(res.skipped)).toEqual(['too_many']);
  });

  it('more fields than the per-template limit (512)', () => {
    const wide = template(
      256,
      Array.from({ length: 513 }, () => [IE.octetDeltaCount, 1] as [number, number]),
    );
    expect(once(message(set(TEMPLATE, wide))).skipped).toEqual({ too_many: 1 });
  });

  it('refused templates leave nothing behind in the registry', () => {
    const d = decoder();
    for (let domain = 0; domain < 100; domain++) {
      const zero = template(256, [[IE.octetDeltaCount, 0]]);
      d.decode(_name === 'v9' ? v9({ sourceId: domain }, set(0, zero)) : ipfix({ domain }, set(2, zero)));
      expect(d.registry.findSource(_name, '192.0.2.1', domain)).toBeUndefined();
    }
    expect(d.registry.export()).toEqual([]);
  });

  it('template id below 256 is refused', () => {
    expect(once(message(set(TEMPLATE, template(255, [[IE.octetDeltaCount, 4]])))).skipped).toEqual({
      bad_template: 1,
    });
  });

  it('data set shorter than one record is counted as truncated', () => {
    const res = once(message(set(TEMPLATE, bytes4), set(256, rec([1, 2]))));
    expect(res).toMatchObject({ ok: true, records: 0, skipped: { truncated: 1 } });
  });

  it('template id collision between data and options templates: the newer one wins', () => {
    const d = decoder();
    const opts =
      _name === 'v9'
        ? v9OptionsTemplate(256, [[1, 4]], [[IE.samplingInterval, 4]])
        : ipfixOptionsTemplate(256, 1, [
            [143, 4],
            [IE.samplingInterval, 4],
          ]);
    const res = d.decode(message(set(TEMPLATE, bytes4), set(OPTIONS, opts), set(256, rec([0, 4], [50, 4]))));
    expect(res).toMatchObject({ ok: true, records: 0, templatesLearned: 2 });
    expect(d.registry.size).toBe(1);
    expect(d.decode(message(set(TEMPLATE, bytes4), set(256, rec([3, 4])))).records).toBe(1);
    expect(d.out[0]).toMatchObject({ bytes: 3, samplingRate: 50 });
  });

  it('absurd timestamps: end before start clamped; far future or far past dropped and counted', () => {
    const t = template(256, [
      [IE.flowStartMilliseconds, 8],
      [IE.flowEndMilliseconds, 8],
    ]);
    const exportMs = 1_700_000_000_000; // both builders' default export time
    const d = decoder();
    const res = d.decode(
      message(
        set(TEMPLATE, t),
        set(
          256,
          concat(
            rec([exportMs - 1000, 8], [exportMs - 5000, 8]), // end < start: clamp
            rec([exportMs, 8], [exportMs + 3 * 86_400_000, 8]), // 3 days ahead
            rec([0, 8], [exportMs, 8]), // starts in 1970
            rec([2n ** 63n, 8], [2n ** 64n - 1n, 8]), // clamped counters, year 285 million
          ),
        ),
      ),
    );
    expect(res).toMatchObject({ ok: true, records: 1, skipped: { bad_timestamp: 3 } });
    expect(d.out[0]).toMatchObject({ startMs: exportMs - 5000, endMs: exportMs - 5000 });
  });
});

describe('v9 specifics', () => {
  it('template with 0 fields is bad (v9 has no withdrawal); the next template still parses', () => {
    const res = once(v9({}, set(0, concat(template(300, []), bytes4)), set(256, rec([1, 4]))));
    expect(res).toMatchObject({ ok: true, records: 1, skipped: { bad_template: 1 } });
  });

  it('all-zero padding after templates is not an error', () => {
    expect(once(v9({}, set(0, concat(bytes4, new Uint8Array(4))))).skipped).toEqual({});
  });

  it('options template: scope length 0 accepted; lengths not multiple of 4 refused', () => {
    expect(once(v9({}, set(1, v9OptionsTemplate(300, [], [[IE.samplingInterval, 4]]))))).toMatchObject({
      templatesLearned: 1,
      skipped: {},
    });
    const odd = new Bytes().u16(300).u16(3).u16(4).u16(1).u16(4).u16(34).u16(4).build();
    expect(once(v9({}, set(1, odd))).skipped).toEqual({ bad_template: 1 });
    const empty = new Bytes().u16(300).u16(0).u16(0).build();
    expect(once(v9({}, set(1, concat(empty, new Uint8Array(2))))).skipped).toEqual({ bad_template: 1 });
  });

  it('options template fields overrunning the set', () => {
    const over = new Bytes().u16(300).u16(4).u16(400).u16(1).u16(4).build();
    expect(once(v9({}, set(1, over))).skipped).toEqual({ bad_template: 1 });
  });

  it('a field of length 65535 (variable in IPFIX, impossible in v9) is refused', () => {
    const t = template(256, [
      [IE.octetDeltaCount, 4],
      [82, 65535],
    ]);
    expect(once(v9({}, set(0, t), set(256, rec([1, 4], [0, 1])))).skipped).toEqual({
      bad_template: 1,
      unknown_template: 1,
    });
  });

  it('header count larger than the content is not trusted', () => {
    expect(once(v9({ count: 65535 }, set(0, bytes4), set(256, rec([1, 4]))))).toMatchObject({
      ok: true,
      records: 1,
    });
  });

  it('truncated header', () => {
    expect(once(v9({}).subarray(0, 19))).toMatchObject({ ok: false, reason: 'truncated', protocol: 'v9' });
  });
});

describe('IPFIX specifics', () => {
  it('message length must equal the datagram length', () => {
    const good = ipfix({}, set(2, bytes4), set(256, rec([1, 4])));
    expect(once(ipfix({ length: good.length + 1 }, set(2, bytes4), set(256, rec([1, 4]))))).toMatchObject({
      ok: false,
      reason: 'bad_length',
    });
    expect(once(ipfix({ length: good.length - 4 }, set(2, bytes4), set(256, rec([1, 4]))))).toMatchObject({
      ok: false,
      reason: 'bad_length',
    });
    expect(once(ipfix({ length: 0 }))).toMatchObject({ ok: false, reason: 'bad_length' });
    expect(once(good.subarray(0, 15))).toMatchObject({ ok: false, reason: 'truncated' });
  });

  it('template with 0 fields is a withdrawal: ignored over UDP, counted', () => {
    expect(once(ipfix({}, set(2, template(256, []))))).toMatchObject({ ok: true, ignored: 1, skipped: {} });
  });

  it('options template with scope count 0 or above the field count is refused (RFC 7011 §3.4.2.2)', () => {
    const zero = ipfixOptionsTemplate(300, 0, [[IE.samplingInterval, 4]]);
    const above = ipfixOptionsTemplate(301, 2, [[IE.samplingInterval, 4]]);
    const ok = ipfixOptionsTemplate(302, 1, [
      [IE.selectorId, 4],
      [IE.samplingInterval, 4],
    ]);
    expect(once(ipfix({}, set(3, concat(zero, above, ok))))).toMatchObject({
      templatesLearned: 1,
      skipped: { bad_template: 2 },
    });
  });

  it('options template header cut by the set end', () => {
    expect(once(ipfix({}, set(3, new Bytes().u16(300).u16(1).build()))).skipped).toEqual({ bad_template: 1 });
  });

  it('enterprise number cut by the set end', () => {
    const cut = new Bytes()
      .u16(256)
      .u16(1)
      .u16(0x8000 | 5)
      .u16(4)
      .u16(0)
      .build();
    expect(once(ipfix({}, set(2, cut))).skipped).toEqual({ bad_template: 1 });
  });

  it('variable-length field past the set end: earlier records kept, the rest counted', () => {
    const t = template(256, [
      [IE.octetDeltaCount, 4],
      [82, 65535],
    ]);
    const data = concat(
      new Bytes().u32(1).u8(2).u16(0).build(), // ok
      new Bytes().u32(2).u8(200).u16(0).build(), // says 200 bytes, has 2
    );
    const res = once(ipfix({}, set(2, t), set(256, data)));
    expect(res).toMatchObject({ ok: true, records: 1, skipped: { truncated: 1 } });
    const long = new Bytes().u32(2).u8(255).build(); // 3-byte length form cut after its first byte
    expect(once(ipfix({}, set(2, t), set(256, long))).skipped).toEqual({ truncated: 1 });
  });

  it('many tiny records are bounded by the datagram: 1-byte records', () => {
    const t = template(256, [[IE.protocolIdentifier, 1]]);
    const res = once(ipfix({}, set(2, t), set(256, new Uint8Array(60_000).fill(6))));
    expect(res).toMatchObject({ ok: true, records: 60_000 });
  });
});

describe('v5 specifics', () => {
  it('record count larger than the bytes allow', () => {
    expect(once(v5({ count: 30 }, [{}]))).toMatchObject({ ok: false, reason: 'truncated', records: 0 });
    expect(once(v5({ count: 65535 }, [{}]))).toMatchObject({ ok: false, reason: 'bad_length' });
  });
});

describe('every prefix of every fixture datagram', () => {
  const names = [
    'fprobe-v5',
    'nfreplay-v5',
    'softflowd-v5',
    'nfreplay-v9',
    'softflowd-v9',
    'softflowd-v10',
    'pmacct',
    'python-ipfix',
  ];
  it.each(names)('%s: no throw, bounded records, cold and warm registry', (name) => {
    const datagrams = fixtureDatagrams(name);
    const warm = new TemplateRegistry();
    const record = newFlowRecord();
    for (const d of datagrams) {
      decodeNetflow(d.payload, { exporter: d.exporter, registry: warm, nowMs: d.tsMs, record }, () => {});
    }
    for (const d of datagrams) {
      for (let len = 0; len < d.payload.length; len++) {
        const prefix = d.payload.subarray(0, len);
        for (const registry of [warm, new TemplateRegistry()]) {
          const res = decodeNetflow(
            prefix,
            { exporter: d.exporter, registry, nowMs: d.tsMs, record },
            () => {},
          );
          expect(res.records).toBeLessThanOrEqual(len);
          if (res.protocol === 'ipfix' && len >= 2) expect(res.ok).toBe(false);
        }
      }
    }
  });
});
