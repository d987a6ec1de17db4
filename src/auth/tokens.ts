import { createHash, randomBytes } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { LRUCache } from 'lru-cache';
import {
  type ApiTokenCheck,
  type ApiTokenRow,
  getApiTokenByHash,
  insertApiToken,
  listApiTokens,
  revokeApiTokens,
} from '../db/api-tokens.js';
import type { Database } from '../db/client.js';
import type { Scope } from './scopes.js';

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
  notBefore: string | null;
  allowedCidrs: string[] | null;
  revokedAt: string | null;
}

const info = (r: ApiTokenRow): TokenInfo => ({
  id: r.id,
  name: r.name,
  scopes: r.scopes,
  createdAt: r.createdAt.toISOString(),
  expiresAt: r.expiresAt?.toISOString() ?? null,
  notBefore: r.notBefore?.toISOString() ?? null,
  allowedCidrs: r.allowedCidrs ?? null,
  revokedAt: r.revokedAt?.toISOString() ?? null,
});

/**
 * Creates a token: 256 random bits after the prefix. Only its SHA-256 is stored; the token itself
 * is returned once.
 */
export async function createToken(
  db: Database,
  opts: {
    name: string;
    scopes: Scope[];
    expiresAt?: Date | null;
    notBefore?: Date | null;
    allowedCidrs?: string[] | null;
  },
): Promise<{ token: string; info: TokenInfo }> {
  for (const c of opts.allowedCidrs ?? [])
    if (!isCidr(c)) throw new Error(`"${c}" is not a CIDR such as 192.0.2.0/24`);
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const id = randomBytes(6).toString('hex');
  const row = await insertApiToken(db, {
    id,
    name: opts.name,
    hash: hashToken(token),
    scopes: opts.scopes,
    expiresAt: opts.expiresAt ?? null,
    notBefore: opts.notBefore ?? null,
    allowedCidrs: opts.allowedCidrs?.length ? opts.allowedCidrs : null,
  });
  return { token, info: info(row) };
}

export async function listTokens(db: Database): Promise<TokenInfo[]> {
  return (await listApiTokens(db)).map(info);
}

/** Revokes by id or by name; returns how many tokens it revoked. */
export async function revokeToken(db: Database, idOrName: string): Promise<number> {
  return (
    (await revokeApiTokens(db, 'id', idOrName, new Date())) ||
    revokeApiTokens(db, 'name', idOrName, new Date())
  );
}

export type Verdict =
  | { ok: true; id: string; scopes: string[] }
  | {
      ok: false;
      reason: 'unknown' | 'revoked' | 'expired' | 'not yet valid' | 'not allowed from this address';
    };

/** True for a CIDR (or a single address) ipaddr.js understands. */
export function isCidr(text: string): boolean {
  try {
    if (text.includes('/')) ipaddr.parseCIDR(text);
    else ipaddr.parse(text);
    return true;
  } catch {
    return false;
  }
}

function allowedFrom(cidrs: string[], clientIp: string | undefined): boolean {
  if (!clientIp || !ipaddr.isValid(clientIp)) return false;
  let addr = ipaddr.parse(clientIp);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress())
    addr = (addr as ipaddr.IPv6).toIPv4Address();
  return cidrs.some((c) => {
    const [range, bits] = c.includes('/')
      ? ipaddr.parseCIDR(c)
      : ([ipaddr.parse(c), ipaddr.parse(c).kind() === 'ipv4' ? 32 : 128] as const);
    return range.kind() === addr.kind() && addr.match(range, bits);
  });
}

/**
 * Tokens looked up recently, by hash, for at most `ttlMs`: a dashboard polling every few seconds
 * then costs no database round trip per request. Only found tokens are kept (a new token works at
 * once everywhere); a revocation is seen at once by the instance that made it (it clears the
 * cache) and by every other within `ttlMs`. Expiry, not_before and client networks are judged on
 * every request from the kept row. `ttlMs` 0 turns it off.
 */
export class TokenCache {
  private readonly rows: LRUCache<string, { row: ApiTokenCheck; atMs: number }>;
  constructor(
    readonly ttlMs: number,
    maxEntries = 10_000,
  ) {
    // Least recently used tokens go first when many distinct tokens are presented.
    this.rows = new LRUCache({ max: maxEntries });
  }

  async lookup(db: Database, hash: string, nowMs: number): Promise<ApiTokenCheck | undefined> {
    const hit = this.rows.get(hash);
    if (hit && nowMs - hit.atMs < this.ttlMs && nowMs >= hit.atMs) return hit.row;
    const row = await getApiTokenByHash(db, hash);
    if (row && this.ttlMs > 0) {
      this.rows.set(hash, { row, atMs: nowMs });
    } else this.rows.delete(hash);
    return row;
  }

  clear(): void {
    this.rows.clear();
  }
}

/**
 * Looks a presented token up by its SHA-256: the secret is never compared byte by byte in JS,
 * and the index lookup's timing depends on the hash, which reveals nothing about the token.
 */
export async function verifyToken(
  db: Database,
  token: string,
  nowMs: number,
  clientIp?: string,
  cache?: TokenCache,
): Promise<Verdict> {
  const hash = hashToken(token);
  const row = cache ? await cache.lookup(db, hash, nowMs) : await getApiTokenByHash(db, hash);
  if (!row) return { ok: false, reason: 'unknown' };
  if (row.revokedAt) return { ok: false, reason: 'revoked' };
  if (row.expiresAt && row.expiresAt.getTime() <= nowMs) return { ok: false, reason: 'expired' };
  if (row.notBefore && row.notBefore.getTime() > nowMs) return { ok: false, reason: 'not yet valid' };
  if (row.allowedCidrs && !allowedFrom(row.allowedCidrs, clientIp))
    return { ok: false, reason: 'not allowed from this address' };
  return { ok: true, id: row.id, scopes: row.scopes };
}
