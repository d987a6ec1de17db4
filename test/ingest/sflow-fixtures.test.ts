/**
 * Conformance of the sFlow decoder with Wireshark on a real capture (pmacct sfprobe). The
 * reference is tshark's decode reduced to the fields we compare, committed as JSON so the test
 * runs without tshark; when tshark is on PATH the reference itself is re-derived and checked.
 * Regenerate: UPDATE_SFLOW_REF=1 npx vitest run test/ingest/sflow-fixtures.test.ts
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeSflow } from '../../src/ingest/sflow.js';
import { newFlowRecord } from '../../src/ingest/types.js';
import { addrText, readPcapFile } from '../helpers/pcap.js';
import {
  extractSflowReference,
  type RefSample,
  type SflowRefDatagram,
  sflowTsharkArgs,
  tsharkOnPath,
} from '../helpers/tshark.js';

const PCAP = fileURLToPath(new URL('../fixtures/pmacct.pcap', import.meta.url));
const REF = fileURLToPath(new URL('../fixtures/pmacct-sflow.tshark.json', import.meta.url));
const TSHARK_ARGS = sflowTsharkArgs(PCAP);

/** Our decode, shaped like the reference (interfaces use the decoder's "0 = unknown" rule). */
function decodeLikeRef(frame: number, payload: Uint8Array, nowMs: number) {
  const flowSamples: RefSample[] = [];
  const res = decodeSflow(payload, { nowMs, record: newFlowRecord() }, (r) => {
    expect(r.startMs).toBe(nowMs);
    expect(r.endMs).toBe(nowMs);
    expect(r.packets).toBe(1);
    flowSamples.push({
      sequence: -1, // not surfaced by the decoder
      samplingRate: r.samplingRate,
      inIf: r.inIf,
      outIf: r.outIf,
      frameLength: r.bytes,
      src: addrText(r, 'srcAddr'),
      dst: addrText(r, 'dstAddr'),
      srcPort: r.srcPort,
      dstPort: r.dstPort,
      proto: r.proto,
    });
  });
  expect(res.ok, `frame ${frame}: ${res.reason}`).toBe(true);
  return { res, flowSamples };
}

const unknownIf = (v: number): number => (v === 0x3fffffff ? 0 : v);

describe('sFlow v5 decoder vs tshark on pmacct.pcap', () => {
  const datagrams = readPcapFile(PCAP)
    .filter((p) => p.dstPort === 6343)
    .map((p) => p.payload);
  const ref = JSON.parse(readFileSync(REF, 'utf8')) as SflowRefDatagram[];

  it('finds all 85 sFlow datagrams of the capture', () => {
    expect(datagrams).toHaveLength(85);
    expect(ref).toHaveLength(85); // same order: capture order
  });

  it('decodes every datagram and every flow sample like tshark', () => {
    let samples = 0;
    for (const [i, payload] of datagrams.entries()) {
      const want = ref[i]!;
      const { res, flowSamples } = decodeLikeRef(want.frame, payload, 1_700_000_000_000 + i);
      expect(res.agent).toBe(want.agent);
      expect(res.domain).toBe(want.subAgentId);
      expect(res.sequence).toBe(want.sequence);
      expect(res.uptimeMs).toBe(want.uptimeMs);
      expect(res.exportMs).toBe(1_700_000_000_000 + i);
      expect(res.records).toBe(want.flowSamples.length);
      expect(res.ignored).toBe(want.otherSamples);
      expect(res.skipped).toEqual({});
      const expected = want.flowSamples.map((s) => ({
        ...s,
        sequence: -1,
        inIf: unknownIf(s.inIf),
        outIf: unknownIf(s.outIf),
      }));
      expect(flowSamples, `frame ${want.frame}`).toEqual(expected);
      samples += flowSamples.length;
    }
    expect(samples).toBe(662);
  });

  it('committed reference equals a fresh tshark decode', (ctx) => {
    ctx.skip(!tsharkOnPath(), 'tshark not on PATH: cannot re-verify pmacct-sflow.tshark.json');
    const out = execFileSync('tshark', TSHARK_ARGS, { maxBuffer: 1 << 28, encoding: 'utf8' });
    const fresh = extractSflowReference(out);
    if (process.env.UPDATE_SFLOW_REF === '1') writeFileSync(REF, `${JSON.stringify(fresh, null, 1)}\n`);
    expect(fresh).toEqual(ref);
  });
});
