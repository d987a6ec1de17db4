import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { STATUSES, setAnomalyStatus } from '../anomalies/store.js';
import type { AppEnv } from '../deps.js';
import { envelope } from '../envelope.js';
import { ApiError } from '../errors.js';
import { isoSeconds } from '../query/time.js';
import { bearer, errorResponses, jsonBody, successResponse } from './schemas.js';

const AnomalyStatusResult = z
  .object({
    uuid: z.string().openapi({ example: '8b45b114-3874-453b-8f88-91847e48d953' }),
    type: z.enum(['AS', 'LOCATION']).openapi({ example: 'AS' }),
    asn: z.number().int().nullable().openapi({ example: 64500 }),
    location: z.string().nullable().openapi({ example: null }),
    startDate: z.string().openapi({ example: '2026-11-20T13:00:00Z' }),
    endDate: z.string().nullable().openapi({ example: '2026-11-20T15:30:00Z' }),
    status: z.enum(STATUSES).openapi({ example: 'VERIFIED' }),
  })
  .openapi('AnomalyStatusResult');

const setStatusRoute = createRoute({
  method: 'put',
  path: '/admin/traffic_anomalies/{uuid}/status',
  operationId: 'admin-set-traffic-anomaly-status',
  summary: 'Verify or dismiss a traffic anomaly',
  description:
    'VERIFIED shows it as verified in /radar/traffic_anomalies and annotates the NetFlows confidenceInfo of the windows it overlaps; DISMISSED hides it; UNVERIFIED undoes either. The detector never changes a status an operator set.',
  tags: ['Admin'],
  security: bearer('admin'),
  request: {
    params: z.object({
      uuid: z.string().openapi({
        param: { name: 'uuid', in: 'path' },
        description: 'The anomaly’s uuid.',
        example: '8b45b114-3874-453b-8f88-91847e48d953',
      }),
    }),
    body: jsonBody(
      z
        .object({ status: z.enum(STATUSES).openapi({ example: 'VERIFIED' }) })
        .openapi('SetAnomalyStatusRequest'),
    ),
  },
  responses: {
    200: successResponse('The anomaly with its new status.', AnomalyStatusResult),
    ...errorResponses,
  },
});

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(setStatusRoute, async (c) => {
    const { uuid } = c.req.valid('param');
    const { status } = c.req.valid('json');
    const row = await setAnomalyStatus(c.var.deps.db, uuid, status, `token:${c.var.caller.tokenId}`);
    if (!row) throw new ApiError('NOT_FOUND', 'no traffic anomaly with that uuid');
    return c.json(
      envelope({
        uuid: row.uuid,
        type: row.type,
        asn: row.asn,
        location: row.location,
        startDate: isoSeconds(row.start_ms),
        endDate: row.end_ms === null ? null : isoSeconds(row.end_ms),
        status: row.status,
      }),
      200,
    );
  });
}
