/**
 * In-process response cache for the NetFlows API. A GET answer is kept under a key made of the
 * normalized query, the caller's scopes and the 15-minute slot of the clock (relative windows
 * such as `dateRange=7d` only move at 15-minute boundaries), and is valid while the data
 * watermark it was computed under still holds. The watermark (src/db/watermarks.ts) changes
 * whenever traffic lands or an annotation is added. Identical dashboard queries are then answered
 * without the database.
 *
 * Wiring (after authentication, so a cached answer is never given to a caller who may not see it):
 * @example
 * app.use('/radar/netflows/*', responseCache({ cache, watermark: dataWatermark(readDatabase(deps)) }));
 */
import type { MiddlewareHandler } from 'hono';
import { LRUCache } from 'lru-cache';
import type { Queryable } from './db/client.js';
import { getDataWatermark } from './db/watermarks.js';
import type { AppEnv } from './deps.js';
import { etagMatches, renderedBody, weakEtag } from './middleware/http-cache.js';
import { refreshedEvery } from './refreshed.js';

/** Relative windows end with the bucket holding "now"; every interval's buckets are 15-minute aligned. */
export const SLOT_MS = 15 * 60_000;

export interface CachedResponse {
  status: number;
  contentType: string;
  body: string;
  /** Weak ETag of the body, computed at the first hit (a miss is tagged by httpCache()). */
  etag?: string;
}

interface Entry extends CachedResponse {
  watermark: string;
  storedMs: number;
}

export interface ResponseCacheOptions {
  /** Most answers kept (default 2,000); the least recently used go first. */
  maxEntries?: number;
  /** Most body bytes kept, as UTF-16 length × 2 (default 64 MiB). */
  maxBytes?: number;
  /** Longest an answer is served, whatever the watermark says (default 60 s). */
  maxAgeMs?: number;
  now?: () => number;
}

/**
 * LRU of rendered answers, each valid under one watermark. Eviction by count and by bytes is
 * lru-cache's; the age limit is checked here against `now` so that tests can move the clock.
 */
export class ResponseCache {
  private readonly entries: LRUCache<string, Entry>;
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly maxAgeMs: number;
  private readonly now: () => number;
  hits = 0;
  misses = 0;

  constructor(opts: ResponseCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 2000;
    this.maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
    this.maxAgeMs = opts.maxAgeMs ?? 60_000;
    this.now = opts.now ?? Date.now;
    this.entries = new LRUCache<string, Entry>({
      max: this.maxEntries,
      maxSize: this.maxBytes,
      sizeCalculation: (e) => Math.max(1, e.body.length * 2),
    });
  }

  get size(): number {
    return this.entries.size;
  }

  /** The answer stored under `key` if it was computed under `watermark` and is not too old. */
  get(key: string, watermark: string): CachedResponse | undefined {
    const e = this.entries.get(key);
    if (e === undefined || e.watermark !== watermark || this.now() - e.storedMs > this.maxAgeMs) {
      if (e !== undefined) this.entries.delete(key);
      this.misses++;
      return undefined;
    }
    this.hits++;
    return e;
  }

  set(key: string, watermark: string, value: CachedResponse): void {
    // lru-cache refuses (and drops the old value of) an entry larger than maxSize.
    this.entries.set(key, { ...value, watermark, storedMs: this.now() });
  }

  clear(): void {
    this.entries.clear();
  }
}

/**
 * Cache key of a request: path, query parameters grouped by name in name order (the order of the
 * values of one name is kept: it is the series position), the caller's scopes, and the 15-minute
 * slot of `nowMs`.
 */
export function cacheKey(url: URL, scopes: readonly string[], nowMs: number): string {
  const names = [...new Set(url.searchParams.keys())].sort();
  const query = names.map((n) => `${n}=${url.searchParams.getAll(n).join('\u0001')}`).join('&');
  return `${url.pathname}?${query}|${[...scopes].sort().join(',')}|${Math.floor(nowMs / SLOT_MS)}`;
}

/**
 * The data watermark, asked of the database at most once per `ttlMs` (concurrent callers share
 * one query): answers may lag a new minute by that long. `db` must be the one the answers are read
 * from (a replica, when there is one): the watermark is read before the answer, so on one server
 * an answer is never older than the watermark it is stored under. Read from a primary ahead of
 * the replica, or across replicas of different lag, an old answer could be kept under a newer one.
 */
export function dataWatermark(
  db: Queryable,
  ttlMs = 1000,
  now: () => number = Date.now,
): () => Promise<string> {
  return refreshedEvery(ttlMs, () => getDataWatermark(db), now);
}

export interface ResponseCacheMiddlewareOptions extends ResponseCacheOptions {
  /** Current data watermark, e.g. {@link dataWatermark}. */
  watermark: () => Promise<string>;
  /** A cache to share or inspect; one is made from the options otherwise. */
  cache?: ResponseCache;
}

/**
 * Serves GET answers from a {@link ResponseCache}; stores 200 answers. Hits carry `X-Cache: HIT`
 * and their ETag (304 when If-None-Match holds it); misses are tagged by the outer httpCache().
 * `Cache-Control: no-cache` on the request skips the lookup (the fresh answer is stored).
 * Must run after authentication: it reads `c.var.caller.scopes`.
 */
export function responseCache(opts: ResponseCacheMiddlewareOptions): MiddlewareHandler<AppEnv> {
  const cache = opts.cache ?? new ResponseCache(opts);
  return async function responseCacheMiddleware(c, next) {
    if (c.req.method !== 'GET') return next();
    const watermark = await opts.watermark();
    const key = cacheKey(new URL(c.req.url), c.var.caller?.scopes ?? [], c.var.deps.now());
    // A client asking for a fresh answer (Cache-Control: no-cache) gets one, which is then stored.
    const fresh = /no-cache/i.test(c.req.header('cache-control') ?? '');
    const hit = fresh ? undefined : cache.get(key, watermark);
    if (hit !== undefined) {
      hit.etag ??= weakEtag(hit.body);
      const headers = { etag: hit.etag, 'x-cache': 'HIT' };
      const ifNoneMatch = c.req.header('if-none-match');
      if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, hit.etag)) return c.body(null, 304, headers);
      return c.body(hit.body, hit.status as 200, { ...headers, 'content-type': hit.contentType });
    }
    await next();
    const res = c.res;
    if (res.status !== 200) return;
    cache.set(key, watermark, {
      status: res.status,
      contentType: res.headers.get('content-type') ?? 'application/json',
      body: renderedBody(c) ?? (await res.clone().text()),
    });
    res.headers.set('x-cache', 'MISS');
  };
}
