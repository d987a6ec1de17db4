// The explorer: build up to ten series (one per chart colour), see them on one chart or in a table, download them as
// CSV, copy the curl command and a share link. The token lives in sessionStorage only; the page
// state lives in the URL fragment (the API query string itself), never the token. A fragment
// carrying exp and sig is a signed embed query: shown read-only, fetched without a token.
import {
  anomalySubject,
  drawChart,
  el,
  PALETTE,
  plotted,
  renderTable,
  seriesOf,
  shadeAnomalies,
  toCsv,
  yLabelOf,
} from './chart.js';
import {
  fromParams,
  MAX_CHART_SERIES,
  namesOf,
  newSeries,
  newState,
  seriesCountOf,
  seriesParams,
  toParams,
} from './query.js';

const TOKEN_KEY = 'flowradar.token';
const API = '/radar/netflows';
const ANOMALIES = '/radar/traffic_anomalies';
/** Anomalies asked for per request (the API allows 1000). */
const ANOMALY_LIMIT = 100;
/** Beyond this many ASes and locations in the series, one request for every anomaly instead. */
const MAX_ANOMALY_REQUESTS = 20;
const $ = (selector) => document.querySelector(selector);

const initialHash = location.hash.slice(1);
const signedQuery = new URLSearchParams(initialHash);
const signed = signedQuery.has('sig') && signedQuery.has('exp');
let state = initialHash ? fromParams(initialHash) : newState();
/** Series in the link the page opened, when it had more than the explorer draws; else 0. */
let linkSeries = 0;
/** Notes a link cut to the explorer's series (a signed one is answered whole all the same). */
function noteCut(query) {
  const count = seriesCountOf(new URLSearchParams(query));
  linkSeries = !signed && count > MAX_CHART_SERIES ? count : 0;
}
noteCut(initialHash);
let view = 'chart';
let chart;
/** The answer on screen: its series, meta and query string. */
let shown;

/** What the page shows, for tests and for the curious (window.__flowradar in the console). */
const debug = {
  renders: 0,
  downloads: 0,
  query: '',
  series: [],
  meta: null,
  colors: PALETTE,
  error: null,
  signed,
  /** The traffic anomalies listed and shaded (uuids); null while loading. */
  anomalies: null,
};
window.__flowradar = debug;

const token = () => sessionStorage.getItem(TOKEN_KEY) ?? '';

function setStatus(message, isError = false) {
  const status = $('#status');
  status.textContent = message;
  status.classList.toggle('error', isError);
  if (isError) debug.error = message;
}

class ApiProblem extends Error {}

/** GET a JSON answer of the API (with the token) or of a signed embed URL (without). */
async function getJson(path) {
  const headers = { accept: 'application/json' };
  if (!signed) {
    if (!token()) throw new ApiProblem('Enter an API token first (flowradar token create --scope read).');
    headers.authorization = `Bearer ${token()}`;
  }
  const res = await fetch(path, { headers });
  const body = await res.json().catch(() => null);
  if (!res.ok || !body?.success) {
    const message = body?.errors?.[0]?.message ?? `${res.status} ${res.statusText}`;
    if (res.status === 401) throw new ApiProblem(`The token was refused: ${message}`);
    throw new ApiProblem(message);
  }
  return body;
}

// ---- token -------------------------------------------------------------------------------------

function renderToken() {
  $('#token-state').textContent = token() ? 'token set for this tab' : 'no token';
  $('#token').value = '';
}

$('#token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const value = $('#token').value.trim();
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  renderToken();
  if (value) run();
});
$('#forget-token').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  renderToken();
});

// ---- series builder ----------------------------------------------------------------------------

function field(label, input) {
  return el('label', {}, label, input);
}

function textInput(i, key, attrs = {}) {
  return el('input', {
    name: key,
    value: state.series[i][key],
    disabled: signed,
    oninput: (e) => {
      state.series[i][key] = e.target.value;
    },
    ...attrs,
  });
}

function select(i, key, options) {
  const node = el(
    'select',
    {
      name: key,
      disabled: signed,
      onchange: (e) => {
        state.series[i][key] = e.target.value;
        if (key === 'window') renderSeries();
      },
    },
    options.map(([value, label]) => el('option', { value }, label)),
  );
  node.value = state.series[i][key];
  return node;
}

