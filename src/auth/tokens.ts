import { createHash, randomBytes } from 'node:crypto';
import { and, desc, eq, isNull } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { apiTokens } from '../db/schema.js';

export const SCOPES = ['read', 'read:raw', 'ingest', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** Recognisable prefix, so leaked tokens can be found by secret scanners. */
export const TOKEN_PREFIX = 'frt_';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export interface TokenInfo {
  id: string;
  name: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

const info = (r: typeof apiTokens.$inferSelect): TokenInfo => ({
  id: r.id,
  name: r.name,
  scopes: r.scopes,
  createdAt: r.createdAt.toISOString(),
  expiresAt: r.expiresAt?.toISOString() ?? null,
  revokedAt: r.revokedAt?.toISOString() ?? null,
});

/**
 * Creates a token: 256 random bits after the prefix. Only its SHA-256 is stored; the token itself
 * is returned once.
 */
export async function createToken(
  db: Database,
  opts: { name: string; scopes: Scope[]; expiresAt?: Date | null },
): Promise<{ token: string; info: TokenInfo }> {
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const id = randomBytes(6).toString('hex');
  const [row] = await db.orm
    .insert(apiTokens)
    .values({
      id,
      name: opts.name,
      hash: hashToken(token),
      scopes: opts.scopes,
      expiresAt: opts.expiresAt ?? null,
    })
    .returning();
  return { token, info: info(row!) };
}

export async function listTokens(db: Database): Promise<TokenInfo[]> {
  return (await db.orm.select().from(apiTokens).orderBy(desc(apiTokens.createdAt))).map(info);
}

/** Revokes by id or by name; returns how many tokens it revoked. */
export async function revokeToken(db: Database, idOrName: string): Promise<number> {
  const byId = await db.orm
    .update(apiTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiTokens.id, idOrName), isNull(apiTokens.revokedAt)))
    .returning({ id: apiTokens.id });
  if (byId.length) return byId.length;
  const byName = await db.orm
    .update(apiTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiTokens.name, idOrName), isNull(apiTokens.revokedAt)))
    .returning({ id: apiTokens.id });
  return byName.length;
}

export type Verdict =
  | { ok: true; id: string; scopes: string[] }
  | { ok: false; reason: 'unknown' | 'revoked' | 'expired' };

/** Looks a presented token up by its hash; the comparison happens in the index, not in JS. */
export async function verifyToken(db: Database, token: string, nowMs: number): Promise<Verdict> {
  const [row] = await db.orm
    .select({
      id: apiTokens.id,
      scopes: apiTokens.scopes,
      expiresAt: apiTokens.expiresAt,
      revokedAt: apiTokens.revokedAt,
    })
    .from(apiTokens)
    .where(eq(apiTokens.hash, hashToken(token)))
    .limit(1);
  if (!row) return { ok: false, reason: 'unknown' };
  if (row.revokedAt) return { ok: false, reason: 'revoked' };
  if (row.expiresAt && row.expiresAt.getTime() <= nowMs) return { ok: false, reason: 'expired' };
  return { ok: true, id: row.id, scopes: row.scopes };
}

/** Parses a scope list such as "read,read:raw"; throws naming the bad scope. */
export function parseScopes(raw: string): Scope[] {
  const scopes = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of scopes)
    if (!(SCOPES as readonly string[]).includes(s))
      throw new Error(`unknown scope "${s}" (${SCOPES.join(', ')})`);
  if (scopes.length === 0) throw new Error('at least one scope');
  return scopes as Scope[];
}
