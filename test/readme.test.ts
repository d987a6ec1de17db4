/**
 * Every curl example of README.md that asks the NetFlows API, run as written (its URL and headers,
 * with $API and $TOKEN as the README sets them) against the demo's data: each answers 200 and
 * every series it names has data. An example that reaches past the demo's history, or that the
 * API refuses, fails here rather than on a newcomer's first try.
 */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo.js';
import { type TestApp, testApp } from './helpers/app.js';
import { listen } from './helpers/browser.js';
import { ROOT } from './helpers/worker.js';

const README = readFileSync(`${ROOT}/README.md`, 'utf8');

interface Example {
  command: string;
  url: string;
  headers: Record<string, string>;
}

/** The shell variables the README sets (`API=...`), by name. */
function readmeVariables(): Record<string, string> {
  return Object.fromEntries([...README.matchAll(/^([A-Z_]+)=([^\s$(][^\s]*)$/gm)].map((m) => [m[1]!, m[2]!]));
}

/** The curl commands of the README's sh blocks whose URL starts with $API (continuations joined). */
function apiExamples(): Example[] {
  const blocks = [...README.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/\\\n\s*/g, ''));
  const commands = blocks.flatMap((b) => b.split('\n')).filter((l) => /^curl\s.*"\$API\//.test(l));
  return commands.map((command) => {
    const quoted = [...command.matchAll(/(-H\s+)?"([^"]*)"/g)];
    const headers: Record<string, string> = {};
    let url = '';
    for (const [, flag, text] of quoted) {
      if (flag) {
        const [name, ...value] = text!.split(':');
        headers[name!.trim().toLowerCase()] = value.join(':').trim();
      } else url = text!;
    }
    return { command, url, headers };
  });
}

/** Every number a series holds: its values, shares or top entries (not timestamps or ids). */
function numbersOf(x: unknown, key = ''): number[] {
  if (key === 'timestamps' || /asn|code|name|rank/i.test(key)) return [];
  if (Array.isArray(x)) return x.flatMap((v) => numbersOf(v, key));
  if (x && typeof x === 'object') return Object.entries(x).flatMap(([k, v]) => numbersOf(v, k));
  const n = typeof x === 'string' || typeof x === 'number' ? Number(x) : Number.NaN;
  return Number.isFinite(n) ? [n] : [];
}

/** The series of a CSV answer: the numbers of each "… values" column, by column name. */
function csvSeries(text: string): Record<string, number[]> {
  const [head, ...rows] = text.trim().split('\n');
  const columns = head!.split(',');
  const out: Record<string, number[]> = {};
  columns.forEach((c, i) => {
    if (c.endsWith(' values')) out[c] = rows.map((r) => Number(r.split(',')[i]));
  });
  return out;
}

describe('the README examples against the demo', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof listen>>;
  let token: string;
  // The demo up to now, as `npm start` writes it on a first start.
  const now = Math.floor(Date.now() / 300_000) * 300_000;

  beforeAll(async () => {
    t = await testApp({ now: new Date(now).toISOString() });
    await seedDemo(t.db, now, pino({ level: 'silent' }));
    token = await t.token(['read']);
    server = await listen(t.app);
  });
  afterAll(async () => {
    await server?.close();
    await t?.close();
  });

  it('finds the examples', () => {
    expect(readmeVariables().API).toBe('http://127.0.0.1:8787/radar/netflows');
    // Every curl line that names $API is parsed into a URL (none slips past the pattern).
    const mentioned = README.split('\n').filter((l) => l.includes('"$API/')).length;
    expect(apiExamples()).toHaveLength(mentioned);
    expect(mentioned).toBeGreaterThanOrEqual(7);
  });

  it.each(apiExamples().map((e) => [e.url, e] as const))('%s answers with data', async (_, example) => {
    const api = readmeVariables().API!.replace(/^https?:\/\/[^/]+/, server.url);
    const headers = Object.fromEntries(
      Object.entries(example.headers).map(([k, v]) => [k, v.replace('$TOKEN', token)]),
    );
    expect(headers.authorization).toBe(`Bearer ${token}`);
    const res = await fetch(example.url.replace('$API', api), { headers });
    const text = await res.text();
    expect(res.status, text).toBe(200);

    let series: Record<string, number[]>;
    if (res.headers.get('content-type')?.includes('csv')) {
      series = csvSeries(text);
      // Every bucket but the newest (which may have just begun) has traffic: the window is covered.
      for (const [name, values] of Object.entries(series))
        expect(
          values.slice(0, -1).filter((v) => !(v > 0)),
          `${name}: ${text}`,
        ).toEqual([]);
    } else {
      const { meta, ...result } = JSON.parse(text).result;
      // Nothing to qualify: no gap, no zero baseline, no exporter of unknown sampling.
      expect(meta.confidenceInfo).toEqual({ level: 5, annotations: [] });
      expect(JSON.stringify(result)).not.toContain('null');
      series = Object.fromEntries(Object.entries(result).map(([k, v]) => [k, numbersOf(v)]));
      // PERCENTAGE_CHANGE compares with the second series, whose own change is 0 by definition;
      // that it had data shows in the first series' changes being finite (a zero baseline is not).
      if (meta.normalization === 'PERCENTAGE_CHANGE') delete series[Object.keys(series)[1]!];
    }
    expect(Object.keys(series).length).toBeGreaterThan(0);
    for (const [name, values] of Object.entries(series)) {
      expect(values.length, name).toBeGreaterThan(0);
      expect(
        values.some((v) => v !== 0),
        `${name} is all zeros: ${text.slice(0, 400)}`,
      ).toBe(true);
    }
  });
});
