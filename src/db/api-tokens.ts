/**
 * The `api_tokens` table. Only a token's SHA-256 is stored, and no function here returns it:
 * src/auth/tokens.ts makes, checks and caches tokens.
 */
import { and, count, desc, eq, isNull } from 'drizzle-orm';
import type { Database } from './client.js';
import { apiTokens } from './schema.js';

/** What an administrator may see of a token: everything but its hash. */
const listed = {
  id: apiTokens.id,
  name: apiTokens.name,
  scopes: apiTokens.scopes,
  createdAt: apiTokens.createdAt,
  expiresAt: apiTokens.expiresAt,
  notBefore: apiTokens.notBefore,
  allowedCidrs: apiTokens.allowedCidrs,
  revokedAt: apiTokens.revokedAt,
};
export type ApiTokenRow = { [K in keyof typeof listed]: (typeof apiTokens.$inferSelect)[K] };

/** What checking a presented token needs. */
const checked = {
  id: apiTokens.id,
  scopes: apiTokens.scopes,
  expiresAt: apiTokens.expiresAt,
  notBefore: apiTokens.notBefore,
  allowedCidrs: apiTokens.allowedCidrs,
  revokedAt: apiTokens.revokedAt,
};
export type ApiTokenCheck = { [K in keyof typeof checked]: (typeof apiTokens.$inferSelect)[K] };

/**
 * Stores a new token by its hash.
 * @example
 * await insertApiToken(db, { id: '3f9a0c21b7de', name: 'grafana', hash, scopes: ['read'] })
 */
export async function insertApiToken(
  db: Pick<Database, 'orm'>,
  token: Pick<typeof apiTokens.$inferInsert, 'id' | 'name' | 'hash' | 'scopes'> &
    Partial<Pick<typeof apiTokens.$inferInsert, 'expiresAt' | 'notBefore' | 'allowedCidrs'>>,
): Promise<ApiTokenRow> {
  const [row] = await db.orm.insert(apiTokens).values(token).returning(listed);
  return row!;
}

/**
 * Every token, newest first.
 * @example (await listApiTokens(db)).map((t) => t.name) // ['grafana', 'admin']
 */
export function listApiTokens(db: Pick<Database, 'orm'>): Promise<ApiTokenRow[]> {
  return db.orm.select(listed).from(apiTokens).orderBy(desc(apiTokens.createdAt));
}

/**
 * Revokes the tokens not yet revoked whose `column` is `value`, as of `at`; returns how many.
 * @example await revokeApiTokens(db, 'name', 'grafana', new Date()) // 1
 */
export async function revokeApiTokens(
  db: Pick<Database, 'orm'>,
  column: 'id' | 'name',
  value: string,
  at: Date,
): Promise<number> {
  const revoked = await db.orm
    .update(apiTokens)
    .set({ revokedAt: at })
    .where(and(eq(apiTokens[column], value), isNull(apiTokens.revokedAt)))
    .returning({ id: apiTokens.id });
  return revoked.length;
}

/**
 * The token with this hash, as its check needs it.
 * @example await getApiTokenByHash(db, hashToken(presented)) // { id, scopes, expiresAt, … } or undefined
 */
export async function getApiTokenByHash(
  db: Pick<Database, 'orm'>,
  hash: string,
): Promise<ApiTokenCheck | undefined> {
  const [row] = await db.orm.select(checked).from(apiTokens).where(eq(apiTokens.hash, hash)).limit(1);
  return row;
}

/**
 * How many tokens exist, revoked ones included: none means a database never started.
 * @example await countApiTokens(db) // 0 on the first start
 */
export async function countApiTokens(db: Pick<Database, 'orm'>): Promise<number> {
  const [row] = await db.orm.select({ n: count() }).from(apiTokens);
  return row?.n ?? 0;
}
