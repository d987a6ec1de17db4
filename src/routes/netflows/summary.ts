import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../deps.js';
import { dimensionOf } from '../../query/groups.js';
import { getSummary } from '../../query/summary.js';
import { answerNetflows } from '../respond.js';
import {
  bearer,
  DimensionParam,
  errorResponses,
  jsonOrCsv,
  SummaryQuery,
  SummaryResponse,
} from '../schemas.js';

export const route = createRoute({
  method: 'get',
  path: '/summary/{dimension}',
  operationId: 'radar-get-netflows-summary-by-dimension',
  summary: 'Share of traffic by AS, location or product over the window',
  tags: ['NetFlows'],
  security: bearer,
  request: { params: DimensionParam, query: SummaryQuery },
  responses: { 200: jsonOrCsv(SummaryResponse, 'Shares in percent per series.'), ...errorResponses },
});

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, (c) => {
    const dim = dimensionOf(c.req.param('dimension'));
    return answerNetflows(c, 'summary', (db, q) => getSummary(db, q, dim)) as never;
  });
}
