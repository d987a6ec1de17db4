/**
 * Collectors behind a UDP load balancer, on a real TimescaleDB server: two real collectors (UDP on
 * loopback, pipeline, writer) with different collector ids write into one database, as two
 * `flowradar collect` processes would. Loss is measured per collector; an exporter whose
 * datagrams reach both in one minute is split there: its loss is unknown (never invented, never
 * summed) and confidenceInfo says so. Templates and sampler state are shared through the
 * database, so a data set decodes whichever collector it reaches.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.js';
import { refreshRollups } from '../../src/db/maintenance.js';
import { RELOAD_MIN_MS } from '../../src/ingest/template-store.js';
import { type ExporterMinuteDelta, writeBatches } from '../../src/ingest/writer.js';
import { encodeIpfix, encodeV9, type SimFlow } from '../../src/sim/encode.js';
import { type TestApp, testApp } from '../helpers/app.js';
import { type TestCollector, testCollector, trafficTotal } from '../helpers/collector.js';
import { testDatabase } from '../helpers/db.js';
import { url } from '../query/data.js';

const HOUR = Date.parse('2026-11-20T10:00:00Z');
/** The collectors' clock: every datagram of a test arrives in the minute 10:20. */
const T0 = HOUR + 20 * 60_000 + 30_000;
const APP_NOW = '2026-11-21T00:00:00Z';
const SPLIT_NOTE = (exporter: string, collectors: number, minutes: number) =>
  `exporter ${exporter}: datagrams reached ${collectors} collectors in ${minutes} minute${minutes === 1 ? '' : 's'}; loss is not measured there (hash by exporter address on the load balancer)`;

const flow = (k: number, seed: number): SimFlow => ({
  startMs: T0 - 20_000 + k,
  endMs: T0 - 10_000 + k,
  src: `85.240.${seed}.${(k % 250) + 1}`,
  dst: '10.20.0.1',
  srcPort: 443,
  dstPort: 40_000 + k,
  proto: 6,
  bytes: 1000 + k,
  packets: 2,
  srcAs: 3243,
  dstAs: 0,
  inIf: 1,
  outIf: 2,
});

/** `n` datagrams of 10 flows each, of one exporter; templates (and sampling options) only in the first. */
function exporterDatagrams(
  protocol: 'v9' | 'ipfix',
  n: number,
  opts: { domain: number; seed: number; samplingRate?: number },
): { datagrams: Uint8Array[]; bytes: number[] } {
  let sequence = 0;
  let datagramIndex = 0;
  const datagrams: Uint8Array[] = [];
  const bytes: number[] = [];
  for (let d = 0; d < n; d++) {
    const fs = Array.from({ length: 10 }, (_, k) => flow(d * 10 + k, opts.seed));
    const encode = protocol === 'v9' ? encodeV9 : encodeIpfix;
    const out = encode(fs, {
      exportMs: T0,
      domain: opts.domain,
      templateEvery: 1_000_000,
      sequence,
      datagramIndex,
      ...(opts.samplingRate ? { samplingRate: opts.samplingRate } : {}),
    });
    expect(out.datagrams).toHaveLength(1);
    sequence = out.nextSequence;
    datagramIndex = out.nextDatagramIndex;
    datagrams.push(out.datagrams[0]!);
    bytes.push(fs.reduce((s, f) => s + f.bytes, 0));
  }
  return { datagrams, bytes };
}

/** The app on a database of its own on the test server, and two collectors writing into it. */
async function setup(): Promise<{
  t: TestApp;
  c1: TestCollector;
  c2: TestCollector;
  clock: { ms: number };
  /** Stops both collectors (flushing and writing what they hold); once. */
  stop: () => Promise<void>;
  close: () => Promise<void>;
}> {
  const t = await testApp({ mode: 'server', now: APP_NOW });
  const clock = { ms: T0 };
  const c1 = await testCollector(t.db, { collectorId: 'lb-1', now: () => clock.ms });
  const c2 = await testCollector(t.db, { collectorId: 'lb-2', now: () => clock.ms });
  let stopping: Promise<unknown> | undefined;
  const stop = async () => {
    stopping ??= Promise.all([c1.stop(), c2.stop()]);
    await stopping;
  };
  return {
    t,
    c1,
    c2,
    clock,
    stop,
    close: async () => {
      await stop();
      await t.close();
    },
  };
}

