/**
 * `flow_templates`: v9/IPFIX templates and per-source sampler state that collectors share (see
 * src/ingest/template-store.ts for when each statement runs). A row is a template (template_id ≥
 * 256, definition = SerializedTemplate) or a source's sampling state (template_id
 * {@link SOURCE_ROW}, definition = SerializedSource). Writers lock rows in one key order, so two
 * collectors saving at once wait for each other but never deadlock.
 */
import { type SQL, sql } from 'drizzle-orm';
import type { SerializedSource, SerializedTemplate, TemplateProtocol } from '../ingest/netflow/templates.js';
import type { Queryable } from './client.js';

/** flow_templates rows with this template id hold a source's sampling state, not a template (ids are ≥ 256). */
export const SOURCE_ROW = -1;
/** Rows per INSERT statement. */
const ROWS_PER_STATEMENT = 500;

/** One row as read back. */
export interface FlowTemplateRow {
  protocol: string;
  exporter: string;
  domain: number;
  template_id: number;
  definition: unknown;
  /** Last write, Unix ms. */
  updated_ms: number;
}

/** A (protocol, exporter, domain) whose rows are read. */
export interface TemplateSourceKey {
  protocol: TemplateProtocol;
  exporter: string;
  domain: number;
}

const COLUMNS = sql`protocol, exporter, domain::float8 AS domain, template_id, definition,
  (extract(epoch from updated_at) * 1000)::float8 AS updated_ms`;

/**
 * Every row (a collector's start), or the rows of the given sources (a reload on demand).
 * @example
 * const rows = await readFlowTemplates(db, [{ protocol: 'ipfix', exporter: '192.0.2.1', domain: 1 }]);
 */
export function readFlowTemplates(
  db: Queryable,
  sources?: readonly TemplateSourceKey[],
): Promise<FlowTemplateRow[]> {
  if (sources === undefined) return db.query<FlowTemplateRow>(sql`SELECT ${COLUMNS} FROM flow_templates`);
  if (sources.length === 0) return Promise.resolve([]);
  return db.query<FlowTemplateRow>(
    sql`SELECT ${COLUMNS} FROM flow_templates
         WHERE (protocol, exporter, domain) IN (${sql.join(
           sources.map((s) => sql`(${s.protocol}, ${s.exporter}, ${s.domain}::bigint)`),
           sql`, `,
         )})`,
  );
}

/** The lock order: (exporter, domain, protocol, template id). */
type Keyed = { exporter: string; domain: number; protocol: string; id?: number };
const byKey = (a: Keyed, b: Keyed) =>
  a.exporter < b.exporter
    ? -1
    : a.exporter > b.exporter
      ? 1
      : a.domain - b.domain ||
        (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0) ||
        (a.id ?? SOURCE_ROW) - (b.id ?? SOURCE_ROW);

/**
 * Sampler state of a source row merged with a collector's: the newer default rate, the known
 * clock, and per sampler id the newest entry (entries older than `cutoffMs` are dropped).
 */
const mergeSource = (cutoffMs: number) => sql`f.definition || jsonb_build_object(
  'defaultRate', CASE WHEN (excluded.definition->>'defaultRate')::float8 > 0
      AND (excluded.definition->>'defaultRateMs')::float8 >= coalesce((f.definition->>'defaultRateMs')::float8, 0)
    THEN excluded.definition->'defaultRate' ELSE f.definition->'defaultRate' END,
  'defaultRateMs', CASE WHEN (excluded.definition->>'defaultRate')::float8 > 0
      AND (excluded.definition->>'defaultRateMs')::float8 >= coalesce((f.definition->>'defaultRateMs')::float8, 0)
    THEN excluded.definition->'defaultRateMs' ELSE f.definition->'defaultRateMs' END,
  'systemInitMs', CASE WHEN (excluded.definition->>'systemInitMs')::float8 >= 0
    THEN excluded.definition->'systemInitMs' ELSE f.definition->'systemInitMs' END,
  'samplers', (SELECT coalesce(jsonb_agg(e ORDER BY (e->>0)::float8), '[]'::jsonb) FROM (
      SELECT DISTINCT ON (e->>0) e
        FROM jsonb_array_elements(coalesce(f.definition->'samplers', '[]'::jsonb)
                                  || coalesce(excluded.definition->'samplers', '[]'::jsonb)) AS a(e)
       WHERE (e->>2)::float8 >= ${cutoffMs}
       ORDER BY e->>0, (e->>2)::float8 DESC) s))`;

