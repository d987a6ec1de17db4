import type { ParsedQuery } from './params.js';

/**
 * Numbers as the API shows them: strings with at most 6 decimals and no trailing zeros
 * ("1", "0.535174"), never "-0" nor exponent notation.
 */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return '0';
  const fixed = v.toFixed(6);
  const trimmed = fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
  return trimmed === '-0' ? '0' : trimmed;
}

const NUMBER = /^-?\d+(\.\d+)?$/;

/**
 * A CSV cell: quoted when needed, and a text cell that a spreadsheet would run as a formula
 * (starting with = + - @, tab or CR) is prefixed with a quote. Numbers stay numbers.
 */
export function csvCell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  let s = String(value);
  if (!NUMBER.test(s) && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Radar's header for a series column: the name with its first letter upper-cased. */
export function csvTitle(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/** One CSV column: its header and its cells, top to bottom. */
export interface CsvColumn {
  header: string;
  cells: (string | number | null)[];
}

/** Wide CSV: columns side by side, rows padded with empty cells where a column is shorter. */
export function toCsv(columns: CsvColumn[]): string {
  const rows = Math.max(0, ...columns.map((c) => c.cells.length));
  const lines = [columns.map((c) => csvCell(c.header)).join(',')];
  for (let r = 0; r < rows; r++) lines.push(columns.map((c) => csvCell(c.cells[r])).join(','));
  return `${lines.join('\n')}\n`;
}

/** What an endpoint answers: a JSON `result`, or CSV text. */
export type Output<T = Record<string, unknown>> = { result: T } | { csv: string };

/**
 * A NetFlows answer in the request's format: JSON holds `meta` and then each series' answer under
 * its name; CSV (Radar's wide layout) each series' columns side by side, headed by its title.
 * Typed by its parts, so the caller's declared answer type (from the response schema) checks them.
 * @example
 * outputOf(q, meta, (i) => ({ timestamps: stamps[i], values: values[i] }), (i, title) => [
 *   { header: `${title} timestamps`, cells: stamps[i]! },
 *   { header: `${title} values`, cells: values[i]! },
 * ])
 */
export function outputOf<M, S>(
  q: Pick<ParsedQuery, 'series' | 'format'>,
  meta: M,
  json: (i: number) => S,
  csv: (i: number, title: string) => CsvColumn[],
): Output<{ meta: M } & Record<string, S>> {
  if (q.format === 'CSV') return { csv: toCsv(q.series.flatMap((s, i) => csv(i, csvTitle(s.name)))) };
  const result = { meta } as { meta: M } & Record<string, S>;
  q.series.forEach((s, i) => {
    result[s.name] = json(i);
  });
  return { result };
}
