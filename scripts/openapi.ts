import { writeFileSync } from 'node:fs';
import { generateOpenApi } from '../src/openapi.js';

// npm run openapi: regenerates the committed spec; test/openapi.test.ts fails when it drifts.
writeFileSync(new URL('../openapi/openapi.json', import.meta.url), generateOpenApi());
process.stdout.write('openapi/openapi.json written\n');
