import { sql } from 'drizzle-orm';
import { getVerifiedAnomalies } from '../anomalies/store.js';
import type { Database } from '../db/client.js';
import { getAnnotations, getExporterQuality, getSplitMinutes } from '../db/confidence.js';
import { sourcesOf } from '../db/rollup-sources.js';
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

/**
 * Data quality for the windows of a request: operator annotations overlapping them, traffic
 * anomalies an operator verified, and the exporters whose estimated loss or unknown sampling makes
 * the numbers less certain, or whose datagrams reached several collectors (loss unknown there).
 */
async function confidenceOf(db: Database, q: ParsedQuery): Promise<Meta['confidenceInfo']> {
  const src = await sourcesOf(db)();
  const [notes, quality, split, outages] = await Promise.all([
    getAnnotations(db, q.series),
    getExporterQuality(db, q.series, src),
    getSplitMinutes(db, q.series),
    getVerifiedAnomalies(db, q.series),
  ]);
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
async function subdivisionNote(db: Database, q: ParsedQuery, breakdown: boolean): Promise<Annotation[]> {
  if (!breakdown && !q.series.some((s) => s.geoId.include.length > 0 || s.geoId.exclude.length > 0))
    return [];
  const [row] = await db.query<{ known: boolean }>(sql`SELECT EXISTS (SELECT 1 FROM adm1_names) AS known`);
  if (row?.known) return [];
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
  const [[value, last], confidence, noCity] = await Promise.all([
    getNewestMinute(db).then(async (last) => [await answer(), last] as const),
    confidenceOf(db, q),
    subdivisionNote(db, q, opts.subdivisions ?? false),
  ]);
  const confidenceInfo = { ...confidence, annotations: [...confidence.annotations, ...noCity] };
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
