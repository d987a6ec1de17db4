import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import Cloudflare from 'cloudflare';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo.js';
import { type TestApp, testApp } from './helpers/app.js';
import { insertTraffic } from './helpers/db.js';
import { DAY_ROWS, insertAsnNames, NOW } from './query/data.js';

/**
 * What flowradar answers, compiled against the official SDK's response types with strict tsc: a
 * field we drop, an enum value Radar does not have, or a null where the SDK says string fails here,
 * before it fails in a typed client. Every answer is captured through the SDK itself, then written
 * out as object literals typed with the SDK's interfaces (literals, so excess fields fail too).
 */
const run = promisify(execFile);
const SDK = resolve('node_modules/cloudflare/resources/radar/netflows');
const TSC = resolve('node_modules/typescript/bin/tsc');

/** A response type of the SDK, and which of its keys types every series of an answer. */
interface Shape {
  type: string;
  series: string;
}
const SHAPES = {
  timeseries: { type: 'N.NetFlowsTimeseriesResponse', series: 'serie_0' },
  groups: { type: 'N.NetFlowsTimeseriesGroupsResponse', series: 'serie_0' },
  summary: { type: 'N.NetFlowsSummaryV2Response', series: 'summary_0' },
  legacySummary: { type: 'N.NetFlowsSummaryResponse', series: 'summary_0' },
  topAses: { type: 'T.TopAsesResponse', series: 'top_0' },
  topLocations: { type: 'T.TopLocationsResponse', series: 'top_0' },
} satisfies Record<string, Shape>;

/** A TypeScript module that type-checks only if every captured answer fits its SDK type. */
function moduleOf(captured: { label: string; shape: Shape; body: Record<string, unknown> }[]): string {
  const lines = [
    `import type * as N from ${JSON.stringify(`${SDK}/netflows.js`)};`,
    `import type * as T from ${JSON.stringify(`${SDK}/top.js`)};`,
  ];
  captured.forEach(({ label, shape, body }, i) => {
    for (const [key, value] of Object.entries(body)) {
      const slot = key === 'meta' ? 'meta' : shape.series;
      lines.push(
        `export const c${i}_${lines.length}: ${shape.type}['${slot}'] = ${JSON.stringify(value)}; // ${label}: ${JSON.stringify(key)}`,
      );
    }
  });
  return `${lines.join('\n')}\n`;
}

/**
 * Runs strict tsc on one module; the compiler's complaints, each led by the answer and key it is
 * about, or '' when it compiles.
 */
async function compile(dir: string, source: string): Promise<string> {
  const labels = source.split('\n').map((line) => line.split(' // ')[1] ?? '');
  await writeFile(join(dir, 'captured.ts'), source);
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        skipLibCheck: true,
        types: [],
      },
      files: ['captured.ts'],
    }),
  );
  try {
    await run(process.execPath, [TSC, '-p', join(dir, 'tsconfig.json')]);
    return '';
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? e).replace(
      /^.*captured\.ts\((\d+),\d+\)/gm,
      (_, line: string) => `[${labels[Number(line) - 1]}]`,
    );
  }
}

