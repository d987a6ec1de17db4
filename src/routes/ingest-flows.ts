import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../deps.js';
import { envelope } from '../envelope.js';
import { ApiError, badParam } from '../errors.js';
import { ingestGoflowRecords, parseNdjson } from '../ingest/ndjson.js';
import { bearer, errorResponses, successResponse } from './schemas.js';

export const MAX_BODY_BYTES = 16 * 1024 * 1024;
const MAX_KEY_LENGTH = 200;

export const route = createRoute({
  method: 'post',
  path: '/ingest/flows',
  operationId: 'ingest-flows',
  summary: 'Ingest flow records as NDJSON in goflow2’s JSON format',
  description:
    'One JSON record per line (goflow2 / Vector). The request is taken whole or not at all: a bad line gives 400 with the line numbers. ' +
    'An Idempotency-Key header makes a retried request count once. Body at most 16 MiB, 100,000 lines.',
  tags: ['Ingest'],
  security: bearer('ingest'),
  request: {
    headers: z.object({
      'idempotency-key': z.string().max(MAX_KEY_LENGTH).optional().openapi({
        description: 'Any unique string per request (≤ 200 characters).',
        example: '7d3c1a7e-batch-0042',
      }),
    }),
    body: {
      content: {
        'application/x-ndjson': {
          schema: z.string().openapi({
            example:
              '{"type":"IPFIX","time_flow_start_ns":1763892000000000000,"time_flow_end_ns":1763892030000000000,"sampler_address":"192.0.2.1","sampling_rate":100,"bytes":1500,"packets":2,"src_addr":"198.51.100.7","dst_addr":"192.0.2.10","src_port":443,"dst_port":51234,"proto":6,"src_as":15169,"dst_as":0}',
          }),
        },
      },
    },
  },
  responses: {
    200: successResponse(
      'Written (or already written under this Idempotency-Key).',
      z.object({
        records: z.number().int().openapi({ example: 1 }),
        duplicate: z.boolean().openapi({
          description: 'true when this Idempotency-Key was already ingested.',
          example: false,
        }),
        unsampled: z.number().int().openapi({
          description: 'Records without sampling_rate, scaled by the default.',
          example: 0,
        }),
      }),
    ),
    413: { description: 'Body over 16 MiB.' },
    ...errorResponses,
  },
});

export function register(app: OpenAPIHono<AppEnv>): void {
  app.use(
    route.path,
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ApiError('BODY_TOO_LARGE', `body: at most ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );
  app.openapi(route, async (c) => {
    const { db, enricher, config, now } = c.var.deps;
    if (!enricher) throw new ApiError('UNAVAILABLE', 'this instance does not ingest flows');
    const key = c.req.header('idempotency-key');
    const { records, errors } = parseNdjson(await c.req.text());
    if (errors.length > 0) {
      const shown = errors.slice(0, 20).map((e) => `line ${e.line}: ${e.message}`);
      throw badParam('body', `${errors.length} bad line(s), nothing ingested: ${shown.join('; ')}`);
    }
    const forwarded = c.req.header('x-forwarded-for');
    const result = await ingestGoflowRecords(db, records, {
      enricher,
      defaultSamplingRate: config.defaultSamplingRate,
      samplingOverrides: config.samplingOverrides,
      clientAddress: forwarded?.split(',')[0]?.trim() || 'http',
      nowMs: now(),
      idempotencyKey: key,
    });
    return c.json(
      envelope({
        records: result.records,
        duplicate: result.outcome === 'duplicate',
        unsampled: result.unsampled,
      }),
      200,
    );
  });
}
