import { describe } from 'vitest';
import { insertTraffic, type Mode } from '../helpers/db.js';
import { DAY_ROWS, insertAdm1Names, insertAsnNames, insertQuality, WEEK_ROWS } from './data.js';
import { adminTokenTests } from './suite/admin-tokens.js';
import { authTests } from './suite/auth.js';
import { sharedDataset } from './suite/common.js';
import { confidenceInfoTests } from './suite/confidence-info.js';
import { csvTests } from './suite/csv.js';
import { dbGoneTests } from './suite/db-gone.js';
import { errorTests } from './suite/errors.js';
import { normalizationTests } from './suite/normalization.js';
import { noCityDatabaseTests, subdivisionTests } from './suite/subdivisions.js';
import { summaryTests } from './suite/summary.js';
import { timeseriesTests } from './suite/timeseries.js';
import { timeseriesGroupsTests } from './suite/timeseries-groups.js';
import { topTests } from './suite/top.js';
import { weeksTests } from './suite/weeks.js';

/**
 * The query API, against known rows, with hand-computed expectations. `mode` picks the driver:
 * embedded PGlite in-process, or postgres.js over the wire protocol. Each dataset is loaded once
 * and shared by the endpoint modules under suite/, registered here in the order they run.
 */
export function querySuite(mode: Mode): void {
  describe(`query API (${mode})`, () => {
    describe('dataset: the last day', () => {
      const day = sharedDataset(mode, async (t) => {
        await insertTraffic(t.db, DAY_ROWS);
        await insertAsnNames(t.db);
        await insertAdm1Names(t.db);
        return { raw: await t.token(['read', 'read:raw']), admin: await t.token(['admin']) };
      });
      timeseriesTests(day);
      normalizationTests(day);
      csvTests(day);
      timeseriesGroupsTests(day);
      summaryTests(day);
      topTests(day);
      subdivisionTests(day);
      errorTests(day);
      authTests(day);
      adminTokenTests(day);
    });

    describe('dataset: weeks (windows, intervals, rollups, meta)', () => {
      const weeks = sharedDataset(mode, async (t) => {
        await insertTraffic(t.db, WEEK_ROWS);
        await insertQuality(t.db);
        return { raw: await t.token(['read', 'read:raw']) };
      });
      weeksTests(weeks);
      confidenceInfoTests(weeks);
      noCityDatabaseTests(weeks);
    });

    dbGoneTests(mode);
  });
}