async function confidence(t: TestApp) {
  const r = await t.get(
    url('/radar/netflows/timeseries', {
      dateStart: new Date(HOUR).toISOString(),
      dateEnd: new Date(HOUR + 3600_000).toISOString(),
      aggInterval: '15m',
    }),
  );
  expect(r.status, r.text).toBe(200);
  return r.body.result.meta.confidenceInfo as { level: number; annotations: { description: string }[] };
}

type MinuteRow = { exporter: string; records: number; lost: number; split: number; collectors: string[] };
async function minuteRows(db: Database): Promise<MinuteRow[]> {
  return db.query<MinuteRow>(
    sql`SELECT exporter, records::float8 AS records, lost_records::float8 AS lost, split::int AS split,
               ARRAY(SELECT unnest(collectors) ORDER BY 1) AS collectors
          FROM exporter_minutes ORDER BY time, exporter`,
  );
}

const sumOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('two collectors behind a load balancer, one database', () => {
  it('one exporter alternating between them: templates shared, loss unknown, the split annotated', async () => {
    const { t, c1, c2, clock, stop, close } = await setup();
    try {
      const { datagrams: d, bytes } = exporterDatagrams('ipfix', 12, {
        domain: 1,
        seed: 1,
        samplingRate: 10,
      });
      // Templates, options template and sampler options reach collector 1 only.
      await c1.send([d[0]!]);
      await c2.send([d[1]!]);
      await c2.pipeline.templates.idle();
      expect(c2.pipeline.templates.reloadQueries, 'the first unknown template asks the database').toBe(1);
      await c2.send([d[3]!]);
      await c2.pipeline.templates.idle();
      expect(c2.pipeline.templates.reloadQueries, 'no query per datagram').toBe(1);

      await c1.pipeline.saveTemplates();
      clock.ms += RELOAD_MIN_MS;
      // Still dropped (the reload runs beside decoding, never in its way), but it reloads.
      await c2.send([d[5]!]);
      await c2.pipeline.templates.idle();
      expect(c2.pipeline.templates.reloadQueries).toBe(2);
      expect(c2.pipeline.registry.size).toBe(c1.pipeline.registry.size);

      await c1.send([d[2]!, d[4]!, d[6]!, d[8]!, d[10]!]);
      await c2.send([d[7]!, d[9]!, d[11]!]);
      await stop();

      // Exact once the template is shared: everything but the three data sets collector 2 could
      // not decode, scaled by the sampler only collector 1 heard.
      const dropped = [1, 3, 5];
      expect(await trafficTotal(t.db)).toBe(10 * sumOf(bytes.filter((_, i) => !dropped.includes(i))));
      const [ex] = await t.db.query<{
        errors: Record<string, number>;
        unsampled: number;
        lost: number;
        collectors: Record<string, string>;
      }>(sql`SELECT errors, unsampled_records::float8 AS unsampled, lost_records::float8 AS lost, collectors
               FROM exporters WHERE address = '127.0.0.1'`);
      expect(ex!.errors.unknown_template).toBe(3);
      expect(ex!.unsampled, 'collector 2 had the sampler with the templates').toBe(0);
      expect(Object.keys(ex!.collectors).sort()).toEqual(['lb-1', 'lb-2']);
      // Each collector's own estimate, summed: the other's datagrams counted as lost (documented).
      expect(ex!.lost).toBeGreaterThan(0);

      expect(await minuteRows(t.db)).toEqual([
        { exporter: '127.0.0.1', records: 90, lost: 0, split: 2, collectors: ['lb-1', 'lb-2'] },
      ]);
      const info = await confidence(t);
      expect(info.annotations.map((a) => a.description)).toEqual([SPLIT_NOTE('127.0.0.1', 2, 1)]);
      expect(info.level).toBe(4);
    } finally {
      await close();
    }
  });

  it('control: one exporter hashed to one collector, with real gaps, reports its loss as before', async () => {
    const { t, c1, stop, close } = await setup();
    try {
      const { datagrams: d } = exporterDatagrams('ipfix', 10, { domain: 1, seed: 2, samplingRate: 10 });
      // IPFIX sequences count data records: the two missing datagrams are exactly 20 records.
      await c1.send(d.filter((_, i) => i !== 3 && i !== 6));
      await stop();
      expect(await minuteRows(t.db)).toEqual([
        { exporter: '127.0.0.1', records: 80, lost: 20, split: 0, collectors: ['lb-1'] },
      ]);
      const info = await confidence(t);
      expect(info.annotations.map((a) => a.description)).toEqual([
        'exporter 127.0.0.1: an estimated 20.0% of flow records lost (20 of 100)',
      ]);
      expect(info.level).toBe(3);
    } finally {
      await close();
    }
  });

  it('two exporters, each hashed to its own collector: no split, each loss as measured', async () => {
    const { t, c1, c2, stop, close } = await setup();
    try {
      const a = exporterDatagrams('ipfix', 10, { domain: 1, seed: 3, samplingRate: 10 });
      const b = exporterDatagrams('v9', 10, { domain: 1, seed: 4, samplingRate: 10 });
      await c1.send(a.datagrams.filter((_, i) => i !== 2));
      // v9 sequences count datagrams: one missing datagram of 10 records is 10 records lost.
      await c2.send(
        b.datagrams.filter((_, i) => i !== 4),
        'netflow',
        '127.0.0.2',
      );
      await stop();
      expect(await minuteRows(t.db)).toEqual([
        { exporter: '127.0.0.1', records: 90, lost: 10, split: 0, collectors: ['lb-1'] },
        { exporter: '127.0.0.2', records: 90, lost: 10, split: 0, collectors: ['lb-2'] },
      ]);
      expect(await trafficTotal(t.db)).toBe(
        10 * (sumOf(a.bytes.filter((_, i) => i !== 2)) + sumOf(b.bytes.filter((_, i) => i !== 4))),
      );
      const info = await confidence(t);
      expect(info.annotations.map((n) => n.description)).toEqual([
        'exporter 127.0.0.1: an estimated 10.0% of flow records lost (10 of 100)',
        'exporter 127.0.0.2: an estimated 10.0% of flow records lost (10 of 100)',
      ]);
      expect(info.level).toBe(3);
    } finally {
      await close();
    }
  });

  it("a collector saving its templates leaves the other's rows alone", async () => {
    const { t, c1, c2, close } = await setup();
    const rows = () =>
      t.db.query<{ exporter: string; template_id: number; learned: number | null }>(
        sql`SELECT exporter, template_id, (definition->>'learnedAtMs')::float8 AS learned
              FROM flow_templates ORDER BY exporter, template_id`,
      );
    try {
      const a = exporterDatagrams('ipfix', 1, { domain: 1, seed: 5, samplingRate: 10 });
      const b = exporterDatagrams('v9', 1, { domain: 1, seed: 6 });
      await c1.send(a.datagrams);
      await c1.pipeline.saveTemplates();
      const ofA = await rows();
      // IPFIX: the IPv4 and IPv6 data templates, the options template, and the sampler row (-1).
      expect(ofA.map((r) => r.template_id)).toEqual([-1, 256, 257, 258]);
      await c2.send(b.datagrams, 'netflow', '127.0.0.2');
      await c2.pipeline.saveTemplates();
      await c1.pipeline.saveTemplates();
      const all = await rows();
      expect(all.filter((r) => r.exporter === '127.0.0.1')).toEqual(ofA);
      expect(all.filter((r) => r.exporter === '127.0.0.2').map((r) => r.template_id)).toEqual([256, 257]);
      // A collector started now learns both, whichever collector saved them.
      const c3 = await testCollector(t.db, { collectorId: 'lb-3', now: () => T0 });
      expect(c3.pipeline.registry.size).toBe(5);
      await c3.stop();
    } finally {
      await close();
    }
  });
});

