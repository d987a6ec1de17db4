/**
 * Anomaly webhooks against a real HTTP receiver on a socket: signed JSON, once per state change,
 * in order, retried with backoff, and resumed from the database after a restart.
 */
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setAnomalyStatus } from '../../src/anomalies/store.js';
import { deliverWebhooks, type Webhook } from '../../src/anomalies/webhooks.js';
import type { Database } from '../../src/db/client.js';
import { testDatabase } from '../helpers/db.js';
import { storeAnomaly } from './data.js';

const SECRET = 'a-webhook-secret-of-at-least-32-chars';

interface Received {
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

describe('anomaly webhooks', () => {
  let db: Database;
  let server: Server;
  let hook: Webhook;
  const received: Received[] = [];
  /** The statuses the receiver answers with, in turn; 204 when empty. */
  const answers: number[] = [];

  beforeAll(async () => {
    db = await testDatabase();
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => {
        body += d.toString();
      });
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.statusCode = answers.shift() ?? 204;
        res.end();
      });
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    hook = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, secret: SECRET };
  });
  afterAll(async () => {
    await new Promise((ok) => server?.close(ok));
    await db?.close();
  });

  /** Events are sent once 5 s old: deliver as if a minute had passed. */
  const later = () => Date.now() + 60_000;
  const events = (from = 0) =>
    received
      .slice(from)
      .map((r) => JSON.parse(r.body) as { id: number; event: string; anomaly: Record<string, unknown> });

  it('sends each state change once, in order, signed, and resumes where it stopped', async () => {
    // The URL is first seen now: what happened before is not replayed.
    await storeAnomaly(db, { type: 'AS', asn: 64999, start: '2026-11-01T00:00:00Z', end: null });
    await db.query(
      sql`INSERT INTO anomaly_events (anomaly_uuid, event, anomaly) SELECT uuid, 'opened', '{}'::jsonb FROM traffic_anomalies`,
    );
    expect(await deliverWebhooks(db, [hook], later())).toBe(0);

    const uuid = await storeAnomaly(db, {
      type: 'AS',
      asn: 64500,
      start: '2026-11-19T13:00:00Z',
      end: '2026-11-19T15:30:00Z',
    });
    await db.query(sql`INSERT INTO anomaly_events (anomaly_uuid, event, anomaly)
      SELECT uuid, 'opened', jsonb_build_object('uuid', uuid) FROM traffic_anomalies WHERE uuid = ${uuid}::uuid`);
    await setAnomalyStatus(db, uuid, 'VERIFIED', 'test');
    await setAnomalyStatus(db, uuid, 'VERIFIED', 'test'); // no change, no event
    expect(await deliverWebhooks(db, [hook], later())).toBe(2);
    const sent = events();
    expect(sent.map((e) => e.event)).toEqual(['anomaly.opened', 'anomaly.verified']);
    expect(sent[1]!.anomaly).toMatchObject({
      uuid,
      type: 'AS',
      asn: 64500,
      status: 'VERIFIED',
      startDate: '2026-11-19T13:00:00Z',
      endDate: '2026-11-19T15:30:00Z',
    });
    for (const r of received) {
      const ts = String(r.headers['x-flowradar-timestamp']);
      const expected = `sha256=${createHmac('sha256', SECRET).update(`${ts}.${r.body}`).digest('base64url')}`;
      expect(r.headers['x-flowradar-signature']).toBe(expected);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['x-flowradar-event-id']).toBe(String(JSON.parse(r.body).id));
    }
    // Nothing new: nothing sent. The cursor is in the database, so a "restarted" caller agrees.
    expect(await deliverWebhooks(db, [hook], later())).toBe(0);
    expect(received).toHaveLength(2);
  });

  it('retries a failed delivery with backoff, holding later events behind it', async () => {
    const own = { ...hook, url: `${hook.url}/retry` };
    const uuid = await storeAnomaly(db, { type: 'AS', asn: 64501, start: '2026-11-18T13:00:00Z', end: null });
    // First seen: it starts after the events that exist.
    expect(await deliverWebhooks(db, [own], later())).toBe(0);
    const from = received.length;
    answers.push(500, 503);
    await setAnomalyStatus(db, uuid, 'DISMISSED', 'test');
    await setAnomalyStatus(db, uuid, 'UNVERIFIED', 'test');
    const t0 = later();
    const opts = { retryMs: 10_000 };
    expect(await deliverWebhooks(db, [own], t0, opts)).toBe(0); // 500
    expect(await deliverWebhooks(db, [own], t0 + 5_000, opts)).toBe(0); // not due yet: nothing sent
    expect(received.length - from).toBe(1);
    expect(await deliverWebhooks(db, [own], t0 + 10_000, opts)).toBe(0); // 503, next in 20 s
    expect(await deliverWebhooks(db, [own], t0 + 25_000, opts)).toBe(0);
    expect(await deliverWebhooks(db, [own], t0 + 30_000, opts)).toBe(2);
    expect(events(from).map((e) => e.event)).toEqual([
      'anomaly.dismissed',
      'anomaly.dismissed',
      'anomaly.dismissed',
      'anomaly.unverified',
    ]);
    const [cursor] = await db.query<{ attempts: number; err: string | null }>(
      sql`SELECT attempts, last_error AS err FROM webhook_cursors WHERE url = ${own.url}`,
    );
    expect(cursor).toEqual({ attempts: 0, err: null });
  });

  it('gives an event up after maxAttempts and goes on', async () => {
    const own = { ...hook, url: `${hook.url}/give-up` };
    const uuid = await storeAnomaly(db, { type: 'AS', asn: 64502, start: '2026-11-17T13:00:00Z', end: null });
    // First seen: it starts after the events that exist.
    expect(await deliverWebhooks(db, [own], later())).toBe(0);
    const from = received.length;
    answers.push(500, 500);
    await setAnomalyStatus(db, uuid, 'VERIFIED', 'test');
    const logs: string[] = [];
    const opts = { retryMs: 1, maxAttempts: 2, log: (_: object, msg: string) => void logs.push(msg) };
    await deliverWebhooks(db, [own], later(), opts);
    await deliverWebhooks(db, [own], later() + 1000, opts);
    expect(received.length - from).toBe(2);
    expect(logs).toEqual(['webhook delivery failed; will retry', 'webhook event given up']);
    expect(await deliverWebhooks(db, [own], later() + 2000, opts)).toBe(0);
    expect(received.length - from).toBe(2);
  });
});
