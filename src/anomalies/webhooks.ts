/**
 * Webhooks of traffic-anomaly state changes: each configured URL gets every event of
 * `anomaly_events` once, in order, as signed JSON; a failed delivery is retried with exponential
 * backoff before the next event is sent. Where each URL has got to is kept in `webhook_cursors`,
 * so a restart neither repeats nor loses events. A new URL starts at the events recorded after it
 * was first seen.
 */
import { createHmac } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Queryable } from '../db/client.js';

export interface Webhook {
  url: string;
  /** The HMAC-SHA256 key the receiver checks signatures with. */
  secret: string;
}

export interface WebhookOptions {
  /** First retry delay; doubles per attempt up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
  /** Attempts after which an event is given up (logged) and the next one sent. */
  maxAttempts?: number;
  /** A delivery that has not answered within this is a failure. */
  timeoutMs?: number;
  /**
   * Events are sent once this old: ids are handed out when a transaction inserts and become
   * visible when it commits, so a younger event could still be overtaken by a lower id.
   */
  settleMs?: number;
  fetch?: typeof fetch;
  log?: (o: object, msg: string) => void;
}

/**
 * The signature of a delivery, as the `X-Flowradar-Signature` header carries it: HMAC-SHA256 over
 * `<timestamp>.<body>` with the webhook's secret, base64url, as embed links are signed. The
 * timestamp (`X-Flowradar-Timestamp`, Unix seconds) lets the receiver refuse old replays.
 * @example signWebhook(secret, 1796457600, body) // 'sha256=Jx4…'
 */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('base64url')}`;
}

interface EventRow {
  id: number;
  event: string;
  anomaly: Record<string, unknown>;
  at: string;
}

interface Cursor {
  last: number;
  attempts: number;
  due_ms: number | null;
}

async function cursorOf(db: Queryable, url: string): Promise<Cursor> {
  await db.query(sql`INSERT INTO webhook_cursors (url, last_event_id)
      VALUES (${url}, (SELECT coalesce(max(id), 0) FROM anomaly_events)) ON CONFLICT (url) DO NOTHING`);
  const [c] = await db.query<Cursor>(
    sql`SELECT last_event_id::float8 AS last, attempts,
               (extract(epoch from next_attempt_at) * 1000)::float8 AS due_ms
          FROM webhook_cursors WHERE url = ${url}`,
  );
  return c!;
}

/**
 * Sends each webhook the events it has not had, in order, until one fails or none is left.
 * Returns how many were delivered. Run by one instance at a time (under the maintenance lock).
 * @example await deliverWebhooks(db, config.webhooks, Date.now());
 */
export async function deliverWebhooks(
  db: Queryable,
  hooks: readonly Webhook[],
  nowMs: number,
  opts: WebhookOptions = {},
): Promise<number> {
  const send = opts.fetch ?? fetch;
  const retryMs = opts.retryMs ?? 10_000;
  const maxRetryMs = opts.maxRetryMs ?? 3_600_000;
  const maxAttempts = opts.maxAttempts ?? 12;
  const settle = new Date(nowMs - (opts.settleMs ?? 5_000)).toISOString();
  let delivered = 0;
  for (const hook of hooks) {
    const cursor = await cursorOf(db, hook.url);
    if (cursor.due_ms !== null && cursor.due_ms > nowMs) continue;
    let { last, attempts } = cursor;
    for (;;) {
      const [e] = await db.query<EventRow>(
        sql`SELECT id::float8 AS id, event, anomaly,
                   to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at
              FROM anomaly_events WHERE id > ${last} AND created_at <= ${settle}::timestamptz
             ORDER BY id LIMIT 1`,
      );
      if (!e) break;
      const body = JSON.stringify({ id: e.id, event: `anomaly.${e.event}`, at: e.at, anomaly: e.anomaly });
      const timestamp = Math.floor(nowMs / 1000);
      let error: string | undefined;
      try {
        const res = await send(hook.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'flowradar-webhooks',
            'x-flowradar-event-id': String(e.id),
            'x-flowradar-timestamp': String(timestamp),
            'x-flowradar-signature': signWebhook(hook.secret, timestamp, body),
          },
          body,
          signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
        });
        await res.body?.cancel().catch(() => {});
        if (!res.ok) error = `HTTP ${res.status}`;
      } catch (err) {
        error = String((err as Error).message ?? err);
      }
      if (error === undefined || attempts + 1 >= maxAttempts) {
        if (error !== undefined)
          opts.log?.({ url: hook.url, event: e.id, attempts: attempts + 1, error }, 'webhook event given up');
        else delivered++;
        last = e.id;
        attempts = 0;
        await db.query(sql`UPDATE webhook_cursors SET last_event_id = ${last}, attempts = 0, next_attempt_at = NULL,
            last_error = ${error ?? null}, updated_at = now() WHERE url = ${hook.url}`);
        continue;
      }
      attempts++;
      const due = new Date(nowMs + Math.min(maxRetryMs, retryMs * 2 ** (attempts - 1))).toISOString();
      await db.query(sql`UPDATE webhook_cursors SET attempts = ${attempts}, next_attempt_at = ${due}::timestamptz,
          last_error = ${error}, updated_at = now() WHERE url = ${hook.url}`);
      opts.log?.(
        { url: hook.url, event: e.id, attempts, error, retryAt: due },
        'webhook delivery failed; will retry',
      );
      break;
    }
  }
  return delivered;
}
