/** What a token may do, and who is calling with one. */

export const SCOPES = ['read', 'read:raw', 'ingest', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** The caller of a request, as its token says: set by the authentication middleware. */
export interface Caller {
  tokenId: string;
  scopes: string[];
}

/**
 * Whether a token with `scopes` may do what `needed` allows: admin holds every scope, and read:raw
 * is read with raw values.
 * @example grants(['read:raw'], 'read') // true; grants(['read'], 'read:raw') // false
 */
export function grants(scopes: readonly string[], needed: string): boolean {
  return (
    scopes.includes(needed) || scopes.includes('admin') || (needed === 'read' && scopes.includes('read:raw'))
  );
}

/**
 * Parses a scope list; throws naming the bad scope.
 * @example parseScopes('read, read:raw') // ['read', 'read:raw']
 */
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
