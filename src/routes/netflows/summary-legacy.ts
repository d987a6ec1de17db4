import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { type AppEnv, readDatabase } from '../../deps.js';
import { getSummaryLegacy } from '../../query/netflows.js';
import { queryOf, respond } from '../respond.js';
import { bearer, errorResponses, jsonOrCsv, SeriesQuery, SummaryResponse } from '../schemas.js';

export const route = createRoute({
  method: 'get',
  path: '/summary',
  operationId: 'radar-get-netflows-summary',
  summary: 'HTTP versus other traffic (deprecated; use /summary/PRODUCT)',
  deprecated: true,
  tags: ['NetFlows'],
  security: bearer,
  request: { query: SeriesQuery },
  responses: { 200: jsonOrCsv(SummaryResponse, '{HTTP, OTHER} in percent per series.'), ...errorResponses },
});

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, async (c) => {
    const out = await getSummaryLegacy(readDatabase(c.var.deps), queryOf(c, 'summary'));
    return respond(c, out) as never;
  });
}
