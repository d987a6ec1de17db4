/**
 * Sampled exports from real exporters (test/fixtures/*-sampled.pcap, made by
 * test/fixtures/make-sampled.sh from traffic-local.pcap; see test/fixtures/README.md).
 *
 * 1. Sampling references: for every NetFlow/IPFIX capture, old and new, `<ref>.sampling.json` is
 *    tshark's decode with, per flow, the sampling rate its export announces (v5: header interval;
 *    v9/IPFIX: options data per sampler id or per source; interval, random interval, or
 *    (packetInterval + packetSpace) / packetInterval). When tshark is on PATH it is re-derived
 *    and compared; `UPDATE_SAMPLED_REF=1 npx vitest run test/ingest/sampled.test.ts` rewrites them.
 * 2. Our decoder gives every flow, its fields and its rate as tshark does (IPv6 included).
 * 3. Replayed at a real collector, `traffic` holds exactly Σ bytes × rate and Σ packets × rate
 *    of the reference, and `exporters.sampling_rates` counts the records per rate.
 * The sFlow capture has a reference like pmacct-sflow.tshark.json (same extraction as
 * test/ingest/sflow-fixtures.test.ts, whose fixture is fixed to pmacct.pcap).
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.js';
import { decodeNetflow, TemplateRegistry } from '../../src/ingest/netflow/index.js';
import { decodeSflow } from '../../src/ingest/sflow.js';
import { newFlowRecord } from '../../src/ingest/types.js';
import { testCollector } from '../helpers/collector.js';
import { testDatabase } from '../helpers/db.js';
import { addrText, readPcap, readPcapFile } from '../helpers/pcap.js';
import {
  cflowClock,
  cflowDomain,
  collectRecords,
  dateToMs,
  decodedFlow,
  extractSflowReference,
  type Json,
  num,
  type RefFlow,
  type RefSample,
  refFlow,
  type SflowRefDatagram,
  sflowTsharkArgs,
  str,
  tsharkArgs,
  tsharkCommand,
  tsharkOnPath,
  tsharkVersion,
} from '../helpers/tshark.js';

const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/', import.meta.url));
const fixture = (file: string) => join(FIXTURES_DIR, file);
const execFileAsync = promisify(execFile);

/**
 * Every NetFlow/IPFIX capture with the rates its export announces (0: none, the collector then
 * uses its defaultSamplingRate). `tshark` marks the captures test/ingest/netflow/fixtures.test.ts also
 * holds a `<ref>.tshark.json` for.
 */
const NETFLOW = [
  { name: 'fprobe-v5', rates: [1], tshark: true },
  { name: 'nfreplay-v5', rates: [1], tshark: true },
  { name: 'softflowd-v5', rates: [1], tshark: true },
  { name: 'nfreplay-v9', rates: [0], tshark: true },
  { name: 'softflowd-v9', rates: [1], tshark: true },
  { name: 'softflowd-v10', rates: [1], tshark: true },
  { name: 'pmacct', ref: 'pmacct-ipfix', rates: [0], tshark: true },
  { name: 'python-ipfix', rates: [0], tshark: true },
  { name: 'softflowd-v5-sampled', rates: [10], tshark: true, sampled: true },
  { name: 'softflowd-v9-sampled', rates: [10], tshark: false, sampled: true },
  { name: 'softflowd-v10-sampled', rates: [10], tshark: true, sampled: true },
  { name: 'pmacct-v9-sampled', rates: [10], tshark: true, sampled: true },
  { name: 'pmacct-ipfix-sampled', rates: [10], tshark: true, sampled: true },
] as const;
type NetflowFixture = (typeof NETFLOW)[number];
const refName = (f: NetflowFixture) => ('ref' in f ? f.ref : f.name);
const samplingPath = (f: NetflowFixture) => fixture(`${refName(f)}.sampling.json`);

const SFLOW_SAMPLED = 'pmacct-sflow-sampled';

// ---- NetFlow/IPFIX sampling reference ------------------------------------------------------------

/** A flow with the sampler id it names (-1: none) and the rate that applies to it (0: unknown). */
interface SampledFlow extends RefFlow {
  samplerId: number;
  rate: number;
}

