import { describe, expect, it } from 'vitest';
import { decodeNetflow, decodeV5, TemplateRegistry } from '../../../src/ingest/netflow/index.js';
import { type FlowRecord, newFlowRecord } from '../../../src/ingest/types.js';
import { concat, NOW_MS, v5 } from '../../fixtures/netflow-build.js';

function run(buf: Uint8Array, nowMs = NOW_MS) {
  const out: FlowRecord[] = [];
  const ctx = { exporter: '192.0.2.1', registry: new TemplateRegistry(), nowMs, record: newFlowRecord() };
  const res = decodeV5(buf, ctx, (r) =>
    out.push({ ...r, srcAddr: r.srcAddr.slice(), dstAddr: r.dstAddr.slice() }),
  );
  return { res, out };
}

describe('NetFlow v5', () => {
  it('decodes header and records', () => {
    const buf = v5(
      { uptime: 100_000, secs: 1_700_000_000, nsecs: 250_000_000, sequence: 77, engineType: 1, engineId: 2 },
      [
        {
          src: '10.1.2.3',
          dst: '192.0.2.9',
          inIf: 3,
          outIf: 4,
          packets: 5,
          bytes: 6000,
          first: 90_000,
          last: 99_000,
          srcPort: 443,
          dstPort: 51000,
          proto: 6,
          srcAs: 13335,
          dstAs: 64500,
        },
      ],
    );
    const { res, out } = run(buf);
    expect(res).toMatchObject({
      protocol: 'v5',
      ok: true,
      records: 1,
      domain: 0x0102,
      sequence: 77,
      uptimeMs: 100_000,
      exportMs: 1_700_000_000_250,
    });
    const r = out[0]!;
    expect([...r.srcAddr.slice(0, 4)]).toEqual([10, 1, 2, 3]);
    expect([...r.dstAddr.slice(0, 4)]).toEqual([192, 0, 2, 9]);
    expect(r).toMatchObject({
      ipVersion: 4,
      inIf: 3,
      outIf: 4,
      packets: 5,
      bytes: 6000,
      srcPort: 443,
      dstPort: 51000,
      proto: 6,
      srcAs: 13335,
      dstAs: 64500,
      samplingRate: 1,
      startMs: 1_700_000_000_250 - 10_000,
      endMs: 1_700_000_000_250 - 1_000,
    });
  });

  it('sampling: low 14 bits are the interval, top 2 bits the mode; 0 means unsampled (1)', () => {
    expect(run(v5({ sampling: 0 }, [{}])).out[0]!.samplingRate).toBe(1);
    expect(run(v5({ sampling: (1 << 14) | 100 }, [{}])).out[0]!.samplingRate).toBe(100);
    expect(run(v5({ sampling: (2 << 14) | 0x3fff }, [{}])).out[0]!.samplingRate).toBe(0x3fff);
  });

  it('uptime wraparound: a flow that started before the 32-bit uptime wrapped stays in the past', () => {
    const { out } = run(v5({ uptime: 5_000 }, [{ first: 0xffff_ffff - 4_999, last: 1_000 }]));
    expect(out[0]!.startMs).toBe(1_700_000_000_000 - 10_000);
    expect(out[0]!.endMs).toBe(1_700_000_000_000 - 4_000);
  });

  it('last switched slightly after the header uptime is a little in the future, not 49 days back', () => {
    const { out } = run(v5({ uptime: 5_000 }, [{ first: 4_000, last: 5_500 }]));
    expect(out[0]!.endMs).toBe(1_700_000_000_500);
  });

  it('count 0 is a valid empty datagram; trailing bytes after the records are ignored', () => {
    expect(run(v5({}, [])).res).toMatchObject({ ok: true, records: 0 });
    const padded = concat(v5({}, [{}]), new Uint8Array(7));
    expect(run(padded).res).toMatchObject({ ok: true, records: 1 });
  });

  it('length rules: short header, count > 30, fewer bytes than count × 48', () => {
    expect(run(v5({}, []).subarray(0, 23)).res).toMatchObject({ ok: false, reason: 'truncated' });
    expect(run(v5({ count: 31 }, Array(31).fill({}))).res).toMatchObject({ ok: false, reason: 'bad_length' });
    const short = v5({ count: 3 }, [{}, {}]);
    expect(run(short).res).toMatchObject({ ok: false, reason: 'truncated', records: 0 });
    expect(run(v5({}, [{}, {}]).subarray(0, 24 + 48 + 47)).res).toMatchObject({
      ok: false,
      reason: 'truncated',
    });
  });

  it('30 records is the maximum accepted', () => {
    expect(run(v5({}, Array(30).fill({}))).res).toMatchObject({ ok: true, records: 30 });
  });

  it('honours the byteOffset of a view into a larger buffer', () => {
    const inner = v5({ sequence: 9 }, [{ bytes: 4242 }]);
    const big = concat(new Uint8Array(13).fill(0xee), inner, new Uint8Array(5).fill(0xee));
    const { res, out } = run(big.subarray(13, 13 + inner.length));
    expect(res).toMatchObject({ ok: true, sequence: 9, records: 1 });
    expect(out[0]!.bytes).toBe(4242);
  });

  it('records with absurd timestamps are dropped and counted', () => {
    // Receive time far later than the export: older than the 3-year window.
    const old = run(v5({}, [{}, {}]), NOW_MS + 4 * 365 * 86_400_000);
    expect(old.res).toMatchObject({ ok: true, records: 0, skipped: { bad_timestamp: 2 } });
    // Receive time 2 days before the export: more than 1 day ahead.
    const ahead = run(v5({}, [{}]), NOW_MS - 2 * 86_400_000);
    expect(ahead.res).toMatchObject({ ok: true, records: 0, skipped: { bad_timestamp: 1 } });
  });

  it('end before start is clamped: start = end', () => {
    const { out } = run(v5({}, [{ first: 99_000, last: 95_000 }]));
    expect(out[0]!.startMs).toBe(out[0]!.endMs);
  });

  it('reuses the context record for every flow', () => {
    const record = newFlowRecord();
    const seen = new Set<FlowRecord>();
    const ctx = { exporter: 'x', registry: new TemplateRegistry(), nowMs: NOW_MS, record };
    decodeNetflow(v5({}, [{}, {}, {}]), ctx, (r) => seen.add(r));
    expect([...seen]).toEqual([record]);
  });
});
