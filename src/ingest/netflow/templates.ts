/**
 * Template and sampler registry for NetFlow v9 and IPFIX. Templates are keyed by (protocol,
 * exporter address, observation domain / source id, template id); data and options templates
 * share the id space of their source, so a redefinition of either kind replaces the other.
 * Each template is compiled once into a {@link DecodePlan} when learned.
 */
import type { DecodeDropReason, FlowRecord } from '../types.js';
import { MAX_FIELDS_HARD } from './elements.js';
import { compilePlan, type DecodePlan, type FieldList } from './plan.js';

/** Template-based protocols. */
export type TemplateProtocol = 'v9' | 'ipfix';
export type TemplateKind = 'data' | 'options';

/** One field specifier. `enterprise` is the IPFIX private enterprise number, 0 for IANA. */
export interface TemplateField {
  type: number;
  length: number;
  enterprise: number;
}

/** A template as plain JSON-able data, for persistence across restarts. */
export interface SerializedTemplate {
  exporter: string;
  domain: number;
  id: number;
  protocol: TemplateProtocol;
  kind: TemplateKind;
  fields: TemplateField[];
  scopeCount: number;
  learnedAtMs: number;
}

/** A learned template with its compiled plan. */
export interface Template {
  readonly id: number;
  readonly kind: TemplateKind;
  readonly fields: readonly TemplateField[];
  readonly scopeCount: number;
  /** Last definition or refresh, for expiry. */
  learnedAtMs: number;
  readonly plan: DecodePlan;
}

/** Sampling rate announced by options data for one sampler / selector id. */
export interface SamplerEntry {
  rate: number;
  updatedMs: number;
}

/**
 * Everything known about one (protocol, exporter, domain).
 * @example
 * const source = registry.sourceFor('ipfix', '192.0.2.1', 1);
 * source.samplers.get(samplerId)?.rate;
 */
export class SourceState {
  readonly templates = new Map<number, Template>();
  readonly samplers = new Map<number, SamplerEntry>();
  /** Rate from options data without a sampler id (e.g. softflowd), 0 = unknown. */
  defaultRate = 0;
  defaultRateMs = 0;
  /** IPFIX systemInitTimeMilliseconds from options data, -1 = unknown. */
  systemInitMs = -1;

  constructor(
    readonly protocol: TemplateProtocol,
    readonly exporter: string,
    readonly domain: number,
  ) {}
}

/** Sampling and clock facts of one source, as saved beside its templates. */
export interface SerializedSource {
  protocol: TemplateProtocol;
  exporter: string;
  domain: number;
  defaultRate: number;
  defaultRateMs: number;
  systemInitMs: number;
  /** [sampler id, rate, updated at]. */
  samplers: [number, number, number][];
}

/** What the registry tells its owner, e.g. to persist templates when something new is learned. */
export interface RegistryChange {
  type: 'learned' | 'removed' | 'reset';
  protocol: TemplateProtocol | 'all';
  exporter: string;
  domain: number;
  /** Template id; -1 for a reset. */
  id: number;
}

export interface RegistryOptions {
  /** Templates not refreshed for this long are forgotten (default 30 min). */
  expiryMs?: number;
  /** Templates per exporter address, over all domains and both protocols (default 1,000). */
  maxTemplatesPerExporter?: number;
  /** Templates overall (default 100,000). */
  maxTemplates?: number;
  /** Fields per template (default 512, at most 16,384). */
  maxFieldsPerTemplate?: number;
  /** Sampler entries per exporter (default 1,000). */
  maxSamplersPerExporter?: number;
  /** Sampler entries overall (default 100,000). */
  maxSamplers?: number;
  /**
   * Called after a template is new or changed, removed (expiry, withdrawal) or a source reset;
   * not on a plain refresh with an identical definition. Errors it throws are ignored.
   */
  onChange?: (change: RegistryChange) => void;
}

/** Outcome of learning one template definition. */
export type LearnOutcome =
  | 'new'
  | 'changed'
  | 'refreshed'
  | Extract<DecodeDropReason, 'too_many' | 'bad_template'>;

