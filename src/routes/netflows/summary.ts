import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../deps.js';
import { getSummary } from '../../query/summary.js';
import { answerByDimension } from '../respond.js';
import {
  bearer,
  DimensionParam,
  errorResponses,
  jsonOrCsv,
  SummaryQuery,
  SummaryResponse,
} from '../schemas.js';

// Declared in full, as every endpoint is (STYLE.md habit 2): timeseries-groups.ts has this shape too.
export const route = createRoute({
  method: 'get',
  path: '/summary/{dimension}',
  operationId: 'radar-get-netflows-summary',
  summary: 'Share of traffic by AS, location or product over the window',
  tags: ['NetFlows'],
  security: bearer('read'),
  request: { params: DimensionParam, query: SummaryQuery },
  responses: { 200: jsonOrCsv(SummaryResponse, 'Shares in percent per series.'), ...errorResponses },
});

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, (c) =>
    answerByDimension(c, c.req.valid('query'), c.req.valid('param').dimension, 'summary', getSummary),
  );
}
