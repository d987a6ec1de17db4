import type { Context } from 'hono';
import type { AppEnv } from '../deps.js';
import type { Output } from '../query/netflows.js';
import type { ParsedQuery } from '../query/params.js';
import { type Kind, parseQuery } from '../query/params.js';

/** The parsed series of the request, by the one parser every endpoint shares. */
export function queryOf(c: Context<AppEnv>, kind: Kind): ParsedQuery {
  return parseQuery(new URL(c.req.url).searchParams, kind, c.var.deps.now());
}

/** Renders a query result: the Radar envelope, or CSV with format=CSV. */
export function respond(c: Context<AppEnv>, out: Output): Response {
  if ('csv' in out) return c.body(out.csv, 200, { 'content-type': 'text/csv; charset=utf-8' });
  return c.json({ success: true, errors: [], messages: [], result: out.result }, 200);
}