/**
 * Per-datagram inputs of the v5/v9/IPFIX decoders.
 * @example
 * const ctx: DecodeContext = { exporter: '192.0.2.1', registry, nowMs: Date.now(), record: newFlowRecord() };
 * let bytes = 0;
 * decodeNetflow(datagram, ctx, (r) => { bytes += r.bytes; }); // the record is reused: copy what you keep
 */
export interface DecodeContext {
  /** Exporter IP address as text: part of the template key. */
  exporter: string;
  registry: TemplateRegistry;
  /** Receive time (Unix ms): template expiry and the timestamp sanity window. */
  nowMs: number;
  /** Reused for every record handed to the sink. */
  record: FlowRecord;
  /** Records ending later than nowMs + this are dropped as bad_timestamp (default 1 day). */
  maxFutureMs?: number;
  /** Records starting earlier than nowMs - this are dropped as bad_timestamp (default 3 years). */
  maxPastMs?: number;
}

const DEFAULTS = {
  expiryMs: 30 * 60 * 1000,
  maxTemplatesPerExporter: 1000,
  maxTemplates: 100_000,
  maxFieldsPerTemplate: 512,
  maxSamplersPerExporter: 1000,
  maxSamplers: 100_000,
};

type SourceMap = Map<string, Map<number, SourceState>>;

/**
 * Registry of templates, samplers and per-source clock facts.
 * @example
 * const registry = new TemplateRegistry({ expiryMs: 30 * 60_000, onChange: (change) => store.changed(change) });
 * registry.import(saved); // SerializedTemplate[] from an earlier registry.export()
 */
export class TemplateRegistry {
  readonly expiryMs: number;
  readonly maxFieldsPerTemplate: number;
  private readonly maxTemplatesPerExporter: number;
  private readonly maxTemplates: number;
  private readonly maxSamplersPerExporter: number;
  private readonly maxSamplers: number;
  private readonly onChange: ((change: RegistryChange) => void) | undefined;
  private readonly sources: Record<TemplateProtocol, SourceMap> = { v9: new Map(), ipfix: new Map() };
  private readonly templatesPerExporter = new Map<string, number>();
  private readonly samplersPerExporter = new Map<string, number>();
  private templateCount = 0;
  private samplerCount = 0;

  constructor(options: RegistryOptions = {}) {
    this.expiryMs = options.expiryMs ?? DEFAULTS.expiryMs;
    this.maxFieldsPerTemplate = Math.min(
      options.maxFieldsPerTemplate ?? DEFAULTS.maxFieldsPerTemplate,
      MAX_FIELDS_HARD,
    );
    this.maxTemplatesPerExporter = options.maxTemplatesPerExporter ?? DEFAULTS.maxTemplatesPerExporter;
    this.maxTemplates = options.maxTemplates ?? DEFAULTS.maxTemplates;
    this.maxSamplersPerExporter = options.maxSamplersPerExporter ?? DEFAULTS.maxSamplersPerExporter;
    this.maxSamplers = options.maxSamplers ?? DEFAULTS.maxSamplers;
    this.onChange = options.onChange;
  }

  /** Number of templates held. */
  get size(): number {
    return this.templateCount;
  }

  /** Number of sampler entries held. */
  get samplerSize(): number {
    return this.samplerCount;
  }

  /** The state of a source, if anything was learned from it. Allocates nothing. */
  findSource(protocol: TemplateProtocol, exporter: string, domain: number): SourceState | undefined {
    return this.sources[protocol].get(exporter)?.get(domain);
  }

  /** The state of a source, created when missing (only called when a template is learned). */
  sourceFor(protocol: TemplateProtocol, exporter: string, domain: number): SourceState {
    let byDomain = this.sources[protocol].get(exporter);
    if (byDomain === undefined) {
      byDomain = new Map();
      this.sources[protocol].set(exporter, byDomain);
    }
    let source = byDomain.get(domain);
    if (source === undefined) {
      source = new SourceState(protocol, exporter, domain);
      byDomain.set(domain, source);
    }
    return source;
  }

  /** A template of the source, or undefined when unknown or expired (then forgotten). */
  getTemplate(source: SourceState, id: number, nowMs: number): Template | undefined {
    const tpl = source.templates.get(id);
    if (tpl === undefined) return undefined;
    if (nowMs - tpl.learnedAtMs > this.expiryMs) {
      this.removeTemplate(source, id);
      return undefined;
    }
    return tpl;
  }

