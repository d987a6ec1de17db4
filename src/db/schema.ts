import { sql } from 'drizzle-orm';
import {
  bigint,
  char,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  serial,
  smallint,
  text,
  timestamp,
  unique,
  uuid,
} from 'drizzle-orm/pg-core';

const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
const counter = (name: string) => bigint(name, { mode: 'number' }).notNull().default(0);

/**
 * One-minute traffic rows; a TimescaleDB hypertable (see the custom migration). Writers add to
 * a row with `ON CONFLICT … DO UPDATE SET bytes = traffic.bytes + excluded.bytes`, so several
 * collectors can each write partial sums of the same minute.
 */
export const traffic = pgTable(
  'traffic',
  {
    time: tstz('time').notNull(),
    /** Remote party's AS; 0 when unknown. */
    asn: integer('asn').notNull(),
    /** Remote party's ISO 3166-1 alpha-2 country; XX when unknown. */
    location: char('location', { length: 2 }).notNull(),
    /**
     * Remote party's first-level subdivision (state, province, region) as a GeoNames id, from a
     * City database; 0 when unknown or none is configured (docs/decisions/0008-adm1.md).
     */
    adm1: integer('adm1').notNull().default(0),
    /** HTTP or OTHER. */
    product: text('product').notNull(),
    /** in: towards the local networks; out: from them. */
    direction: text('direction').notNull(),
    bytes: counter('bytes'),
    packets: counter('packets'),
    flows: counter('flows'),
  },
  (t) => [unique('traffic_key').on(t.time, t.asn, t.location, t.adm1, t.product, t.direction)],
);

/** Bearer tokens. Only the SHA-256 of a token is stored. */
export const apiTokens = pgTable('api_tokens', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  hash: text('hash').notNull().unique(),
  scopes: text('scopes').array().notNull(),
  createdAt: tstz('created_at').notNull().defaultNow(),
  expiresAt: tstz('expires_at'),
  /** The token is refused before this time. */
  notBefore: tstz('not_before'),
  /** Client networks the token may be used from; null = anywhere. */
  allowedCidrs: text('allowed_cidrs').array(),
  revokedAt: tstz('revoked_at'),
  lastUsedAt: tstz('last_used_at'),
});

/** Operator events shown in `meta.confidenceInfo.annotations`. */
export const annotations = pgTable('annotations', {
  id: serial('id').primaryKey(),
  startTime: tstz('start_time').notNull(),
  endTime: tstz('end_time'),
  description: text('description').notNull(),
  eventType: text('event_type').notNull().default('GENERAL'),
  linkedUrl: text('linked_url').notNull().default(''),
  /** 1–5: the confidence level a window touching this event gets (5 = no issue). */
  level: integer('level').notNull().default(4),
  createdAt: tstz('created_at').notNull().defaultNow(),
});

/** AS names, filled by enrichment databases. */
export const asnNames = pgTable('asn_names', {
  asn: integer('asn').primaryKey(),
  name: text('name').notNull(),
  country: char('country', { length: 2 }),
});

/**
 * Names of first-level subdivisions (GeoNames ids, as `traffic.adm1` holds them), filled by the
 * City databases' `subdivisions[0]`: the group keys of the ADM1 dimension.
 */
export const adm1Names = pgTable('adm1_names', {
  geonameId: integer('geoname_id').primaryKey(),
  /** English name, as the database gives it. */
  name: text('name').notNull(),
  /** ISO 3166-1 alpha-2 country of the subdivision; null when the database did not say. */
  country: char('country', { length: 2 }),
});

/** Every flow exporter we have heard from, with its counters. */
export const exporters = pgTable('exporters', {
  address: text('address').primaryKey(),
  firstSeen: tstz('first_seen').notNull().defaultNow(),
  lastSeen: tstz('last_seen').notNull().defaultNow(),
  datagrams: counter('datagrams'),
  records: counter('records'),
  /** Decode errors by reason. */
  errors: jsonb('errors').$type<Record<string, number>>().notNull().default(sql`'{}'::jsonb`),
  /**
   * Sum of every collector's own estimate. A collector counts the datagrams another collector
   * received as lost, so with more than one entry in `collectors` this overstates the loss;
   * exporter_minutes holds the loss that is known.
   */
  lostRecords: counter('lost_records'),
  unsampledRecords: counter('unsampled_records'),
  /** Sampling rates seen, with record counts. */
  samplingRates: jsonb('sampling_rates').$type<Record<string, number>>().notNull().default(sql`'{}'::jsonb`),
  /** Collector id → last datagram it received from this exporter (ISO time); HTTP ingest adds none. */
  collectors: jsonb('collectors').$type<Record<string, string>>().notNull().default(sql`'{}'::jsonb`),
});

/**
 * Data quality per exporter and minute, read by the API for confidenceInfo. Loss is measured per
 * collector: a minute whose datagrams reached more than one collector (`split`) has its loss
 * unknown, and `lost_records` stays 0 there (see writeMinutes).
 */
export const exporterMinutes = pgTable(
  'exporter_minutes',
  {
    time: tstz('time').notNull(),
    exporter: text('exporter').notNull(),
    records: counter('records'),
    lostRecords: counter('lost_records'),
    unsampledRecords: counter('unsampled_records'),
    /** Ids of the collectors that received this exporter's datagrams in this minute (HTTP ingest: none). */
    collectors: text('collectors').array().notNull().default(sql`'{}'::text[]`),
    /** Number of collectors when more than one, else 0: the minute's loss is unknown. */
    split: smallint('split').notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.time, t.exporter] }),
    // Split minutes are rare (a load balancer misconfigured): the API finds them without a scan.
    index('exporter_minutes_split_idx').on(t.time).where(sql`split > 0`),
  ],
);

