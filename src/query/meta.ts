import { type SQL, sql } from 'drizzle-orm';
import { type VerifiedAnomalyRow, verifiedAnomaliesSql } from '../anomalies/store.js';
import type { Database } from '../db/client.js';
import {
  type AnnotationRow,
  annotationsSql,
  type ExporterQualityRow,
  exporterQualitySql,
  type SplitMinutesRow,
  splitMinutesSql,
} from '../db/confidence.js';
import { type Sources, sourcesOf } from '../db/rollup-sources.js';
import { getNewestMinute } from '../db/watermarks.js';
import type { AnswerAnnotation, AnswerMeta, AnswerTimeseriesMeta, Normalization } from '../routes/schemas.js';
import { countryName } from './geo.js';
import { ZERO_BASELINE_VALUE, type ZeroBaselines } from './normalize.js';
import { type ParsedQuery, seriesBuckets } from './params.js';
import { isoSeconds } from './time.js';

export type Annotation = AnswerAnnotation;
/** The meta of every NetFlows answer; {@link TimeseriesMeta} adds the bucket width. */
export type Meta = AnswerMeta;
export type TimeseriesMeta = AnswerTimeseriesMeta;

/** Estimated loss above this share of records lowers the confidence level. */
export const LOSS_THRESHOLD = 0.01;

/** What a response's confidenceInfo is made of, read by {@link confidenceRows}. */
interface ConfidenceRows {
  notes: AnnotationRow[];
  quality: ExporterQualityRow[];
  split: SplitMinutesRow[];
  outages: VerifiedAnomalyRow[];
  /** Whether any first-level subdivision has a name; asked only with `subdivisions`. */
  subdivisionsKnown: boolean;
}

/**
 * The operator annotations, exporter quality, split minutes and verified anomalies of the windows
 * (src/db/confidence.ts, src/anomalies/store.ts), and with `subdivisions` whether adm1_names holds
 * a name, in one statement: as four or five statements of a few rows each they cost the database
 * and the client more in round trips than in reading (a distinct request spent as long on them as
 * on its answer). Each is a scalar subquery aggregated to JSON text, which reads alike on every
 * driver; the rows are sorted again by their statement's ORDER BY, which an aggregate over a
 * subquery keeps in practice but does not promise.
 */
async function confidenceRows(
  db: Database,
  q: ParsedQuery,
  src: Sources,
  subdivisions: boolean,
): Promise<ConfidenceRows> {
  const rowsOf = (part: SQL) => sql`coalesce((SELECT json_agg(x) FROM (${part}) x), '[]')::text`;
  const [row] = await db.query<
    Record<'notes' | 'quality' | 'split' | 'outages', string> & { known: boolean }
  >(
    sql`SELECT ${rowsOf(annotationsSql(q.series))} AS notes, ${rowsOf(exporterQualitySql(q.series, src))} AS quality,
               ${rowsOf(splitMinutesSql(q.series))} AS split, ${rowsOf(verifiedAnomaliesSql(q.series))} AS outages,
               ${subdivisions ? sql`EXISTS (SELECT 1 FROM adm1_names)` : sql`true`} AS known`,
  );
  const parse = <T>(text: string | undefined) => JSON.parse(text ?? '[]') as T[];
  const order = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);
  return {
    notes: parse<AnnotationRow>(row?.notes).sort((a, b) => a.start_ms - b.start_ms),
    quality: parse<ExporterQualityRow>(row?.quality).sort((a, b) => order(a.exporter, b.exporter)),
    split: parse<SplitMinutesRow>(row?.split).sort((a, b) => order(a.exporter, b.exporter)),
    outages: parse<VerifiedAnomalyRow>(row?.outages).sort(
      (a, b) => a.start_ms - b.start_ms || order(a.uuid, b.uuid),
    ),
    subdivisionsKnown: row?.known !== false,
  };
}

/**
 * Data quality for the windows of a request: operator annotations overlapping them, traffic
 * anomalies an operator verified, and the exporters whose estimated loss or unknown sampling makes
 * the numbers less certain, or whose datagrams reached several collectors (loss unknown there).
 */
