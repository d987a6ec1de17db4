/**
 * v9/IPFIX templates and sampler state shared through the database (`flow_templates`), so a data
 * set decodes whichever collector behind a load balancer its datagram reaches, and a restarted
 * collector decodes at once.
 *
 * Every collector upserts what it learned and never deletes another's rows: a row is replaced only
 * by a definition learned later (templates carry their last refresh, `learnedAtMs`), sampler state
 * is merged entry by entry, newest first. Rows are deleted only when nobody refreshed them within
 * the template expiry, or when an exporter restart made them meaningless. A collector that meets
 * a data set without its template (or records without their sampler) reads that source's rows
 * again, at most once per few seconds per source, backing off while the database has nothing new.
 */
import type { Database } from '../db/client.js';
import {
  deleteExpiredFlowTemplates,
  deleteFlowTemplatesBefore,
  type FlowTemplateRow,
  readFlowTemplates,
  SOURCE_ROW,
  type TemplateSourceKey,
  upsertFlowTemplates,
} from '../db/flow-templates.js';
import type {
  RegistryChange,
  SerializedSource,
  SerializedTemplate,
  TemplateProtocol,
  TemplateRegistry,
} from './netflow/templates.js';

/** First wait between two reloads of one source; doubles while a reload brings nothing, up to the max. */
export const RELOAD_MIN_MS = 2_000;
export const RELOAD_MAX_MS = 5 * 60_000;
/** Sources with reload state; beyond, sources not asked about lately are forgotten (spoofed floods). */
const MAX_RELOAD_SOURCES = 10_000;
const SOURCES_PER_RELOAD = 200;

/**
 * The statements TemplateStore runs on `flow_templates`. A decode worker has no database of its
 * own: its table forwards each call to the main thread (decode-worker.ts), which runs it with
 * {@link flowTemplateTable}.
 */
export interface FlowTemplateTable {
  read(sources?: readonly TemplateSourceKey[]): Promise<FlowTemplateRow[]>;
  /** Upserts in one transaction. */
  upsert(
    templates: readonly SerializedTemplate[],
    sources: readonly SerializedSource[],
    samplerCutoffMs: number,
  ): Promise<void>;
  deleteBefore(exporter: string, domain: number, atMs: number): Promise<unknown>;
  deleteExpired(nowMs: number, expiryMs: number): Promise<unknown>;
}

/** {@link FlowTemplateTable} on a database. */
export const flowTemplateTable = (db: Database): FlowTemplateTable => ({
  read: (sources) => readFlowTemplates(db, sources),
  upsert: (templates, sources, cutoff) =>
    db.transaction((tx) => upsertFlowTemplates(tx, templates, sources, cutoff)),
  deleteBefore: (exporter, domain, atMs) => deleteFlowTemplatesBefore(db, exporter, domain, atMs),
  deleteExpired: (nowMs, expiryMs) => deleteExpiredFlowTemplates(db, nowMs, expiryMs),
});

export interface TemplateStoreOptions {
  /** The database, or (decode workers) a table on someone else's; one of the two. */
  db?: Database;
  table?: FlowTemplateTable;
  registry: TemplateRegistry;
  /** The registry's template expiry: rows nobody refreshed for this long are deleted. */
  expiryMs: number;
  now: () => number;
  logger: { warn(obj: object, msg: string): void };
}

const templateKey = (protocol: string, exporter: string, domain: number, id: number) =>
  `${protocol}|${exporter}|${domain}|${id}`;
const sourceKey = (protocol: string, exporter: string, domain: number) => `${protocol}|${exporter}|${domain}`;
/** What a source row says, without the times that change on every options refresh. */
const signature = (s: SerializedSource) =>
  `${s.defaultRate}|${s.systemInitMs}|${s.samplers.map(([id, rate]) => `${id}:${rate}`).join(',')}`;

/**
 * The collector's side of `flow_templates`: loads at start, saves what changed, reloads a source
 * on demand. One per Pipeline; the registry's onChange must call {@link changed}.
 * @example
 * const registry = new TemplateRegistry({ onChange: (c) => store.changed(c) });
 * const store = new TemplateStore({ db, registry, expiryMs: registry.expiryMs, now: Date.now, logger });
 * await store.load();
 */
