/**
 * End to end on every committed capture (NetFlow v5/v9/IPFIX and sFlow, old and sampled): the
 * exports are replayed at a real collector on a test database, then the real HTTP app over the
 * same database answers /radar/netflows/timeseries with RAW_VALUES. Checked against expectations
 * built here from the tshark references only (never from our decoder):
 * - per-minute `traffic` rows follow the documented rules (README "Collecting flows"): bytes and
 *   packets × the announced sampling rate (unknown: defaultSamplingRate 1), spread over the
 *   minutes a flow spans in proportion to its time in each, cumulative floor(total × elapsed /
 *   duration) with the remainder in the last minute, at most its last 120 minutes; the flow
 *   counts once, in its first minute; sFlow samples at their receive time;
 * - keys without localNetworks or lookup databases: asn = the exporter's source AS (0 when none),
 *   location XX, direction in, product HTTP for TCP 80/443/8080/8443 or UDP 443, else OTHER;
 * - records starting more than 3 years before the receive time or ending more than a day after
 *   it are dropped (bad_timestamp);
 * - each 15-minute value of the API equals the rows of its bucket, and the values sum to the
 *   traffic in the window and to the tshark total × sampling.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { createToken } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config.js';
import type { Database } from '../src/db/client.js';
import { testCollector } from './helpers/collector.js';
import { testDatabase } from './helpers/db.js';
import { readPcapFile } from './helpers/pcap.js';

const FIXTURES_DIR = fileURLToPath(new URL('./fixtures/', import.meta.url));
const MINUTE = 60_000;
const BUCKET = 15 * MINUTE;
const DAY = 24 * 60 * MINUTE;
const MAX_PAST_MS = 3 * 365 * DAY;
const MAX_FUTURE_MS = DAY;
const MAX_SPREAD_MS = 120 * MINUTE;
/** Receive time of every datagram, and the app's clock: real now, pinned for the whole file. */
const NOW = Date.now();

/**
 * Each capture with its references: `netflow` names a `<ref>.sampling.json` (tshark's decode with
 * announced rates, written by test/ingest/sampled.test.ts), `sflow` a `<ref>.tshark.json` of sFlow
 * datagrams (test/ingest/sflow-fixtures.test.ts's extraction).
 */
const CAPTURES: { file: string; netflow?: string; sflow?: string }[] = [
  { file: 'fprobe-v5', netflow: 'fprobe-v5' },
  { file: 'nfreplay-v5', netflow: 'nfreplay-v5' },
  { file: 'softflowd-v5', netflow: 'softflowd-v5' },
  { file: 'nfreplay-v9', netflow: 'nfreplay-v9' },
  { file: 'softflowd-v9', netflow: 'softflowd-v9' },
  { file: 'softflowd-v10', netflow: 'softflowd-v10' },
  { file: 'pmacct', netflow: 'pmacct-ipfix', sflow: 'pmacct-sflow' },
  { file: 'python-ipfix', netflow: 'python-ipfix' },
  { file: 'softflowd-v5-sampled', netflow: 'softflowd-v5-sampled' },
  { file: 'softflowd-v9-sampled', netflow: 'softflowd-v9-sampled' },
  { file: 'softflowd-v10-sampled', netflow: 'softflowd-v10-sampled' },
  { file: 'pmacct-v9-sampled', netflow: 'pmacct-v9-sampled' },
  { file: 'pmacct-ipfix-sampled', netflow: 'pmacct-ipfix-sampled' },
  { file: 'pmacct-sflow-sampled', sflow: 'pmacct-sflow-sampled' },
];

interface NetflowRef {
  datagrams: {
    flows: {
      srcPort: number;
      dstPort: number;
      proto: number;
      bytes: number;
      packets: number;
      srcAs: number;
      startMs: number;
      endMs: number;
      rate: number;
    }[];
  }[];
  totals: { flows: number; sampledBytes: number; sampledPackets: number };
}

interface SflowRef {
  flowSamples: {
    samplingRate: number;
    frameLength: number;
    srcPort: number;
    dstPort: number;
    proto: number;
  }[];
}

const readJson = <T>(name: string): T => JSON.parse(readFileSync(join(FIXTURES_DIR, name), 'utf8')) as T;

const WEB_TCP = new Set([80, 443, 8080, 8443]);
function productOf(proto: number, srcPort: number, dstPort: number): 'HTTP' | 'OTHER' {
  if (proto === 6 && (WEB_TCP.has(srcPort) || WEB_TCP.has(dstPort))) return 'HTTP';
  if (proto === 17 && (srcPort === 443 || dstPort === 443)) return 'HTTP';
  return 'OTHER';
}

interface Cell {
  bytes: number;
  packets: number;
  flows: number;
}
type Rows = Map<string, Cell>;
const keyOf = (minuteMs: number, asn: number, product: string) => `${minuteMs}|${asn}|XX|${product}|in`;
const minuteOfKey = (key: string) => Number(key.split('|')[0]);

