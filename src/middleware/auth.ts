import type { MiddlewareHandler } from 'hono';
import { verifyToken } from '../auth/tokens.js';
import type { AppEnv } from '../deps.js';
import { ApiError, ErrorCode } from '../errors.js';

export interface BearerAuthOptions {
  /** The scope a route needs; `admin` has every scope. */
  scope: string;
}

/** admin holds every scope; read:raw is read with raw values. */
export function grants(scopes: string[], needed: string): boolean {
  return (
    scopes.includes(needed) || scopes.includes('admin') || (needed === 'read' && scopes.includes('read:raw'))
  );
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
    const header = c.req.header('authorization');
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match)
      throw new ApiError(
        401,
        ErrorCode.AUTH_MISSING,
        'missing credentials: send Authorization: Bearer <token>',
        challenge,
      );
    const verdict = await verifyToken(c.var.deps.db, match[1]!, c.var.deps.now());
    if (!verdict.ok)
      throw new ApiError(
        401,
        ErrorCode.AUTH,
        `the token is ${verdict.reason === 'unknown' ? 'not valid' : verdict.reason}`,
        {
          'WWW-Authenticate': 'Bearer realm="flowradar", error="invalid_token"',
        },
      );
    if (!grants(verdict.scopes, options.scope))
      throw new ApiError(403, ErrorCode.AUTH, `the token lacks the scope ${options.scope}`);
    c.set('caller', { tokenId: verdict.id, scopes: verdict.scopes });
    await next();
  };
}
