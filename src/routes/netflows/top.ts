import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../deps.js';
import { getTop } from '../../query/top.js';
import { answerNetflows } from '../respond.js';
import {
  bearer,
  errorResponses,
  jsonOrCsv,
  TopAsesResponse,
  TopLocationsResponse,
  TopQuery,
} from '../schemas.js';

export const asesRoute = createRoute({
  method: 'get',
  path: '/top/ases',
  operationId: 'radar-get-netflows-top-ases',
  summary: 'The remote ASes with the most traffic',
  tags: ['NetFlows'],
  security: bearer('read'),
  request: { query: TopQuery },
  responses: {
    200: jsonOrCsv(TopAsesResponse, 'Top ASes per series, value = share in percent.'),
    ...errorResponses,
  },
});

export const locationsRoute = createRoute({
  method: 'get',
  path: '/top/locations',
  operationId: 'radar-get-netflows-top-locations',
  summary: 'The remote locations with the most traffic',
  tags: ['NetFlows'],
  security: bearer('read'),
  request: { query: TopQuery },
  responses: {
    200: jsonOrCsv(TopLocationsResponse, 'Top locations per series, value = share in percent.'),
    ...errorResponses,
  },
});

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(asesRoute, (c) =>
    answerNetflows(c, c.req.valid('query'), 'top', (db, q) => getTop(db, q, 'AS')),
  );
  app.openapi(locationsRoute, (c) =>
    answerNetflows(c, c.req.valid('query'), 'top', (db, q) => getTop(db, q, 'LOCATION')),
  );
}
