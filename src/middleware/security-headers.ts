import type { MiddlewareHandler } from 'hono';
import type { Config } from '../config.js';
import type { AppEnv } from '../deps.js';

/** A page of ours: our own script and styles only, data from our own origin, framed by `frameAncestors`. */
function pageCsp(frameAncestors: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    `frame-ancestors ${frameAncestors}`,
  ].join('; ');
}

/**
 * The explorer page, framed only by ourselves.
 * @example c.header('content-security-policy', explorerCsp())
 */
export function explorerCsp(): string {
  return pageCsp("'self'");
}

/**
 * An embed page: like the explorer, but framed by whatever `embedFrameAncestors` allows.
 * @example c.header('content-security-policy', embedCsp(c.var.deps.config))
 */
export function embedCsp(config: Pick<Config, 'embedFrameAncestors'>): string {
  return pageCsp(config.embedFrameAncestors);
}

/** The SVG chart: nothing to load, nothing to run; it may be framed like an embed page. */
export function svgCsp(config: Pick<Config, 'embedFrameAncestors'>): string {
  return `default-src 'none'; style-src 'unsafe-inline'; frame-ancestors ${config.embedFrameAncestors}`;
}

/** API answers (JSON, CSV, text): never a document to render or to frame. */
const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/**
 * Headers for every response: `nosniff`, `Referrer-Policy: no-referrer` (embed URLs carry their
 * signature), and for anything that is not an HTML page a CSP that forbids rendering and framing.
 * Pages set their own CSP (explorerCsp, embedCsp); HTML without one (the API reference at /docs,
 * whose viewer sets inline styles) is left as it is.
 * @example
 * app.use('*', securityHeaders());
 */
export function securityHeaders(): MiddlewareHandler<AppEnv> {
  return async function securityHeadersMiddleware(c, next) {
    await next();
    const h = c.res.headers;
    if (!h.has('x-content-type-options')) h.set('x-content-type-options', 'nosniff');
    if (!h.has('referrer-policy')) h.set('referrer-policy', 'no-referrer');
    const type = h.get('content-type') ?? '';
    if (!h.has('content-security-policy') && !type.includes('text/html'))
      h.set('content-security-policy', API_CSP);
  };
}