describe('a minute that becomes split after its hour was materialized', () => {
  it('exporter_hours sums the loss again on the next refresh, and the API annotates the split', async () => {
    const t = await testApp({ mode: 'server', now: APP_NOW });
    const minute = Date.parse('2026-11-19T08:10:00Z');
    const write = (collector: string, records: number, lostRecords: number) =>
      writeBatches(t.db, [
        {
          id: randomUUID(),
          traffic: [],
          exporters: [],
          minutes: [
            { minuteMs: minute, exporter: '192.0.2.1', collector, records, lostRecords, unsampledRecords: 0 },
          ],
        },
      ]);
    const hour = async () => {
      const [row] = await t.db.query<{ records: number; lost: number }>(
        sql`SELECT records::float8 AS records, lost_records::float8 AS lost FROM exporter_hours
             WHERE time = '2026-11-19T08:00:00Z' AND exporter = '192.0.2.1'`,
      );
      return row;
    };
    try {
      await write('lb-1', 100, 7);
      await refreshRollups(t.db);
      expect(await hour()).toEqual({ records: 100, lost: 7 });
      await write('lb-2', 50, 3);
      await refreshRollups(t.db);
      expect(await hour()).toEqual({ records: 150, lost: 0 });
      const r = await t.get(
        url('/radar/netflows/timeseries', {
          dateStart: '2026-11-19T00:00:00Z',
          dateEnd: '2026-11-20T00:00:00Z',
          aggInterval: '1h',
        }),
      );
      expect(r.status, r.text).toBe(200);
      expect(r.body.result.meta.confidenceInfo).toMatchObject({
        level: 4,
        annotations: [
          {
            dataSource: 'NET',
            eventType: 'PIPELINE',
            description: SPLIT_NOTE('192.0.2.1', 2, 1),
            startDate: '2026-11-19T08:10:00Z',
            endDate: '2026-11-19T08:11:00Z',
          },
        ],
      });
    } finally {
      await t.close();
    }
  });
});

