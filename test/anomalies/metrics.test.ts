import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAnomalyGauge } from '../../src/anomalies/metrics.js';
import type { Database } from '../../src/db/client.js';
import { testDatabase } from '../helpers/db.js';
import { storeAnomaly } from './data.js';

describe('flowradar_traffic_anomalies_open', () => {
  let db: Database;
  beforeAll(async () => {
    db = await testDatabase();
  });
  afterAll(() => db?.close());

  const values = async (registry: Registry) =>
    (await registry.metrics())
      .split('\n')
      .filter((l) => l.startsWith('flowradar_traffic_anomalies_open{'))
      .sort();

  it('counts anomalies under way by type and status, dismissed and ended ones left out', async () => {
    const registry = new Registry();
    registerAnomalyGauge(registry, db);
    expect(await values(registry)).toEqual([
      'flowradar_traffic_anomalies_open{type="AS",status="UNVERIFIED"} 0',
      'flowradar_traffic_anomalies_open{type="AS",status="VERIFIED"} 0',
      'flowradar_traffic_anomalies_open{type="LOCATION",status="UNVERIFIED"} 0',
      'flowradar_traffic_anomalies_open{type="LOCATION",status="VERIFIED"} 0',
    ]);
    await storeAnomaly(db, { type: 'AS', asn: 64500, start: '2026-11-20T10:00:00Z', end: null });
    await storeAnomaly(db, { type: 'AS', asn: 64501, start: '2026-11-20T10:00:00Z', end: null });
    await storeAnomaly(db, {
      type: 'LOCATION',
      location: 'PT',
      start: '2026-11-20T10:00:00Z',
      end: null,
      status: 'VERIFIED',
    });
    await storeAnomaly(db, {
      type: 'LOCATION',
      location: 'DE',
      start: '2026-11-20T10:00:00Z',
      end: null,
      status: 'DISMISSED',
    });
    await storeAnomaly(db, {
      type: 'AS',
      asn: 64502,
      start: '2026-11-19T10:00:00Z',
      end: '2026-11-19T11:00:00Z',
    });
    expect(await values(registry)).toEqual([
      'flowradar_traffic_anomalies_open{type="AS",status="UNVERIFIED"} 2',
      'flowradar_traffic_anomalies_open{type="AS",status="VERIFIED"} 0',
      'flowradar_traffic_anomalies_open{type="LOCATION",status="UNVERIFIED"} 0',
      'flowradar_traffic_anomalies_open{type="LOCATION",status="VERIFIED"} 1',
    ]);
  });
});