function renderSeriesCount() {
  $('#series-count').textContent =
    `${state.series.length} of ${MAX_CHART_SERIES}` +
    (linkSeries ? ` (the link has ${linkSeries}: the explorer shows the first ${MAX_CHART_SERIES})` : '');
}

function renderSeries() {
  const rows = state.series.map((s, i) => {
    const dates = s.window === 'dates';
    return el(
      'fieldset',
      { class: 'series', 'data-index': String(i) },
      el('legend', {}, el('span', { class: 'swatch' }), `Series ${i + 1}`),
      field('Name', textInput(i, 'name', { placeholder: `serie_${i}`, maxlength: '100' })),
      field('ASN', textInput(i, 'asn', { placeholder: '3243, -174', inputmode: 'numeric' })),
      field('Location', textInput(i, 'location', { placeholder: 'PT, DE', size: '8' })),
      field('Continent', textInput(i, 'continent', { placeholder: 'EU', size: '6' })),
      field(
        'Product',
        select(i, 'product', [
          ['ALL', 'ALL'],
          ['HTTP', 'HTTP'],
        ]),
      ),
      field(
        'Window',
        select(i, 'window', [
          ['range', 'date range'],
          ['dates', 'explicit dates'],
        ]),
      ),
      dates
        ? [
            field('Start (UTC)', textInput(i, 'dateStart', { placeholder: '2026-11-01T00:00Z', size: '18' })),
            field('End (UTC)', textInput(i, 'dateEnd', { placeholder: '2026-11-08T00:00Z', size: '18' })),
          ]
        : field('Range', textInput(i, 'dateRange', { placeholder: '7d', list: 'ranges', size: '9' })),
      el(
        'button',
        {
          type: 'button',
          class: 'remove',
          disabled: signed || state.series.length === 1,
          'aria-label': `Remove series ${i + 1}`,
          onclick: () => {
            state.series.splice(i, 1);
            renderSeries();
          },
        },
        '×',
      ),
    );
  });
  $('#series-list').replaceChildren(...rows);
  // The swatch shows the series' colour on the chart.
  for (const [i, swatch] of document.querySelectorAll('#series-list .swatch').entries())
    swatch.style.background = PALETTE[i % PALETTE.length];
  $('#add-series').disabled = signed || state.series.length >= MAX_CHART_SERIES;
  renderSeriesCount();
}

$('#add-series').addEventListener('click', () => {
  if (state.series.length >= MAX_CHART_SERIES) return;
  // A new series takes the window of the first: every series must cover the same duration.
  const first = state.series[0];
  const s = newSeries(state.series.length);
  Object.assign(s, {
    window: first.window,
    dateRange: first.dateRange,
    dateStart: first.dateStart,
    dateEnd: first.dateEnd,
  });
  state.series.push(s);
  renderSeries();
});

function renderOptions() {
  for (const node of document.querySelectorAll('#options select')) {
    node.value = state[node.name] ?? '';
    node.disabled = signed;
    node.onchange = () => {
      state[node.name] = node.value;
    };
  }
}

$('#query-form').addEventListener('submit', (e) => {
  e.preventDefault();
  if (!signed) history.replaceState(null, '', `#${toParams(state)}`);
  linkSeries = 0;
  renderSeriesCount();
  run();
});

// Pasting a share link into this tab restores its state.
window.addEventListener('hashchange', () => {
  if (signed) return;
  state = fromParams(location.hash.slice(1));
  noteCut(location.hash.slice(1));
  renderSeries();
  renderOptions();
  run();
});

// ---- results -----------------------------------------------------------------------------------

function currentQuery() {
  return signed ? initialHash : toParams(state).toString();
}

function draw() {
  if (!shown) return;
  const { series, meta } = shown;
  chart?.destroy();
  chart = undefined;
  if (view === 'chart') {
    chart = drawChart($('#chart'), series, {
      annotations: meta.confidenceInfo?.annotations ?? [],
      anomalies: shown.anomalies ?? [],
      yLabel: yLabelOf(meta),
    });
    const drawn = plotted(chart);
    debug.series = drawn.map((d, i) => ({ ...d, timestamps: series[i].timestamps }));
  } else {
    debug.series = series.map((s) => ({
      name: s.name,
      show: true,
      values: s.values,
      timestamps: s.timestamps,
    }));
  }
  renderTable($('#data-table'), series);
  debug.renders++;
}