/** A rate announced in options data (v9/IPFIX) or in the v5 header; samplerId -1: whole source. */
interface Announcement {
  samplerId: number;
  rate: number;
}

interface SamplingDatagram {
  frame: number;
  version: number;
  /** Header count as sent (v9: records of the datagram, templates included, per RFC 3954); IPFIX: -1. */
  count: number;
  domain: number;
  announced: Announcement[];
  flows: SampledFlow[];
}

interface SamplingReference {
  capture: string;
  command: string;
  tsharkVersion: string;
  note: string;
  datagrams: SamplingDatagram[];
  totals: {
    flows: number;
    bytes: number;
    packets: number;
    /** Σ bytes × rate and Σ packets × rate, an unknown rate counting as 1 (the default). */
    sampledBytes: number;
    sampledPackets: number;
    /** Flows per rate, "0" = not announced. */
    rates: Record<string, number>;
  };
}

const NOTE =
  'tshark 4.0.17 stops decoding a v9 datagram after <header count> flowsets, and softflowd 1.1.0 puts ' +
  'its number of data records there (RFC 3954: every record, templates included); the reference is ' +
  'tshark run on a copy of the capture in which every v9 header count is 65535, so that it walks ' +
  'every flowset as collectors do. count below is the header count as sent.';

/** What one (version, domain) of the exporter announced so far, and its IPFIX clock. */
interface SourceFacts {
  samplers: Map<number, number>;
  defaultRate: number;
  sysInitMs: number;
}

/** Rate described by a record's own sampling fields, 0 if none. */
function ownRate(f: Json): number {
  const interval = num(f, 'cflow.sampling_interval') || num(f, 'cflow.sampler_random_interval');
  if (interval > 0) return interval;
  const pi = num(f, 'cflow.sampling_packet_interval');
  if (pi > 0) return (pi + num(f, 'cflow.sampling_packet_space')) / pi;
  return 0;
}

function samplerIdOf(f: Json): number {
  const id = str(f, 'cflow.sampler_id') ?? str(f, 'cflow.selector_id');
  return id === undefined ? -1 : Number(id);
}

function samplingDatagram(packet: Json, sources: Map<string, SourceFacts>): SamplingDatagram {
  const layers = (packet._source as Json).layers as Json;
  const cflow = layers.cflow as Json;
  const clock = cflowClock(cflow);
  const { version } = clock;
  const domain = cflowDomain(cflow);
  const key = `${version}|${domain}`;
  let src = sources.get(key);
  if (src === undefined) {
    src = { samplers: new Map(), defaultRate: 0, sysInitMs: -1 };
    sources.set(key, src);
  }
  const announced: Announcement[] = [];
  if (version === 5) {
    // Low 14 bits of sampling_interval (tshark's samplerate); 0 = no sampling configured = 1.
    src.defaultRate = num(cflow, 'cflow.samplerate') || 1;
    announced.push({ samplerId: -1, rate: src.defaultRate });
  }
  const records: Json[] = [];
  collectRecords(cflow, records);
  const flows: SampledFlow[] = [];
  for (const f of records) {
    const init = str(f, 'cflow.sys_init_time');
    if (init !== undefined) src.sysInitMs = dateToMs(init);
    const own = ownRate(f);
    const samplerId = samplerIdOf(f);
    if (f['cflow.octets'] === undefined) {
      // options data
      if (own > 0) {
        if (samplerId >= 0) src.samplers.set(samplerId, own);
        else src.defaultRate = own;
        announced.push({ samplerId, rate: own });
      }
      continue;
    }
    const rate = own || (samplerId >= 0 ? (src.samplers.get(samplerId) ?? 0) : 0) || src.defaultRate;
    flows.push({ ...refFlow(f, clock, src.sysInitMs), samplerId, rate });
  }
  return {
    frame: num(layers.frame as Json, 'frame.number'),
    version,
    count: num(cflow, 'cflow.count'),
    domain,
    announced,
    flows,
  };
}