  /**
   * Learn a template definition from parsed field specifiers. An identical redefinition only
   * refreshes it; a different one (of either kind) replaces it and is compiled anew.
   */
  learn(
    source: SourceState,
    id: number,
    kind: TemplateKind,
    scopeCount: number,
    fields: FieldList,
    nowMs: number,
  ): LearnOutcome {
    if (fields.count > this.maxFieldsPerTemplate) return 'too_many';
    const old = source.templates.get(id);
    if (old !== undefined && sameDefinition(old, kind, scopeCount, fields)) {
      old.learnedAtMs = nowMs;
      return 'refreshed';
    }
    if (old === undefined && !this.roomForTemplate(source.exporter)) return 'too_many';
    const plan = compilePlan(source.protocol, fields, scopeCount);
    if (typeof plan === 'string') return 'bad_template';
    const tpl: Template = { id, kind, fields: copyFields(fields), scopeCount, learnedAtMs: nowMs, plan };
    source.templates.set(id, tpl);
    if (old === undefined) this.countTemplate(source.exporter, 1);
    this.notify('learned', source, id);
    return old === undefined ? 'new' : 'changed';
  }

  /** Forget one template (IPFIX withdrawal, expiry). */
  removeTemplate(source: SourceState, id: number): boolean {
    if (!source.templates.delete(id)) return false;
    this.countTemplate(source.exporter, -1);
    this.notify('removed', source, id);
    return true;
  }

  /** Remember the rate of a sampler / selector; false when the sampler table is full. */
  setSampler(source: SourceState, samplerId: number, rate: number, nowMs: number): boolean {
    const entry = source.samplers.get(samplerId);
    if (entry !== undefined) {
      entry.rate = rate;
      entry.updatedMs = nowMs;
      return true;
    }
    const perExporter = this.samplersPerExporter.get(source.exporter) ?? 0;
    if (perExporter >= this.maxSamplersPerExporter || this.samplerCount >= this.maxSamplers) return false;
    source.samplers.set(samplerId, { rate, updatedMs: nowMs });
    this.samplersPerExporter.set(source.exporter, perExporter + 1);
    this.samplerCount++;
    return true;
  }

  /** Rate announced without a sampler id: applies to every record of the source. */
  setDefaultRate(source: SourceState, rate: number, nowMs: number): void {
    source.defaultRate = rate;
    source.defaultRateMs = nowMs;
  }

  /** Rate of a sampler, 0 when unknown. */
  samplerRate(source: SourceState, samplerId: number): number {
    return source.samplers.get(samplerId)?.rate ?? 0;
  }

  /**
   * Forget everything about (exporter, domain) in both protocols: templates, samplers, clock.
   * Used when an exporter restarts (its template ids may now mean something else).
   */
  resetSource(exporter: string, domain: number): void {
    for (const protocol of ['v9', 'ipfix'] as const) {
      const byDomain = this.sources[protocol].get(exporter);
      const source = byDomain?.get(domain);
      if (byDomain === undefined || source === undefined) continue;
      this.dropSource(byDomain, source);
    }
    this.safeNotify({ type: 'reset', protocol: 'all', exporter, domain, id: -1 });
  }

  /** Forget templates and samplers not refreshed within expiryMs; returns templates removed. */
  expire(nowMs: number): number {
    let removed = 0;
    for (const source of this.allSources()) {
      for (const tpl of [...source.templates.values()]) {
        if (nowMs - tpl.learnedAtMs > this.expiryMs && this.removeTemplate(source, tpl.id)) removed++;
      }
      this.expireSamplers(source, nowMs);
      if (source.templates.size === 0 && source.samplers.size === 0) this.pruneSource(source);
    }
    return removed;
  }

  /** All templates as plain objects (for persistence). */
  export(): SerializedTemplate[] {
    const out: SerializedTemplate[] = [];
    for (const source of this.allSources()) {
      for (const tpl of source.templates.values()) {
        out.push({
          exporter: source.exporter,
          domain: source.domain,
          id: tpl.id,
          protocol: source.protocol,
          kind: tpl.kind,
          fields: tpl.fields.map((f) => ({ ...f })),
          scopeCount: tpl.scopeCount,
          learnedAtMs: tpl.learnedAtMs,
        });
      }
    }
    return out;
  }

