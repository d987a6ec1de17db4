import { z } from '@hono/zod-openapi';
import type { Scope } from '../auth/scopes.js';
import { ErrorCode } from '../errors.js';

/** Public contract schemas, written by hand: the database shape never leaks into them. */

const seriesParam = (description: string, example: string) =>
  z
    .union([z.string(), z.array(z.string())])
    .optional()
    .openapi({ description, example, param: { style: 'form', explode: true } });

const scalarParam = (description: string, example: string) =>
  z.string().optional().openapi({ description, example });

/** Parameters every NetFlows endpoint takes. Position i of every repeated key belongs to series i. */
export const SeriesQuery = z
  .object({
    name: seriesParam(
      'Names of the series, by position; default serie_<i> (summary_<i>, top_<i>). Unique.',
      'AS3243_all',
    ),
    dateRange: seriesParam(
      'Relative window ending now: 1d…364d or 1w…52w, with an optional `control` suffix for the previous window shifted back by its length rounded up to whole weeks. Default 7d.',
      '7d',
    ),
    dateStart: seriesParam(
      'Start of an explicit window (ISO-8601, floored to 15 minutes); with dateEnd.',
      '2026-11-01T00:00:00Z',
    ),
    dateEnd: seriesParam(
      'End of an explicit window (ISO-8601, floored to 15 minutes, inclusive); with dateStart.',
      '2026-11-08T00:00:00Z',
    ),
    asn: seriesParam('Comma list of AS numbers; a leading `-` excludes (`-174, 3356`).', '3243'),
    location: seriesParam(
      'Comma list of ISO 3166-1 alpha-2 codes, case-insensitive; a leading `-` excludes.',
      'PT',
    ),
    continent: seriesParam('Comma list of continents (AF AN AS EU NA OC SA); a leading `-` excludes.', 'EU'),
    geoId: seriesParam(
      'Comma list of GeoNames ids of first-level subdivisions (states, provinces, regions); a leading `-` excludes (`-2267056,5128638`). Subdivisions come from a City database (`cityMmdb`); without one every subdivision is unknown and an including filter matches nothing.',
      '2267056',
    ),
    product: seriesParam('HTTP (web traffic) or ALL (everything, the default).', 'HTTP'),
    format: scalarParam('JSON (default) or CSV.', 'JSON'),
    metric: scalarParam('What to count: bytes (default), packets or flows. A flowradar extension.', 'bytes'),
    direction: scalarParam(
      'in (towards the local networks) or out; default both. A flowradar extension.',
      'in',
    ),
  })
  .openapi('SeriesQuery');

export const TimeseriesQuery = SeriesQuery.extend({
  aggInterval: scalarParam(
    '15m, 1h, 1d or 1w. Default by span: ≤ 3 d 15m, ≤ 30 d 1h, ≤ 180 d 1d, else 1w. At most 4,000 buckets per series.',
    '1h',
  ),
  normalization: scalarParam(
    'MIN0_MAX (default: every value divided by the largest value of all series), MIN_MAX, PERCENTAGE_CHANGE (two series, the second the baseline) or RAW_VALUES (scope read:raw).',
    'MIN0_MAX',
  ),
}).openapi('TimeseriesQuery');

const limitPerGroup = scalarParam(
  'For AS, LOCATION and ADM1: the top N groups (≥ 2, default 10), the rest folded into `other`.',
  '10',
);

export const GroupsQuery = TimeseriesQuery.extend({
  normalization: scalarParam(
    'PERCENTAGE (default: shares per bucket summing to 100) or MIN0_MAX.',
    'PERCENTAGE',
  ),
  limitPerGroup,
}).openapi('GroupsQuery');

export const SummaryQuery = SeriesQuery.extend({ limitPerGroup }).openapi('SummaryQuery');

export const TopQuery = SeriesQuery.extend({
  limit: scalarParam('How many entries per series, 1–100, default 5.', '5'),
}).openapi('TopQuery');

