/**
 * The code of a database error: the PostgreSQL SQLSTATE (`40P01`) or the driver's own
 * (`CONNECTION_CLOSED`, `ECONNREFUSED`), found on the error or on a cause the ORM wrapped it in.
 */
export function dbErrorCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string') return e.code;
    e = e.cause as typeof e;
  }
  return undefined;
}

/** Connection exceptions (08…), the server shutting down (57P0x) and the driver's connection codes. */
export function isConnectionError(code: string | undefined): boolean {
  return code !== undefined && /^(08|57P0)|^CONNECT|^E(CONN|PIPE|TIMEDOUT|NOTFOUND|HOSTUNREACH)/.test(code);
}

/**
 * Failures a retry can get past: the statement lost to another transaction (serialization
 * failure, deadlock) or, on a hot standby, to the replay of the primary's changes (40001).
 */
export function isTransientError(code: string | undefined): boolean {
  return code === '40001' || code === '40P01';
}