function confidenceOf(q: ParsedQuery, rows: ConfidenceRows): Meta['confidenceInfo'] {
  const { notes, quality, split, outages } = rows;
  const splitOf = new Map(split.map((s) => [s.exporter, s]));
  let level = 5;
  const annotations: Annotation[] = notes.map((n) => {
    level = Math.min(level, n.level);
    return {
      dataSource: 'ALL',
      description: n.description,
      startDate: isoSeconds(n.start_ms),
      endDate: isoSeconds(n.end_ms ?? n.start_ms),
      eventType: n.event_type,
      isInstantaneous: n.end_ms === null,
      linkedUrl: n.linked_url,
    };
  });
  // Outages an operator confirmed explain the traffic; they say nothing against the data's quality.
  const windowsEnd = Math.max(...q.series.map((w) => w.end));
  for (const o of outages)
    annotations.push({
      dataSource: 'NET',
      eventType: 'OUTAGE',
      description: `traffic anomaly (verified): ${
        o.type === 'AS'
          ? `AS${o.asn}${o.as_name ? ` ${o.as_name}` : ''}`
          : `${o.location} (${countryName(o.location ?? '')})`
      } fell ${Math.round(o.depth * 100)}% below its expected traffic${o.end_ms === null ? ', ongoing' : ''} [${o.uuid}]`,
      isInstantaneous: false,
      linkedUrl: '',
      startDate: isoSeconds(o.start_ms),
      endDate: isoSeconds(o.end_ms ?? Math.max(windowsEnd, o.start_ms)),
    });
  for (const e of quality) {
    // Loss is a share of the minutes where it was measured: split minutes have none, by rule.
    const measured = Math.max(0, e.records - (splitOf.get(e.exporter)?.records ?? 0));
    const lossShare = e.lost > 0 ? e.lost / (measured + e.lost) : 0;
    const window = { startDate: isoSeconds(e.first_ms), endDate: isoSeconds(e.last_ms) };
    if (lossShare > LOSS_THRESHOLD) {
      level = Math.min(level, 3);
      annotations.push({
        dataSource: 'NET',
        eventType: 'PIPELINE',
        description: `exporter ${e.exporter}: an estimated ${(lossShare * 100).toFixed(1)}% of flow records lost (${e.lost} of ${measured + e.lost})`,
        isInstantaneous: false,
        linkedUrl: '',
        ...window,
      });
    }
    if (e.unsampled > 0) {
      level = Math.min(level, 4);
      annotations.push({
        dataSource: 'NET',
        eventType: 'PIPELINE',
        description: `exporter ${e.exporter}: ${e.unsampled} flow records without a known sampling rate, scaled by the configured default`,
        isInstantaneous: false,
        linkedUrl: '',
        ...window,
      });
    }
  }
  for (const s of split) {
    level = Math.min(level, 4);
    annotations.push({
      dataSource: 'NET',
      eventType: 'PIPELINE',
      description: `exporter ${s.exporter}: datagrams reached ${s.collectors} collectors in ${s.minutes} minute${s.minutes === 1 ? '' : 's'}; loss is not measured there (hash by exporter address on the load balancer)`,
      isInstantaneous: false,
      linkedUrl: '',
      startDate: isoSeconds(s.first_ms),
      endDate: isoSeconds(s.last_ms),
    });
  }
  return { level, annotations };
}

/**
 * The note of an answer that depends on subdivisions (a `geoId` filter, the ADM1 dimension) when
 * no City database has located any traffic: adm1_names is filled as City databases meet
 * subdivisions, so while it is empty every subdivision is unknown (an empty ADM1 breakdown, a
 * geoId series of zeros) and the answer says why.
 */
function subdivisionNote(q: ParsedQuery, subdivisionsKnown: boolean): Annotation[] {
  if (subdivisionsKnown) return [];
  return [
    {
      dataSource: 'NET',
      eventType: 'PIPELINE',
      description:
        'no City database is configured (cityMmdb): traffic is located by country only, every first-level subdivision (ADM1, geoId) is unknown and ADM1 breakdowns are empty',
      isInstantaneous: false,
      linkedUrl: '',
      startDate: isoSeconds(Math.min(...q.series.map((s) => s.start))),
      endDate: isoSeconds(Math.max(...q.series.map((s) => s.end))),
    },
  ];
}

/** Whether an answer depends on subdivisions: an ADM1 breakdown, or a series filtered by geoId. */
const needsSubdivisions = (q: ParsedQuery, breakdown: boolean) =>
  breakdown || q.series.some((s) => s.geoId.include.length > 0 || s.geoId.exclude.length > 0);

