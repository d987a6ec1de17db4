import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../deps.js';
import { ApiError } from '../errors.js';

/**
 * Fixed-window counters in process memory. On several instances each enforces its own share;
 * on Workers, where isolates come and go, use Cloudflare's rate limiting in front instead.
 */
export class WindowCounter {
  private windows = new Map<string, { start: number; count: number }>();

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  /** Counts one hit for `key`; returns the state after it. */
  hit(key: string, nowMs: number): { count: number; remaining: number; resetMs: number } {
    let w = this.windows.get(key);
    if (!w || nowMs - w.start >= this.windowMs) {
      w = { start: nowMs, count: 0 };
      this.windows.set(key, w);
      if (this.windows.size > 100_000) this.prune(nowMs);
    }
    w.count++;
    return {
      count: w.count,
      remaining: Math.max(0, this.limit - w.count),
      resetMs: w.start + this.windowMs - nowMs,
    };
  }

  /** Current count without counting. */
  peek(key: string, nowMs: number): number {
    const w = this.windows.get(key);
    return w && nowMs - w.start < this.windowMs ? w.count : 0;
  }

  private prune(nowMs: number): void {
    for (const [k, w] of this.windows) if (nowMs - w.start >= this.windowMs) this.windows.delete(k);
  }
}

export function rateLimitHeaders(
  counter: WindowCounter,
  remaining: number,
  resetMs: number,
): Record<string, string> {
  const reset = Math.ceil(resetMs / 1000);
  return {
    RateLimit: `limit=${counter.limit}, remaining=${remaining}, reset=${reset}`,
    'RateLimit-Policy': `${counter.limit};w=${Math.round(counter.windowMs / 1000)}`,
  };
}

export function tooMany(counter: WindowCounter, resetMs: number, what: string): ApiError {
  return new ApiError('RATE_LIMITED', `rate limited: ${what}; retry after the Retry-After header`, {
    'Retry-After': String(Math.max(1, Math.ceil(resetMs / 1000))),
    ...rateLimitHeaders(counter, 0, resetMs),
  });
}

/**
 * Limits requests per token (after authentication): 429 code 1015 with Retry-After, and the
 * RateLimit / RateLimit-Policy headers on every response.
 * @example
 * app.use('/radar/*', tokenRateLimit({ counter: new WindowCounter(1200, 300_000) }));
 */
export function tokenRateLimit(options: { counter: WindowCounter }): MiddlewareHandler<AppEnv> {
  return async function tokenRateLimitMiddleware(c: Context<AppEnv>, next) {
    const { counter } = options;
    const state = counter.hit(c.var.caller.tokenId, c.var.deps.now());
    if (state.count > counter.limit)
      throw tooMany(counter, state.resetMs, `more than ${counter.limit} requests per token`);
    await next();
    // On the response's own headers: c.header() after the handler wraps the response in a new one
    // per call, its body stream with it (and the caching middlewares lose the rendered text).
    const headers = c.res.headers;
    for (const [k, v] of Object.entries(rateLimitHeaders(counter, state.remaining, state.resetMs)))
      headers.set(k, v);
  };
}
