import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../deps.js';
import { getSummaryLegacy } from '../../query/summary.js';
import { answerNetflows } from '../respond.js';
import { bearer, errorResponses, jsonOrCsv, SeriesQuery, SummaryResponse } from '../schemas.js';

export const route = createRoute({
  method: 'get',
  path: '/summary',
  operationId: 'radar-get-netflows-summary-deprecated',
  summary: 'HTTP versus other traffic (deprecated; use /summary/PRODUCT)',
  deprecated: true,
  tags: ['NetFlows'],
  security: bearer('read'),
  request: { query: SeriesQuery },
  responses: { 200: jsonOrCsv(SummaryResponse, '{HTTP, OTHER} in percent per series.'), ...errorResponses },
});

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, (c) => answerNetflows(c, c.req.valid('query'), 'summary', getSummaryLegacy));
}