/**
 * `meta.lastUpdated` of a database that holds no traffic yet. Radar's clients type the field as a
 * date-time string, never null, so "never" is the epoch: it parses everywhere and cannot be
 * mistaken for a recent update.
 */
export const NEVER_UPDATED = '1970-01-01T00:00:00Z';

/**
 * Runs `answer` and builds the `meta` of its NetFlows response (`subdivisions`: it is an ADM1
 * breakdown, see {@link subdivisionNote}). lastUpdated is read before the
 * answer starts: on one server a later snapshot holds all an earlier one did, so every minute
 * lastUpdated names is in the answer (a minute landing in between shows in the answer and in the
 * next lastUpdated, never in lastUpdated alone). In parallel, either could be read first, and a
 * replica applying the primary's writes as it replays them would make that visible.
 * @example
 * const [values, meta] = await withMeta(db, q, { normalization, withInterval: true }, () => seriesValues(db, q));
 */
export async function withMeta<T>(
  db: Database,
  q: ParsedQuery,
  opts: { normalization: Normalization; withInterval: true; unit?: string; subdivisions?: boolean },
  answer: () => Promise<T>,
): Promise<[T, TimeseriesMeta]>;
export async function withMeta<T>(
  db: Database,
  q: ParsedQuery,
  opts: { normalization: Normalization; withInterval: false; unit?: string; subdivisions?: boolean },
  answer: () => Promise<T>,
): Promise<[T, Meta]>;
export async function withMeta<T>(
  db: Database,
  q: ParsedQuery,
  opts: { normalization: Normalization; withInterval: boolean; unit?: string; subdivisions?: boolean },
  answer: () => Promise<T>,
): Promise<[T, Meta | TimeseriesMeta]> {
  const [[value, last], rows] = await Promise.all([
    getNewestMinute(db).then(async (last) => [await answer(), last] as const),
    sourcesOf(db)().then((src) =>
      confidenceRows(db, q, src, needsSubdivisions(q, opts.subdivisions ?? false)),
    ),
  ]);
  const confidence = confidenceOf(q, rows);
  const confidenceInfo = {
    ...confidence,
    annotations: [...confidence.annotations, ...subdivisionNote(q, rows.subdivisionsKnown)],
  };
  return [
    value,
    {
      ...(opts.withInterval ? { aggInterval: q.interval.long } : {}),
      dateRange: q.series.map((s) => ({ startTime: isoSeconds(s.start), endTime: isoSeconds(s.end) })),
      lastUpdated: last === null ? NEVER_UPDATED : isoSeconds(last),
      normalization: opts.normalization,
      units: [{ name: '*', value: opts.unit ?? q.metric }],
      confidenceInfo,
    },
  ];
}

/**
 * The notes a PERCENTAGE_CHANGE answer adds to `meta.confidenceInfo.annotations`: per series, the
 * buckets where it had traffic but the baseline (the second series) had none, so its change,
 * which has no percentage, is shown as {@link ZERO_BASELINE_VALUE}. The data is not in doubt, so
 * the confidence level stays.
 * @example meta.confidenceInfo.annotations.push(...zeroBaselineNotes(q, normalized.zeroBaselines))
 */
export function zeroBaselineNotes(q: ParsedQuery, zeroBaselines: ZeroBaselines): Annotation[] {
  const baseline = q.series[1]?.name ?? '';
  return zeroBaselines.map(({ series, positions, groups }) => {
    const buckets = seriesBuckets(q, series);
    const n = positions.length;
    const named =
      groups === undefined
        ? ''
        : ` (group${groups.length === 1 ? '' : 's'} ${groups.slice(0, 5).join(', ')}${groups.length > 5 ? ` and ${groups.length - 5} more` : ''})`;
    return {
      dataSource: 'NET',
      eventType: 'GENERAL',
      description: `PERCENTAGE_CHANGE: ${q.series[series]!.name} has traffic where the baseline ${baseline} has none${named}, in ${n} bucket${n === 1 ? '' : 's'}; a change from zero has no percentage, so those values are ${ZERO_BASELINE_VALUE}`,
      startDate: isoSeconds(buckets[positions[0]!]!),
      endDate: isoSeconds(buckets[positions[n - 1]!]! + q.interval.ms),
      isInstantaneous: false,
      linkedUrl: '',
    };
  });
}