  /** Sampler rates, default rates and clocks of every source (for persistence). */
  exportSources(): SerializedSource[] {
    const out: SerializedSource[] = [];
    for (const source of this.allSources()) {
      if (source.samplers.size === 0 && source.defaultRate === 0 && source.systemInitMs < 0) continue;
      out.push({
        protocol: source.protocol,
        exporter: source.exporter,
        domain: source.domain,
        defaultRate: source.defaultRate,
        defaultRateMs: source.defaultRateMs,
        systemInitMs: source.systemInitMs,
        samplers: [...source.samplers].map(([id, e]) => [id, e.rate, e.updatedMs]),
      });
    }
    return out;
  }

  /**
   * Restores what {@link exportSources} saved; malformed entries are skipped. Newer wins: a rate
   * or sampler is taken only when it is newer than the one held, and a clock only when none is
   * known, so state saved by another collector never overrides fresher state of this one.
   * Returns sources restored.
   */
  importSources(list: readonly SerializedSource[]): number {
    let restored = 0;
    const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
    for (const item of list) {
      if (
        (item?.protocol !== 'v9' && item?.protocol !== 'ipfix') ||
        typeof item.exporter !== 'string' ||
        !num(item.domain) ||
        !num(item.defaultRate) ||
        !Array.isArray(item.samplers)
      )
        continue;
      const source = this.sourceFor(item.protocol, item.exporter, item.domain);
      const rateMs = num(item.defaultRateMs) ? item.defaultRateMs : 0;
      if (item.defaultRate > 0 && (source.defaultRate === 0 || rateMs > source.defaultRateMs))
        this.setDefaultRate(source, item.defaultRate, rateMs);
      if (num(item.systemInitMs) && source.systemInitMs < 0) source.systemInitMs = item.systemInitMs;
      for (const entry of item.samplers.slice(0, this.maxSamplersPerExporter)) {
        if (!Array.isArray(entry) || entry.length !== 3 || !entry.every(num) || entry[1]! <= 0) continue;
        const held = source.samplers.get(entry[0]!);
        if (held === undefined || held.updatedMs < entry[2]!)
          this.setSampler(source, entry[0]!, entry[1]!, entry[2]!);
      }
      restored++;
    }
    return restored;
  }

  /**
   * Load templates saved by {@link export}, keeping their learn time (so they still expire on
   * schedule). Newer wins: an entry learned no later than the template held under its key is
   * skipped, so templates saved by another collector never replace a fresher definition of this
   * one. Malformed entries are skipped; returns how many were accepted.
   */
  import(list: readonly SerializedTemplate[]): number {
    let accepted = 0;
    for (const item of list) {
      const fields = validSerialized(item, this.maxFieldsPerTemplate);
      if (fields === undefined) continue;
      const held = this.findSource(item.protocol, item.exporter, item.domain)?.templates.get(item.id);
      if (held !== undefined && held.learnedAtMs >= item.learnedAtMs) continue;
      const source = this.sourceFor(item.protocol, item.exporter, item.domain);
      const outcome = this.learn(source, item.id, item.kind, item.scopeCount, fields, item.learnedAtMs);
      if (outcome === 'new' || outcome === 'changed' || outcome === 'refreshed') accepted++;
      if (source.templates.size === 0 && source.samplers.size === 0) this.pruneSource(source);
    }
    return accepted;
  }

  /** Every source of both protocols; one may be pruned while the walk is at it (Map iteration allows it). */
  private *allSources(): Generator<SourceState> {
    for (const protocol of ['v9', 'ipfix'] as const)
      for (const byDomain of this.sources[protocol].values()) yield* byDomain.values();
  }

  private roomForTemplate(exporter: string): boolean {
    const perExporter = this.templatesPerExporter.get(exporter) ?? 0;
    return perExporter < this.maxTemplatesPerExporter && this.templateCount < this.maxTemplates;
  }

  private countTemplate(exporter: string, delta: number): void {
    const n = (this.templatesPerExporter.get(exporter) ?? 0) + delta;
    if (n > 0) this.templatesPerExporter.set(exporter, n);
    else this.templatesPerExporter.delete(exporter);
    this.templateCount += delta;
  }