/** v9 / IPFIX templates and sampler options, so a restart decodes at once. */
export const flowTemplates = pgTable(
  'flow_templates',
  {
    exporter: text('exporter').notNull(),
    domain: bigint('domain', { mode: 'number' }).notNull(),
    templateId: integer('template_id').notNull(),
    protocol: text('protocol').notNull(),
    definition: jsonb('definition').notNull(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.exporter, t.domain, t.protocol, t.templateId] })],
);

/**
 * Ids of batches already written, so a retried batch never counts twice; with the span of minutes
 * each one wrote, so the anomaly detector re-evaluates the windows late data touched.
 */
export const ingestBatches = pgTable(
  'ingest_batches',
  {
    id: text('id').primaryKey(),
    createdAt: tstz('created_at').notNull().defaultNow(),
    rows: integer('rows').notNull().default(0),
    /** The first and last minute of traffic the batch wrote; null when it wrote none. */
    firstMinute: tstz('first_minute'),
    lastMinute: tstz('last_minute'),
  },
  (t) => [index('ingest_batches_created_idx').on(t.createdAt)],
);

/**
 * Traffic anomalies (src/anomalies): a sustained drop of one AS's or one location's traffic below
 * what the same weekday and time carried in past weeks. Served as Radar's traffic_anomalies.
 */
export const trafficAnomalies = pgTable(
  'traffic_anomalies',
  {
    uuid: uuid('uuid').primaryKey().defaultRandom(),
    /** AS or LOCATION: which of `asn` and `location` names the entity. */
    type: text('type').notNull(),
    asn: integer('asn'),
    location: char('location', { length: 2 }),
    startTime: tstz('start_time').notNull(),
    /** Null while the anomaly lasts. */
    endTime: tstz('end_time'),
    /** UNVERIFIED as detected; VERIFIED or DISMISSED by an operator. */
    status: text('status').notNull().default('UNVERIFIED'),
    /** 1 − mean observed / expected over the low buckets. */
    depth: real('depth').notNull(),
    /** Mean expected and observed bytes per 15-minute bucket over the low buckets. */
    baselineBytes: bigint('baseline_bytes', { mode: 'number' }).notNull(),
    observedBytes: bigint('observed_bytes', { mode: 'number' }).notNull(),
    /** The detector parameters it was found with. */
    params: jsonb('params').notNull(),
    createdAt: tstz('created_at').notNull().defaultNow(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
    /** When and by whom (token name, or `cli`) the status was last set. */
    statusChangedAt: tstz('status_changed_at'),
    statusChangedBy: text('status_changed_by'),
  },
  (t) => [
    check('traffic_anomalies_type', sql`${t.type} IN ('AS', 'LOCATION')`),
    check('traffic_anomalies_status', sql`${t.status} IN ('UNVERIFIED', 'VERIFIED', 'DISMISSED')`),
    check(
      'traffic_anomalies_entity',
      sql`(${t.type} = 'AS' AND ${t.asn} IS NOT NULL) OR (${t.type} = 'LOCATION' AND ${t.location} IS NOT NULL)`,
    ),
    index('traffic_anomalies_start_idx').on(t.startTime),
    index('traffic_anomalies_asn_idx').on(t.asn, t.startTime),
    index('traffic_anomalies_location_idx').on(t.location, t.startTime),
    // Every answer's confidenceInfo reads the verified ones overlapping its windows; the detector
    // leaves thousands unverified, which that read would otherwise scan at every request.
    index('traffic_anomalies_verified_idx').on(t.startTime).where(sql`${t.status} = 'VERIFIED'`),
  ],
);

/** Service-wide values kept in the database, shared by every instance (e.g. the embed key). */
export const settings = pgTable('settings', {
  name: text('name').primaryKey(),
  value: text('value').notNull(),
  createdAt: tstz('created_at').notNull().defaultNow(),
});

/**
 * One row per round of maintenance (rollup refresh, compression, retention), whichever instance
 * ran it: rounds are taken under a database lock, at most one per `maintenanceInterval` across
 * every instance on the database.
 */
export const maintenanceRuns = pgTable('maintenance_runs', {
  id: serial('id').primaryKey(),
  /** Who ran it: host and process id. */
  instance: text('instance').notNull(),
  startedAt: tstz('started_at').notNull().defaultNow(),
  finishedAt: tstz('finished_at'),
  /** Why the round failed; null when it succeeded (or is still running). */
  error: text('error'),
});

/**
 * Where the anomaly detector has got to (one row): every closed bucket before `evaluatedThrough`
 * has been judged, and ingest batches recorded before `batchesSeenAt` have had the windows they
 * touched re-judged.
 */
export const anomalyDetector = pgTable('anomaly_detector', {
  id: smallint('id').primaryKey().default(1),
  evaluatedThrough: tstz('evaluated_through'),
  batchesSeenAt: tstz('batches_seen_at'),
});

/**
 * State changes of traffic anomalies (opened, closed, removed, verified, dismissed, unverified),
 * in order, with the anomaly as it was: what webhooks deliver (src/anomalies/webhooks.ts).
 */
export const anomalyEvents = pgTable(
  'anomaly_events',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    anomalyUuid: uuid('anomaly_uuid').notNull(),
    event: text('event').notNull(),
    anomaly: jsonb('anomaly').notNull(),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [index('anomaly_events_created_idx').on(t.createdAt)],
);

/** Per webhook URL: the last event delivered, and the retry state of the next one. */
export const webhookCursors = pgTable('webhook_cursors', {
  url: text('url').primaryKey(),
  lastEventId: bigint('last_event_id', { mode: 'number' }).notNull(),
  attempts: integer('attempts').notNull().default(0),
  nextAttemptAt: tstz('next_attempt_at'),
  lastError: text('last_error'),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});