describe("captured answers compile against the official SDK's response types (strict tsc)", () => {
  let t: TestApp;
  let client: Cloudflare;
  let dir: string;
  const captured: { label: string; shape: Shape; body: Record<string, unknown> }[] = [];
  const W_DAY = { dateStart: ['2026-11-20T09:00:00Z'], dateEnd: ['2026-11-20T12:14:00Z'] };

  beforeAll(async () => {
    t = await testApp({ now: NOW });
    await insertTraffic(t.db, DAY_ROWS);
    await insertAsnNames(t.db);
    client = new Cloudflare({
      apiToken: await t.token(['read']),
      baseURL: 'http://flowradar.test/client/v4',
      maxRetries: 0,
      fetch: async (input, init) => t.app.fetch(new Request(input, init)),
    });
    dir = await mkdtemp(join(tmpdir(), 'flowradar-sdk-types-'));
  });
  afterAll(async () => {
    await t?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const capture = (label: string, shape: Shape, body: unknown) =>
    captured.push({ label, shape, body: body as Record<string, unknown> });

  it('every endpoint, every normalization, several series: the answers fit the SDK types', async () => {
    const nf = client.radar.netFlows;
    capture(
      'timeseries, MIN0_MAX, two series',
      SHAPES.timeseries,
      await nf.timeseries({
        name: ['all', 'pt'],
        location: ['', 'PT'],
        dateRange: ['1d', '1d'],
        aggInterval: '1h',
      }),
    );
    capture(
      'timeseries, PERCENTAGE_CHANGE against an empty control window',
      SHAPES.timeseries,
      await nf.timeseries({
        dateRange: ['1d', '1dControl'],
        aggInterval: '1h',
        normalization: 'PERCENTAGE_CHANGE',
      }),
    );
    capture(
      'timeseries, no matching traffic',
      SHAPES.timeseries,
      await nf.timeseries({
        asn: ['64512'],
        dateRange: ['1d'],
      }),
    );
    for (const dimension of ['AS', 'LOCATION', 'PRODUCT'] as const) {
      capture(
        `timeseries_groups ${dimension}`,
        SHAPES.groups,
        await nf.timeseriesGroups(dimension, {
          dateRange: ['1d'],
          aggInterval: '1h',
        }),
      );
      capture(`summary ${dimension}`, SHAPES.summary, await nf.summaryV2(dimension, W_DAY));
    }
    capture(
      'timeseries_groups PRODUCT, MIN0_MAX',
      SHAPES.groups,
      await nf.timeseriesGroups('PRODUCT', {
        dateRange: ['1d'],
        normalization: 'MIN0_MAX',
      }),
    );
    capture('summary (deprecated)', SHAPES.legacySummary, await nf.summary(W_DAY));
    capture('top ases', SHAPES.topAses, await nf.top.ases({ ...W_DAY, limit: 3 }));
    capture(
      'top locations, two series',
      SHAPES.topLocations,
      await nf.top.locations({
        name: ['all', 'noPT'],
        location: ['', '-PT'],
        dateRange: ['1d', '1d'],
      }),
    );

    const errors = await compile(dir, moduleOf(captured));
    expect(errors).toBe('');
  });

  it('the check can fail: a null value and an unknown aggInterval are type errors', async () => {
    const body = (await client.radar.netFlows.timeseries({ dateRange: ['1d'] })) as unknown as {
      meta: Record<string, unknown>;
      serie_0: { values: (string | null)[] };
    };
    body.serie_0.values[0] = null;
    body.meta.aggInterval = 'HOURLY';
    const errors = await compile(dir, moduleOf([{ label: 'broken', shape: SHAPES.timeseries, body }]));
    expect(errors).toMatch(/Type 'null' is not assignable to type 'string'/);
    expect(errors).toMatch(/"HOURLY"/);
  });
});

/** Every number of an answer's series (values, shares, top values), meta and timestamps aside. */
function numbersOf(body: Record<string, unknown>): number[] {
  const walk = (x: unknown, key: string): number[] => {
    if (key === 'timestamps' || key === 'meta' || /ASN|Alpha2|Name/.test(key)) return [];
    if (Array.isArray(x)) return x.flatMap((v) => walk(v, key));
    if (x && typeof x === 'object') return Object.entries(x).flatMap(([k, v]) => walk(v, k));
    return typeof x === 'string' && x !== '' && Number.isFinite(Number(x)) ? [Number(x)] : [];
  };
  return walk(body, '');
}

describe("the SDK's typed calls for all six endpoints against the demo, compiled against its types", () => {
  let t: TestApp;
  let dir: string;
  let nf: Cloudflare['radar']['netFlows'];
  const now = Math.floor(Date.now() / 300_000) * 300_000;

  beforeAll(async () => {
    t = await testApp({ now: new Date(now).toISOString() });
    await seedDemo(t.db, now, pino({ level: 'silent' }));
    nf = new Cloudflare({
      apiToken: await t.token(['read']),
      baseURL: 'http://flowradar.test/client/v4',
      maxRetries: 0,
      fetch: async (input, init) => t.app.fetch(new Request(input, init)),
    }).radar.netFlows;
    dir = await mkdtemp(join(tmpdir(), 'flowradar-sdk-demo-'));
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('geoId, ADM1, groups with PERCENTAGE_CHANGE, one dateRange for two series: data, and the SDK types hold', async () => {
    const LISBON = '2267056';
    const calls: [string, Shape, () => Promise<unknown>][] = [
      [
        'timeseries, geoId Lisbon vs all, one dateRange',
        SHAPES.timeseries,
        () =>
          nf.timeseries({
            name: ['lisbon', 'all'],
            geoId: [LISBON, ''],
            dateRange: ['7d'],
          }),
      ],
      [
        'timeseries, PERCENTAGE_CHANGE vs 7dControl',
        SHAPES.timeseries,
        () =>
          nf.timeseries({
            dateRange: ['7d', '7dControl'],
            aggInterval: '1d',
            normalization: 'PERCENTAGE_CHANGE',
          }),
      ],
      [
        'timeseries_groups ADM1',
        SHAPES.groups,
        () => nf.timeseriesGroups('ADM1', { dateRange: ['1d'], aggInterval: '1h' }),
      ],
      [
        'timeseries_groups AS, PERCENTAGE_CHANGE vs last week',
        SHAPES.groups,
        () =>
          nf.timeseriesGroups('AS', {
            dateRange: ['7d', '7dControl'],
            aggInterval: '1d',
            normalization: 'PERCENTAGE_CHANGE',
          }),
      ],
      ['summary ADM1', SHAPES.summary, () => nf.summaryV2('ADM1', { dateRange: ['1d'] })],
      [
        'summary PRODUCT, geoId excluded',
        SHAPES.summary,
        () => nf.summaryV2('PRODUCT', { dateRange: ['1d'], geoId: [`-${LISBON}`] }),
      ],
      [
        'summary (deprecated), geoId',
        SHAPES.legacySummary,
        () => nf.summary({ dateRange: ['1d'], geoId: [LISBON] }),
      ],
      [
        'top ases, geoId',
        SHAPES.topAses,
        () => nf.top.ases({ dateRange: ['1d'], geoId: [LISBON], limit: 3 }),
      ],
      [
        'top locations, two series, one dateRange',
        SHAPES.topLocations,
        () =>
          nf.top.locations({
            name: ['all', 'noPT'],
            location: ['', '-PT'],
            dateRange: ['28d'],
          }),
      ],
    ];
    const captured = [];
    for (const [label, shape, call] of calls) {
      const body = (await call().catch((e) => {
        throw new Error(`${label}: ${e}`);
      })) as Record<string, unknown>;
      // Every series of every answer has traffic: the demo covers what the examples ask.
      // (A PERCENTAGE_CHANGE answer's second series is its baseline, 0 by definition.)
      const baseline = label.includes('PERCENTAGE_CHANGE') ? Object.keys(body)[2] : undefined;
      for (const [key, series] of Object.entries(body))
        if (key !== 'meta' && key !== baseline)
          expect(
            numbersOf({ [key]: series }).some((n) => n !== 0),
            `${label}: ${key}`,
          ).toBe(true);
      captured.push({ label, shape, body });
    }
    expect(await compile(dir, moduleOf(captured))).toBe('');
  });
});
