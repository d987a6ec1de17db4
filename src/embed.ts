import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { type Config, parseDuration } from './config.js';
import type { Database } from './db/client.js';
import { getOrCreateSetting } from './db/settings.js';
import { ApiError, badParam } from './errors.js';
import { DAY } from './query/time.js';
import { timeseriesNormalization } from './query/timeseries.js';
import { parseSearchQuery } from './routes/schemas.js';

/**
 * Signed, read-only embed links. A link carries the exact (canonical) query string of one
 * `/radar/netflows/timeseries` request, an expiry and an HMAC-SHA256 over both; whoever holds the
 * link can read that query and nothing else, until it expires. No token is involved.
 */

/** Longest lifetime of a link; rotate `embedKey` to revoke every link at once. */
export const MAX_EMBED_TTL_MS = 366 * DAY;
/** The parameters the signature adds; a signed query may not carry them itself. */
const RESERVED = ['exp', 'sig'];

/**
 * The canonical form of a query: its parameters in their order, `exp` and `sig` removed, encoded
 * as URLSearchParams encodes them. Two spellings of the same query sign alike; any other
 * change (a value, a parameter, the order, which is what assigns series) does not.
 */
export function canonicalQuery(params: URLSearchParams): string {
  const kept = new URLSearchParams();
  for (const [k, v] of params) if (!RESERVED.includes(k)) kept.append(k, v);
  return kept.toString();
}

/** HMAC-SHA256 over the canonical query and the expiry (Unix seconds), base64url. */
export function signEmbed(key: string, query: string, exp: number): string {
  return createHmac('sha256', key).update(`${query}\n${exp}`).digest('base64url');
}

export type EmbedVerdict =
  | { ok: true; params: URLSearchParams; exp: number }
  | { ok: false; reason: 'unsigned' | 'signature' | 'expired' };

/**
 * Checks a signed query string (the search part of an embed URL).
 * @example
 * verifyEmbed(key, new URL(req.url).searchParams, Date.now())
 */
export function verifyEmbed(key: string, params: URLSearchParams, nowMs: number): EmbedVerdict {
  const exps = params.getAll('exp');
  const sigs = params.getAll('sig');
  if (exps.length !== 1 || sigs.length !== 1 || !/^\d{1,12}$/.test(exps[0]!))
    return { ok: false, reason: 'unsigned' };
  const exp = Number(exps[0]);
  const query = canonicalQuery(params);
  const expected = Buffer.from(signEmbed(key, query, exp));
  const given = Buffer.from(sigs[0]!);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, reason: 'signature' };
  if (exp * 1000 <= nowMs) return { ok: false, reason: 'expired' };
  return { ok: true, params: new URLSearchParams(query), exp };
}

/** The 403 an embed URL gets when its signature does not hold. */
export function embedRefusal(reason: 'unsigned' | 'signature' | 'expired'): ApiError {
  const message = {
    unsigned: 'this embed link is not signed: it needs exp and sig (flowradar embed create)',
    signature: 'this embed link was changed or is not signed with this server’s key',
    expired: 'this embed link has expired; create a new one (flowradar embed create)',
  }[reason];
  return new ApiError('FORBIDDEN', message);
}

export interface EmbedLinks {
  /** The bare chart page, for an iframe. */
  url: string;
  /** A static SVG chart, for places that cannot run script. */
  svgUrl: string;
  /** The timeseries JSON (or CSV, when the query says format=CSV) the page reads. */
  dataUrl: string;
  expiresAt: string;
}

/** Accepts `name=a&asn=1`, `?name=a&asn=1` or a whole /timeseries URL. */
function queryPart(input: string): string {
  const trimmed = input.trim();
  const q = trimmed.indexOf('?');
  return q >= 0 ? trimmed.slice(q + 1) : trimmed;
}

/**
 * Validates a timeseries query and signs it for `ttl`. Throws ApiError 400 for a bad query or TTL,
 * with the same messages the API gives.
 * @example
 * createEmbed({ key, query: 'name=pt&location=PT&dateRange=7d', ttl: '30d', nowMs: Date.now(), baseUrl: 'http://127.0.0.1:8787' })
 */
export function createEmbed(opts: {
  key: string;
  query: string;
  ttl: string;
  nowMs: number;
  baseUrl: string;
}): EmbedLinks {
  let ttlMs: number;
  try {
    ttlMs = parseDuration(opts.ttl.trim());
  } catch {
    throw badParam('ttl', `"${opts.ttl}" is not a duration such as 30d, 12h or 8w`);
  }
  if (ttlMs <= 0 || ttlMs > MAX_EMBED_TTL_MS) throw badParam('ttl', 'between 1s and 366d');
  const params = new URLSearchParams(queryPart(opts.query));
  for (const k of RESERVED)
    if (params.has(k)) throw badParam('query', `"${k}" is added by the signature; leave it out`);
  // The same checks the timeseries endpoint makes, so a link never signs a request that fails.
  timeseriesNormalization(parseSearchQuery(params, 'timeseries', opts.nowMs));
  const query = canonicalQuery(params);
  const exp = Math.floor((opts.nowMs + ttlMs) / 1000);
  const signed = `${query ? `${query}&` : ''}exp=${exp}&sig=${signEmbed(opts.key, query, exp)}`;
  const base = opts.baseUrl.replace(/\/+$/, '');
  return {
    url: `${base}/embed/timeseries?${signed}`,
    svgUrl: `${base}/embed/timeseries.svg?${signed}`,
    dataUrl: `${base}/embed/data?${signed}`,
    expiresAt: new Date(exp * 1000).toISOString(),
  };
}

/** Where the running service is reached by default (the CLI's --base-url overrides it). */
export function defaultBaseUrl(config: Pick<Config, 'host' | 'port'>): string {
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
}

const keys = new WeakMap<Database, Promise<string>>();

/**
 * The HMAC key of embed links: `embedKey` from the configuration, else a random key generated on
 * first use and kept in the database (table `settings`, migration 0003), shared by every instance.
 */
export function embedKeyOf(db: Database, config: Pick<Config, 'embedKey'>): Promise<string> {
  if (config.embedKey) return Promise.resolve(config.embedKey);
  let key = keys.get(db);
  if (!key) {
    key = getOrCreateSetting(db, 'embed_key', randomBytes(32).toString('base64url'));
    keys.set(db, key);
    key.catch(() => keys.delete(db));
  }
  return key;
}