describe('loss of an exporter split in some minutes only', () => {
  it('is a share of the minutes where it was measured, and both annotations appear', async () => {
    const t = await testApp({ mode: 'server', now: APP_NOW });
    const at = (hhmm: string) => Date.parse(`2026-11-19T${hhmm}:00Z`);
    const minute = (minuteMs: number, collector: string, records: number, lostRecords: number) => ({
      minuteMs,
      exporter: '192.0.2.7',
      collector,
      records,
      lostRecords,
      unsampledRecords: 0,
    });
    try {
      await writeBatches(t.db, [
        {
          id: randomUUID(),
          traffic: [],
          exporters: [],
          minutes: [minute(at('08:10'), 'lb-1', 100, 5), minute(at('08:11'), 'lb-1', 150, 9)],
        },
      ]);
      await writeBatches(t.db, [
        { id: randomUUID(), traffic: [], exporters: [], minutes: [minute(at('08:11'), 'lb-2', 150, 4)] },
      ]);
      const r = await t.get(
        url('/radar/netflows/timeseries', {
          dateStart: '2026-11-19T08:00:00Z',
          dateEnd: '2026-11-19T09:00:00Z',
          aggInterval: '15m',
        }),
      );
      expect(r.status, r.text).toBe(200);
      const info = r.body.result.meta.confidenceInfo;
      // 5 lost of the 100 records of 08:10; the 300 records of the split 08:11 say nothing of loss.
      expect(info.annotations.map((a: { description: string }) => a.description)).toEqual([
        'exporter 192.0.2.7: an estimated 4.8% of flow records lost (5 of 105)',
        SPLIT_NOTE('192.0.2.7', 2, 1),
      ]);
      expect(info.level).toBe(3);
    } finally {
      await t.close();
    }
  });
});

