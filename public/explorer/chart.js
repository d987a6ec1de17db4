// Chart, table and CSV of timeseries answers, shared by the explorer and the embed page.
// uPlot is loaded by a classic <script> before this module (window.uPlot).

/** The palette of src/svg.ts, so the static SVG and the live chart look alike. */
export const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

/** Builds an element; children are nodes or text (never parsed as HTML). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k in node && typeof v !== 'string') node[k] = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) node.append(c);
  return node;
}

/** A value for people: SI suffixes for large raw numbers, at most 4 significant digits else. */
export function formatNumber(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  const abs = Math.abs(v);
  for (const [limit, suffix] of [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e4, 'k'],
  ])
    if (abs >= limit) return `${+(v / limit).toPrecision(4)}${suffix}`;
  return `${+v.toPrecision(4)}`;
}

/**
 * The series of a timeseries `result`, in request order.
 * @param names the series names, in the order of the request (object keys of the answer lose it
 *   for numeric names)
 */
export function seriesOf(result, names) {
  return names.map((name) => {
    const s = result[name] ?? { timestamps: [], values: [] };
    return {
      name,
      timestamps: s.timestamps,
      raw: s.values,
      values: s.values.map((v) => (v === null || v === '' ? null : Number(v))),
    };
  });
}

/** Radar's wide CSV layout (`<Name> timestamps,<Name> values`), for answers already at hand. */
export function toCsv(series) {
  const cell = (v) => {
    if (v === null || v === undefined) return '';
    let s = String(v);
    if (!/^-?\d+(\.\d+)?$/.test(s) && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const title = (n) => n.charAt(0).toUpperCase() + n.slice(1);
  const header = series.flatMap((s) => [`${title(s.name)} timestamps`, `${title(s.name)} values`]);
  const rows = Math.max(0, ...series.map((s) => s.timestamps.length));
  const lines = [header.map(cell).join(',')];
  for (let r = 0; r < rows; r++)
    lines.push(series.flatMap((s) => [cell(s.timestamps[r]), cell(s.raw[r])]).join(','));
  return `${lines.join('\n')}\n`;
}

/** Shade of confidenceInfo annotations (operator notes, verified anomalies). */
export const ANNOTATION_FILL = 'rgba(255, 165, 0, 0.18)';
/** Shade of traffic anomalies (GET /radar/traffic_anomalies): red, apart from the annotations' orange. */
export const ANOMALY_FILL = 'rgba(220, 20, 60, 0.16)';

/** Who a traffic anomaly is about: the AS (with its name) or the location. */
export function anomalySubject(a) {
  if (a.type === 'AS' && a.asnDetails)
    return `AS${a.asnDetails.asn}${a.asnDetails.name ? ` ${a.asnDetails.name}` : ''}`;
  const place = a.locationDetails;
  return place ? `${place.code} ${place.name}` : a.type;
}

/** The shaded spans of a chart: annotations, then traffic anomalies (an ongoing one has no end). */
function bandsOf(annotations, anomalies) {
  return [
    ...annotations.map((a) => ({
      start: Date.parse(a.startDate) / 1000,
      end: Date.parse(a.endDate) / 1000,
      fill: ANNOTATION_FILL,
      title: `${a.eventType}: ${a.description}`,
    })),
    ...anomalies.map((a) => ({
      start: Date.parse(a.startDate) / 1000,
      end: a.endDate ? Date.parse(a.endDate) / 1000 : Number.POSITIVE_INFINITY,
      fill: ANOMALY_FILL,
      title: `Traffic anomaly (${a.type}): ${anomalySubject(a)}, ${a.startDate} – ${a.endDate ?? 'ongoing'}, ${a.status}`,
    })),
  ];
}

/** The bands each chart shades, so anomalies that arrive after the chart can be added to it. */
const bandsByChart = new WeakMap();

/**
 * Shades spans under the lines, on the time axis of the first series (clipped to it), and names
 * those under the cursor in the plot's tooltip (title).
 */
function bandsPlugin(bands) {
  return {
    hooks: {
      init: [(u) => bandsByChart.set(u, bands)],
      drawClear: [
        (u) => {
          const xs = u.data[0];
          const all = bandsByChart.get(u) ?? bands;
          if (!all.length || xs.length === 0) return;
          const { ctx } = u;
          const { left, top, width, height } = u.bbox;
          ctx.save();
          for (const b of all) {
            const start = Math.max(b.start, xs[0]);
            const end = Math.min(b.end, xs[xs.length - 1]);
            if (!(end >= start)) continue;
            const x0 = Math.max(left, u.valToPos(start, 'x', true));
            const x1 = Math.min(left + width, u.valToPos(end, 'x', true));
            ctx.fillStyle = b.fill;
            ctx.fillRect(x0, top, Math.max(2, x1 - x0), height);
          }
          ctx.restore();
        },
      ],
      setCursor: [
        (u) => {
          const { left } = u.cursor;
          const at = left === undefined || left < 0 ? Number.NaN : u.posToVal(left, 'x');
          const titles = (bandsByChart.get(u) ?? bands)
            .filter((b) => at >= b.start && at <= b.end)
            .map((b) => b.title);
          if (titles.length) u.over.title = titles.join('\n');
          else u.over.removeAttribute('title');
        },
      ],
    },
  };
}

/** Replaces the traffic anomalies a chart shades, and redraws it. */
export function shadeAnomalies(u, annotations, anomalies) {
  bandsByChart.set(u, bandsOf(annotations, anomalies));
  u.redraw(false);
}

/**
 * Draws series on one uPlot chart. Series are placed by bucket position on the time axis of the
 * first series, so a control window overlays the window it is compared with. Hovering shows the
 * values in the legend (and, over a shaded annotation or anomaly, what it is in the tooltip);
 * clicking a legend entry hides or shows its series.
 */
export function drawChart(
  container,
  series,
  { annotations = [], anomalies = [], yLabel = '', height = 360 } = {},
) {
  container.replaceChildren();
  const xs = (series[0]?.timestamps ?? []).map((t) => Date.parse(t) / 1000);
  const data = [xs, ...series.map((s) => xs.map((_, k) => s.values[k] ?? null))];
  const width = Math.max(320, container.clientWidth || 800);
  const opts = {
    width,
    height,
    tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    scales: { x: { time: true } },
    legend: { live: true },
    cursor: { focus: { prox: 24 } },
    series: [
      { label: 'time (UTC)' },
      ...series.map((s, i) => ({
        label: s.name,
        stroke: PALETTE[i % PALETTE.length],
        width: 2,
        spanGaps: false,
        value: (_u, v) => formatNumber(v),
      })),
    ],
    axes: [{}, { label: yLabel, size: 60, values: (_u, ticks) => ticks.map(formatNumber) }],
    plugins: [bandsPlugin(bandsOf(annotations, anomalies))],
  };
  return new window.uPlot(opts, data, container);
}

/** One row per bucket; a timestamp column per series only when the series' windows differ. */
export function renderTable(table, series) {
  const shared = series.every((s) => s.timestamps.join() === series[0].timestamps.join());
  const head = shared
    ? ['time (UTC)', ...series.map((s) => s.name)]
    : series.flatMap((s) => [`${s.name} time (UTC)`, s.name]);
  const rows = Math.max(0, ...series.map((s) => s.timestamps.length));
  const body = [];
  for (let r = 0; r < rows; r++) {
    const cells = shared
      ? [series[0].timestamps[r], ...series.map((s) => s.raw[r] ?? '')]
      : series.flatMap((s) => [s.timestamps[r] ?? '', s.raw[r] ?? '']);
    body.push(
      el(
        'tr',
        {},
        cells.map((c, i) => el(i === 0 ? 'th' : 'td', i === 0 ? { scope: 'row' } : {}, c ?? '–')),
      ),
    );
  }
  table.replaceChildren(
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        head.map((h) => el('th', { scope: 'col' }, h)),
      ),
    ),
    el('tbody', {}, body),
  );
}

/** The y axis label: the normalization, or the unit of raw values. */
export function yLabelOf(meta) {
  if (!meta) return '';
  if (meta.normalization === 'RAW_VALUES') return meta.units?.[0]?.value ?? '';
  return meta.normalization;
}

/** What the chart holds, read back from uPlot: what tests compare with the API. */
export function plotted(u) {
  return u.series
    .slice(1)
    .map((s, i) => ({ name: s.label, show: s.show, values: Array.from(u.data[i + 1]) }));
}
