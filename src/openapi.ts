import pino from 'pino';
import { createApp, openApiDocument } from './app.js';
import { loadConfig } from './config.js';
import type { Database } from './db/client.js';

/**
 * The OpenAPI document as the routes define it. Building it touches no database, so the app
 * gets none: any query would fail loudly.
 */
export function generateOpenApi(): string {
  const noDatabase = new Proxy({} as Database, {
    get() {
      throw new Error('the OpenAPI generator has no database');
    },
  });
  const app = createApp({
    db: noDatabase,
    config: loadConfig({}),
    logger: pino({ level: 'silent' }),
    now: Date.now,
  });
  return `${JSON.stringify(openApiDocument(app), null, 2)}\n`;
}