function addCell(rows: Rows, key: string, bytes: number, packets: number, flows: number): void {
  const c = rows.get(key) ?? { bytes: 0, packets: 0, flows: 0 };
  c.bytes += bytes;
  c.packets += packets;
  c.flows += flows;
  rows.set(key, c);
}

/** The documented spreading rule, written out independently of src/ingest/aggregate.ts. */
function spread(
  rows: Rows,
  start: number,
  end: number,
  asn: number,
  product: string,
  bytes: number,
  packets: number,
): void {
  if (end - start > MAX_SPREAD_MS) start = end - MAX_SPREAD_MS;
  const firstMinute = Math.floor(start / MINUTE) * MINUTE;
  const lastMinute = Math.floor(end / MINUTE) * MINUTE;
  const duration = end - start;
  let bytesSoFar = 0;
  let packetsSoFar = 0;
  for (let m = firstMinute; m <= lastMinute; m += MINUTE) {
    const last = m === lastMinute;
    const elapsed = (last ? end : m + MINUTE) - start;
    const cumBytes = last ? bytes : Math.floor((bytes * elapsed) / duration);
    const cumPackets = last ? packets : Math.floor((packets * elapsed) / duration);
    addCell(
      rows,
      keyOf(m, asn, product),
      cumBytes - bytesSoFar,
      cumPackets - packetsSoFar,
      m === firstMinute ? 1 : 0,
    );
    bytesSoFar = cumBytes;
    packetsSoFar = cumPackets;
  }
}

/** The expectation of one part of a capture (its NetFlow or its sFlow datagrams). */
interface Part {
  rows: Rows;
  /** tshark totals × sampling over the records kept. */
  bytes: number;
  packets: number;
  /** First and last minute holding its traffic. */
  first: number;
  last: number;
}

interface Expected {
  rows: Rows;
  bytes: number;
  packets: number;
  /** Records dropped by the timestamp rule. */
  dropped: number;
  parts: Part[];
}

const newPart = (): Part => ({
  rows: new Map(),
  bytes: 0,
  packets: 0,
  first: Number.POSITIVE_INFINITY,
  last: Number.NEGATIVE_INFINITY,
});

function expectation(c: (typeof CAPTURES)[number]): Expected {
  const out: Expected = { rows: new Map(), bytes: 0, packets: 0, dropped: 0, parts: [] };
  if (c.netflow) {
    const part = newPart();
    const ref = readJson<NetflowRef>(`${c.netflow}.sampling.json`);
    for (const f of ref.datagrams.flatMap((d) => d.flows)) {
      const end = f.endMs;
      const start = Math.min(f.startMs, end);
      if (end > NOW + MAX_FUTURE_MS || start < NOW - MAX_PAST_MS) {
        out.dropped++;
        continue;
      }
      const rate = f.rate || 1; // not announced: defaultSamplingRate
      part.bytes += f.bytes * rate;
      part.packets += f.packets * rate;
      spread(
        part.rows,
        start,
        end,
        f.srcAs,
        productOf(f.proto, f.srcPort, f.dstPort),
        f.bytes * rate,
        f.packets * rate,
      );
    }
    if (out.dropped === 0)
      expect([part.bytes, part.packets]).toEqual([ref.totals.sampledBytes, ref.totals.sampledPackets]);
    out.parts.push(part);
  }
  if (c.sflow) {
    const part = newPart();
    const minute = Math.floor(NOW / MINUTE) * MINUTE;
    for (const s of readJson<SflowRef[]>(`${c.sflow}.tshark.json`).flatMap((d) => d.flowSamples)) {
      const product = productOf(s.proto, s.srcPort, s.dstPort);
      addCell(part.rows, keyOf(minute, 0, product), s.frameLength * s.samplingRate, s.samplingRate, 1);
      part.bytes += s.frameLength * s.samplingRate;
      part.packets += s.samplingRate;
    }
    out.parts.push(part);
  }
  for (const part of out.parts) {
    for (const [k, cell] of part.rows) {
      addCell(out.rows, k, cell.bytes, cell.packets, cell.flows);
      part.first = Math.min(part.first, minuteOfKey(k));
      part.last = Math.max(part.last, minuteOfKey(k));
    }
    out.bytes += part.bytes;
    out.packets += part.packets;
  }
  return out;
}

const datagrams = (file: string, port: number) =>
  readPcapFile(join(FIXTURES_DIR, `${file}.pcap`))
    .filter((p) => p.dstPort === port)
    .map((p) => p.payload);

async function trafficRows(db: Database): Promise<Rows> {
  const list = await db.query<{
    t: number;
    asn: number;
    location: string;
    product: string;
    direction: string;
    bytes: number;
    packets: number;
    flows: number;
  }>(
    sql`SELECT (extract(epoch from time) * 1000)::float8 AS t, asn::float8 AS asn, location::text AS location,
               product::text AS product, direction::text AS direction, bytes::float8 AS bytes,
               packets::float8 AS packets, flows::float8 AS flows FROM traffic`,
  );
  return new Map(
    list.map((r) => [
      `${r.t}|${r.asn}|${r.location}|${r.product}|${r.direction}`,
      { bytes: r.bytes, packets: r.packets, flows: r.flows },
    ]),
  );
}

