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

/** Wide CSV: columns side by side, rows padded with empty cells where a column is shorter. */
export function toCsv(columns: { header: string; cells: (string | number | null)[] }[]): string {
  const rows = Math.max(0, ...columns.map((c) => c.cells.length));
  const lines = [columns.map((c) => csvCell(c.header)).join(',')];
  for (let r = 0; r < rows; r++) lines.push(columns.map((c) => csvCell(c.cells[r])).join(','));
  return `${lines.join('\n')}\n`;
}
