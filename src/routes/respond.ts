import type { Context } from 'hono';
import type { Database } from '../db/client.js';
import { type AppEnv, readDatabase } from '../deps.js';
import { envelope } from '../envelope.js';
import type { Output } from '../query/format.js';
import { dimensionOf } from '../query/groups.js';
import { type Kind, type ParsedQuery, parseQuery } from '../query/params.js';
import type { Dimension } from '../query/sql.js';

/** The parsed series of the request, by the one parser every endpoint shares. */
export function queryOf(c: Context<AppEnv>, kind: Kind): ParsedQuery {
  return parseQuery(new URL(c.req.url).searchParams, kind, c.var.deps.now());
}

/** Renders a query result: the Radar envelope, or CSV with format=CSV. */
export function respond(c: Context<AppEnv>, out: Output): Response {
  if ('csv' in out) return c.body(out.csv, 200, { 'content-type': 'text/csv; charset=utf-8' });
  return c.json(envelope(out.result), 200);
}

/**
 * What every NetFlows handler does: parse the request's series as `kind`, answer them with `get`
 * on the database NetFlows are read from (the replica, when there is one), render the answer.
 * @example
 * app.openapi(route, (c) => answerNetflows(c, 'top', (db, q) => getTop(db, q, 'AS')) as never);
 */
export async function answerNetflows(
  c: Context<AppEnv>,
  kind: Kind,
  get: (db: Database, q: ParsedQuery) => Promise<Output>,
): Promise<Response> {
  return respond(c, await get(readDatabase(c.var.deps), queryOf(c, kind)));
}

/**
 * {@link answerNetflows} for the routes under `/{dimension}`: the dimension is checked first, so a
 * bad one is the error named even when the query is bad too.
 * @example
 * app.openapi(route, (c) => answerByDimension(c, 'summary', getSummary) as never);
 */
export function answerByDimension(
  c: Context<AppEnv>,
  kind: Kind,
  get: (db: Database, q: ParsedQuery, dim: Dimension) => Promise<Output>,
): Promise<Response> {
  const dim = dimensionOf(c.req.param('dimension') ?? '');
  return answerNetflows(c, kind, (db, q) => get(db, q, dim));
}