function renderMeta(meta) {
  const info = meta.confidenceInfo ?? { level: 5, annotations: [] };
  $('#confidence').textContent =
    `Confidence ${info.level}/5 · interval ${meta.aggInterval ?? ''} · ${meta.normalization}` +
    (meta.lastUpdated && !meta.lastUpdated.startsWith('1970-') ? ` · data up to ${meta.lastUpdated}` : '');
  $('#annotations').replaceChildren(
    ...info.annotations.map((a) =>
      el('li', {}, el('strong', {}, `${a.eventType} `), `${a.startDate} – ${a.endDate}: ${a.description}`),
    ),
  );
}

async function run() {
  const query = currentQuery();
  setStatus('Loading…');
  debug.error = null;
  try {
    const path = signed ? `/embed/data?${query}` : `${API}/timeseries?${query}`;
    const body = await getJson(path);
    const series = seriesOf(body.result, namesOf(query));
    shown = { series, meta: body.result.meta, query };
    debug.query = query;
    debug.meta = body.result.meta;
    draw();
    renderMeta(body.result.meta);
    $('#download-csv').disabled = false;
    $('#copy-curl').disabled = false;
    setStatus(`${series.length} series × ${series[0]?.timestamps.length ?? 0} buckets`);
    if (!signed) await Promise.all([loadTops(), loadAnomalies(shown)]);
  } catch (err) {
    setStatus(err instanceof ApiProblem ? err.message : `Failed: ${err.message}`, true);
  }
}

/**
 * The filters of the anomaly requests for the series on the chart: each AS and location they
 * select (exclusions aside), or none (every anomaly) as soon as one series selects neither.
 */
function anomalyFilters(query, count) {
  const params = new URLSearchParams(query);
  const filters = new Map();
  for (let i = 0; i < count; i++) {
    const values = (key) =>
      (params.getAll(key)[i] ?? '')
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '' && !v.startsWith('-'));
    const asns = values('asn').map((v) => v.replace(/^AS/i, ''));
    const locations = values('location').map((v) => v.toUpperCase());
    if (asns.length === 0 && locations.length === 0) return [new URLSearchParams()];
    for (const v of asns) filters.set(`asn=${v}`, new URLSearchParams({ asn: v }));
    for (const v of locations) filters.set(`location=${v}`, new URLSearchParams({ location: v }));
  }
  return filters.size > MAX_ANOMALY_REQUESTS ? [new URLSearchParams()] : [...filters.values()];
}

function anomalyItem(a) {
  return el(
    'li',
    { 'data-uuid': a.uuid },
    el('strong', {}, a.type),
    ' ',
    el('span', { class: 'anomaly-subject' }, anomalySubject(a)),
    ` · ${a.startDate} – `,
    a.endDate ?? el('em', {}, 'ongoing'),
    ' · ',
    el('span', { class: 'anomaly-status' }, a.status),
  );
}

/**
 * The traffic anomalies in the chart's window (the first series'), of the series' ASes and
 * locations: listed under the chart and shaded on it. Without them (a token without the scope,
 * an API error) the chart stays as it is and the list says why.
 */
async function loadAnomalies(target) {
  const list = $('#anomalies');
  const note = $('#anomalies-state');
  debug.anomalies = null;
  list.replaceChildren();
  note.textContent = 'Loading traffic anomalies…';
  const range = target.meta.dateRange?.[0];
  const requests = anomalyFilters(target.query, target.series.length).map((params) => {
    if (range) {
      params.set('dateStart', range.startTime);
      params.set('dateEnd', range.endTime);
    }
    params.set('limit', String(ANOMALY_LIMIT));
    return getJson(`${ANOMALIES}?${params}`);
  });
  const answers = await Promise.allSettled(requests);
  if (shown !== target) return; // another query took the page meanwhile
  const failed = answers.filter((r) => r.status === 'rejected');
  const byUuid = new Map();
  let cut = false;
  for (const r of answers) {
    if (r.status !== 'fulfilled') continue;
    const found = r.value.result.trafficAnomalies;
    if (found.length >= ANOMALY_LIMIT) cut = true;
    for (const a of found) byUuid.set(a.uuid, a);
  }
  const anomalies = [...byUuid.values()].sort(
    (a, b) => Date.parse(b.startDate) - Date.parse(a.startDate) || a.uuid.localeCompare(b.uuid),
  );
  target.anomalies = anomalies;
  if (chart) shadeAnomalies(chart, target.meta.confidenceInfo?.annotations ?? [], anomalies);
  list.replaceChildren(...anomalies.map(anomalyItem));
  if (failed.length === answers.length)
    note.textContent = `Traffic anomalies unavailable: ${failed[0].reason.message}`;
  else
    note.textContent =
      (anomalies.length ? `${anomalies.length} in this window` : 'None in this window') +
      (cut ? ` (the newest ${ANOMALY_LIMIT} per AS or location)` : '') +
      (failed.length ? ` (some could not be loaded: ${failed[0].reason.message})` : '');
  debug.anomalies = anomalies.map((a) => a.uuid);
}

