import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { SCOPES } from '../auth/scopes.js';
import { createToken, isCidr, listTokens, revokeToken } from '../auth/tokens.js';
import { parseDuration } from '../config.js';
import type { AppEnv } from '../deps.js';
import { envelope } from '../envelope.js';
import { ApiError, badParam } from '../errors.js';
import { bearer, errorResponses, jsonBody, successResponse } from './schemas.js';

const TokenInfo = z
  .object({
    id: z.string().openapi({ example: '3f9a0c21b7de' }),
    name: z.string().openapi({ example: 'grafana' }),
    scopes: z.array(z.string()).openapi({ description: 'read, read:raw, ingest, admin', example: ['read'] }),
    createdAt: z.string().openapi({ example: '2026-11-23T10:00:00.000Z' }),
    expiresAt: z.string().nullable().openapi({ example: null }),
    notBefore: z.string().nullable().openapi({ example: null }),
    allowedCidrs: z.array(z.string()).nullable().openapi({ example: null }),
    revokedAt: z.string().nullable().openapi({ example: null }),
  })
  .openapi('TokenInfo');

const createTokenRoute = createRoute({
  method: 'post',
  path: '/admin/tokens',
  operationId: 'admin-create-token',
  summary: 'Create an API token (shown once)',
  tags: ['Admin'],
  security: bearer('admin'),
  request: {
    body: jsonBody(
      z
        .object({
          name: z.string().min(1).max(100).openapi({ example: 'grafana' }),
          scopes: z
            .array(z.enum(SCOPES))
            .min(1)
            .openapi({ example: ['read'] }),
          expires: z
            .string()
            .optional()
            .openapi({ description: 'Lifetime such as 30d or 12h.', example: '30d' }),
          notBefore: z.string().datetime({ offset: true }).optional().openapi({
            description: 'The token is refused before this time.',
            example: '2026-12-01T00:00:00Z',
          }),
          allowedCidrs: z
            .array(z.string())
            .max(100)
            .optional()
            .openapi({
              description: 'Client networks the token may be used from.',
              example: ['192.0.2.0/24'],
            }),
        })
        .openapi('CreateTokenRequest'),
    ),
  },
  responses: {
    201: successResponse(
      'The token; store it now, it is not shown again.',
      TokenInfo.extend({ token: z.string().openapi({ example: 'frt_…' }) }),
    ),
    ...errorResponses,
  },
});

const listTokensRoute = createRoute({
  method: 'get',
  path: '/admin/tokens',
  operationId: 'admin-list-tokens',
  summary: 'List API tokens (never the tokens themselves)',
  tags: ['Admin'],
  security: bearer('admin'),
  responses: {
    200: successResponse('Tokens, newest first.', z.array(TokenInfo)),
    ...errorResponses,
  },
});

const revokeTokenRoute = createRoute({
  method: 'delete',
  path: '/admin/tokens/{id}',
  operationId: 'admin-revoke-token',
  summary: 'Revoke a token by id or name',
  tags: ['Admin'],
  security: bearer('admin'),
  request: {
    params: z.object({
      id: z.string().openapi({
        param: { name: 'id', in: 'path' },
        description: 'Token id or name.',
        example: '3f9a0c21b7de',
      }),
    }),
  },
  responses: {
    200: successResponse('How many tokens were revoked.', z.object({ revoked: z.number().int() })),
    ...errorResponses,
  },
});

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(createTokenRoute, async (c) => {
    const body = c.req.valid('json');
    let expiresAt: Date | null = null;
    if (body.expires) {
      try {
        expiresAt = new Date(c.var.deps.now() + parseDuration(body.expires));
      } catch {
        throw badParam('expires', `"${body.expires}" is not a duration such as 30d or 12h`);
      }
    }
    for (const cidr of body.allowedCidrs ?? [])
      if (!isCidr(cidr)) throw badParam('allowedCidrs', `"${cidr}" is not a CIDR such as 192.0.2.0/24`);
    const { token, info } = await createToken(c.var.deps.db, {
      name: body.name,
      scopes: body.scopes,
      expiresAt,
      notBefore: body.notBefore ? new Date(body.notBefore) : null,
      allowedCidrs: body.allowedCidrs ?? null,
    });
    return c.json(envelope({ ...info, token }), 201);
  });
  app.openapi(listTokensRoute, async (c) => c.json(envelope(await listTokens(c.var.deps.db)), 200));
  app.openapi(revokeTokenRoute, async (c) => {
    const revoked = await revokeToken(c.var.deps.db, c.req.valid('param').id);
    // This instance refuses the token at once; others within tokenCacheTtl.
    c.var.deps.tokenCache?.clear();
    if (revoked === 0) throw new ApiError('NOT_FOUND', 'no active token with that id or name');
    return c.json(envelope({ revoked }), 200);
  });
}
