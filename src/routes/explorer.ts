import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from '../deps.js';
import { ApiError } from '../errors.js';
import { explorerCsp } from '../middleware/security-headers.js';

/**
 * The explorer (`/`) and its assets: plain ES modules and CSS from public/, uPlot from its npm
 * package. No build step, no CDN. These routes are not part of the token API (the page asks for
 * a token and sends it itself), so they stay out of the OpenAPI document.
 */

/** public/ of the package, from src/routes and dist/routes alike. */
export const publicFile = (name: string) => fileURLToPath(new URL(`../../public/${name}`, import.meta.url));
/** uPlot's dist/, wherever npm put the package. Resolved on first use: importing never touches disk. */
const uplotFile = (name: string) =>
  join(dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js')), name);

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';
export const HTML = 'text/html; charset=utf-8';

/** The only files served: a fixed list, never a path from the request. */
const ASSETS: Record<string, { file: () => string; type: string }> = {
  'app.js': { file: () => publicFile('explorer/app.js'), type: JS },
  'chart.js': { file: () => publicFile('explorer/chart.js'), type: JS },
  'embed.js': { file: () => publicFile('explorer/embed.js'), type: JS },
  'query.js': { file: () => publicFile('explorer/query.js'), type: JS },
  'app.css': { file: () => publicFile('explorer/app.css'), type: CSS },
};
const VENDOR: Record<string, { file: () => string; type: string }> = {
  'uPlot.iife.min.js': { file: () => uplotFile('uPlot.iife.min.js'), type: JS },
  'uPlot.min.css': { file: () => uplotFile('uPlot.min.css'), type: CSS },
};

/** Reads a file of public/ (or of a dependency); a missing file is the server's fault. */
export async function readAsset(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`asset ${file} is missing: ${(err as Error).message}`);
  }
}

function asset(c: Context<AppEnv>, table: typeof ASSETS, cacheControl: string) {
  const name = c.req.param('file') ?? '';
  const entry = Object.hasOwn(table, name) ? table[name] : undefined;
  if (!entry) throw new ApiError('NOT_FOUND', 'no such file');
  return readAsset(entry.file()).then((body) =>
    c.body(body, 200, { 'content-type': entry.type, 'cache-control': cacheControl }),
  );
}

export function register(app: OpenAPIHono<AppEnv>): void {
  app.get('/', async (c) =>
    c.body(await readAsset(publicFile('index.html')), 200, {
      'content-type': HTML,
      'cache-control': 'no-cache',
      'content-security-policy': explorerCsp(),
      'x-frame-options': 'SAMEORIGIN',
    }),
  );
  // Our own code is revalidated on every load (ETag makes that cheap); uPlot may be kept an hour.
  app.get('/explorer/:file', (c) => asset(c, ASSETS, 'no-cache'));
  app.get('/vendor/uplot/:file', (c) => asset(c, VENDOR, 'public, max-age=3600'));
}