  private countSamplers(exporter: string, delta: number): void {
    const n = (this.samplersPerExporter.get(exporter) ?? 0) + delta;
    if (n > 0) this.samplersPerExporter.set(exporter, n);
    else this.samplersPerExporter.delete(exporter);
    this.samplerCount += delta;
  }

  private expireSamplers(source: SourceState, nowMs: number): void {
    for (const [id, entry] of [...source.samplers]) {
      if (nowMs - entry.updatedMs > this.expiryMs) {
        source.samplers.delete(id);
        this.countSamplers(source.exporter, -1);
      }
    }
  }

  /**
   * Drop a source that holds no template and no sampler, so that template sets full of refused
   * definitions cannot grow the registry one (exporter, domain) at a time. True if dropped.
   */
  releaseIfEmpty(source: SourceState): boolean {
    if (source.templates.size !== 0 || source.samplers.size !== 0) return false;
    this.pruneSource(source);
    return true;
  }

  /** Forget a source and everything it holds. */
  private pruneSource(source: SourceState): void {
    const byDomain = this.sources[source.protocol].get(source.exporter);
    if (byDomain !== undefined) this.dropSource(byDomain, source);
  }

  private dropSource(byDomain: Map<number, SourceState>, source: SourceState): void {
    this.countTemplate(source.exporter, -source.templates.size);
    this.countSamplers(source.exporter, -source.samplers.size);
    source.templates.clear();
    source.samplers.clear();
    byDomain.delete(source.domain);
    if (byDomain.size === 0) this.sources[source.protocol].delete(source.exporter);
  }

  private notify(type: 'learned' | 'removed', source: SourceState, id: number): void {
    if (this.onChange === undefined) return;
    this.safeNotify({
      type,
      protocol: source.protocol,
      exporter: source.exporter,
      domain: source.domain,
      id,
    });
  }

  private safeNotify(change: RegistryChange): void {
    try {
      this.onChange?.(change);
    } catch {
      // A persistence hook must never break decoding; its owner logs its own failures.
    }
  }
}

function sameDefinition(tpl: Template, kind: TemplateKind, scopeCount: number, fields: FieldList): boolean {
  if (tpl.kind !== kind || tpl.scopeCount !== scopeCount || tpl.fields.length !== fields.count) return false;
  for (let i = 0; i < fields.count; i++) {
    const f = tpl.fields[i]!;
    if (f.type !== fields.types[i] || f.length !== fields.lengths[i] || f.enterprise !== fields.pens[i]) {
      return false;
    }
  }
  return true;
}

function copyFields(fields: FieldList): TemplateField[] {
  const out: TemplateField[] = [];
  for (let i = 0; i < fields.count; i++) {
    out.push({ type: fields.types[i]!, length: fields.lengths[i]!, enterprise: fields.pens[i]! });
  }
  return out;
}

const isU16 = (v: unknown): v is number =>
  Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffff;
const isU32 = (v: unknown): v is number =>
  Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff;

/** Field list of a serialized template when it is well-formed, else undefined. */
function validSerialized(item: SerializedTemplate, maxFields: number): FieldList | undefined {
  if (item === null || typeof item !== 'object') return undefined;
  if (item.protocol !== 'v9' && item.protocol !== 'ipfix') return undefined;
  if (item.kind !== 'data' && item.kind !== 'options') return undefined;
  if (typeof item.exporter !== 'string' || !isU32(item.domain) || !isU16(item.id) || item.id < 256) {
    return undefined;
  }
  if (!Number.isFinite(item.learnedAtMs) || !Array.isArray(item.fields)) return undefined;
  const n = item.fields.length;
  if (n === 0 || n > maxFields || !isU16(item.scopeCount) || item.scopeCount > n) return undefined;
  const types: number[] = [];
  const lengths: number[] = [];
  const pens: number[] = [];
  for (const f of item.fields) {
    if (f === null || typeof f !== 'object' || !isU16(f.type) || !isU16(f.length) || !isU32(f.enterprise)) {
      return undefined;
    }
    types.push(f.type);
    lengths.push(f.length);
    pens.push(f.enterprise);
  }
  return { count: n, types, lengths, pens };
}
