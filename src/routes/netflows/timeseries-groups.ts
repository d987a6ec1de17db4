import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../deps.js';
import { getTimeseriesGroups } from '../../query/timeseries-groups.js';
import { answerByDimension } from '../respond.js';
import {
  bearer,
  DimensionParam,
  errorResponses,
  GroupsQuery,
  GroupsResponse,
  jsonOrCsv,
} from '../schemas.js';

export const route = createRoute({
  method: 'get',
  path: '/timeseries_groups/{dimension}',
  operationId: 'radar-get-netflows-timeseries-group',
  summary: 'Traffic over time split by AS, location or product',
  description:
    'Per bucket, each group’s share of the series (PERCENTAGE, default) or its size scaled by the largest value (MIN0_MAX). ' +
    'AS and LOCATION keep the top limitPerGroup groups and fold the rest into `other`.',
  tags: ['NetFlows'],
  security: bearer('read'),
  request: { params: DimensionParam, query: GroupsQuery },
  responses: { 200: jsonOrCsv(GroupsResponse, 'Groups per series.'), ...errorResponses },
});

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, (c) =>
    answerByDimension(c, c.req.valid('query'), c.req.valid('param').dimension, 'groups', getTimeseriesGroups),
  );
}
