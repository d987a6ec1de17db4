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
});