describe('exporter_minutes upsert rules', () => {
  /** Writes to one minute of one exporter, in order; each inner list is one batch. */
  const cases: {
    name: string;
    writes: [collector: string, records: number, lost: number][][];
    split: number;
    lost: number;
    collectors: string[];
  }[] = [
    { name: 'one collector', writes: [[['c1', 10, 5]]], split: 0, lost: 5, collectors: ['c1'] },
    {
      name: 'one collector, many flushes: its loss adds up',
      writes: [[['c1', 10, 5]], [['c1', 10, 3]]],
      split: 0,
      lost: 8,
      collectors: ['c1'],
    },
    {
      name: 'a second collector makes the minute split: loss unknown, not summed',
      writes: [[['c1', 10, 5]], [['c2', 10, 3]]],
      split: 2,
      lost: 0,
      collectors: ['c1', 'c2'],
    },
    {
      name: 'split stays split when the first collector writes again',
      writes: [[['c1', 10, 5]], [['c2', 10, 3]], [['c1', 10, 4]]],
      split: 2,
      lost: 0,
      collectors: ['c1', 'c2'],
    },
    {
      name: 'three collectors',
      writes: [[['c1', 10, 1]], [['c2', 10, 1]], [['c3', 10, 1]], [['c2', 10, 1]]],
      split: 3,
      lost: 0,
      collectors: ['c1', 'c2', 'c3'],
    },
    {
      name: 'HTTP ingest first, then a collector: not split, the collector measures',
      writes: [[['', 10, 0]], [['c1', 10, 5]]],
      split: 0,
      lost: 5,
      collectors: ['c1'],
    },
    {
      name: 'a collector, then HTTP ingest: not split',
      writes: [[['c1', 10, 5]], [['', 10, 0]]],
      split: 0,
      lost: 5,
      collectors: ['c1'],
    },
    {
      name: 'no collector never reports loss (a spooled minute from before collector ids)',
      writes: [[['', 10, 9]]],
      split: 0,
      lost: 0,
      collectors: [],
    },
    {
      name: 'two collectors in one merged write (a spool replay across an id change)',
      writes: [
        [
          ['c1', 10, 5],
          ['c2', 10, 3],
        ],
      ],
      split: 2,
      lost: 0,
      collectors: ['c1', 'c2'],
    },
  ];

  let db: Database;
  beforeAll(async () => {
    db = await testDatabase('server');
  });
  afterAll(() => db?.close());

  // Each case owns one exporter of the database.
  it.each(cases.map((c, i) => [c.name, i] as const))('%s', async (_name, i) => {
    const c = cases[i]!;
    const exporter = `198.51.100.${i + 1}`;
    const minuteMs = Date.parse('2026-11-19T08:10:00Z');
    for (const batch of c.writes) {
      const minutes: ExporterMinuteDelta[] = batch.map(([collector, records, lostRecords]) => ({
        minuteMs,
        exporter,
        collector,
        records,
        lostRecords,
        unsampledRecords: 0,
      }));
      // One transaction per inner list, as the writer writes what waits together; a list of two
      // deltas is two batches summed by sumBatches, which keeps collectors apart.
      await writeBatches(
        db,
        minutes.map((m) => ({ id: randomUUID(), traffic: [], exporters: [], minutes: [m] })),
      );
    }
    const records = c.writes.flat().reduce((s, [, r]) => s + r, 0);
    expect((await minuteRows(db)).filter((r) => r.exporter === exporter)).toEqual([
      { exporter, records, lost: c.lost, split: c.split, collectors: c.collectors },
    ]);
  });
});
