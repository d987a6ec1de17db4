/**
 * The one logger of both hosts. On Node it is pino writing JSON lines to stdout. On Workers,
 * wrangler bundles pino's browser build (its package.json `browser` field), which has no stream to
 * write to: `browser.write` makes it print the same JSON lines on the console, which Workers Logs
 * collects, with the level as a name. Either way tokens and Authorization headers are redacted.
 */
import pino, { type Logger } from 'pino';
import type { Config } from './config.js';

const line = (o: object) => JSON.stringify(o);
const toError = (o: object) => console.error(line(o));
const toLog = (o: object) => console.log(line(o));

/**
 * A logger at the configured level.
 * @example createLogger({ logLevel: 'info' }).warn({ err }, 'maintenance failed; will retry')
 */
export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({
    level: config.logLevel,
    redact: ['req.headers.authorization', 'token'],
    browser: {
      // The browser build leaves errors as {} unless told to serialize them.
      serialize: true,
      formatters: { level: (label) => ({ level: label }) },
      write: {
        trace: (o) => console.debug(line(o)),
        debug: toLog,
        info: toLog,
        warn: toError,
        error: toError,
        fatal: toError,
      },
    },
  });
}
