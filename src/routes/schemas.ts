import { z } from '@hono/zod-openapi';
import type { Scope } from '../auth/scopes.js';
import { type ApiError, badParam, ErrorCode } from '../errors.js';
import { DIMENSIONS } from '../query/groups.js';
import { type Kind, MAX_TOP_ENTRIES, type ParsedQuery, parseQuery } from '../query/params.js';

/** Public contract schemas, written by hand: the database shape never leaks into them. */

/** The message of a parameter that applies to the whole request but was given more than once. */
const GIVEN_TWICE = 'given more than once; it applies to the whole request';

/** A repeated key arrives as an array, a single one as a string: either becomes an array. */
const toArray = (v: unknown) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);

/** The allowed value `v` spells, ignoring case and spaces around it; `v` itself when none. */
const canonical =
  (allowed: readonly string[]) =>
  (v: unknown): unknown =>
    typeof v === 'string' ? (allowed.find((a) => a.toLowerCase() === v.trim().toLowerCase()) ?? v) : v;

/** The message of a value outside `allowed`, or of a scalar given twice. */
const enumError =
  (allowed: readonly string[]) =>
  (issue: { input?: unknown }): string =>
    Array.isArray(issue.input)
      ? GIVEN_TWICE
      : `expected one of ${allowed.join(', ')}, got "${String(issue.input)}"`;

/**
 * A parameter for the whole request, one of `allowed` in any case.
 * @example aggInterval: scalarEnum(['15m', '1h', '1d', '1w'], 'Bucket width.', '1h')
 */
const scalarEnum = <const T extends readonly [string, ...string[]]>(
  allowed: T,
  description: string,
  example: T[number],
) =>
  z
    .preprocess(canonical(allowed), z.enum(allowed, { error: enumError(allowed) }).optional())
    .openapi({ description, example });

/**
 * A whole number for the whole request, between `min` and `max`; empty is absent.
 * @example limitPerGroup: scalarInt(2, 100, 'Top N groups.', 10)
 */
const scalarInt = (min: number, max: number, description: string, example: number) =>
  z
    .preprocess(
      (v) =>
        typeof v !== 'string' ? v : v.trim() === '' ? undefined : /^\d+$/.test(v.trim()) ? Number(v) : v,
      z
        .number({
          error: (issue) =>
            Array.isArray(issue.input) ? GIVEN_TWICE : `"${String(issue.input)}" is not a whole number`,
        })
        .int()
        .min(min, { error: `must be between ${min} and ${max}` })
        .max(max, { error: `must be between ${min} and ${max}` })
        .optional(),
    )
    .openapi({ description, example });

/** Position i of a series parameter belongs to series i; a single value is series 0's. */
const seriesParam = (description: string, example: string) =>
  z
    .preprocess(toArray, z.array(z.string()).optional())
    .openapi({ description, example: [example], param: { style: 'form', explode: true } });

export const PRODUCTS = ['HTTP', 'ALL'] as const;
export const AGG_INTERVALS = ['15m', '1h', '1d', '1w'] as const;

