import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { type AppEnv, readDatabase } from '../deps.js';
import { createEmbed, embedKeyOf, embedRefusal, verifyEmbed } from '../embed.js';
import { envelope } from '../envelope.js';
import { badParam } from '../errors.js';
import { tooMany, WindowCounter } from '../middleware/rate-limit.js';
import { embedCsp, svgCsp } from '../middleware/security-headers.js';
import type { ParsedQuery } from '../query/params.js';
import { getTimeseries } from '../query/timeseries.js';
import { renderTimeseriesSvg } from '../svg.js';
import { HTML, publicFile, readAsset } from './explorer.js';
import { respond } from './respond.js';
import { bearer, errorResponses, jsonBody, parseSearchQuery, successResponse } from './schemas.js';

/**
 * POST /embeds (scope admin) signs a timeseries query; the signed links are answered without a
 * token: /embed/timeseries (a bare chart page for an iframe), /embed/timeseries.svg (a static
 * chart) and /embed/data (the timeseries JSON the page draws). A changed query, a wrong
 * signature or an expired link gets 403.
 */

const EmbedLinks = z
  .object({
    url: z.string().openapi({
      description: 'The chart page, for an iframe.',
      example: 'http://127.0.0.1:8787/embed/timeseries?name=pt&location=PT&dateRange=7d&exp=1767225600&sig=…',
    }),
    svgUrl: z.string().openapi({
      description: 'A static SVG chart, for places that cannot run script.',
      example:
        'http://127.0.0.1:8787/embed/timeseries.svg?name=pt&location=PT&dateRange=7d&exp=1767225600&sig=…',
    }),
    dataUrl: z.string().openapi({
      description: 'The timeseries JSON (CSV when the query has format=CSV), without a token.',
      example: 'http://127.0.0.1:8787/embed/data?name=pt&location=PT&dateRange=7d&exp=1767225600&sig=…',
    }),
    expiresAt: z.string().openapi({ example: '2027-01-01T00:00:00.000Z' }),
  })
  .openapi('EmbedLinks');

export const route = createRoute({
  method: 'post',
  path: '/embeds',
  operationId: 'embeds-create',
  summary: 'Sign a read-only, expiring link to a timeseries chart',
  description:
    'The query is a /radar/netflows/timeseries query string; the links answer exactly that query, without a token, until they expire. ' +
    'Rotating the embed key (embedKey) revokes every link.',
  tags: ['Embeds'],
  security: bearer('admin'),
  request: {
    body: jsonBody(
      z
        .object({
          query: z.string().max(4000).openapi({
            description: 'A timeseries query string (a leading ? or a whole URL is accepted).',
            example: 'name=pt&location=PT&dateRange=7d&name=de&location=DE&dateRange=7d&aggInterval=1h',
          }),
          ttl: z
            .string()
            .default('30d')
            .openapi({ description: 'Lifetime such as 30d, 12h or 8w; at most 366d.', example: '30d' }),
          baseUrl: z.string().url().optional().openapi({
            description: 'Origin the links start with, e.g. behind a proxy; default the request’s.',
            example: 'https://flowradar.example.net',
          }),
        })
        .openapi('CreateEmbedRequest'),
    ),
  },
  responses: {
    200: successResponse('The signed links.', EmbedLinks),
    ...errorResponses,
  },
});

/** Seconds an embed answer may be reused, by anyone holding the link, never past its expiry. */
const EMBED_MAX_AGE_SECONDS = 60;

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, async (c) => {
    const { db, config, now } = c.var.deps;
    const body = c.req.valid('json');
    if (body.baseUrl && !/^https?:\/\//i.test(body.baseUrl)) throw badParam('baseUrl', 'an http(s) URL');
    const links = createEmbed({
      key: await embedKeyOf(db, config),
      query: body.query,
      ttl: body.ttl,
      nowMs: now(),
      baseUrl: body.baseUrl ?? new URL(c.req.url).origin,
    });
    return c.json(envelope(links), 200);
  });

  // Per link, like the per-token limit of the API: links are public, their cost should not be.
  let perLink: WindowCounter | undefined;
  async function signed(c: Context<AppEnv>): Promise<{ q: ParsedQuery; maxAge: number }> {
    const { db, config, now } = c.var.deps;
    const nowMs = now();
    // The key from the primary (where it is made on first use), the chart from readDatabase.
    const verdict = verifyEmbed(await embedKeyOf(db, config), new URL(c.req.url).searchParams, nowMs);
    if (!verdict.ok) throw embedRefusal(verdict.reason);
    perLink ??= new WindowCounter(config.rateLimit.requests, config.rateLimit.window);
    const state = perLink.hit(c.req.query('sig') ?? '', nowMs);
    if (state.count > perLink.limit)
      throw tooMany(perLink, state.resetMs, `more than ${perLink.limit} requests per embed link`);
    const left = Math.floor((verdict.exp * 1000 - nowMs) / 1000);
    return {
      q: parseSearchQuery(verdict.params, 'timeseries', nowMs),
      maxAge: Math.max(0, Math.min(EMBED_MAX_AGE_SECONDS, left)),
    };
  }
  /** What the signer could read: every normalization; nothing but this query. */
  const signer = { scopes: ['read', 'read:raw'] };

  app.get('/embed/timeseries', async (c) => {
    await signed(c);
    return c.body(await readAsset(publicFile('embed.html')), 200, {
      'content-type': HTML,
      'cache-control': 'no-cache',
      'content-security-policy': embedCsp(c.var.deps.config),
    });
  });

  app.get('/embed/data', async (c) => {
    const { q, maxAge } = await signed(c);
    // The embed page asks for JSON; others get the format the signed query names.
    const wantsJson = c.req.header('accept') === 'application/json';
    const out = await getTimeseries(
      readDatabase(c.var.deps),
      wantsJson ? { ...q, format: 'JSON' } : q,
      signer,
    );
    const res = respond(c, out);
    res.headers.set('cache-control', `public, max-age=${maxAge}`);
    res.headers.set('vary', 'Accept');
    return res;
  });

  app.get('/embed/timeseries.svg', async (c) => {
    const { q, maxAge } = await signed(c);
    const out = await getTimeseries(readDatabase(c.var.deps), { ...q, format: 'JSON' }, signer);
    // Asked for as JSON, so never CSV.
    if ('csv' in out) throw new Error('embed chart: expected a JSON answer');
    const { meta } = out.result;
    const series = q.series.map((s) => ({ name: s.name, ...out.result[s.name]! }));
    const svg = renderTimeseriesSvg(series, {
      yLabel:
        meta.normalization === 'RAW_VALUES' ? (meta.units[0]?.value ?? '') : meta.normalization.toLowerCase(),
      annotations: meta.confidenceInfo.annotations,
    });
    return c.body(svg, 200, {
      'content-type': 'image/svg+xml; charset=utf-8',
      'cache-control': `public, max-age=${maxAge}`,
      'content-security-policy': svgCsp(c.var.deps.config),
    });
  });
}
