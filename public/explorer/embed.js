// The bare chart of a signed embed link (/embed/timeseries?…&exp=…&sig=…), for an iframe. Its
// data comes from the same signed query at /embed/data; there is no token anywhere.
import { drawChart, PALETTE, plotted, seriesOf, yLabelOf } from './chart.js';
import { namesOf } from './query.js';

const query = location.search.slice(1);
const chartBox = document.querySelector('#chart');
const status = document.querySelector('#status');
const debug = { renders: 0, query, series: [], meta: null, colors: PALETTE, error: null };
window.__flowradar = debug;

document.querySelector('#open-explorer').href = `/#${query}`;

let chart;
let shown;

function chartHeight() {
  // The legend and the footer take the rest of the frame.
  return Math.max(160, window.innerHeight - 90 - 22 * Math.ceil(shown.series.length / 3));
}

function draw() {
  chart?.destroy();
  chart = drawChart(chartBox, shown.series, {
    annotations: shown.meta.confidenceInfo?.annotations ?? [],
    yLabel: yLabelOf(shown.meta),
    height: chartHeight(),
  });
  debug.series = plotted(chart).map((d, i) => ({ ...d, timestamps: shown.series[i].timestamps }));
  debug.renders++;
}

async function load() {
  try {
    const res = await fetch(`/embed/data?${query}`, { headers: { accept: 'application/json' } });
    const body = await res.json().catch(() => null);
    if (!res.ok || !body?.success)
      throw new Error(body?.errors?.[0]?.message ?? `${res.status} ${res.statusText}`);
    shown = { series: seriesOf(body.result, namesOf(query)), meta: body.result.meta };
    debug.meta = body.result.meta;
    draw();
    status.textContent = '';
  } catch (err) {
    debug.error = err.message;
    status.textContent = err.message;
    status.classList.add('error');
  }
}

let resizing;
window.addEventListener('resize', () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => {
    if (chart) chart.setSize({ width: Math.max(320, chartBox.clientWidth), height: chartHeight() });
  }, 100);
});

// Dashboards stay up: reload once a minute, as the Cache-Control of the data allows.
setInterval(() => {
  if (!document.hidden) void load();
}, 60_000);
void load();