export class TemplateStore {
  /** Templates' learn time known to be in the database (written or read), by key. */
  private savedTemplates = new Map<string, number>();
  private savedSources = new Map<string, { sig: string; atMs: number }>();
  /** Templates new or redefined since the last save. */
  private changedKeys = new Set<string>();
  private dirty = false;
  private importing = false;
  private lastScanMs = Number.NEGATIVE_INFINITY;
  private lastPurgeMs = Number.NEGATIVE_INFINITY;
  /** Exporter restarts, by `exporter|domain`: rows learned before are stale everywhere. */
  private resetMarks = new Map<string, number>();
  private pendingResets: [exporter: string, domain: number, atMs: number][] = [];
  private saving: Promise<void> | undefined;
  private again: Promise<void> | undefined;
  /** Per source: when it may be reloaded next and the wait after that. */
  private reloads = new Map<string, { atMs: number; waitMs: number }>();
  private reloadQueue = new Map<string, TemplateSourceKey>();
  private reloading: Promise<void> | undefined;
  /** Re-saves a template still refreshed, so its row never looks expired to other collectors. */
  private readonly refreshMs: number;
  /** Reload queries run so far (each reads every source waiting at the time). */
  reloadQueries = 0;

  private readonly table: FlowTemplateTable;

  constructor(private readonly opts: TemplateStoreOptions) {
    const table = opts.table ?? (opts.db ? flowTemplateTable(opts.db) : undefined);
    if (table === undefined) throw new Error('TemplateStore needs a database or a table');
    this.table = table;
    this.refreshMs = Math.max(1000, Math.min(opts.expiryMs / 4, 5 * 60_000));
  }

  /** The registry's change hook: records what the next save must write or delete. */
  changed(change: RegistryChange): void {
    if (this.importing) return;
    this.dirty = true;
    if (change.type === 'learned')
      this.changedKeys.add(templateKey(change.protocol, change.exporter, change.domain, change.id));
    else if (change.type === 'reset') {
      const atMs = this.opts.now();
      this.resetMarks.set(`${change.exporter}|${change.domain}`, atMs);
      this.pendingResets.push([change.exporter, change.domain, atMs]);
    }
  }

  /** Reads every saved template and source (at start). Returns templates accepted. */
  async load(): Promise<number> {
    return this.importRows(await this.table.read());
  }

  /**
   * Writes what changed since the last save. While a save runs, callers share one follow-up save
   * (so a slow database never queues one per flush), which sees everything changed until it starts.
   */
  save(): Promise<void> {
    if (this.saving) {
      this.again ??= this.saving
        .catch(() => {})
        .then(() => {
          this.again = undefined;
          return this.save();
        });
      return this.again;
    }
    this.saving = this.saveOnce().finally(() => {
      this.saving = undefined;
    });
    return this.saving;
  }

  /**
   * Asks for the saved templates and samplers of a source that sent a data set this collector
   * cannot decode (or records without a known sampling rate). Never waits and never queries per
   * datagram: a source is read at most once per {@link RELOAD_MIN_MS}, less often while reloads
   * bring nothing, and every source asked for meanwhile is read by one query.
   */
  want(protocol: TemplateProtocol, exporter: string, domain: number): void {
    const nowMs = this.opts.now();
    const key = sourceKey(protocol, exporter, domain);
    let r = this.reloads.get(key);
    if (r !== undefined && nowMs < r.atMs) return;
    if (r === undefined) {
      if (this.reloads.size >= MAX_RELOAD_SOURCES) {
        for (const [k, v] of this.reloads) if (v.atMs + RELOAD_MAX_MS < nowMs) this.reloads.delete(k);
        if (this.reloads.size >= MAX_RELOAD_SOURCES) return;
      }
      r = { atMs: 0, waitMs: RELOAD_MIN_MS };
      this.reloads.set(key, r);
    }
    r.atMs = nowMs + r.waitMs;
    this.reloadQueue.set(key, { protocol, exporter, domain });
    this.startReload();
  }

  private startReload(): void {
    if (this.reloading || this.reloadQueue.size === 0) return;
    this.reloading = this.reloadQueued()
      .catch((err: unknown) => this.opts.logger.warn({ err }, 'reloading templates failed'))
      .finally(() => {
        this.reloading = undefined;
        // A source asked for after the last query and before this point is not left waiting.
        this.startReload();
      });
  }