const sorted = (rows: Rows) => [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** Bytes of the rows whose minute lies in [from, to). */
const bytesIn = (rows: Rows, from: number, to: number) =>
  [...rows.entries()]
    .filter(([k]) => minuteOfKey(k) >= from && minuteOfKey(k) < to)
    .reduce((s, [, c]) => s + c.bytes, 0);

/** The real app over an existing database, its clock pinned to NOW. */
function appOn(db: Database) {
  return createApp({ db, config: loadConfig({}), logger: pino({ level: 'silent' }), now: () => NOW });
}

/** One database for the file, emptied before each capture (templates and sampling state too). */
let db: Database;
let app: ReturnType<typeof appOn>;
let token: string;
beforeAll(async () => {
  db = await testDatabase();
  app = appOn(db);
  token = (await createToken(db, { name: 'replay-api', scopes: ['read:raw'] })).token;
});
afterAll(async () => {
  await db?.close();
});

async function emptyTables(): Promise<void> {
  await db.query(sql`TRUNCATE traffic`);
  for (const t of ['exporters', 'exporter_minutes', 'flow_templates', 'ingest_batches'])
    await db.query(sql.raw(`DELETE FROM ${t}`));
}

describe.each(CAPTURES)('$file: replay → traffic → /radar/netflows/timeseries', (capture) => {
  it('per-minute rows and API values equal the tshark-derived expectation', async () => {
    const want = expectation(capture);
    await emptyTables();
    const collector = await testCollector(db, { now: () => NOW });
    if (capture.netflow) await collector.send(datagrams(capture.file, 2055), 'netflow');
    if (capture.sflow) await collector.send(datagrams(capture.file, 6343), 'sflow');
    expect(await collector.stop()).toBe(0);

    const rows = await trafficRows(db);
    expect(sorted(rows)).toEqual(sorted(want.rows));
    const total = [...rows.values()].reduce((s, c) => s + c.bytes, 0);
    expect(total).toBe(want.bytes);
    expect([...rows.values()].reduce((s, c) => s + c.packets, 0)).toBe(want.packets);
    const [ex] = await db.query<{ errors: Record<string, number> }>(sql`SELECT errors FROM exporters`);
    expect(ex?.errors ?? {}).toEqual(want.dropped ? { bad_timestamp: want.dropped } : {});

    // NetFlow: dateStart/dateEnd over its flow times; sFlow (receive time = now): dateRange=1d.
    const windows: { query: string; from: number; to: number }[] = [];
    // (A capture whose records are all dropped by the timestamp rule has no NetFlow window.)
    if (capture.netflow && want.parts[0]!.rows.size > 0) {
      const { first, last } = want.parts[0]!;
      windows.push({
        query: `dateStart=${new Date(first).toISOString()}&dateEnd=${new Date(last).toISOString()}`,
        from: Math.floor(first / BUCKET) * BUCKET,
        to: Math.floor(last / BUCKET) * BUCKET + BUCKET,
      });
    }
    if (capture.sflow) {
      const to = Math.floor(NOW / BUCKET) * BUCKET + BUCKET;
      windows.push({ query: 'dateRange=1d', from: to - DAY, to });
    }
    // Every row lies in some window.
    for (const k of rows.keys())
      expect(windows.some((w) => minuteOfKey(k) >= w.from && minuteOfKey(k) < w.to)).toBe(true);

    for (const w of windows) {
      const res = await app.request(
        `/radar/netflows/timeseries?${w.query}&aggInterval=15m&normalization=RAW_VALUES`,
        { headers: { authorization: `Bearer ${token}` } },
      );
      expect(res.status, await res.clone().text()).toBe(200);
      const body = (await res.json()) as {
        result: { serie_0: { timestamps: string[]; values: string[] } };
      };
      const { timestamps, values } = body.result.serie_0;
      expect(values.length).toBe(timestamps.length);
      expect(Date.parse(timestamps[0]!)).toBe(w.from);
      expect(Date.parse(timestamps.at(-1)!)).toBe(w.to - BUCKET);
      const got = values.map(Number);
      const perBucket = timestamps.map((t) => bytesIn(want.rows, Date.parse(t), Date.parse(t) + BUCKET));
      expect(got).toEqual(perBucket);
      const sum = got.reduce((s, v) => s + v, 0);
      expect(sum).toBe(bytesIn(rows, w.from, w.to));
      // = the tshark totals × sampling of the parts inside the window (each window holds its own).
      const inside = want.parts.filter((p) => p.first >= w.from && p.last < w.to);
      expect(inside.length).toBeGreaterThan(0);
      const partial = want.parts.filter((p) => !inside.includes(p));
      expect(sum).toBe(
        inside.reduce((s, p) => s + p.bytes, 0) +
          partial.reduce((s, p) => s + bytesIn(p.rows, w.from, w.to), 0),
      );
    }
    if (want.dropped) console.warn(`${capture.file}: ${want.dropped} records dropped by the timestamp rule`);
  });
});
