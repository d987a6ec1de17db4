import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

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
 * The one error type of the API; rendered by the one error handler in the Radar envelope.
 * @example
 * throw new ApiError(400, ErrorCode.INPUT, 'aggInterval: expected one of 15m, 1h, 1d, 1w');
 */
export class ApiError extends HTTPException {
  constructor(
    status: ContentfulStatusCode,
    readonly code: ErrorCodeValue,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(status, { message });
  }
}

/** A bad input parameter, named (and positioned, for series parameters) in the message. */
export function badParam(param: string, message: string, position?: number): ApiError {
  const where = position === undefined ? param : `${param}[${position}]`;
  return new ApiError(400, ErrorCode.INPUT, `${where}: ${message}`);
}

export function errorBody(code: number, message: string) {
  return { success: false as const, errors: [{ code, message }], messages: [], result: null };
}
