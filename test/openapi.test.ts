import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateOpenApi } from '../src/openapi.js';

describe('openapi/openapi.json', () => {
  const generated = generateOpenApi();
  it('matches the routes (run `npm run openapi` after changing a route)', () => {
    expect(readFileSync(new URL('../openapi/openapi.json', import.meta.url), 'utf8')).toBe(generated);
  });
  it('gives every operation an operationId, summary, tags, security and the shared errors', () => {
    const doc = JSON.parse(generated);
    const ops = Object.values(doc.paths as Record<string, Record<string, any>>).flatMap((p) =>
      Object.values(p),
    );
    expect(ops.length).toBeGreaterThanOrEqual(9);
    const ids = new Set<string>();
    for (const op of ops) {
      expect(op.operationId).toBeTruthy();
      expect(ids.has(op.operationId)).toBe(false);
      ids.add(op.operationId);
      expect(op.summary).toBeTruthy();
      expect(op.tags?.length).toBeGreaterThan(0);
      expect(op.security).toEqual([{ bearerAuth: [expect.stringMatching(/^(read|ingest|admin)$/)] }]);
      for (const code of ['400', '401', '403', '404', '500'])
        expect(op.responses[code], `${op.operationId} ${code}`).toBeTruthy();
      for (const p of op.parameters ?? []) {
        expect(p.description, `${op.operationId} ${p.name}`).toBeTruthy();
      }
    }
  });

  it('carries the typed contract: enums, integers and positional arrays, as Cloudflare’s schema does', () => {
    const doc = JSON.parse(generated);
    const params = (path: string) =>
      Object.fromEntries(
        (doc.paths[path].get.parameters as { name: string; schema: any }[]).map((p) => [p.name, p.schema]),
      );
    const ts = params('/radar/netflows/timeseries');
    // The values the official SDK (cloudflare 7.3.0) sends.
    expect(ts.aggInterval.enum).toEqual(['15m', '1h', '1d', '1w']);
    expect(ts.format.enum).toEqual(['JSON', 'CSV']);
    expect(ts.normalization.enum).toEqual(expect.arrayContaining(['MIN0_MAX', 'PERCENTAGE_CHANGE']));
    expect(ts.product).toMatchObject({ type: 'array', items: { enum: ['HTTP', 'ALL'] } });
    for (const p of ['name', 'dateRange', 'dateStart', 'dateEnd', 'asn', 'location', 'continent', 'geoId'])
      expect(ts[p], p).toMatchObject({ type: 'array', items: { type: 'string' } });
    const groups = params('/radar/netflows/timeseries_groups/{dimension}');
    expect(groups.dimension.enum).toEqual(['ADM1', 'AS', 'LOCATION', 'PRODUCT']);
    expect(groups.normalization.enum).toEqual(['PERCENTAGE', 'MIN0_MAX', 'PERCENTAGE_CHANGE']);
    expect(groups.limitPerGroup).toMatchObject({ type: 'integer', minimum: 2 });
    const top = params('/radar/netflows/top/ases');
    expect(top.limit).toMatchObject({ type: 'integer', minimum: 1 });
    expect(top.limit.maximum).toBeGreaterThan(100);
    const meta = doc.components.schemas.TimeseriesMeta;
    expect(meta.required).toContain('aggInterval');
    expect(meta.properties.aggInterval.enum).toEqual(['FIFTEEN_MINUTES', 'ONE_HOUR', 'ONE_DAY', 'ONE_WEEK']);
    const serie = doc.components.schemas.Serie;
    expect(serie.properties.values.items).toEqual({ type: 'string' });
  });
});
