import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The quick tier (`npm run test:quick`) for the edit loop: unit tests, the decoders (fuzzing with
 * 2,000 runs instead of 200,000), the query suite and the rollup planner on the embedded database.
 * (mergeConfig would append to the full suite's include, hence the spread.) No real PostgreSQL server, no processes, no outages: `npm test` runs those, and everything here.
 */
// Read by the global setup, which runs in this process: no real server for the quick tier.
process.env.FLOWRADAR_TEST_SERVER ??= '0';
process.env.FUZZ_RUNS ??= '2000';

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    isolate: false,
    include: [
      'test/ingest/netflow/*.test.ts',
      'test/ingest/{aggregate,enrich,sequence,steps,sflow-fixtures,sflow-fuzz,sflow-hardening,sampled,native-receiver}.test.ts',
      'test/sim/*.test.ts',
      'test/helpers/*.test.ts',
      'test/db/{rollups,rollup-sources,quality-rollup,maintenance,traffic-columns,embedded-prepared}.test.ts',
      'test/query/{embedded,continent-rollups,window-tiling,time}.test.ts',
      'test/routes/ingest-flows.test.ts',
      'test/{cache,http-headers,openapi,security,bench-ingest}.test.ts',
    ],
  },
});