/** A copy of a capture with every v9 header count set to 65535 (see NOTE); returns its path. */
function countPatchedCopy(pcap: string, dir: string): string {
  const buf = readFileSync(pcap);
  for (const p of readPcap(buf)) {
    if (p.dstPort !== 2055 || p.payload.length < 20) continue;
    if (p.payload[0] === 0 && p.payload[1] === 9) {
      p.payload[2] = 0xff; // the payload is a view into buf
      p.payload[3] = 0xff;
    }
  }
  const out = join(dir, 'count-patched.pcap');
  writeFileSync(out, buf);
  return out;
}

async function samplingReference(f: NetflowFixture): Promise<SamplingReference> {
  const dir = mkdtempSync(join(tmpdir(), 'flowradar-sampled-'));
  try {
    const { stdout: out } = await execFileAsync(
      'tshark',
      tsharkArgs(countPatchedCopy(fixture(`${f.name}.pcap`), dir)),
      {
        maxBuffer: 256 << 20,
      },
    );
    const sources = new Map<string, SourceFacts>();
    const datagrams = (JSON.parse(out) as Json[]).map((p) => samplingDatagram(p, sources));
    // The header count as the exporter sent it, not as patched.
    const sent = payloads(f.name, 2055);
    expect(sent.length).toBe(datagrams.length);
    datagrams.forEach((d, i) => {
      const p = sent[i]!.payload;
      d.count = d.version === 10 ? -1 : (p[2]! << 8) | p[3]!;
    });
    const all = datagrams.flatMap((d) => d.flows);
    const rates: Record<string, number> = {};
    for (const fl of all) rates[String(fl.rate)] = (rates[String(fl.rate)] ?? 0) + 1;
    return {
      capture: `${f.name}.pcap`,
      command: tsharkCommand(f.name),
      tsharkVersion: tsharkVersion(),
      note: NOTE,
      datagrams,
      totals: {
        flows: all.length,
        bytes: all.reduce((s, x) => s + x.bytes, 0),
        packets: all.reduce((s, x) => s + x.packets, 0),
        sampledBytes: all.reduce((s, x) => s + x.bytes * (x.rate || 1), 0),
        sampledPackets: all.reduce((s, x) => s + x.packets * (x.rate || 1), 0),
        rates,
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** JSON as biome formats it (the fixture files are checked by `biome check`). */
const serialize = (ref: unknown): string => `${JSON.stringify(ref, null, 2)}\n`;

const loadSampling = (f: NetflowFixture) =>
  JSON.parse(readFileSync(samplingPath(f), 'utf8')) as SamplingReference;

// ---- sFlow reference: the extraction of test/ingest/sflow-fixtures.test.ts --------------------------------

const sflowRefPath = fixture(`${SFLOW_SAMPLED}.tshark.json`);
const loadSflowRef = () => JSON.parse(readFileSync(sflowRefPath, 'utf8')) as SflowRefDatagram[];

// ---- our side ----------------------------------------------------------------------------------------

const payloads = (name: string, port: number) =>
  readPcapFile(fixture(`${name}.pcap`))
    .filter((p) => p.dstPort === port)
    .map((p) => ({ payload: p.payload, tsMs: p.tsMs }));

/** Our decode of every NetFlow datagram of a capture, shaped like the sampling reference. */
function decodeLikeRef(name: string) {
  const registry = new TemplateRegistry();
  const record = newFlowRecord();
  return payloads(name, 2055).map(({ payload, tsMs }) => {
    const flows: Omit<SampledFlow, 'samplerId'>[] = [];
    const result = decodeNetflow(payload, { exporter: '127.0.0.1', registry, nowMs: tsMs, record }, (r) =>
      flows.push({ ...decodedFlow(r), rate: r.samplingRate }),
    );
    return { result, flows };
  });
}

const hasTshark = tsharkOnPath();
const update = process.env.UPDATE_SAMPLED_REF === '1';
const skipNote = hasTshark ? '' : ' [skipped: tshark not on PATH]';

// ---- tests -------------------------------------------------------------------------------------------

/** Fresh references, all tshark runs started at once (they dominate this file's time). */
const fresh = new Map<string, Promise<SamplingReference>>();
beforeAll(() => {
  if (!hasTshark) return;
  for (const f of NETFLOW) {
    const p = samplingReference(f);
    p.catch(() => {}); // awaited (and reported) by its test
    fresh.set(f.name, p);
  }
});

const freshReference = (f: NetflowFixture) => fresh.get(f.name) ?? samplingReference(f);

describe.each(NETFLOW)('$name: sampling reference', (f) => {
  it.skipIf(!hasTshark)(`committed ${refName(f)}.sampling.json still matches tshark${skipNote}`, async () => {
    const ref = await freshReference(f);
    if (update) writeFileSync(samplingPath(f), serialize(ref));
    const { tsharkVersion: _v, ...committed } = loadSampling(f);
    const { tsharkVersion: _w, ...now } = ref;
    expect(now).toEqual(committed);
  });

  it(`announces ${f.rates.join(', ')} (0 = nothing announced)`, () => {
    const ref = loadSampling(f);
    expect(Object.keys(ref.totals.rates).map(Number)).toEqual([...f.rates]);
  });

  it.runIf(f.tshark)(`agrees with ${refName(f)}.tshark.json (the extraction of netflow-fixtures)`, () => {
    const other = JSON.parse(readFileSync(fixture(`${refName(f)}.tshark.json`), 'utf8')) as {
      datagrams: { frame: number; flows: RefFlow[] }[];
    };
    const ours = loadSampling(f).datagrams.map((d) => ({
      frame: d.frame,
      flows: d.flows.map(({ samplerId: _s, rate: _r, ...fl }) => fl),
    }));
    expect(ours).toEqual(other.datagrams.map((d) => ({ frame: d.frame, flows: d.flows })));
  });

  it('our decoder gives every flow, its fields and its sampling rate as tshark does', () => {
    const ref = loadSampling(f);
    const ours = decodeLikeRef(f.name);
    expect(ours.length).toBe(ref.datagrams.length);
    ours.forEach(({ result, flows }, i) => {
      const want = ref.datagrams[i]!;
      expect(result, `frame ${want.frame}`).toMatchObject({
        ok: true,
        records: want.flows.length,
        skipped: {},
      });
      expect(result.domain).toBe(want.domain);
      expect(flows, `frame ${want.frame}`).toEqual(want.flows.map(({ samplerId: _s, ...fl }) => fl));
    });
  });
});

describe('softflowd-v9-sampled: the v9 header count', () => {
  it('counts the data records only (RFC 3954 counts template and options records too)', () => {
    const ref = loadSampling(NETFLOW.find((f) => f.name === 'softflowd-v9-sampled')!);
    // The first datagram also holds 4 data templates, 1 options template and 1 options record.
    for (const d of ref.datagrams) expect(d.count).toBe(d.flows.length);
  });

  it.skipIf(!hasTshark)(`unpatched, tshark stops after <count> flowsets and misses flows${skipNote}`, () => {
    const out = execFileSync('tshark', tsharkArgs(fixture('softflowd-v9-sampled.pcap')), {
      maxBuffer: 64 << 20,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
    const octets = (out.match(/"cflow\.octets"/g) ?? []).length;
    expect(octets).toBeLessThan(
      loadSampling(NETFLOW.find((f) => f.name === 'softflowd-v9-sampled')!).totals.flows,
    );
  });
});

describe(`${SFLOW_SAMPLED}: sFlow decoder vs tshark`, () => {
  it.skipIf(!hasTshark)(`committed ${SFLOW_SAMPLED}.tshark.json still matches tshark${skipNote}`, () => {
    const out = execFileSync('tshark', sflowTsharkArgs(fixture(`${SFLOW_SAMPLED}.pcap`)), {
      maxBuffer: 1 << 28,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const fresh = extractSflowReference(out);
    if (update) writeFileSync(sflowRefPath, serialize(fresh));
    expect(fresh).toEqual(loadSflowRef());
  });

  it('decodes every datagram and every flow sample like tshark, IPv6 included', () => {
    const ref = loadSflowRef();
    const datagrams = payloads(SFLOW_SAMPLED, 6343);
    expect(datagrams.length).toBe(ref.length);
    const unknownIf = (v: number): number => (v === 0x3fffffff ? 0 : v);
    let v6 = 0;
    datagrams.forEach(({ payload }, i) => {
      const want = ref[i]!;
      const got: RefSample[] = [];
      const res = decodeSflow(payload, { nowMs: 1_800_000_000_000, record: newFlowRecord() }, (r) => {
        if (r.ipVersion === 6) v6++;
        got.push({
          sequence: -1,
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
      expect(res).toMatchObject({ ok: true, agent: want.agent, domain: want.subAgentId, skipped: {} });
      expect(res.sequence).toBe(want.sequence);
      expect(res.uptimeMs).toBe(want.uptimeMs);
      expect(res.ignored).toBe(want.otherSamples);
      expect(got, `frame ${want.frame}`).toEqual(
        want.flowSamples.map((s) => ({
          ...s,
          sequence: -1,
          inIf: unknownIf(s.inIf),
          outIf: unknownIf(s.outIf),
        })),
      );
    });
    expect(v6).toBeGreaterThan(0);
  });
});

// ---- replay at a real collector -----------------------------------------------------------------------

interface Expectation {
  bytes: number;
  packets: number;
  flows: number;
  rates: Record<string, number>;
}

/** Σ over the reference, each flow scaled by its announced rate. */
function netflowExpectation(f: NetflowFixture): Expectation {
  const flows = loadSampling(f).datagrams.flatMap((d) => d.flows);
  const rates: Record<string, number> = {};
  for (const fl of flows) rates[String(fl.rate)] = (rates[String(fl.rate)] ?? 0) + 1;
  return {
    bytes: flows.reduce((s, fl) => s + fl.bytes * fl.rate, 0),
    packets: flows.reduce((s, fl) => s + fl.packets * fl.rate, 0),
    flows: flows.length,
    rates,
  };
}

function sflowExpectation(): Expectation {
  const samples = loadSflowRef().flatMap((d) => d.flowSamples);
  const rates: Record<string, number> = {};
  for (const s of samples) rates[String(s.samplingRate)] = (rates[String(s.samplingRate)] ?? 0) + 1;
  return {
    bytes: samples.reduce((s, x) => s + x.frameLength * x.samplingRate, 0),
    packets: samples.reduce((s, x) => s + x.samplingRate, 0),
    flows: samples.length,
    rates,
  };
}

const REPLAYS = [
  ...NETFLOW.filter((f) => 'sampled' in f).map((f) => ({
    name: f.name,
    kind: 'netflow' as const,
    port: 2055,
    expect: () => netflowExpectation(f),
  })),
  { name: SFLOW_SAMPLED, kind: 'sflow' as const, port: 6343, expect: sflowExpectation },
];

/** One database for the replays, emptied before each (templates and sampling state too). */
let db: Database;
beforeAll(async () => {
  db = await testDatabase();
});
afterAll(async () => {
  await db?.close();
});

describe.each(REPLAYS)('$name replayed at the collector', ({ name, kind, port, expect: expectation }) => {
  it('traffic holds Σ(tshark bytes × announced rate), packets likewise; exporters lists the rate', async () => {
    const want = expectation();
    expect(Object.keys(want.rates)).toEqual(['10']);
    const nowMs = Date.now();
    await db.query(sql`TRUNCATE traffic`);
    for (const t of ['exporters', 'exporter_minutes', 'flow_templates', 'ingest_batches'])
      await db.query(sql.raw(`DELETE FROM ${t}`));
    const c = await testCollector(db, { now: () => nowMs });
    await c.send(
      payloads(name, port).map((p) => p.payload),
      kind,
    );
    expect(await c.stop()).toBe(0);
    const [t] = await db.query<{ bytes: number; packets: number; flows: number }>(
      sql`SELECT sum(bytes)::float8 AS bytes, sum(packets)::float8 AS packets, sum(flows)::float8 AS flows FROM traffic`,
    );
    expect(t).toEqual({ bytes: want.bytes, packets: want.packets, flows: want.flows });
    const exporters = await db.query<{
      address: string;
      records: number;
      unsampled_records: number;
      sampling_rates: Record<string, number>;
      errors: Record<string, number>;
    }>(
      sql`SELECT address, records::float8 AS records, unsampled_records::float8 AS unsampled_records,
                 sampling_rates, errors FROM exporters`,
    );
    expect(exporters).toEqual([
      {
        address: '127.0.0.1',
        records: want.flows,
        unsampled_records: 0,
        sampling_rates: want.rates,
        errors: {},
      },
    ]);
  });
});
