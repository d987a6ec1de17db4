import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../deps.js';
import { getTimeseries } from '../../query/timeseries.js';
import { answerNetflows } from '../respond.js';
import { bearer, errorResponses, jsonOrCsv, TimeseriesQuery, TimeseriesResponse } from '../schemas.js';

export const route = createRoute({
  method: 'get',
  path: '/timeseries',
  operationId: 'radar-get-netflows-timeseries',
  summary: 'Traffic over time, one series per position, normalized together',
  description:
    'Each repeated key (name, dateRange, asn, location, continent, product, …) defines series by position. ' +
    'All series share one normalization, so their values compare directly.',
  tags: ['NetFlows'],
  security: bearer('read'),
  request: { query: TimeseriesQuery },
  responses: {
    200: jsonOrCsv(TimeseriesResponse, 'Series with identical bucket counts.'),
    ...errorResponses,
  },
});

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, (c) =>
    answerNetflows(c, c.req.valid('query'), 'timeseries', (db, q) => getTimeseries(db, q, c.var.caller)),
  );
}
