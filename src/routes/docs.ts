import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { Scalar } from '@scalar/hono-api-reference';
import type { AppEnv, Deps } from '../deps.js';
import { readAsset } from './explorer.js';

/** Where this process serves the API reference's viewer (Scalar's standalone bundle). */
export const DOCS_SCRIPT_PATH = '/vendor/scalar/standalone.js';

/**
 * Scalar's standalone bundle, wherever npm put @scalar/api-reference: `dist/browser/standalone.js`
 * beside the package's entry point (its `exports` do not list the file itself). Resolved on first
 * use, so importing never touches disk and a missing package fails the request that needs it.
 */
export const docsScriptFile = () =>
  join(dirname(createRequire(import.meta.url).resolve('@scalar/api-reference')), 'browser', 'standalone.js');

/**
 * The API reference (`/docs`) over /openapi.json. Its viewer comes from our own origin, so the page
 * works without internet; `deps.docsScript: 'cdn'` keeps Scalar's CDN (the Worker, which has no files).
 * No web fonts and no telemetry: nothing is asked of a third party.
 */
export function register(app: OpenAPIHono<AppEnv>, deps: Pick<Deps, 'docsScript'>): void {
  app.get(
    '/docs',
    Scalar({
      url: '/openapi.json',
      pageTitle: 'flowradar API',
      ...(deps.docsScript === 'cdn' ? {} : { cdn: DOCS_SCRIPT_PATH }),
      // A small API: every operation on the page, none behind a collapsed tag.
      defaultOpenAllTags: true,
      withDefaultFonts: false,
      telemetry: false,
    }),
  );
  app.get(DOCS_SCRIPT_PATH, async (c) =>
    c.body(await readAsset(docsScriptFile()), 200, {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=3600',
    }),
  );
}