/** Parameters every NetFlows endpoint takes. Position i of every repeated key belongs to series i. */
export const SeriesQuery = z
  .object({
    name: seriesParam(
      'Names of the series, by position; default serie_<i> (summary_<i>, top_<i>). Unique.',
      'AS3243_all',
    ),
    dateRange: seriesParam(
      'Relative window ending now: 1d…364d or 1w…52w, with an optional `control` suffix for the previous window shifted back by its length rounded up to whole weeks. Default 7d. Given once for several series, it applies to every series.',
      '7d',
    ),
    dateStart: seriesParam(
      'Start of an explicit window (ISO-8601, floored to 15 minutes); with dateEnd. Given once (with dateEnd) for several series, it applies to every series.',
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
    product: z
      .preprocess(
        (v) => toArray(v)?.map((p) => (p === '' ? 'ALL' : canonical(PRODUCTS)(p))),
        z.array(z.enum(PRODUCTS, { error: enumError(PRODUCTS) })).optional(),
      )
      .openapi({
        description: 'Per series: HTTP (web traffic) or ALL (everything, the default).',
        example: ['HTTP'],
        param: { style: 'form', explode: true },
      }),
    format: scalarEnum(['JSON', 'CSV'], 'JSON (default) or CSV.', 'JSON'),
    metric: scalarEnum(
      ['bytes', 'packets', 'flows'],
      'What to count: bytes (default), packets or flows. A flowradar extension.',
      'bytes',
    ),
    direction: scalarEnum(
      ['in', 'out'],
      'in (towards the local networks) or out; default both. A flowradar extension.',
      'in',
    ),
    geoId: seriesParam(
      'Comma list of GeoNames ids of first-level subdivisions (states, provinces, regions); a leading `-` excludes (`-2267056,5128638`). Subdivisions come from a City database (`cityMmdb`); without one every subdivision is unknown and an including filter matches nothing.',
      '2267056',
    ),
    aggInterval: scalarEnum(
      AGG_INTERVALS,
      'Relative windows end with the bucket of this width that holds now (default by span, as for /timeseries). A flowradar extension here.',
      '1d',
    ),
  })
  .openapi('SeriesQuery');

const aggInterval = scalarEnum(
  AGG_INTERVALS,
  '15m, 1h, 1d or 1w. Default by span: ≤ 3 d 15m, ≤ 30 d 1h, ≤ 180 d 1d, else 1w. At most 4,000 buckets per series.',
  '1h',
);

export const TimeseriesQuery = SeriesQuery.extend({
  aggInterval,
  normalization: scalarEnum(
    ['MIN0_MAX', 'MIN_MAX', 'PERCENTAGE_CHANGE', 'RAW_VALUES'],
    'MIN0_MAX (default: every value divided by the largest value of all series), MIN_MAX, PERCENTAGE_CHANGE (two series, the second the baseline; over a zero baseline 0, noted in meta.confidenceInfo.annotations) or RAW_VALUES (scope read:raw).',
    'MIN0_MAX',
  ),
}).openapi('TimeseriesQuery');

const limitPerGroup = scalarInt(
  2,
  100,
  'For AS, LOCATION and ADM1: the top N groups (≥ 2, default 10), the rest folded into `other`.',
  10,
);

export const GroupsQuery = SeriesQuery.extend({
  aggInterval,
  normalization: scalarEnum(
    ['PERCENTAGE', 'MIN0_MAX', 'PERCENTAGE_CHANGE'],
    'PERCENTAGE (default: shares per bucket summing to 100), MIN0_MAX (÷ the largest value of all series) or PERCENTAGE_CHANGE (two series, the second the baseline: each group against the same group of the baseline; over a zero baseline 0, noted in meta.confidenceInfo.annotations).',
    'PERCENTAGE',
  ),
  limitPerGroup,
}).openapi('GroupsQuery');

export const SummaryQuery = SeriesQuery.extend({
  normalization: scalarEnum(['PERCENTAGE'], 'PERCENTAGE, the only one (the default).', 'PERCENTAGE'),
  limitPerGroup,
}).openapi('SummaryQuery');

export const TopQuery = SeriesQuery.extend({
  limit: scalarInt(
    1,
    MAX_TOP_ENTRIES,
    `How many entries per series, default 5. No fixed maximum: series × limit may be at most ${MAX_TOP_ENTRIES.toLocaleString('en')} (else 422 code 2002), the points one request may hold.`,
    5,
  ),
}).openapi('TopQuery');

export const DimensionParam = z.object({
  dimension: z
    .preprocess(canonical(DIMENSIONS), z.enum(DIMENSIONS, { error: enumError(DIMENSIONS) }))
    .openapi({
      param: { name: 'dimension', in: 'path' },
      description:
        'ADM1 (first-level subdivision, keyed by its English name; only traffic located to one, which needs a City database), AS, LOCATION or PRODUCT.',
      example: 'AS',
    }),
});

/** The validated query of each NetFlows endpoint. */
export type SeriesInput = z.output<typeof SeriesQuery>;
export type TimeseriesInput = z.output<typeof TimeseriesQuery>;
export type GroupsInput = z.output<typeof GroupsQuery>;
export type SummaryInput = z.output<typeof SummaryQuery>;
export type TopInput = z.output<typeof TopQuery>;

/**
 * The 400 a failed validation answers: code 2001 naming the parameter, with its position for a
 * series parameter (`product[1]: expected one of HTTP, ALL, got "DNS"`).
 * @example throw validationError(result.error.issues, 'query')
 */
export function validationError(
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
  target: string,
): ApiError {
  const issue = issues[0];
  const [param, position] = issue?.path ?? [];
  return badParam(
    typeof param === 'string' && param !== '' ? param : target,
    issue?.message ?? 'invalid',
    typeof position === 'number' ? position : undefined,
  );
}

/**
 * Validates a query string against a query schema as a route does: a key given once is a
 * string, a repeated one an array. For requests that do not come through a route (embed links).
 * @example parseSearch(TimeseriesQuery, new URLSearchParams('dateRange=1d&aggInterval=1h'))
 */
export function parseSearch<S extends z.ZodTypeAny>(schema: S, params: URLSearchParams): z.output<S> {
  const raw: Record<string, string | string[]> = {};
  for (const key of new Set(params.keys())) {
    const all = params.getAll(key);
    raw[key] = all.length === 1 ? all[0]! : all;
  }
  const result = schema.safeParse(raw);
  if (!result.success) throw validationError(result.error.issues, 'query');
  return result.data;
}

const Annotation = z
  .object({
    dataSource: z.enum(['ALL', 'NET']).openapi({
      description: 'ALL for operator annotations, NET for collector data quality and notes on the answer.',
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

/** Every normalization an answer can carry in meta.normalization. */
export const NORMALIZATIONS = [
  'PERCENTAGE',
  'MIN0_MAX',
  'MIN_MAX',
  'RAW_VALUES',
  'PERCENTAGE_CHANGE',
] as const;

const metaShape = {
  dateRange: z.array(z.object({ startTime: z.string(), endTime: z.string() })).openapi({
    description: 'Window of each series: start inclusive, end exclusive.',
    example: [{ startTime: '2026-11-22T11:00:00Z', endTime: '2026-11-23T11:00:00Z' }],
  }),
  lastUpdated: z.string().openapi({
    description: 'Newest minute with traffic; 1970-01-01T00:00:00Z before any traffic arrived.',
    example: '2026-11-23T10:41:00Z',
  }),
  normalization: z.enum(NORMALIZATIONS).openapi({ example: 'MIN0_MAX' }),
  units: z
    .array(z.object({ name: z.string(), value: z.string() }))
    .openapi({ example: [{ name: '*', value: 'bytes' }] }),
  confidenceInfo: z
    .object({
      level: z.number().int().openapi({ description: '1–5; 5 = no known issue in the window.', example: 5 }),
      annotations: z.array(Annotation),
    })
    .openapi({
      description:
        'Data quality of the windows: operator annotations and collector loss; also what the answer did where a value had no meaning (a zero baseline).',
    }),
};

export const Meta = z.object(metaShape).openapi('Meta');

/**
 * The meta of a time series answer: with the bucket width, always. A whole object rather than an
 * allOf over Meta, as Cloudflare's schema has it, so generated clients get one plain type.
 */
export const TimeseriesMeta = z
  .object({
    aggInterval: z
      .enum(['FIFTEEN_MINUTES', 'ONE_HOUR', 'ONE_DAY', 'ONE_WEEK'])
      .openapi({ description: 'Bucket width.', example: 'ONE_HOUR' }),
    ...metaShape,
  })
  .openapi('TimeseriesMeta');

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
    values: z.array(z.string()).openapi({ example: ['0.535174', '1'] }),
  })
  .openapi('Serie');

const TimeseriesResult = z
  .object({ meta: TimeseriesMeta })
  .catchall(Serie)
  .openapi({ description: 'meta, then one Serie per series name.' });
export const TimeseriesResponse = Envelope(TimeseriesResult, 'TimeseriesResponse');

const GroupsResult = z
  .object({ meta: TimeseriesMeta })
  .catchall(z.record(z.string(), z.array(z.string())))
  .openapi({ description: 'meta, then per series name: timestamps and one value array per group.' });
export const GroupsResponse = Envelope(GroupsResult, 'TimeseriesGroupsResponse');

const SummaryResult = z
  .object({ meta: Meta })
  .catchall(z.record(z.string(), z.string()))
  .openapi({
    description: 'meta, then per series name: group → share in percent.',
    example: { summary_0: { HTTP: '62.5', OTHER: '37.5' } },
  });
export const SummaryResponse = Envelope(SummaryResult, 'SummaryResponse');

const TopAsesResult = z.object({ meta: Meta }).catchall(
  z.array(
    z.object({
      clientASN: z.number().int().openapi({ example: 3243 }),
      clientASName: z.string().openapi({ example: 'MEO-RESIDENCIAL' }),
      value: z.string().openapi({ description: 'Share of the series traffic, percent.', example: '12.5' }),
    }),
  ),
);
export const TopAsesResponse = Envelope(TopAsesResult, 'TopAsesResponse');

const TopLocationsResult = z.object({ meta: Meta }).catchall(
  z.array(
    z.object({
      clientCountryAlpha2: z.string().openapi({ example: 'PT' }),
      clientCountryName: z.string().openapi({ example: 'Portugal' }),
      value: z.string().openapi({ description: 'Share of the series traffic, percent.', example: '12.5' }),
    }),
  ),
);
export const TopLocationsResponse = Envelope(TopLocationsResult, 'TopLocationsResponse');

/**
 * What the query functions answer, inferred from the schemas the OpenAPI document is made of:
 * a field that drifts from the contract fails `tsc` where the answer is built.
 */
export type AnswerMeta = z.infer<typeof Meta>;
export type AnswerTimeseriesMeta = z.infer<typeof TimeseriesMeta>;
export type AnswerAnnotation = z.infer<typeof Annotation>;
export type Normalization = (typeof NORMALIZATIONS)[number];
export type TimeseriesAnswer = z.infer<typeof TimeseriesResult>;
export type GroupsAnswer = z.infer<typeof GroupsResult>;
export type SummaryAnswer = z.infer<typeof SummaryResult>;
export type TopAsesAnswer = z.infer<typeof TopAsesResult>;
export type TopLocationsAnswer = z.infer<typeof TopLocationsResult>;

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

/** The query schema of each kind of NetFlows endpoint. */
const QUERY_SCHEMAS = {
  timeseries: TimeseriesQuery,
  groups: GroupsQuery,
  summary: SummaryQuery,
  top: TopQuery,
} as const;

/**
 * {@link parseQuery} of a raw query string, validated by the schema of `kind` as its route
 * validates it: for embed links, the CLI and benchmarks, which hold a query string, not a request.
 * @example parseSearchQuery(new URLSearchParams('dateRange=1d'), 'timeseries', Date.now())
 */
export function parseSearchQuery(params: URLSearchParams, kind: Kind, nowMs: number): ParsedQuery {
  return parseQuery(parseSearch(QUERY_SCHEMAS[kind], params), kind, nowMs);
}
