export interface TableOptions {
  /** Between columns. */
  gap: string;
  /** Per column, from the first: pads it to at least this many characters, so its width does not depend on the rows shown. */
  minWidths?: readonly number[];
}

/**
 * Rows as lines of left-aligned columns, each as wide as its widest cell; the
 * last cell of a row is never padded, so no line ends in blanks. The one
 * layout of every table the CLI prints.
 */
export function formatTable(rows: readonly (readonly string[])[], options: TableOptions): string {
  const widths: number[] = [...(options.minWidths ?? [])];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join(options.gap)).join('\n');
}
