import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { getTrafficAnomalies, getTrafficAnomalyLocations, parseAnomalyQuery } from '../anomalies/query.js';
import { type AppEnv, readDatabase } from '../deps.js';
import { respond } from './respond.js';
import { bearer, errorResponses, jsonOrCsv, successOf } from './schemas.js';

const q = (description: string, example: string) => z.string().optional().openapi({ description, example });

const WindowQuery = {
  dateRange: q(
    'Anomalies overlapping a window ending now: 1d…364d or 1w…52w, optionally with `control`. Default: no window.',
    '7d',
  ),
  dateStart: q('Start of an explicit window (ISO-8601); with dateEnd.', '2026-11-01T00:00:00Z'),
  dateEnd: q('End of an explicit window (ISO-8601, inclusive); with dateStart.', '2026-11-08T00:00:00Z'),
  status: q(
    'VERIFIED or UNVERIFIED (default both); DISMISSED, a flowradar extension, only when asked.',
    'VERIFIED',
  ),
  limit: q('How many, 1–1000, default 10.', '10'),
  format: q('JSON (default) or CSV.', 'JSON'),
};

const AnomaliesQuery = z
  .object({
    ...WindowQuery,
    asn: q('Only this AS.', '64500'),
    location: q(
      'Only this location (ISO 3166-1 alpha-2); AS anomalies count where the AS is registered.',
      'PT',
    ),
    type: z
      .union([z.string(), z.array(z.string())])
      .optional()
      .openapi({
        description: 'AS, LOCATION or ORIGIN (which flowradar never has), repeated or comma-separated.',
        example: 'AS',
        param: { style: 'form', explode: true },
      }),
    offset: q('How many to skip, default 0.', '0'),
    dataSource: q('ALL or NET match flowradar’s anomalies; any other Radar data source matches none.', 'NET'),
    origin: q('Radar’s origins; flowradar has none, so it matches nothing.', ''),
  })
  .openapi('TrafficAnomaliesQuery');

const Place = z.object({
  code: z.string().openapi({ example: 'PT' }),
  name: z.string().openapi({ example: 'Portugal' }),
});

const TrafficAnomaly = z
  .object({
    uuid: z.string().openapi({ example: '8b45b114-3874-453b-8f88-91847e48d953' }),
    type: z.enum(['AS', 'LOCATION']).openapi({ example: 'AS' }),
    status: z.enum(['UNVERIFIED', 'VERIFIED', 'DISMISSED']).openapi({ example: 'UNVERIFIED' }),
    startDate: z.string().openapi({ example: '2026-11-20T13:00:00Z' }),
    endDate: z
      .string()
      .nullable()
      .openapi({ description: 'Null while the anomaly lasts.', example: '2026-11-20T15:30:00Z' }),
    asnDetails: z
      .object({
        asn: z.string().openapi({ example: '64500' }),
        name: z.string().nullable().openapi({ example: 'EXAMPLE-NET' }),
        location: Place.nullable(),
      })
      .nullable()
      .openapi({ description: 'The AS, for type AS.' }),
    locationDetails: Place.nullable().openapi({
      description: 'The location, for type LOCATION; the AS’s registered country for type AS.',
    }),
    originDetails: z.null().openapi({ description: 'Always null: flowradar has no origins.' }),
    visibleInDataSources: z.array(z.string()).openapi({ example: ['NET'] }),
  })
  .openapi('TrafficAnomaly');

const listRoute = createRoute({
  method: 'get',
  path: '/traffic_anomalies',
  operationId: 'radar-get-traffic-anomalies',
  summary: 'Traffic anomalies: sustained drops of an AS’s or a location’s traffic',
  tags: ['Traffic anomalies'],
  security: bearer('read'),
  request: { query: AnomaliesQuery },
  responses: {
    200: jsonOrCsv(
      successOf(z.object({ trafficAnomalies: z.array(TrafficAnomaly) })).openapi('TrafficAnomaliesResponse'),
      'Anomalies, newest start first.',
    ),
    ...errorResponses,
  },
});

const locationsRoute = createRoute({
  method: 'get',
  path: '/traffic_anomalies/locations',
  operationId: 'radar-get-traffic-anomalies-top',
  summary: 'Traffic anomalies counted per location',
  tags: ['Traffic anomalies'],
  security: bearer('read'),
  request: { query: z.object(WindowQuery).openapi('TrafficAnomalyLocationsQuery') },
  responses: {
    200: jsonOrCsv(
      successOf(
        z.object({
          trafficAnomalies: z.array(
            z.object({
              clientCountryAlpha2: z.string().openapi({ example: 'PT' }),
              clientCountryName: z.string().openapi({ example: 'Portugal' }),
              value: z.string().openapi({ description: 'Number of anomalies.', example: '3' }),
            }),
          ),
        }),
      ).openapi('TrafficAnomalyLocationsResponse'),
      'Locations with the most anomalies first.',
    ),
    ...errorResponses,
  },
});

/** Mounted under /radar (and so /client/v4/radar), with the read scope of every /radar route. */
export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(listRoute, async (c) => {
    const f = parseAnomalyQuery(new URL(c.req.url).searchParams, 'list', c.var.deps.now());
    return respond(c, await getTrafficAnomalies(readDatabase(c.var.deps), f)) as never;
  });
  app.openapi(locationsRoute, async (c) => {
    const f = parseAnomalyQuery(new URL(c.req.url).searchParams, 'locations', c.var.deps.now());
    return respond(c, await getTrafficAnomalyLocations(readDatabase(c.var.deps), f)) as never;
  });
}
