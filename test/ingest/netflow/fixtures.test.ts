/**
 * Conformance: every flow of every reference capture, decoded by us, equals Wireshark's decode
 * (committed as test/fixtures/*.tshark.json, see test/fixtures/README.md). When tshark is on
 * PATH a second test re-runs it and checks the committed references are still what it says;
 * `UPDATE_TSHARK_REF=1 npx vitest run test/ingest/netflow/fixtures.test.ts` rewrites them.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeNetflow, TemplateRegistry } from '../../../src/ingest/netflow/index.js';
import { newFlowRecord } from '../../../src/ingest/types.js';
import { readPcapFile } from '../../helpers/pcap.js';
import {
  cflowClock,
  cflowDomain,
  collectRecords,
  dateToMs,
  decodedFlow,
  type Json,
  num,
  type RefFlow,
  refFlow,
  str,
  tsharkArgs,
  tsharkCommand,
  tsharkOnPath,
  tsharkVersion,
} from '../../helpers/tshark.js';

const FIXTURES_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures');

/** Capture, reference name when not the capture's, protocol and expected totals. */
const FIXTURES = [
  { name: 'fprobe-v5', protocol: 'v5', flows: 20, bytes: 1_812_742 },
  { name: 'nfreplay-v5', protocol: 'v5', flows: 80, bytes: 4_046_568 },
  { name: 'softflowd-v5', protocol: 'v5', flows: 80, bytes: 4_046_568 },
  { name: 'nfreplay-v9', protocol: 'v9', flows: 80, bytes: 4_046_568 },
  { name: 'softflowd-v9', protocol: 'v9', flows: 80, bytes: 4_046_568 },
  { name: 'softflowd-v10', protocol: 'ipfix', flows: 80, bytes: 4_046_568 },
  { name: 'pmacct', ref: 'pmacct-ipfix', protocol: 'ipfix', flows: 80, bytes: 4_046_568 },
  { name: 'python-ipfix', protocol: 'ipfix', flows: 30, bytes: 465_000 },
  { name: 'softflowd-v5-sampled', protocol: 'v5', flows: 13, bytes: 27_897 },
  { name: 'softflowd-v10-sampled', protocol: 'ipfix', flows: 23, bytes: 142_049 },
  { name: 'pmacct-v9-sampled', protocol: 'v9', flows: 25, bytes: 195_600 },
  { name: 'pmacct-ipfix-sampled', protocol: 'ipfix', flows: 25, bytes: 124_162 },
] as const;

interface RefDatagram {
  frame: number;
  version: number;
  sequence: number;
  domain: number;
  exportMs: number;
  uptimeMs: number;
  flows: RefFlow[];
}

interface Reference {
  capture: string;
  command: string;
  tsharkVersion: string;
  datagrams: RefDatagram[];
  totals: { flows: number; bytes: number; packets: number };
}

// ---- turning tshark's JSON into the reference -------------------------------------------------

function refDatagram(packet: Json, source: { sysInitMs: number }): RefDatagram {
  const layers = (packet._source as Json).layers as Json;
  const cflow = layers.cflow as Json;
  const clock = cflowClock(cflow);
  const flows: RefFlow[] = [];
  const objects: Json[] = [];
  collectRecords(cflow, objects);
  for (const f of objects) {
    const init = str(f, 'cflow.sys_init_time');
    if (init !== undefined) source.sysInitMs = dateToMs(init);
    if (f['cflow.octets'] !== undefined) flows.push(refFlow(f, clock, source.sysInitMs)); // else options data
  }
  return {
    frame: num(layers.frame as Json, 'frame.number'),
    version: clock.version,
    sequence: num(cflow, 'cflow.sequence'),
    domain: cflowDomain(cflow),
    exportMs: clock.exportMs,
    uptimeMs: clock.uptimeMs,
    flows,
  };
}