export const DimensionParam = z.object({
  dimension: z.string().openapi({
    param: { name: 'dimension', in: 'path' },
    description:
      'ADM1 (first-level subdivision, keyed by its English name; only traffic located to one, which needs a City database), AS, LOCATION or PRODUCT.',
    example: 'AS',
  }),
});

const Annotation = z
  .object({
    dataSource: z.string().openapi({
      description: 'ALL for operator annotations, NET for collector data quality.',
      example: 'NET',
    }),
    description: z
      .string()
      .openapi({ example: 'exporter 192.0.2.1: an estimated 3.2% of flow records lost (120 of 3750)' }),
    startDate: z.string().openapi({ example: '2026-11-20T10:00:00Z' }),
    endDate: z.string().openapi({ example: '2026-11-20T11:00:00Z' }),
    eventType: z.string().openapi({ description: 'GENERAL, OUTAGE, PIPELINE, …', example: 'PIPELINE' }),
    isInstantaneous: z.boolean().openapi({ example: false }),
    linkedUrl: z.string().openapi({ example: '' }),
  })
  .openapi('Annotation');

export const Meta = z
  .object({
    aggInterval: z
      .enum(['FIFTEEN_MINUTES', 'ONE_HOUR', 'ONE_DAY', 'ONE_WEEK'])
      .optional()
      .openapi({ description: 'Bucket width (time series only).', example: 'ONE_HOUR' }),
    dateRange: z.array(z.object({ startTime: z.string(), endTime: z.string() })).openapi({
      description: 'Window of each series: start inclusive, end exclusive.',
      example: [{ startTime: '2026-11-22T11:00:00Z', endTime: '2026-11-23T11:00:00Z' }],
    }),
    lastUpdated: z.string().openapi({
      description: 'Newest minute with traffic; 1970-01-01T00:00:00Z before any traffic arrived.',
      example: '2026-11-23T10:41:00Z',
    }),
    normalization: z.string().openapi({ example: 'MIN0_MAX' }),
    units: z
      .array(z.object({ name: z.string(), value: z.string() }))
      .openapi({ example: [{ name: '*', value: 'bytes' }] }),
    confidenceInfo: z
      .object({
        level: z
          .number()
          .int()
          .openapi({ description: '1–5; 5 = no known issue in the window.', example: 5 }),
        annotations: z.array(Annotation),
      })
      .openapi({ description: 'Data quality of the windows: operator annotations and collector loss.' }),
  })
  .openapi('Meta');

/** Radar's envelope of a NetFlows answer, registered as a named component with examples. */
const Envelope = <T extends z.ZodTypeAny>(result: T, name: string) =>
  z
    .object({
      success: z.literal(true).openapi({ example: true }),
      errors: z.array(z.object({ code: z.number(), message: z.string() })).openapi({ example: [] }),
      messages: z.array(z.unknown()).openapi({ example: [] }),
      result,
    })
    .openapi(name);

const Serie = z
  .object({
    timestamps: z.array(z.string()).openapi({ example: ['2026-11-23T09:00:00Z', '2026-11-23T10:00:00Z'] }),
    values: z.array(z.string().nullable()).openapi({ example: ['0.535174', '1'] }),
  })
  .openapi('Serie');

export const TimeseriesResponse = Envelope(
  z.object({ meta: Meta }).catchall(Serie).openapi({ description: 'meta, then one Serie per series name.' }),
  'TimeseriesResponse',
);

export const GroupsResponse = Envelope(
  z
    .object({ meta: Meta })
    .catchall(z.record(z.string(), z.array(z.string())))
    .openapi({ description: 'meta, then per series name: timestamps and one value array per group.' }),
  'TimeseriesGroupsResponse',
);

export const SummaryResponse = Envelope(
  z
    .object({ meta: Meta })
    .catchall(z.record(z.string(), z.string()))
    .openapi({
      description: 'meta, then per series name: group → share in percent.',
      example: { summary_0: { HTTP: '62.5', OTHER: '37.5' } },
    }),
  'SummaryResponse',
);

