import { afterAll, beforeAll } from 'vitest';
import { type TestApp, testApp } from '../../helpers/app.js';
import type { Mode } from '../../helpers/db.js';
import { NOW, type Params } from '../data.js';

export const TS = '/radar/netflows/timeseries';
export const GROUPS = '/radar/netflows/timeseries_groups';
export const SUMMARY = '/radar/netflows/summary';
export const TOP_ASES = '/radar/netflows/top/ases';
export const TOP_LOCATIONS = '/radar/netflows/top/locations';

/** The explicit window 2026-11-20 09:00 … 12:15 that holds rows b–h (2100 bytes). */
export const W_DAY = { dateStart: '2026-11-20T09:00:00Z', dateEnd: '2026-11-20T12:14:00Z' };
/** 2026-11-10, the day of the twelve ASes (780 bytes). */
export const W_ASES = { dateStart: '2026-11-10T00:00:00Z', dateEnd: '2026-11-10T23:59:00Z' };
/** Last day, hourly: 2026-11-19T13:00 … 2026-11-20T13:00. */
export const D1H = { dateRange: '1d', aggInterval: '1h' };

/** Every parameter given twice: the same window (or filter) for two series. */
export const twice = (p: Record<string, string>) =>
  Object.fromEntries(Object.entries(p).map(([k, v]) => [k, [v, v]])) as Params;

/** Dataset "day" (DAY_ROWS and the AS names): the app and its tokens. */
export interface DayContext {
  t: TestApp;
  /** Scopes read and read:raw. */
  raw: string;
  /** Scope admin. */
  admin: string;
}

/** Dataset "weeks" (WEEK_ROWS, annotations, exporter quality): the app and a read:raw token. */
export interface WeeksContext {
  t: TestApp;
  /** Scopes read and read:raw. */
  raw: string;
}

/**
 * Called in a describe: one app on a fresh database for all the tests in it, filled once by
 * `fill` in a beforeAll and closed in an afterAll. Returns the accessor the endpoint modules
 * take; it throws when called before the beforeAll has filled the dataset (or after it failed).
 */
export function sharedDataset<X extends object>(
  mode: Mode,
  fill: (t: TestApp) => Promise<X>,
): () => { t: TestApp } & X {
  let t: TestApp | undefined;
  let ctx: ({ t: TestApp } & X) | undefined;
  beforeAll(async () => {
    t = await testApp({ mode, now: NOW });
    ctx = { t, ...(await fill(t)) };
  });
  afterAll(() => t?.close());
  return () => {
    if (ctx === undefined) throw new Error('the dataset is not set up: its beforeAll has not run or failed');
    return ctx;
  };
}