/**
 * Saves templates, then sources' sampler state, each in key order. A template row is replaced
 * only by a definition learned no earlier (here or by another collector); a source row is merged
 * entry by entry, newest first, dropping sampler entries older than `samplerCutoffMs`.
 * @example
 * await db.transaction((tx) => upsertFlowTemplates(tx, registry.export(), registry.exportSources(), Date.now() - expiryMs));
 */
export async function upsertFlowTemplates(
  tx: Queryable,
  templates: readonly SerializedTemplate[],
  sources: readonly SerializedSource[],
  samplerCutoffMs: number,
): Promise<void> {
  const ts = [...templates].sort(byKey);
  for (let i = 0; i < ts.length; i += ROWS_PER_STATEMENT) {
    const values = ts
      .slice(i, i + ROWS_PER_STATEMENT)
      .map(
        (t) => sql`(${t.exporter}, ${t.domain}, ${t.id}, ${t.protocol}, ${JSON.stringify(t)}::jsonb, now())`,
      );
    await tx.query(sql`INSERT INTO flow_templates AS f (exporter, domain, template_id, protocol, definition, updated_at)
      VALUES ${sql.join(values, sql`, `)}
      ON CONFLICT (exporter, domain, protocol, template_id) DO UPDATE
        SET definition = excluded.definition, updated_at = now()
        WHERE (f.definition->>'learnedAtMs')::float8 <= (excluded.definition->>'learnedAtMs')::float8`);
  }
  const ss = [...sources].sort(byKey);
  for (let i = 0; i < ss.length; i += ROWS_PER_STATEMENT) {
    const values = ss
      .slice(i, i + ROWS_PER_STATEMENT)
      .map(
        (s) =>
          sql`(${s.exporter}, ${s.domain}, ${SOURCE_ROW}, ${s.protocol}, ${JSON.stringify(s)}::jsonb, now())`,
      );
    await tx.query(sql`INSERT INTO flow_templates AS f (exporter, domain, template_id, protocol, definition, updated_at)
      VALUES ${sql.join(values, sql`, `)}
      ON CONFLICT (exporter, domain, protocol, template_id) DO UPDATE
        SET definition = ${mergeSource(samplerCutoffMs)}, updated_at = now()`);
  }
}

/**
 * Deletes rows matching `where`, skipping rows another collector is writing right now: those
 * are being refreshed, and waiting for them could deadlock against its ordered upserts.
 */
function deleteUnlocked(db: Queryable, where: SQL): Promise<unknown> {
  return db.query(sql`DELETE FROM flow_templates
    WHERE (exporter, domain, protocol, template_id) IN (
      SELECT exporter, domain, protocol, template_id FROM flow_templates WHERE ${where} FOR UPDATE SKIP LOCKED)`);
}

/**
 * After an exporter restart its template ids may mean something else: rows of (exporter,
 * domain) learned (templates) or written (sources) before `atMs` go, whoever wrote them.
 * @example
 * await deleteFlowTemplatesBefore(db, '192.0.2.1', 0, restartMs);
 */
export function deleteFlowTemplatesBefore(
  db: Queryable,
  exporter: string,
  domain: number,
  atMs: number,
): Promise<unknown> {
  return deleteUnlocked(
    db,
    sql`exporter = ${exporter} AND domain = ${domain}::bigint AND CASE
      WHEN template_id = ${SOURCE_ROW} THEN updated_at < to_timestamp(${atMs / 1000}::float8)
      ELSE (definition->>'learnedAtMs')::float8 < ${atMs} END`,
  );
}

/**
 * Rows nobody refreshed within `expiryMs`: templates by their learn time (against `nowMs`),
 * sources by their last write.
 * @example
 * await deleteExpiredFlowTemplates(db, Date.now(), 30 * 60_000);
 */
export function deleteExpiredFlowTemplates(db: Queryable, nowMs: number, expiryMs: number): Promise<unknown> {
  return deleteUnlocked(
    db,
    sql`CASE
      WHEN template_id = ${SOURCE_ROW} THEN updated_at < now() - ${`${Math.ceil(expiryMs)} milliseconds`}::interval
      ELSE (definition->>'learnedAtMs')::float8 < ${nowMs - expiryMs} END`,
  );
}