export const TopAsesResponse = Envelope(
  z.object({ meta: Meta }).catchall(
    z.array(
      z.object({
        clientASN: z.number().int().openapi({ example: 3243 }),
        clientASName: z.string().openapi({ example: 'MEO-RESIDENCIAL' }),
        value: z.string().openapi({ description: 'Share of the series traffic, percent.', example: '12.5' }),
      }),
    ),
  ),
  'TopAsesResponse',
);

export const TopLocationsResponse = Envelope(
  z.object({ meta: Meta }).catchall(
    z.array(
      z.object({
        clientCountryAlpha2: z.string().openapi({ example: 'PT' }),
        clientCountryName: z.string().openapi({ example: 'Portugal' }),
        value: z.string().openapi({ description: 'Share of the series traffic, percent.', example: '12.5' }),
      }),
    ),
  ),
  'TopLocationsResponse',
);

export const ErrorResponse = z
  .object({
    success: z.literal(false),
    errors: z
      .array(
        z.object({
          code: z.number().int().openapi({ example: ErrorCode.INPUT }),
          message: z.string().openapi({ example: 'aggInterval: expected one of 15m, 1h, 1d, 1w, got "2h"' }),
        }),
      )
      .openapi({ description: 'What went wrong; 2001 names the parameter and its position.' }),
    messages: z.array(z.unknown()),
    result: z.null(),
  })
  .openapi('Error');

const err = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorResponse } },
});

/** The error responses every authenticated route can give. */
export const errorResponses = {
  400: err('A bad parameter (code 2001), named with its position.'),
  401: err('Missing (9106), unknown, revoked or expired (10000) token.'),
  403: err('The token lacks the scope (10000).'),
  404: err('No such route (7003).'),
  422: err('The request would cost too much (2002).'),
  429: err('Too many requests (1015).'),
  500: err('Internal error (2000); the log has the details.'),
  503: err('The database is unavailable for now; retry after the Retry-After header.'),
} as const;

/** A JSON body or, with format=CSV, text/csv. */
export const jsonOrCsv = <T extends z.ZodTypeAny>(schema: T, description: string) => ({
  description,
  content: {
    'application/json': { schema },
    'text/csv': {
      schema: z.string().openapi({ example: 'Serie_0 timestamps,Serie_0 values\n2026-11-23T09:00:00Z,1\n' }),
    },
  },
});

/**
 * The security requirement of an operation: a bearer token that grants `scope` (OpenAPI 3.1 lets a
 * non-OAuth scheme list the roles it needs). The middleware in app.ts enforces it per path prefix;
 * test/security.test.ts checks the two agree for every operation.
 * @example security: bearer('read')
 */
export const bearer = (scope: Scope) => [{ bearerAuth: [scope] }];

/**
 * A request body of JSON.
 * @example request: { body: jsonBody(CreateTokenRequest) }
 */
export const jsonBody = <T extends z.ZodTypeAny>(schema: T) => ({
  content: { 'application/json': { schema } },
});

/**
 * The envelope of the admin, ingest and embed answers: Radar's shape, inline rather than a named
 * component (the NetFlows answers use {@link Envelope}).
 * @example successOf(z.object({ revoked: z.number().int() }))
 */
export const successOf = <T extends z.ZodTypeAny>(result: T) =>
  z.object({
    success: z.literal(true),
    errors: z.array(z.unknown()),
    messages: z.array(z.unknown()),
    result,
  });

/**
 * A successful JSON answer of {@link successOf}'s shape.
 * @example responses: { 200: successResponse('The signed links.', EmbedLinks), ...errorResponses }
 */
export const successResponse = <T extends z.ZodTypeAny>(description: string, result: T) => ({
  description,
  ...jsonBody(successOf(result)),
});
