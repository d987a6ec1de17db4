/**
 * A small server-side SVG line chart for embeds that cannot run script (wikis, mail, READMEs):
 * axes with ticks, one <path> per series, a legend and shaded annotation spans. No dependency,
 * no script, no external reference; every text is escaped.
 */

export interface SvgSeries {
  name: string;
  /** UTC bucket starts, as the API gives them. */
  timestamps: string[];
  /** Values as the API gives them (strings, null where undefined). */
  values: (string | number | null)[];
}

export interface SvgChartOptions {
  width?: number;
  height?: number;
  title?: string;
  /** Label of the y axis (the normalization, or the unit of raw values). */
  yLabel?: string;
  /** Spans to shade, e.g. meta.confidenceInfo.annotations. */
  annotations?: { startDate: string; endDate: string; description: string }[];
}

/** The palette the explorer uses too (public/explorer/chart.js), so both look alike. */
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

export function escapeXml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!,
  );
}

/** Round tick steps: 1, 2 or 5 times a power of ten. */
export function niceTicks(min: number, max: number, target = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / target;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step)
    ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

const num = (n: number) => (Math.round(n * 10) / 10).toString();

function tickLabel(v: number): string {
  const abs = Math.abs(v);
  if (abs >= 1e12) return `${+(v / 1e12).toPrecision(3)}T`;
  if (abs >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (abs >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (abs >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(4)}`;
}

const DAY_MS = 86_400_000;
const TICK_STEPS = [15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 20160, 40320, 80640].map(
  (minutes) => minutes * 60_000,
);

/** A tick label: the time of day when ticks are hours apart, the date when they are days apart. */
function timeLabel(ms: number, stepMs: number): string {
  const iso = new Date(ms).toISOString();
  if (stepMs >= DAY_MS) return iso.slice(0, 10);
  return iso.slice(11, 16) === '00:00' ? iso.slice(5, 10) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
}

/**
 * Renders series as an SVG line chart. Series are placed by bucket position on the time axis of
 * the first series, as the explorer does, so a control window overlays the current one.
 * @example
 * renderTimeseriesSvg([{ name: 'pt', timestamps: ['2026-11-23T09:00:00Z'], values: ['1'] }])
 */
export function renderTimeseriesSvg(series: SvgSeries[], opts: SvgChartOptions = {}): string {
  const width = opts.width ?? 800;
  const height = opts.height ?? 400;
  const legendRows = Math.ceil(series.length / 4);
  const top = 16 + (opts.title ? 22 : 0) + legendRows * 18;
  const margin = { top, right: 30, bottom: 36, left: 60 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const stamps = (series[0]?.timestamps ?? []).map((t) => Date.parse(t));
  const count = Math.max(0, ...series.map((s) => s.values.length));
  const values = series.map((s) => s.values.map((v) => (v === null || v === '' ? null : Number(v))));
  const finite = values.flat().filter((v): v is number => v !== null && Number.isFinite(v));
  let yMin = Math.min(0, ...finite);
  let yMax = Math.max(0, ...finite);
  if (yMax === yMin) yMax = yMin + 1;
  const yTicks = niceTicks(yMin, yMax);
  yMin = Math.min(yMin, yTicks[0]!);
  yMax = Math.max(yMax, yTicks.at(-1)!);
  const x = (k: number) => margin.left + (count <= 1 ? plotW / 2 : (k / (count - 1)) * plotW);
  const y = (v: number) => margin.top + plotH - ((v - yMin) / (yMax - yMin)) * plotH;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="11" role="img" aria-label="${escapeXml(opts.title ?? 'flowradar traffic chart')}">`,
  );
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  if (opts.title)
    out.push(
      `<text x="${margin.left}" y="20" font-size="14" font-weight="600" fill="#222">${escapeXml(opts.title)}</text>`,
    );

  // Annotations first, under the lines.
  const span = stamps.length > 1 ? stamps.at(-1)! - stamps[0]! : 0;
  if (stamps.length > 1)
    for (const a of opts.annotations ?? []) {
      const step = span / (stamps.length - 1);
      const pos = (t: number) => (t - stamps[0]!) / step;
      const k0 = Math.max(0, pos(Date.parse(a.startDate)));
      const k1 = Math.min(count - 1, pos(Date.parse(a.endDate)));
      if (!(k1 >= k0)) continue;
      out.push(
        `<rect class="annotation" x="${num(x(k0))}" y="${margin.top}" width="${num(Math.max(2, x(k1) - x(k0)))}" height="${plotH}" fill="#ffa500" fill-opacity="0.15"><title>${escapeXml(a.description)}</title></rect>`,
      );
    }

  // Axes, grid and ticks.
  out.push(`<g class="axis y" fill="#555" stroke="none">`);
  for (const t of yTicks) {
    const py = num(y(t));
    out.push(
      `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${py}" y2="${py}" stroke="#e5e5e5"/>`,
      `<text x="${margin.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${escapeXml(tickLabel(t))}</text>`,
    );
  }
  out.push('</g>');
  if (opts.yLabel)
    out.push(
      `<text x="14" y="${num(margin.top + plotH / 2)}" transform="rotate(-90 14 ${num(margin.top + plotH / 2)})" text-anchor="middle" fill="#555">${escapeXml(opts.yLabel)}</text>`,
    );
  out.push(`<g class="axis x" fill="#555">`);
  // Ticks on round UTC times (whole hours, days, weeks), about one per 110 pixels.
  if (stamps.length > 1) {
    const bucket = span / (stamps.length - 1);
    const room = Math.max(1, Math.floor(plotW / 110));
    const step = TICK_STEPS.find((st) => st >= bucket && span / st <= room) ?? TICK_STEPS.at(-1)!;
    // Weeks start on Monday, as the API's weekly buckets do (1970-01-05 was a Monday).
    const origin = step >= 7 * DAY_MS ? 4 * DAY_MS : 0;
    for (let t = Math.ceil((stamps[0]! - origin) / step) * step + origin; t <= stamps.at(-1)!; t += step) {
      const px = x((t - stamps[0]!) / bucket);
      const anchor = px > width - 50 ? 'end' : px < margin.left + 30 ? 'start' : 'middle';
      out.push(
        `<line x1="${num(px)}" x2="${num(px)}" y1="${margin.top + plotH}" y2="${margin.top + plotH + 4}" stroke="#888"/>`,
        `<text x="${num(px)}" y="${margin.top + plotH + 16}" text-anchor="${anchor}">${escapeXml(timeLabel(t, step))}</text>`,
      );
    }
  }
  out.push('</g>');
  out.push(
    `<path class="frame" d="M${margin.left} ${margin.top}V${margin.top + plotH}H${margin.left + plotW}" fill="none" stroke="#888"/>`,
  );

  // One path per series; a null value breaks the line.
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    let d = '';
    let pen = false;
    values[i]!.forEach((v, k) => {
      if (v === null || !Number.isFinite(v)) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${num(x(k))} ${num(y(v))}`;
      pen = true;
    });
    out.push(
      `<path class="series" data-series="${escapeXml(s.name)}" d="${d}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round"><title>${escapeXml(s.name)}</title></path>`,
    );
  });
  if (finite.length === 0)
    out.push(
      `<text x="${num(margin.left + plotW / 2)}" y="${num(margin.top + plotH / 2)}" text-anchor="middle" fill="#888">no data</text>`,
    );

  // Legend above the plot, four entries per row.
  out.push(`<g class="legend" font-size="12" fill="#222">`);
  const legendTop = (opts.title ? 22 : 0) + 8;
  series.forEach((s, i) => {
    const lx = margin.left + (i % 4) * Math.floor(plotW / 4);
    const ly = legendTop + Math.floor(i / 4) * 18;
    const label = s.name.length > 28 ? `${s.name.slice(0, 27)}…` : s.name;
    out.push(
      `<rect x="${lx}" y="${ly}" width="12" height="4" fill="${PALETTE[i % PALETTE.length]}"/>`,
      `<text x="${lx + 16}" y="${ly + 5}">${escapeXml(label)}</text>`,
    );
  });
  out.push('</g></svg>');
  return `${out.join('\n')}\n`;
}
