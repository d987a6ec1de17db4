/**
 * The anomaly detector's accuracy on generated months (test/anomalies/accuracy.ts): 100 ASes,
 * 4 weeks of history and 30 evaluated days, 30 outages (depths 50–100 %, 30 minutes to a day),
 * per noise level and drop threshold, two seeds; then the core's time per AS-month.
 * `npx tsx bench/anomalies-accuracy.ts`
 */
import { DEFAULT_PARAMS } from '../src/anomalies/detect.js';
import { generateMonth, type Outage, score } from '../test/anomalies/accuracy.js';

const ASES = 100;
const outages: Outage[] = [];
let k = 0;
for (const depth of [0.5, 0.6, 0.75, 0.9, 1])
  for (const length of [2, 3, 4, 8, 24, 96]) {
    outages.push({ as: (k * 7) % ASES, start: 150 + ((k * 263) % 2600), length, depth });
    k++;
  }
console.log(
  '| noise | dropBelow | seed | found / 30 | missed (depth×buckets) | false positives (with outages / normal month) | max start error (min) | max end error (min) | core ms (100 AS-months) |',
);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const noise of [0.1, 0.15, 0.2, 0.3])
  for (const dropBelow of [0.5, 0.6, 0.65])
    for (const seed of [42, 7]) {
      const p = { ...DEFAULT_PARAMS, dropBelow, recoverAbove: Math.max(0.75, dropBelow + 0.1) };
      const cut = generateMonth({ ases: ASES, historyWeeks: 4, days: 30, noise, outages, seed });
      const t0 = performance.now();
      const s = score(cut, p);
      const ms = performance.now() - t0;
      const n = score(generateMonth({ ases: ASES, historyWeeks: 4, days: 30, noise, outages: [], seed }), p);
      console.log(
        `| ±${noise * 100} % | ${dropBelow} | ${seed} | ${s.found} | ${s.missed.map((o) => `${o.depth}×${o.length}`).join(' ') || '—'} | ${s.falsePositives} / ${n.falsePositives} | ${Math.max(...s.startErrors)} | ${Math.max(...s.endErrors)} | ${ms.toFixed(0)} |`,
      );
    }
