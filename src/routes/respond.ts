import type { Context } from 'hono';
import type { Database } from '../db/client.js';
import { type AppEnv, readDatabase } from '../deps.js';
import { envelope } from '../envelope.js';
import type { Output } from '../query/format.js';
import { dimensionOf } from '../query/groups.js';
import { type Kind, type ParsedQuery, parseQuery, type QueryInput } from '../query/params.js';
import type { Dimension } from '../query/sql.js';

/**
 * Renders a query result: the Radar envelope, or CSV with format=CSV. The text is kept beside the
 * response (`c.var.rendered`), so the response cache and the ETag read it without cloning the body.
 */
export function respond<T>(c: Context<AppEnv>, out: Output<T>): Response {
  const csv = 'csv' in out;
  const text = csv ? out.csv : JSON.stringify(envelope(out.result));
  const response = c.body(text, 200, {
    'content-type': csv ? 'text/csv; charset=utf-8' : 'application/json',
  });
  c.set('rendered', { response, text });
  return response;
}

/**
 * What every NetFlows handler does: assemble the series of the validated query as `kind`, answer
 * them with `get` on the database NetFlows are read from (the replica, when there is one), render
 * the answer.
 * @example
 * app.openapi(route, (c) => answerNetflows(c, c.req.valid('query'), 'top', (db, q) => getTop(db, q, 'AS')));
 */
export async function answerNetflows<T>(
  c: Context<AppEnv>,
  input: QueryInput,
  kind: Kind,
  get: (db: Database, q: ParsedQuery) => Promise<Output<T>>,
): Promise<Response> {
  const q = parseQuery(input, kind, c.var.deps.now());
  return respond(c, await get(readDatabase(c.var.deps), q));
}

/**
 * {@link answerNetflows} for the routes under `/{dimension}`: the dimension is checked before the
 * series are assembled, so a dimension the route's enum has but flowradar does not serve (ADM1)
 * is the error named.
 * @example
 * app.openapi(route, (c) => answerByDimension(c, c.req.valid('query'), c.req.valid('param').dimension, 'summary', getSummary));
 */
export function answerByDimension<T>(
  c: Context<AppEnv>,
  input: QueryInput,
  dimension: string,
  kind: Kind,
  get: (db: Database, q: ParsedQuery, dim: Dimension) => Promise<Output<T>>,
): Promise<Response> {
  const dim = dimensionOf(dimension);
  return answerNetflows(c, input, kind, (db, q) => get(db, q, dim));
}
