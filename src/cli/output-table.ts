const ANSI = /\u001b\[[0-9;]*m/g;

/** The width a string takes on a terminal: colour codes take none, each code point one column. */
export function visibleWidth(text: string): number {
  return [...text.replace(ANSI, '')].length;
}

/** How one column lines up; numbers read best right-aligned. */
export type ColumnAlign = 'left' | 'right';

/** How a table is laid out and decorated; the defaults suit plain text. */
export interface TableOptions {
  /** Per column; default left. */
  align?: readonly ColumnAlign[];
  /** Applied to each header cell (e.g. bold on a TTY). */
  header?: (text: string) => string;
  /** Spaces between columns; default 2. */
  gap?: number;
}

/**
 * Aligned columns under a header row, the shape people scan fastest. Widths ignore colour codes,
 * and the last column is never padded, so lines carry no trailing spaces.
 */
export function renderTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>, options: TableOptions = {}): string {
  const gap = ' '.repeat(options.gap ?? 2);
  const widths = header.map((h, i) => Math.max(visibleWidth(h), ...rows.map((r) => visibleWidth(r[i] ?? ''))));
  const line = (cells: readonly string[], decorate: (text: string) => string = (t) => t) =>
    cells
      .map((cell, i) => {
        const pad = ' '.repeat(widths[i]! - visibleWidth(cell));
        const text = decorate(cell);
        if ((options.align?.[i] ?? 'left') === 'right') return pad + text;
        return i === cells.length - 1 ? text : text + pad;
      })
      .join(gap)
      .trimEnd();
  return [line(header, options.header), ...rows.map((r) => line(header.map((_, i) => r[i] ?? '')))].join('\n') + '\n';
}

/** "key: value" lines with the values lined up, for one resource in detail (tasks get, executions get). */
export function renderDetails(pairs: ReadonlyArray<readonly [string, string]>, decorateKey: (text: string) => string = (t) => t): string {
  const width = Math.max(0, ...pairs.map(([k]) => visibleWidth(k) + 1));
  // An empty key continues the previous entry (more next runs): no colon, just the indent.
  return (
    pairs
      .map(([k, v]) => {
        const key = k === '' ? '' : decorateKey(`${k}:`);
        const used = k === '' ? 0 : visibleWidth(k) + 1;
        return `${key}${' '.repeat(width - used + 2)}${v}`.trimEnd();
      })
      .join('\n') + '\n'
  );
}
