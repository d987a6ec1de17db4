/**
 * Product rules: which (IP protocol, port) pairs are HTTP, as flat per-protocol port tables built
 * once, so classifying a record is two array reads.
 */

export type Product = 'HTTP' | 'OTHER';

export interface ProductRule {
  /** IP protocol number (6 TCP, 17 UDP). */
  proto: number;
  port: number;
  product: Product;
}

/** TCP 80, 443, 8080, 8443 and UDP 443 (QUIC). */
export const DEFAULT_PRODUCT_RULES: readonly ProductRule[] = [
  { proto: 6, port: 80, product: 'HTTP' },
  { proto: 6, port: 443, product: 'HTTP' },
  { proto: 6, port: 8080, product: 'HTTP' },
  { proto: 6, port: 8443, product: 'HTTP' },
  { proto: 17, port: 443, product: 'HTTP' },
];

/** What a (protocol, port) pair says: no rule, or the product of the first rule for it. */
export const NO_RULE = 0;
export const RULE_HTTP = 1;
const RULE_OTHER = 2;

function buildRuleTables(rules: readonly ProductRule[]): (Uint8Array | undefined)[] {
  const tables: (Uint8Array | undefined)[] = new Array(256).fill(undefined);
  for (const r of rules) {
    if (!Number.isInteger(r.proto) || r.proto < 0 || r.proto > 255)
      throw new RangeError(`product rule: bad protocol ${r.proto}`);
    if (!Number.isInteger(r.port) || r.port < 0 || r.port > 65535)
      throw new RangeError(`product rule: bad port ${r.port}`);
    if (r.product !== 'HTTP' && r.product !== 'OTHER')
      throw new RangeError(`product rule: bad product ${String(r.product)}`);
    let t = tables[r.proto];
    if (t === undefined) tables[r.proto] = t = new Uint8Array(65536);
    if (t[r.port] === NO_RULE) t[r.port] = r.product === 'HTTP' ? RULE_HTTP : RULE_OTHER; // first wins
  }
  return tables;
}

/**
 * The rule lookup for `rules` (first match wins): (protocol, port) → NO_RULE, RULE_HTTP or the
 * code of OTHER. Throws a RangeError on a bad protocol, port or product.
 * @example
 * const ruleAt = productRuleLookup(DEFAULT_PRODUCT_RULES);
 * ruleAt(6, 443) === RULE_HTTP; // true
 */
export function productRuleLookup(rules: readonly ProductRule[]): (proto: number, port: number) => number {
  const tables = buildRuleTables(rules);
  return (proto, port) => {
    const t = tables[proto & 0xff];
    return t === undefined ? NO_RULE : t[port & 0xffff]!;
  };
}
