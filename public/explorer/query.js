// The explorer's state and the API query string it stands for. The query string is the whole
// state: it is what the share link carries (in the URL fragment, never with a token), what the
// curl command sends and what an embed link signs.
import { PALETTE } from './chart.js';

/** Series parameters: position i of each belongs to series i. */
export const SERIES_KEYS = [
  'name',
  'dateRange',
  'dateStart',
  'dateEnd',
  'asn',
  'location',
  'continent',
  'product',
];
/** Request-wide parameters the explorer sets, with the API's defaults. */
export const SCALAR_DEFAULTS = { aggInterval: '', normalization: 'MIN0_MAX', metric: 'bytes', direction: '' };
/**
 * Series the explorer builds: one per colour of the chart's palette, so no two lines (and legend
 * entries) look alike. The API answers up to 20 (src/query/params.ts MAX_SERIES) for scripts and
 * dashboards; a link with more than the explorer draws is cut to its first series, and says so.
 */
export const MAX_CHART_SERIES = PALETTE.length;

/** How many series a query string defines: the longest run of any series parameter. */
export function seriesCountOf(params) {
  return Math.max(1, ...SERIES_KEYS.map((k) => params.getAll(k).length));
}

export function newSeries(i = 0) {
  return {
    name: i === 0 ? '' : `series_${i}`,
    window: 'range',
    dateRange: '7d',
    dateStart: '',
    dateEnd: '',
    asn: '',
    location: '',
    continent: '',
    product: 'ALL',
  };
}

export function newState() {
  return { series: [newSeries(0)], ...SCALAR_DEFAULTS };
}

/** The name a series has in the API's answer: its own, or serie_<i>. */
export function seriesName(s, i) {
  return s.name.trim() === '' ? `serie_${i}` : s.name.trim();
}

/** The value series `s` gives a series parameter ('' = none). */
function paramOf(s, key) {
  if (key === 'dateRange') return s.window === 'range' ? s.dateRange.trim() : '';
  if (key === 'dateStart' || key === 'dateEnd') return s.window === 'dates' ? s[key].trim() : '';
  if (key === 'product') return s.product === 'ALL' ? '' : s.product;
  return (s[key] ?? '').trim();
}

/**
 * The state as query parameters. A series parameter is written for every series as soon as one
 * series uses it (empty where unused), so positions stay aligned.
 */
export function toParams(state) {
  const params = new URLSearchParams();
  for (const key of SERIES_KEYS) {
    const values = state.series.map((s) => paramOf(s, key));
    if (values.some((v) => v !== '')) for (const v of values) params.append(key, v);
  }
  for (const [key, fallback] of Object.entries(SCALAR_DEFAULTS)) {
    const v = (state[key] ?? '').trim();
    if (v !== '' && v !== fallback) params.set(key, v);
  }
  return params;
}

/** Parameters (a query string or URLSearchParams) back into a state; unknown keys are ignored. */
export function fromParams(input) {
  const params = input instanceof URLSearchParams ? input : new URLSearchParams(input);
  const count = Math.min(MAX_CHART_SERIES, seriesCountOf(params));
  const state = newState();
  state.series = [];
  for (let i = 0; i < count; i++) {
    const at = (k) => params.getAll(k)[i] ?? '';
    const dates = at('dateStart') !== '' || at('dateEnd') !== '';
    state.series.push({
      name: at('name'),
      window: dates ? 'dates' : 'range',
      dateRange: dates ? '' : at('dateRange'),
      dateStart: at('dateStart'),
      dateEnd: at('dateEnd'),
      asn: at('asn'),
      location: at('location'),
      continent: at('continent'),
      product: at('product').toUpperCase() === 'HTTP' ? 'HTTP' : 'ALL',
    });
  }
  for (const key of Object.keys(SCALAR_DEFAULTS)) state[key] = params.get(key) ?? SCALAR_DEFAULTS[key];
  return state;
}

/**
 * The parameters of one series alone (its window and filters), for the top lists beside the
 * chart: they show who makes up the first series' traffic.
 */
export function seriesParams(state, i) {
  const s = state.series[i];
  const params = new URLSearchParams();
  for (const key of SERIES_KEYS) {
    const v = key === 'name' ? '' : paramOf(s, key);
    if (v !== '') params.set(key, v);
  }
  for (const key of ['metric', 'direction']) {
    const v = (state[key] ?? '').trim();
    if (v !== '' && v !== SCALAR_DEFAULTS[key]) params.set(key, v);
  }
  return params;
}

/** The names of the series of a query, in order, as the API names them (no cap on the count). */
export function namesOf(input) {
  const params = input instanceof URLSearchParams ? input : new URLSearchParams(input);
  const count = Math.max(1, ...SERIES_KEYS.map((k) => params.getAll(k).length));
  return Array.from({ length: count }, (_, i) => {
    const name = (params.getAll('name')[i] ?? '').trim();
    return name === '' ? `serie_${i}` : name;
  });
}