function topItem(label, value) {
  return el(
    'li',
    { title: `${label}: ${value}%` },
    el('span', { class: 'top-label' }, label),
    el('span', { class: 'top-value' }, `${Number(value).toFixed(1)}%`),
  );
}

/** Who makes up the first series' traffic in its window: top ASes and locations. */
async function loadTops() {
  const params = seriesParams(state, 0);
  params.set('limit', '10');
  try {
    const [ases, locations] = await Promise.all([
      getJson(`${API}/top/ases?${params}`),
      getJson(`${API}/top/locations?${params}`),
    ]);
    const first = (r) => Object.entries(r).find(([k]) => k !== 'meta')?.[1] ?? [];
    $('#top-ases').replaceChildren(
      ...first(ases.result).map((r) => topItem(`AS${r.clientASN} ${r.clientASName}`, r.value)),
    );
    $('#top-locations').replaceChildren(
      ...first(locations.result).map((r) =>
        topItem(`${r.clientCountryAlpha2} ${r.clientCountryName}`, r.value),
      ),
    );
    const w = ases.result.meta.dateRange[0];
    $('#tops-window').textContent = w ? `Series 1's filters, ${w.startTime} – ${w.endTime}` : '';
  } catch (err) {
    $('#tops-window').textContent = `Top lists unavailable: ${err.message}`;
  }
}

function setView(next) {
  view = next;
  $('#view-chart').setAttribute('aria-selected', String(view === 'chart'));
  $('#view-table').setAttribute('aria-selected', String(view === 'table'));
  $('#chart').hidden = view !== 'chart';
  $('#table-wrap').hidden = view !== 'table';
  draw();
}
$('#view-chart').addEventListener('click', () => setView('chart'));
$('#view-table').addEventListener('click', () => setView('table'));

window.addEventListener('resize', () => {
  if (chart) chart.setSize({ width: Math.max(320, $('#chart').clientWidth), height: chart.height });
});

// ---- CSV, curl, share link ---------------------------------------------------------------------

async function downloadCsv() {
  if (!shown) return;
  let text;
  if (signed) text = toCsv(shown.series);
  else {
    const params = new URLSearchParams(shown.query);
    params.set('format', 'CSV');
    const res = await fetch(`${API}/timeseries?${params}`, {
      headers: { authorization: `Bearer ${token()}` },
    });
    if (!res.ok) return setStatus(`CSV download failed: ${res.status}`, true);
    text = await res.text();
  }
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
  const a = el('a', { href: url, download: 'flowradar-timeseries.csv', hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  debug.downloads++;
}
$('#download-csv').addEventListener('click', () => void downloadCsv());

async function copy(text, what) {
  const out = $('#copy-output');
  out.value = text;
  try {
    await navigator.clipboard.writeText(text);
    setStatus(`${what} copied.`);
  } catch {
    out.select();
    setStatus(`${what} is selected below: press Ctrl+C (or ⌘C) to copy it.`);
  }
}

$('#copy-curl').addEventListener('click', () => {
  const query = shown?.query ?? currentQuery();
  const command = signed
    ? `curl -s '${location.origin}/embed/data?${query}'`
    : `curl -s -H "Authorization: Bearer $FLOWRADAR_TOKEN" '${location.origin}${API}/timeseries?${query}'`;
  void copy(command, 'The curl command');
});
$('#copy-share').addEventListener('click', () => {
  void copy(`${location.origin}/#${currentQuery()}`, 'The share link');
});

// ---- start -------------------------------------------------------------------------------------

if (signed) {
  $('#token-form').hidden = true;
  $('#signed-note').hidden = false;
  $('#tops').hidden = true;
  $('#anomalies-box').hidden = true;
}
renderToken();
renderSeries();
renderOptions();
if (signed || token()) run();
else setStatus('Enter an API token to start.');