/** Run tshark on a fixture and build its reference. */
function tsharkReference(name: string): Reference {
  const pcap = join(FIXTURES_DIR, `${name}.pcap`);
  const out = execFileSync('tshark', tsharkArgs(pcap), {
    maxBuffer: 256 << 20,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  // One IPFIX systemInitTime for the whole capture: the last one announced.
  const source = { sysInitMs: -1 };
  const datagrams = (JSON.parse(out.toString()) as Json[]).map((p) => refDatagram(p, source));
  const all = datagrams.flatMap((d) => d.flows);
  return {
    capture: `${name}.pcap`,
    command: tsharkCommand(name),
    tsharkVersion: tsharkVersion(),
    datagrams,
    totals: {
      flows: all.length,
      bytes: all.reduce((s, f) => s + f.bytes, 0),
      packets: all.reduce((s, f) => s + f.packets, 0),
    },
  };
}

// ---- our side ------------------------------------------------------------------------------------

/** Decode every NetFlow/IPFIX datagram of a fixture (udp/2055) with one registry. */
function decodeFixture(name: string) {
  const registry = new TemplateRegistry();
  const record = newFlowRecord();
  const frames = readPcapFile(join(FIXTURES_DIR, `${name}.pcap`)).filter((p) => p.dstPort === 2055);
  return frames.map((p) => {
    const flows: RefFlow[] = [];
    const rates: number[] = [];
    const result = decodeNetflow(p.payload, { exporter: p.srcAddr, registry, nowMs: p.tsMs, record }, (r) => {
      flows.push(decodedFlow(r));
      rates.push(r.samplingRate);
    });
    return { result, flows, rates };
  });
}

type Fixture = (typeof FIXTURES)[number];
const refName = (f: Fixture) => ('ref' in f ? f.ref : f.name);
const refPath = (f: Fixture) => join(FIXTURES_DIR, `${refName(f)}.tshark.json`);
const loadRef = (f: Fixture) => JSON.parse(readFileSync(refPath(f), 'utf8')) as Reference;

/** Pretty JSON with each flow (an object without nested objects) on one line. */
function serialize(ref: Reference): string {
  return `${JSON.stringify(ref, null, 1).replace(/\{\n\s+([^{}[\]]*?)\n\s+\}/g, (_m, body: string) => `{ ${body.replace(/\n\s+/g, ' ')} }`)}\n`;
}

describe.each(FIXTURES)('$name matches tshark', (fixture) => {
  const { name, protocol, flows, bytes } = fixture;
  it('decodes every datagram and every flow like tshark', () => {
    const ref = loadRef(fixture);
    const ours = decodeFixture(name);
    expect(ours.length).toBe(ref.datagrams.length);
    ours.forEach(({ result, flows: got }, i) => {
      const want = ref.datagrams[i]!;
      expect(result).toMatchObject({ ok: true, protocol, records: want.flows.length, skipped: {} });
      expect(result.sequence).toBe(want.sequence);
      expect(result.domain).toBe(want.domain);
      expect(result.exportMs).toBe(want.exportMs);
      expect(result.uptimeMs).toBe(want.uptimeMs);
      expect(got).toEqual(want.flows);
    });
  });

  it('totals: flows and bytes', () => {
    const ours = decodeFixture(name).flatMap((d) => d.flows);
    const ref = loadRef(fixture);
    expect(ours.length).toBe(flows);
    expect(ours.reduce((s, f) => s + f.bytes, 0)).toBe(bytes);
    expect(ref.totals).toMatchObject({ flows, bytes });
  });
});

describe('sampling rates of the fixtures', () => {
  it('v5 interval 0 means unsampled: rate 1', () => {
    expect(new Set(decodeFixture('fprobe-v5').flatMap((d) => d.rates))).toEqual(new Set([1]));
  });
  it('softflowd v9/IPFIX announce rate 1 in options data without a sampler id', () => {
    expect(new Set(decodeFixture('softflowd-v9').flatMap((d) => d.rates))).toEqual(new Set([1]));
    expect(new Set(decodeFixture('softflowd-v10').flatMap((d) => d.rates))).toEqual(new Set([1]));
  });
  it('exporters that say nothing about sampling give rate 0 (unknown)', () => {
    expect(new Set(decodeFixture('pmacct').flatMap((d) => d.rates))).toEqual(new Set([0]));
    expect(new Set(decodeFixture('nfreplay-v9').flatMap((d) => d.rates))).toEqual(new Set([0]));
  });
});

const hasTshark = tsharkOnPath();
const update = process.env.UPDATE_TSHARK_REF === '1';

describe.each(FIXTURES)('$name reference', (fixture) => {
  it.skipIf(!hasTshark)(
    `committed ${refName(fixture)}.tshark.json still matches tshark${hasTshark ? '' : ' [skipped: tshark not on PATH]'}`,
    () => {
      const fresh = tsharkReference(fixture.name);
      if (update || !existsSync(refPath(fixture))) writeFileSync(refPath(fixture), serialize(fresh));
      const { tsharkVersion: _v, ...committed } = loadRef(fixture);
      const { tsharkVersion: _w, ...now } = fresh;
      expect(now).toEqual(committed);
    },
  );
});
