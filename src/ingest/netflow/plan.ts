/**
 * Compiles a v9 or IPFIX template into a {@link DecodePlan}: one decoder action and length per
 * field, runs of skipped fields merged, the best field of each exclusive group chosen. Done once
 * when a template is learned, so decoding a record only walks the plan.
 */
import type { DecodeDropReason } from '../types.js';
import {
  K,
  kindOf,
  lengthFits,
  ROLE_GROUP,
  ROLE_GROUPS,
  ROLE_PRIORITY,
  VARIABLE_LENGTH,
} from './elements.js';
import type { FixedReader } from './reader.js';

/** A template compiled for decoding: parallel arrays, one entry per (merged) field. */
export interface DecodePlan {
  readonly kinds: Uint8Array;
  /** Field length in bytes, or VARIABLE_LENGTH (IPFIX only). */
  readonly lengths: Uint16Array;
  /** Smallest record size: fixed lengths plus one length byte per variable-length field. */
  readonly minLength: number;
  /** Some field we read is a sampling field or sampler id (records resolve their own rate). */
  readonly hasSampling: boolean;
  /** Record size when every field has a fixed length (then minLength), 0 with variable-length fields. */
  readonly fixedLength: number;
  /** Some field we read is a sampling field, sampler id or system init time (kept in the scratch). */
  readonly hasRare: boolean;
  /**
   * The plan compiled to straight-line code (reader.ts), set by dataset.ts when it first decodes
   * with a fixed-length plan; null: walk the plan (variable lengths, or no code generation).
   */
  reader?: FixedReader | null;
}

/** The raw field specifiers of one template, as parsed (scratch or stored). */
export interface FieldList {
  count: number;
  types: ArrayLike<number>;
  lengths: ArrayLike<number>;
  /** Private enterprise numbers, 0 for IANA elements. */
  pens: ArrayLike<number>;
}

/**
 * Compile field specifiers into a plan, or return the reason the template is unusable.
 * v9 scope fields use their own type space (1 System, 2 Interface, ...), so they are skipped;
 * IPFIX scope fields are ordinary elements (selectorId is a typical scope) and are decoded.
 * @example
 * const plan = compilePlan('ipfix', FIELD_SCRATCH, 0);
 * if (typeof plan === 'string') return plan; // 'bad_template'
 */
export function compilePlan(
  protocol: 'v9' | 'ipfix',
  fields: FieldList,
  scopeCount: number,
): DecodePlan | DecodeDropReason {
  const { count } = fields;
  if (count === 0) return 'bad_template';
  const chosen = chooseExclusive(protocol, fields, scopeCount);
  const kinds = new Uint8Array(count);
  const lengths = new Uint16Array(count);
  let n = 0;
  let minLength = 0;
  let hasSampling = false;
  let hasRare = false;
  let hasVariable = false;
  for (let i = 0; i < count; i++) {
    const len = fields.lengths[i]!;
    const variable = protocol === 'ipfix' && len === VARIABLE_LENGTH;
    // v9 has no variable length: a 65535-byte field cannot fit in an export packet at all.
    if (len === VARIABLE_LENGTH && !variable) return 'bad_template';
    const type = fields.types[i]!;
    let kind = interpreted(protocol, fields, i, scopeCount) ? kindOf(type) : K.SKIP;
    // Lost to a better field of the same exclusive group (kindOf is SKIP for types >= 512).
    if (kind !== K.SKIP && ROLE_GROUP[type] !== 0 && chosen[ROLE_GROUP[type]!] !== i) kind = K.SKIP;
    if (!variable && !lengthFits(kind, len)) kind = K.SKIP;
    minLength += variable ? 1 : len;
    if (kind >= K.SAMPLING_INTERVAL && kind <= K.SAMPLING_PROBABILITY) hasSampling = true;
    if (kind >= K.SAMPLING_INTERVAL) hasRare = true;
    if (variable) hasVariable = true;
    // Merge runs of fixed-length skipped fields: fewer iterations per record.
    const last = n - 1;
    if (kind === K.SKIP && !variable && last >= 0 && kinds[last] === K.SKIP) {
      const prev = lengths[last]!;
      if (prev !== VARIABLE_LENGTH && prev + len < VARIABLE_LENGTH) {
        lengths[last] = prev + len;
        continue;
      }
    }
    kinds[n] = kind;
    lengths[n] = variable ? VARIABLE_LENGTH : len;
    n++;
  }
  if (minLength === 0) return 'bad_template';
  return {
    kinds: kinds.slice(0, n),
    lengths: lengths.slice(0, n),
    minLength,
    hasSampling,
    fixedLength: hasVariable ? 0 : minLength,
    hasRare,
  };
}

/** Enterprise-specific fields are not ours to interpret; v9 scope fields use another type space. */
function interpreted(protocol: 'v9' | 'ipfix', fields: FieldList, i: number, scopeCount: number): boolean {
  return fields.pens[i] === 0 && !(protocol === 'v9' && i < scopeCount);
}

/** For each exclusive group, the index of the field that wins (-1 none). */
function chooseExclusive(protocol: 'v9' | 'ipfix', fields: FieldList, scopeCount: number): Int32Array {
  const chosen = new Int32Array(ROLE_GROUPS).fill(-1);
  const best = new Uint8Array(ROLE_GROUPS).fill(255);
  for (let i = 0; i < fields.count; i++) {
    const type = fields.types[i]!;
    const kind = kindOf(type);
    if (kind === K.SKIP || ROLE_GROUP[type] === 0 || !interpreted(protocol, fields, i, scopeCount)) continue;
    const len = fields.lengths[i]!;
    if (!lengthFits(kind, len) && !(protocol === 'ipfix' && len === VARIABLE_LENGTH)) continue;
    const group = ROLE_GROUP[type]!;
    if (ROLE_PRIORITY[type]! < best[group]!) {
      best[group] = ROLE_PRIORITY[type]!;
      chosen[group] = i;
    }
  }
  return chosen;
}
