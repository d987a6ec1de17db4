import type { MiddlewareHandler } from 'hono';
import { grants } from '../auth/scopes.js';
import { type TokenCache, verifyToken } from '../auth/tokens.js';
import type { AppEnv } from '../deps.js';
import { ApiError } from '../errors.js';
import { tooMany, type WindowCounter } from './rate-limit.js';

export interface BearerAuthOptions {
  /** The scope a route needs; `admin` has every scope. */
  scope: string;
  /** Failed attempts per client address; past the limit, 429 before any token is looked at. */
  failures?: WindowCounter;
  /** Recently looked-up tokens (see TokenCache); without it every request asks the database. */
  tokens?: TokenCache;
}

const challenge = { 'WWW-Authenticate': 'Bearer realm="flowradar"' };

/**
 * Requires `Authorization: Bearer <token>` with a scope.
 * Missing → 401 code 9106; unknown, revoked or expired → 401 code 10000; missing scope → 403.
 * @example
 * app.use('/radar/*', bearerAuth({ scope: 'read' }));
 */
export function bearerAuth(options: BearerAuthOptions): MiddlewareHandler<AppEnv> {
  return async function bearerAuthMiddleware(c, next) {
    const { deps } = c.var;
    const ip = deps.clientIp?.(c) ?? 'unknown';
    const nowMs = deps.now();
    const failures = options.failures;
    if (failures && failures.peek(ip, nowMs) >= failures.limit) {
      const state = failures.hit(ip, nowMs);
      throw tooMany(failures, state.resetMs, 'too many failed authentications from this address');
    }
    const fail = (err: ApiError) => {
      failures?.hit(ip, nowMs);
      return err;
    };
    const presented = presentedToken(c.req.header('authorization'), c.req.header('x-auth-key'));
    if (presented === undefined)
      throw fail(
        new ApiError('AUTH_MISSING', 'missing credentials: send Authorization: Bearer <token>', challenge),
      );
    const verdict = await verifyToken(deps.db, presented, nowMs, ip, options.tokens);
    if (!verdict.ok)
      throw fail(
        new ApiError('AUTH', `the token is ${verdict.reason === 'unknown' ? 'not valid' : verdict.reason}`, {
          'WWW-Authenticate': 'Bearer realm="flowradar", error="invalid_token"',
        }),
      );
    if (!grants(verdict.scopes, options.scope))
      throw new ApiError('FORBIDDEN', `the token lacks the scope ${options.scope}`);
    c.set('caller', { tokenId: verdict.id, scopes: verdict.scopes });
    await next();
  };
}

/**
 * The token a request presents: `Authorization: Bearer <token>`, or Cloudflare's legacy
 * `X-Auth-Key: <token>` (sent with `X-Auth-Email` by SDKs configured with `apiKey`; the email is
 * not needed to find a flowradar token and is not checked). Bearer wins when both are sent.
 * @example presentedToken(undefined, 'frt_abc') // 'frt_abc'
 */
export function presentedToken(authorization?: string, authKey?: string): string | undefined {
  const bearer = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
  if (bearer) return bearer[1];
  const key = authKey?.trim();
  return key && !/\s/.test(key) ? key : undefined;
}
