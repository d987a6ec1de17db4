import { createHash } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../deps.js';

/** Seconds a browser or dashboard may reuse an authenticated API answer before revalidating. */
export const API_MAX_AGE_SECONDS = 15;
/** Bodies larger than this are sent without an ETag rather than hashed. */
const MAX_HASHED_BYTES = 16 * 1024 * 1024;

/** Headers a 304 must not carry: it has no body. */
const BODY_HEADERS = ['content-type', 'content-length', 'content-encoding', 'transfer-encoding'];

/**
 * A weak ETag over the body: equal bodies, equal tags, whatever computed them. Hand-written rather
 * than hono/etag: that middleware digests a body 256 KiB at a time, each step's digest chained into
 * the next, and offers no function to tag a body outside it, so the response cache (src/cache.ts)
 * could not give a hit the tag its miss had without hashing the body again per hit; it also hashes
 * bodies of any size and type, and its 304 drops every header but six (RateLimit among them).
 * node:crypto runs on Workers under nodejs_compat.
 * @example weakEtag(new TextEncoder().encode('{}').buffer) // 'W/"RBNvo1WzZ4oRRq0W9-hknpT7T8I"'
 */
export function weakEtag(body: ArrayBuffer | string): string {
  // A string is hashed as its UTF-8 bytes: what the response sends.
  const bytes = typeof body === 'string' ? body : new Uint8Array(body);
  return `W/"${createHash('sha256').update(bytes).digest('base64url').slice(0, 27)}"`;
}

/**
 * The body text of the response the request is answering, when its handler rendered it as text
 * (`c.var.rendered`) and that is still the body sent: the same response, or one a middleware made
 * around the same body stream to change headers (Hono's c.header() after the handler, and the
 * CORS middleware, do). Else undefined, and the body must be read from a clone: reading a clone
 * tees the body's stream, which cost more than the whole JSON rendering on distinct queries.
 */
export function renderedBody(c: Context<AppEnv>): string | undefined {
  const rendered = c.var.rendered;
  if (rendered === undefined) return undefined;
  const res = c.res;
  if (res === rendered.response) return rendered.text;
  return res.body !== null && res.body === rendered.response.body ? rendered.text : undefined;
}

/**
 * RFC 9110 weak comparison of If-None-Match against a tag; `*` matches anything.
 * @example etagMatches('"b", W/"a"', 'W/"a"') // true
 */
export function etagMatches(ifNoneMatch: string, etag: string): boolean {
  const opaque = (t: string) => t.trim().replace(/^W\//, '');
  const want = opaque(etag);
  return ifNoneMatch.split(',').some((t) => t.trim() === '*' || opaque(t) === want);
}

function appendVary(headers: Headers, field: string): void {
  const current = headers.get('vary');
  const fields = current ? current.split(',').map((f) => f.trim().toLowerCase()) : [];
  if (fields.includes('*') || fields.includes(field.toLowerCase())) return;
  headers.set('vary', current ? `${current}, ${field}` : field);
}

/**
 * Caching for GET/HEAD: a weak ETag on every 200 and 304 when If-None-Match holds it; for requests
 * with a token, `Cache-Control: private, max-age=…` and `Vary: Authorization`, so an answer is
 * kept per token and never by a shared cache. Routes that set their own Cache-Control keep it.
 * Runs outside the authentication middleware: a 304 is only given after the token was accepted.
 * @example
 * app.use('*', httpCache());
 */
export function httpCache(opts: { maxAgeSeconds?: number } = {}): MiddlewareHandler<AppEnv> {
  const maxAge = opts.maxAgeSeconds ?? API_MAX_AGE_SECONDS;
  return async function httpCacheMiddleware(c, next) {
    await next();
    const authenticated = c.req.header('authorization') !== undefined;
    const res = c.res;
    // Whatever answers a token may differ from what answers another token or none.
    if (authenticated || res.status === 401 || res.status === 403) appendVary(res.headers, 'Authorization');
    const method = c.req.method;
    if (method !== 'GET' && method !== 'HEAD') return;
    if (res.status !== 200) {
      if (authenticated && !res.headers.has('cache-control')) res.headers.set('cache-control', 'no-store');
      return;
    }
    if (!res.headers.has('cache-control') && authenticated)
      res.headers.set(
        'cache-control',
        // Token administration is always revalidated: a new token must show at once.
        c.req.path.includes('/admin/') ? 'private, no-cache' : `private, max-age=${maxAge}`,
      );
    // Under /client/v4 the inner app already tagged (or answered 304).
    if (res.headers.has('etag') || !res.body) return;
    const type = res.headers.get('content-type') ?? '';
    if (type.includes('text/event-stream')) return;
    const length = Number(res.headers.get('content-length') ?? 0);
    if (length > MAX_HASHED_BYTES) return;
    // A rendered text's length in characters is at most its length in bytes.
    const body = renderedBody(c) ?? (await res.clone().arrayBuffer());
    if ((typeof body === 'string' ? body.length : body.byteLength) > MAX_HASHED_BYTES) return;
    const etag = weakEtag(body);
    res.headers.set('etag', etag);
    const ifNoneMatch = c.req.header('if-none-match');
    if (ifNoneMatch === undefined || !etagMatches(ifNoneMatch, etag)) return;
    const headers = new Headers(res.headers);
    for (const h of BODY_HEADERS) headers.delete(h);
    // Replace the response without Hono merging the 200's body headers back in.
    c.res = undefined as unknown as Response;
    c.res = new Response(null, { status: 304, headers });
  };
}
