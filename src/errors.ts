import { HTTPException } from 'hono/http-exception';
import { envelope } from './envelope.js';

/** The closed set of error codes, as Radar uses them. */
export const ErrorCode = {
  /** A bad parameter. */
  INPUT: 2001,
  /** The request would cost too much. */
  COST: 2002,
  /** Internal error; the body says nothing more. */
  INTERNAL: 2000,
  /** Too many requests. */
  RATE_LIMITED: 1015,
  /** No such route. */
  NOT_FOUND: 7003,
  /** Unknown, revoked or expired token, or a missing scope. */
  AUTH: 10000,
  /** No credentials at all. */
  AUTH_MISSING: 9106,
  /** The database is unavailable for now. */
  UNAVAILABLE: 2003,
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Every error the API gives, by kind: its Radar code and its HTTP status. The one table that ties
 * the two, so a code is never sent with a status it does not mean.
 */
export const ERRORS = {
  /** A bad parameter, named (and positioned) in the message. */
  INPUT: { code: ErrorCode.INPUT, status: 400 },
  /** The URL is longer than the server reads. */
  URL_TOO_LONG: { code: ErrorCode.INPUT, status: 414 },
  /** The request body is larger than the server reads. */
  BODY_TOO_LARGE: { code: ErrorCode.INPUT, status: 413 },
  /** The request would cost too much (points, buckets, entries). */
  COST: { code: ErrorCode.COST, status: 422 },
  /** No credentials at all. */
  AUTH_MISSING: { code: ErrorCode.AUTH_MISSING, status: 401 },
  /** Unknown, revoked or expired token. */
  AUTH: { code: ErrorCode.AUTH, status: 401 },
  /** A valid token (or signed link) that does not grant this. */
  FORBIDDEN: { code: ErrorCode.AUTH, status: 403 },
  NOT_FOUND: { code: ErrorCode.NOT_FOUND, status: 404 },
  RATE_LIMITED: { code: ErrorCode.RATE_LIMITED, status: 429 },
  INTERNAL: { code: ErrorCode.INTERNAL, status: 500 },
  /** The database (or the ingest path) is unavailable for now; retry. */
  UNAVAILABLE: { code: ErrorCode.UNAVAILABLE, status: 503 },
} as const satisfies Record<string, { code: ErrorCodeValue; status: number }>;
export type ErrorKind = keyof typeof ERRORS;

/**
 * The one error type of the API; rendered by the one error handler in the Radar envelope. Its
 * kind gives both the code and the status ({@link ERRORS}).
 * @example
 * throw new ApiError('INPUT', 'aggInterval: expected one of 15m, 1h, 1d, 1w');
 */
export class ApiError extends HTTPException {
  readonly code: ErrorCodeValue;
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(ERRORS[kind].status, { message });
    this.code = ERRORS[kind].code;
  }
}

/** A bad input parameter, named (and positioned, for series parameters) in the message. */
export function badParam(param: string, message: string, position?: number): ApiError {
  const where = position === undefined ? param : `${param}[${position}]`;
  return new ApiError('INPUT', `${where}: ${message}`);
}

/** The envelope of an error. */
export function errorBody(code: number, message: string) {
  return envelope(null, [{ code, message }]);
}