  /** Resolves when no reload is running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.reloading) await this.reloading;
  }

  private async reloadQueued(): Promise<void> {
    while (this.reloadQueue.size > 0) {
      const batch = [...this.reloadQueue].slice(0, SOURCES_PER_RELOAD);
      for (const [key] of batch) this.reloadQueue.delete(key);
      this.reloadQueries++;
      const rows = await this.table.read(batch.map(([, s]) => s));
      const bySource = new Map<string, FlowTemplateRow[]>();
      for (const row of rows) {
        const key = sourceKey(row.protocol, row.exporter, row.domain);
        bySource.set(key, [...(bySource.get(key) ?? []), row]);
      }
      for (const [key] of batch) {
        const found = this.importRows(bySource.get(key) ?? []);
        const r = this.reloads.get(key);
        // Nothing new: the template may never come (an exporter without options), so ask less often.
        if (r) r.waitMs = found > 0 ? RELOAD_MIN_MS : Math.min(r.waitMs * 2, RELOAD_MAX_MS);
      }
    }
  }

  /**
   * Imports rows into the registry, newer wins, skipping what expired or predates a restart of
   * its exporter. Returns templates and sources that brought something.
   */
  private importRows(rows: readonly FlowTemplateRow[]): number {
    const nowMs = this.opts.now();
    const templates: SerializedTemplate[] = [];
    const sources: SerializedSource[] = [];
    for (const row of rows) {
      const d = row.definition as (SerializedTemplate | SerializedSource) | null;
      if (d === null || typeof d !== 'object') continue;
      const resetAt = this.resetMarks.get(`${d.exporter}|${d.domain}`) ?? Number.NEGATIVE_INFINITY;
      if (row.template_id === SOURCE_ROW) {
        if (row.updated_ms >= resetAt) sources.push(d as SerializedSource);
        continue;
      }
      const t = d as SerializedTemplate;
      if (!(t.learnedAtMs >= resetAt && nowMs - t.learnedAtMs <= this.opts.expiryMs)) continue;
      templates.push(t);
      // The database holds at least this learn time: a save need not write it again.
      const key = templateKey(t.protocol, t.exporter, t.domain, t.id);
      this.savedTemplates.set(key, Math.max(this.savedTemplates.get(key) ?? t.learnedAtMs, t.learnedAtMs));
    }
    this.importing = true;
    try {
      return this.opts.registry.import(templates) + this.opts.registry.importSources(sources);
    } finally {
      this.importing = false;
    }
  }

  private async saveOnce(): Promise<void> {
    const nowMs = this.opts.now();
    const scan = this.dirty || nowMs - this.lastScanMs >= this.refreshMs;
    if (!scan && this.pendingResets.length === 0) return;
    const changed = this.changedKeys;
    const resets = this.pendingResets;
    this.changedKeys = new Set();
    this.pendingResets = [];
    this.dirty = false;
    const templates: SerializedTemplate[] = [];
    const sources: SerializedSource[] = [];
    const savedTemplates = new Map<string, number>();
    const savedSources = new Map<string, { sig: string; atMs: number }>();
    if (scan) {
      for (const t of this.opts.registry.export()) {
        const key = templateKey(t.protocol, t.exporter, t.domain, t.id);
        const saved = this.savedTemplates.get(key);
        if (saved === undefined || changed.has(key) || t.learnedAtMs - saved >= this.refreshMs) {
          templates.push(t);
          savedTemplates.set(key, t.learnedAtMs);
        } else savedTemplates.set(key, saved);
      }
      for (const s of this.opts.registry.exportSources()) {
        const key = sourceKey(s.protocol, s.exporter, s.domain);
        const sig = signature(s);
        const saved = this.savedSources.get(key);
        if (saved === undefined || saved.sig !== sig || nowMs - saved.atMs >= this.refreshMs) {
          sources.push(s);
          savedSources.set(key, { sig, atMs: nowMs });
        } else savedSources.set(key, saved);
      }
    }
    try {
      for (const [exporter, domain, atMs] of resets) await this.table.deleteBefore(exporter, domain, atMs);
      if (templates.length > 0 || sources.length > 0)
        await this.table.upsert(templates, sources, nowMs - this.opts.expiryMs);
      if (scan && nowMs - this.lastPurgeMs >= this.refreshMs) {
        await this.table.deleteExpired(nowMs, this.opts.expiryMs);
        this.lastPurgeMs = nowMs;
      }
    } catch (err) {
      this.dirty = true;
      for (const k of changed) this.changedKeys.add(k);
      this.pendingResets.unshift(...resets);
      throw err;
    }
    if (!scan) return;
    this.savedTemplates = savedTemplates;
    this.savedSources = savedSources;
    this.lastScanMs = nowMs;
    for (const [k, atMs] of this.resetMarks) if (nowMs - atMs > this.opts.expiryMs) this.resetMarks.delete(k);
  }
}
